package controlplane

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/minato-project/minato/internal/store/bolt"
)

// TestSharedCredentials: the first server stores a key pair and token,
// every later one gets the same; given ones win without being stored.
func TestSharedCredentials(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	k1, tok1, created, err := sharedCredentials(ctx, st, "", "", "")
	if err != nil || !created || k1.AccessKeyID == "" || tok1 == "" {
		t.Fatalf("first server: %+v %q %v %v", k1, tok1, created, err)
	}
	k2, tok2, created, err := sharedCredentials(ctx, st, "", "", "")
	if err != nil || created || k2 != k1 || tok2 != tok1 {
		t.Fatalf("second server: %+v %q %v %v, want the first's", k2, tok2, created, err)
	}
	k3, tok3, _, err := sharedCredentials(ctx, st, "AKIAGIVEN", "secret", "tok")
	if err != nil || k3.AccessKeyID != "AKIAGIVEN" || tok3 != "tok" {
		t.Fatalf("given: %+v %q %v", k3, tok3, err)
	}
	if k4, _, _, _ := sharedCredentials(ctx, st, "", "", ""); k4 != k1 {
		t.Fatalf("given credentials were stored: %+v", k4)
	}
	if _, _, _, err := sharedCredentials(ctx, st, "AKIAONLY", "", ""); err == nil {
		t.Fatal("half a key pair accepted")
	}
}
