package ecs

import (
	"slices"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"/bin/sh":                     {"/bin/sh"},
		"  ls   -la /tmp ":            {"ls", "-la", "/tmp"},
		`echo 'hello  world' "a b" c`: {"echo", "hello  world", "a b", "c"},
		`echo a\ b ''`:                {"echo", "a b", ""},
		"":                            nil,
	} {
		if got := splitCommand(in); !slices.Equal(got, want) {
			t.Errorf("splitCommand(%q) = %q, want %q", in, got, want)
		}
	}
}
