package docker

import (
	"errors"
	"testing"
)

// TestPortInUse reads the taken port out of Docker 20.10's start errors.
func TestPortInUse(t *testing.T) {
	const head = `start container "c1": Error response from daemon: driver failed programming external connectivity on endpoint web (0a51): `
	tests := []struct {
		name  string
		msg   string
		port  int
		proto string
	}{
		{"userland proxy tcp", head + "Error starting userland proxy: listen tcp4 0.0.0.0:61555: bind: address already in use", 61555, "tcp"},
		{"userland proxy udp", head + "Error starting userland proxy: listen udp4 0.0.0.0:61558: bind: address already in use", 61558, "udp"},
		{"userland proxy ipv6", head + "Error starting userland proxy: listen tcp6 [::]:61559: bind: address already in use", 61559, "tcp"},
		{"allocated by a container", head + "Bind for 0.0.0.0:61557 failed: port is already allocated", 61557, ""},
		{"another error", `start container "c1": Error response from daemon: OCI runtime create failed`, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pe := portInUse(errors.New(tc.msg))
			if tc.port == 0 {
				if pe != nil {
					t.Fatalf("portInUse = %+v, want nil", pe)
				}
				return
			}
			if pe == nil || pe.HostPort != tc.port || pe.Protocol != tc.proto || pe.Error() != tc.msg {
				t.Fatalf("portInUse = %+v, want port %d/%q", pe, tc.port, tc.proto)
			}
		})
	}
}
