package etcdtest

import (
	"testing"
)

func TestStart(t *testing.T) {
	s, cli := Start(t, Options{})
	ctx := WaitContext(t)
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("Get = %v", resp.Kvs)
	}
	// Two servers side by side do not collide.
	s2, cli2 := Start(t, Options{Fsync: true})
	if s2.Endpoints[0] == s.Endpoints[0] {
		t.Fatalf("both servers at %s", s.Endpoints[0])
	}
	if resp, err := cli2.Get(ctx, "k"); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("second server Get = %v, %v", resp, err)
	}
}
