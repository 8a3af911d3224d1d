package state

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

func TestELBv2Keys(t *testing.T) {
	keys := []string{RulePriorityKey("l", 100), RulePriorityKey("l", 9), RulePriorityKey("l", 50000), RulePriorityKey("l", 10)}
	slices.Sort(keys)
	if want := []string{RulePriorityKey("l", 9), RulePriorityKey("l", 10), RulePriorityKey("l", 100), RulePriorityKey("l", 50000)}; !slices.Equal(keys, want) {
		t.Fatalf("priority keys sort %v, want priority order", keys)
	}
	// Several ports of one instance are distinct registrations.
	if RegistrationKey("g", "i-1", 80) == RegistrationKey("g", "i-1", 8080) {
		t.Fatal("two ports of one target share a key")
	}
	for key, want := range map[string]bool{
		LoadBalancerKey("a"):                 true,
		ListenerKey("a", "b"):                true,
		RuleKey("b", "c"):                    true,
		TargetGroupKey("g"):                  true,
		RegistrationKey("g", "10.0.0.1", 80): true,
		ContainerInstanceKey("default", "x"): true,
		LoadBalancerNameKey("web"):           false,
		TargetGroupNameKey("tg"):             false,
		ListenerPortKey(80):                  false,
		RulePriorityKey("b", 1):              false,
		TaskKey("default", "t"):              false,
		ClusterKey("default"):                false,
	} {
		if got := IsELBv2ConfigKey(key); got != want {
			t.Errorf("IsELBv2ConfigKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestLoadELBv2Snapshot(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	put := func(key string, v any) {
		b, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Txn(ctx, nil, []store.Op{store.Put(key, b)}); err != nil {
			t.Fatal(err)
		}
	}
	put(LoadBalancerKey("a"), LoadBalancer{ID: "a", Name: "web"})
	put(LoadBalancerNameKey("web"), NameIndex{ID: "a"})
	put(ListenerKey("a", "l"), Listener{ID: "l", LoadBalancerID: "a", Port: 80})
	put(ListenerPortKey(80), PortIndex{ListenerID: "l"})
	put(RuleKey("l", "r"), Rule{ID: "r", ListenerID: "l", Priority: 1})
	put(RulePriorityKey("l", 1), PriorityIndex{RuleID: "r"})
	put(TargetGroupKey("g"), TargetGroup{ID: "g", Name: "tg"})
	put(RegistrationKey("g", "i-1", 80), Registration{TargetGroupID: "g", TargetID: "i-1", Port: 80})
	put(RegistrationKey("g", "i-1", 81), Registration{TargetGroupID: "g", TargetID: "i-1", Port: 81})
	put(ContainerInstanceKey("c1", "x"), ContainerInstance{ID: "x", EC2InstanceID: "i-1"})
	put(ContainerInstanceKey("c2", "y"), ContainerInstance{ID: "y", EC2InstanceID: "i-2"})
	put(TaskKey("c1", "t"), Task{ID: "t"})
	s, err := LoadELBv2Snapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.LoadBalancers) != 1 || len(s.Listeners) != 1 || len(s.Rules) != 1 || len(s.TargetGroups) != 1 ||
		len(s.Registrations) != 2 || len(s.Instances) != 2 {
		t.Fatalf("snapshot %+v", s)
	}
}
