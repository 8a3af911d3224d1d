package etcdmember_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/etcdmember"
	"github.com/minato-project/minato/internal/store"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	"github.com/minato-project/minato/internal/testutil/etcdtest"
)

// options describes member name of a test cluster on loopback.
func options(t *testing.T, dir, name string) etcdmember.Options {
	t.Helper()
	ports, err := etcdtest.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	return etcdmember.Options{
		Name:      name,
		DataDir:   filepath.Join(dir, name, "etcd"),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		// Quicker than etcd's 100ms/1s, slow enough for a busy machine.
		HeartbeatInterval: 50 * time.Millisecond,
		ElectionTimeout:   750 * time.Millisecond,
		NoFsync:           true,
	}
}

func start(t *testing.T, ctx context.Context, o etcdmember.Options) *etcdmember.Member {
	t.Helper()
	m, err := etcdmember.Start(ctx, o)
	if err != nil {
		t.Fatalf("start %s: %v", o.Name, err)
	}
	t.Cleanup(m.Close)
	return m
}

// TestCluster forms a cluster of three members the k3s way, loses one
// (the leader) and keeps serving, brings it back from its data, and lets
// one leave.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three etcd members: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()

	if _, err := etcdmember.Start(ctx, options(t, dir, "none")); !errors.Is(err, etcdmember.ErrNoMember) {
		t.Fatalf("Start with no data and no mode = %v, want ErrNoMember", err)
	}

	oa := options(t, dir, "a")
	oa.ClusterInit = true
	a := start(t, ctx, oa)
	ob := options(t, dir, "b")
	ob.Join = a.ClientURL()
	b := start(t, ctx, ob)
	oc := options(t, dir, "c")
	oc.Join = b.ClientURL() // any member will do
	c := start(t, ctx, oc)
	members := map[string]*etcdmember.Member{"a": a, "b": b, "c": c}
	opts := map[string]etcdmember.Options{"a": oa, "b": ob, "c": oc}

	cli, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st, err := etcdmember.Status(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	leaders := 0
	for _, m := range st {
		if m.Learner || !m.Healthy {
			t.Errorf("member %s: learner %v, healthy %v (%s)", m.Name, m.Learner, m.Healthy, m.Err)
		}
		if m.Leader {
			leaders++
		}
	}
	if len(st) != 3 || leaders != 1 {
		t.Fatalf("status: %d members, %d leaders: %+v", len(st), leaders, st)
	}

	// A write through one member is read through another.
	sa, err := a.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	rev, err := sa.Txn(ctx, nil, []store.Op{store.Put("k", []byte("1"))})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if kv, err := sc.Get(ctx, "k"); err != nil || kv.ModRevision != rev {
		t.Fatalf("read through c: %+v, %v", kv, err)
	}

	// Stop the leader: the other two elect one and take writes.
	var leader string
	for name, m := range members {
		if m.IsLeader() {
			leader = name
		}
	}
	if leader == "" {
		t.Fatal("no member says it leads")
	}
	stopped := time.Now()
	members[leader].Close()
	var rest []string
	for name, m := range members {
		if name != leader {
			rest = append(rest, m.ClientURL())
		}
	}
	s2, err := etcdstore.Open(ctx, rest[0]+","+rest[1], etcdstore.TLS{}, etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rev2, err := s2.Txn(ctx, []store.Cond{store.MustBeAt("k", rev)}, []store.Op{store.Put("k", []byte("2"))})
	if err != nil {
		t.Fatalf("write after the leader stopped: %v", err)
	}
	t.Logf("first write after stopping leader %s took %v", leader, time.Since(stopped).Round(time.Millisecond))

	// The old leader restarts from its data and catches up.
	back := start(t, ctx, opts[leader])
	sb, err := back.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if kv, err := sb.Get(ctx, "k"); err != nil || kv.ModRevision != rev2 || string(kv.Value) != "2" {
		t.Fatalf("read through the restarted member: %+v, %v", kv, err)
	}
	members[leader] = back

	// One member leaves; two remain and serve.
	leaving := "c"
	if err := members[leaving].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	var stay *etcdmember.Member
	for name, m := range members {
		if name != leaving {
			stay = m
		}
	}
	cli2, err := stay.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli2.Close()
	st, err = etcdmember.Status(ctx, cli2)
	if err != nil || len(st) != 2 {
		t.Fatalf("after leave: %+v, %v", st, err)
	}
	if etcdmember.HasData(opts[leaving].DataDir) {
		t.Fatal("a member that left kept its data")
	}
}

// TestMinorityFailsFast: a member cut off from the majority (here: the
// other two stopped) has no leader; every call of a store on it fails
// with store.ErrUnavailable within seconds, instead of waiting for a
// quorum that may not come back (the API answers 503 at once, and an
// agent or client moves to another server).
func TestMinorityFailsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("three etcd members: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	oa := options(t, dir, "a")
	oa.ClusterInit = true
	a := start(t, ctx, oa)
	ob := options(t, dir, "b")
	ob.Join = a.ClientURL()
	b := start(t, ctx, ob)
	oc := options(t, dir, "c")
	oc.Join = a.ClientURL()
	c := start(t, ctx, oc)
	sc, err := c.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	rev, err := sc.Txn(ctx, nil, []store.Op{store.Put("k", []byte("1"))})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := sc.Get(ctx, "k"); return err }},
		{"List", func(ctx context.Context) error { _, _, err := sc.List(ctx, "", store.ListOptions{}); return err }},
		{"Revision", func(ctx context.Context) error { _, err := sc.Revision(ctx); return err }},
		{"Txn", func(ctx context.Context) error {
			_, err := sc.Txn(ctx, []store.Cond{store.MustBeAt("k", rev)}, []store.Op{store.Put("k", []byte("2"))})
			return err
		}},
	}
	for _, c := range calls {
		// Bounded by ctx: before the fix, the calls waited for it.
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		began := time.Now()
		err := c.call(cctx)
		ccancel()
		took := time.Since(began)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s on a member without a majority after %v: %v, want store.ErrUnavailable", c.name, took.Round(time.Millisecond), err)
			continue
		}
		t.Logf("%s on a member without a majority: %v after %v", c.name, err, took.Round(time.Millisecond))
	}
}

// TestWritesThroughLeaderMove: writes through the member that leads raft
// while its leadership moves to another (as a minato leader moves it away
// from itself) all succeed: raft drops the proposals made during a move,
// and the store retries them (they were not applied).
func TestWritesThroughLeaderMove(t *testing.T) {
	if testing.Short() {
		t.Skip("three etcd members: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	oa := options(t, dir, "a")
	oa.ClusterInit = true
	a := start(t, ctx, oa)
	ob := options(t, dir, "b")
	ob.Join = a.ClientURL()
	b := start(t, ctx, ob)
	oc := options(t, dir, "c")
	oc.Join = a.ClientURL()
	c := start(t, ctx, oc)
	ms := []*etcdmember.Member{a, b, c}
	for range 4 {
		from := slices.IndexFunc(ms, (*etcdmember.Member).IsLeader)
		if from < 0 {
			t.Fatal("no member leads")
		}
		to := ms[(from+1)%len(ms)]
		st, err := ms[from].Store(etcdstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cli, err := ms[from].Client()
		if err != nil {
			t.Fatal(err)
		}
		var n atomic.Int64
		stop := make(chan struct{})
		errs := make(chan error, 1)
		go func() {
			defer close(errs)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := st.Txn(ctx, nil, []store.Op{store.Put("k", []byte(fmt.Sprint(i)))}); err != nil {
					errs <- err
					return
				}
				n.Add(1)
			}
		}()
		if _, err := cli.MoveLeader(ctx, to.ID()); err != nil {
			t.Fatalf("move leader: %v", err)
		}
		// Writes go on after the move too.
		for after := n.Load(); n.Load() < after+20 && ctx.Err() == nil; {
			select {
			case err := <-errs:
				t.Fatalf("a write through %s after its leadership moved to %s: %v", ms[from].Name(), to.Name(), err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		close(stop)
		if err := <-errs; err != nil {
			t.Fatalf("a write through %s while its leadership moved to %s: %v", ms[from].Name(), to.Name(), err)
		}
		t.Logf("%d writes through %s while its leadership moved to %s", n.Load(), ms[from].Name(), to.Name())
		cli.Close()
		st.Close()
	}
}
