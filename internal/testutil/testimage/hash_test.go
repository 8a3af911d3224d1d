package testimage

import (
	"os"
	"path/filepath"
	"testing"
)

// The image tag follows the source: a changed file, a new file, another
// go.mod or another architecture is another image; nothing else is.
func TestSourceHash(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "test", "testapp")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hash := func(arch string) string {
		t.Helper()
		h, err := sourceHash(src, arch)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	write(filepath.Join(root, "go.mod"), "module m\n")
	write(filepath.Join(src, "main.go"), "package main\n")
	first := hash("amd64")
	if len(first) != 64 || hash("amd64") != first {
		t.Fatalf("hash %q is not stable", first)
	}
	seen := map[string]string{first: "first"}
	for _, step := range []struct {
		what   string
		change func()
		arch   string
	}{
		{"another architecture", func() {}, "arm64"},
		{"a changed file", func() { write(filepath.Join(src, "main.go"), "package main // changed\n") }, "amd64"},
		{"a new file", func() { write(filepath.Join(src, "more.go"), "package main\n") }, "amd64"},
		{"another go.mod", func() { write(filepath.Join(root, "go.mod"), "module m\n\ngo 1.26\n") }, "amd64"},
	} {
		step.change()
		h := hash(step.arch)
		if prev, dup := seen[h]; dup {
			t.Fatalf("%s hashes as %s did", step.what, prev)
		}
		seen[h] = step.what
	}
	write(filepath.Join(root, "README.md"), "elsewhere in the module\n")
	if h := hash("amd64"); seen[h] != "another go.mod" {
		t.Fatalf("a file outside test/testapp changed the hash")
	}
	if _, err := sourceHash(filepath.Join(root, "nope"), "amd64"); err == nil {
		t.Fatal("a missing source dir hashed")
	}
}
