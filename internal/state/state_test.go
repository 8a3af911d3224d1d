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

func TestParseClusterKeys(t *testing.T) {
	if c, n, ok := ParseServiceKey(ServiceKey("prod", "web")); !ok || c != "prod" || n != "web" {
		t.Fatalf("ParseServiceKey = %q %q %v", c, n, ok)
	}
	if c, id, ok := ParseTaskKey(TaskKey("prod", "t1")); !ok || c != "prod" || id != "t1" {
		t.Fatalf("ParseTaskKey = %q %q %v", c, id, ok)
	}
	if c, id, ok := ParseContainerInstanceKey(ContainerInstanceKey("prod", "i1")); !ok || c != "prod" || id != "i1" {
		t.Fatalf("ParseContainerInstanceKey = %q %q %v", c, id, ok)
	}
	for _, key := range []string{TaskKey("prod", "t1"), ServicesPrefix("prod"), AllServicesPrefix() + "prod", ServiceKey("prod", "a/b"),
		ServiceDeploymentKey("prod", "web", "d1"), AllServicesPrefix() + "/web"} {
		if _, _, ok := ParseServiceKey(key); ok {
			t.Errorf("ParseServiceKey(%q) ok", key)
		}
	}
}
