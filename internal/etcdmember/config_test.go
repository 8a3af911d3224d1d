package etcdmember

import (
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func TestConfig(t *testing.T) {
	o, err := Options{
		Name: "s1", DataDir: "/var/lib/minato/etcd",
		PeerURL: "https://10.0.0.1:2380", ClientURL: "http://node1.example:2379",
		PeerTLS: TLSFiles{CertFile: "peer.pem", KeyFile: "peer-key.pem", CAFile: "ca.pem"},
	}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Config(o, "s1=https://10.0.0.1:2380", embed.ClusterStateFlagNew)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", cfg.Name, "s1"},
		{"dir", cfg.Dir, "/var/lib/minato/etcd"},
		{"advertise peer", cfg.AdvertisePeerUrls[0].String(), "https://10.0.0.1:2380"},
		{"listen peer (an IP: itself)", cfg.ListenPeerUrls[0].String(), "https://10.0.0.1:2380"},
		{"advertise client", cfg.AdvertiseClientUrls[0].String(), "http://node1.example:2379"},
		{"listen client (a name: every address)", cfg.ListenClientUrls[0].String(), "http://0.0.0.0:2379"},
		{"peer cert", cfg.PeerTLSInfo.CertFile, "peer.pem"},
		{"peer client cert auth", cfg.PeerTLSInfo.ClientCertAuth, true},
		{"client TLS off", cfg.ClientTLSInfo.Empty(), true},
		{"state", cfg.ClusterState, "new"},
		{"token", cfg.InitialClusterToken, "minato"},
		{"tick", cfg.TickMs, uint(100)},
		{"election", cfg.ElectionMs, uint(1000)},
		{"quota", cfg.QuotaBackendBytes, int64(2 << 30)},
		{"compaction mode", cfg.AutoCompactionMode, "periodic"},
		{"compaction retention", cfg.AutoCompactionRetention, "10m"},
		{"max txn ops", cfg.MaxTxnOps, uint(4096)},
		{"fsync", cfg.UnsafeNoFsync, false},
		{"log level", cfg.LogLevel, "error"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("etcd refuses the config: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Options{DataDir: "d", PeerURL: "http://127.0.0.1:2380", ClientURL: "http://127.0.0.1:2379"}
	cases := []struct {
		name string
		edit func(*Options)
		want string // in the error; "" for none
	}{
		{"ok", func(*Options) {}, ""},
		{"no data dir", func(o *Options) { o.DataDir = "" }, "no data directory"},
		{"init and join", func(o *Options) { o.ClusterInit, o.Join = true, "http://x:2379" }, "exclude each other"},
		{"https without TLS", func(o *Options) { o.PeerURL = "https://127.0.0.1:2380" }, "want a http:// URL"},
		{"TLS with http", func(o *Options) { o.ClientTLS = TLSFiles{CertFile: "c", KeyFile: "k"} }, "want a https:// URL"},
		{"no port", func(o *Options) { o.ClientURL = "http://127.0.0.1" }, "want host:port"},
		{"path", func(o *Options) { o.ClientURL = "http://127.0.0.1:2379/x" }, "no path"},
		{"cert without key", func(o *Options) {
			o.PeerURL = "https://127.0.0.1:2380"
			o.PeerTLS = TLSFiles{CertFile: "c"}
		}, "both its cert and key"},
		{"short election", func(o *Options) { o.HeartbeatInterval, o.ElectionTimeout = 100*time.Millisecond, 200*time.Millisecond }, "under five heartbeats"},
		{"log level", func(o *Options) { o.LogLevel = "loud" }, "log level"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			err := o.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestInitialCluster(t *testing.T) {
	got := InitialCluster([]NamedPeer{{"a", []string{"http://1:2380"}}, {"b", []string{"http://2:2380", "http://3:2380"}}})
	if want := "a=http://1:2380,b=http://2:2380,b=http://3:2380"; got != want {
		t.Fatalf("InitialCluster = %q, want %q", got, want)
	}
}
