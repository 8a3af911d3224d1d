package agent

import "testing"

// Only an image whose name has a registry host may be minato's registry's;
// for the others the agent asks the control plane nothing.
func TestOnRegistry(t *testing.T) {
	for _, tc := range []struct {
		image string
		want  bool
	}{
		{"127.0.0.1:7400/my-app:latest", true},
		{"localhost:7400/my-app", true},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com/my-app:latest", true},
		{"ghcr.io/org/app:1", true},
		{"my-app:latest", false},
		{"minato-testapp:test", false},
		{"nginx", false},
		{"library/nginx:1.27", false},
		{"docker.io/library/nginx", false},
		{"NOT A REFERENCE", false},
	} {
		if got := onRegistry(tc.image); got != tc.want {
			t.Errorf("onRegistry(%q) = %v, want %v", tc.image, got, tc.want)
		}
	}
}
