package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsCurrent runs every //go:generate line of
// internal/model/doc.go into a temporary directory and compares what it
// writes with the committed file, so that a change to the generator (or
// to a line) without `make generate` fails here. It needs the AWS models
// beside the repository (../shared/aws-models), which a fresh clone does
// not have: it skips without them, so it runs on developers' machines.
// `make check-generated` runs it alone.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	const modelDir = ".." // internal/model, where go generate runs the lines
	doc, err := os.ReadFile(filepath.Join(modelDir, "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	lines := generateLines(string(doc))
	if len(lines) == 0 {
		t.Fatal("no //go:generate go run ./gen lines in internal/model/doc.go")
	}
	for _, args := range lines {
		models := flagValue(args, "-models")
		if _, err := os.Stat(filepath.Join(modelDir, models)); err != nil {
			t.Skipf("the AWS models are not at %s (they are beside the repository, not in it): %v", models, err)
		}
	}
	for _, args := range lines {
		out := flagValue(args, "-out")
		t.Run(out, func(t *testing.T) {
			tmp := t.TempDir()
			file := flagValue(args, "-file")
			if file == "" {
				file = "api_gen.go"
			}
			argv := make([]string, len(args))
			for i, a := range args {
				argv[i] = a
				if i > 0 {
					switch args[i-1] {
					case "-models":
						argv[i] = filepath.Join(modelDir, a)
					case "-out":
						argv[i] = tmp
					}
				}
			}
			if err := run(argv); err != nil {
				t.Fatalf("go run ./gen %s: %v", strings.Join(args, " "), err)
			}
			got, err := os.ReadFile(filepath.Join(tmp, file))
			if err != nil {
				t.Fatal(err)
			}
			committed, err := os.ReadFile(filepath.Join(modelDir, out, file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, committed) {
				t.Fatalf("internal/model/%s/%s is not what its //go:generate line makes now (first difference at line %d): run `make generate` and commit the result",
					out, file, firstDiffLine(got, committed))
			}
		})
	}
}

// generateLines returns the arguments of every "//go:generate go run
// ./gen ..." line of a Go source.
func generateLines(src string) [][]string {
	var out [][]string
	for line := range strings.Lines(src) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "//go:generate go run ./gen ")
		if ok {
			out = append(out, strings.Fields(rest))
		}
	}
	return out
}

// flagValue is the value after name in args, or "".
func flagValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

func firstDiffLine(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
