package state

import (
	"slices"
	"testing"
)

func TestTaskDefKeyOrder(t *testing.T) {
	keys := []string{
		TaskDefKey("api-worker", 1),
		TaskDefKey("api", 10),
		TaskDefKey("api", 2),
		TaskDefKey("api_v2", 1),
	}
	slices.Sort(keys)
	want := []string{TaskDefKey("api", 2), TaskDefKey("api", 10), TaskDefKey("api-worker", 1), TaskDefKey("api_v2", 1)}
	if !slices.Equal(keys, want) {
		t.Fatalf("key order %v, want family then revision order %v", keys, want)
	}
	f, r, ok := ParseTaskDefKey(TaskDefKey("my-app", 42))
	if !ok || f != "my-app" || r != 42 {
		t.Fatalf("ParseTaskDefKey = %q %d %v", f, r, ok)
	}
	if _, _, ok := ParseTaskDefKey("ecs/clusters/x"); ok {
		t.Fatal("ParseTaskDefKey accepted a cluster key")
	}
}
