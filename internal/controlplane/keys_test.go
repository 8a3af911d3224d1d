package controlplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := LoadOrCreateKey(dir, "", "")
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	if !strings.HasPrefix(k1.AccessKeyID, "AKIA") || len(k1.AccessKeyID) != 20 || len(k1.SecretAccessKey) != 40 {
		t.Fatalf("key pair not AWS-shaped: %+v", k1)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKey(dir, "", "")
	if err != nil || created || k2 != k1 {
		t.Fatalf("second start: got %+v created=%v err=%v, want the kept pair", k2, created, err)
	}
	k3, created, err := LoadOrCreateKey(dir, "AKIAENV", "envsecret")
	if err != nil || created || k3.AccessKeyID != "AKIAENV" || k3.SecretAccessKey != "envsecret" {
		t.Fatalf("env pair: got %+v created=%v err=%v", k3, created, err)
	}
	if _, _, err := LoadOrCreateKey(dir, "AKIAENV", ""); err == nil {
		t.Fatal("half an env pair was accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, keyFileName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(dir, "", ""); err == nil {
		t.Fatal("a damaged key file was accepted")
	}
}
