package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// TestHANetworkPartition: three servers and an agent, each in a network
// namespace of its own (netns_test.go), driven by the AWS SDK. The leader
// is cut off from the others by the network (the process runs on), while
// a client keeps registering task definitions through every server:
//
//   - the cut-off leader stops acting: it logs that it lost the
//     leadership and leads no more while cut off; cut off from its peers
//     only (cutPeers), it answers /readyz 503 and a write through it fails;
//   - the other two elect a leader and run the controllers: a service
//     scaled through them during the cut reaches its count;
//   - healed, the old leader rejoins: ready, three healthy etcd members,
//     one leader that all three name, its view of the service caught up;
//   - every write acknowledged during the whole run is there at the end
//     on every server, under the revision it was acknowledged with, and no
//     write is there that the client did not make.
//
// Reduced (CI=true): one cut of the leader from its peers. Full
// (MINATO_HA=full): four rounds, cuts from the peers and pulled links in
// turn, scaling up and down.
func TestHANetworkPartition(t *testing.T) {
	rounds := []cutKind{cutPeers}
	if haMode(t) == "full" {
		rounds = []cutKind{cutPeers, cutLink, cutPeers, cutLink}
	}
	testimage.RequireDocker(t)
	lab := newNetLab(t, "s1", "s2", "s3", "a1")
	ss := startLabHA(t, lab)
	lead := leaderOf(t, ss, "", 60*time.Second)
	// The agent talks to the leader first: the first cut makes it move.
	urls := []string{lead.url()}
	for _, s := range ss {
		if s != lead {
			urls = append(urls, s.url())
		}
	}
	agent := &agentProc{t: t, dataDir: t.TempDir(), in: lab.node("a1")}
	agent.args = []string{"agent", "--server", strings.Join(urls, ","), "--token", haAgentToken, "--data-dir", agent.dataDir,
		"--stop-timeout", "5s", "--log-level", "debug", "--dynamic-ports", agentPorts(t)}
	agent.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent: what it logged of note:\n%s", notable(agent.out.String(), 30))
		}
		agent.kill()
		removeInstanceContainers(t, agent.instanceID())
	})

	registerApp(t, lead.node, "ha-part", nil)
	if _, err := lead.ecs().CreateService(context.Background(), &ecs.CreateServiceInput{
		ServiceName: aws.String("part"), TaskDefinition: aws.String("ha-part"), DesiredCount: aws.Int32(2),
		DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(0), MaximumPercent: aws.Int32(200)},
	}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, lead.node, "part", 180*time.Second)

	w := startHistWriter(ss)
	t.Cleanup(w.finish)
	w.waitMore(t, 10)
	var failovers, stops, rejoins []time.Duration
	for r, kind := range rounds {
		lead = leaderOf(t, ss, "", 60*time.Second)
		var rest []*haServer
		for _, s := range ss {
			if s != lead {
				rest = append(rest, s)
			}
		}
		mark := len(lead.out.String())
		start := time.Now()
		lab.cut(lead.name, kind)
		t.Logf("round %d: %s (the leader) cut off (%s)", r+1, lead.name, kind)

		// The other two elect a leader.
		next := leaderOf(t, rest, lead.name, 60*time.Second)
		failovers = append(failovers, time.Since(start))
		t.Logf("round %d: %s leads %v after the cut", r+1, next.name, failovers[r].Round(time.Millisecond))

		// The cut-off leader stops acting.
		waitFor(t, 60*time.Second, lead.name+" to give up the leadership", func() (bool, string) {
			return strings.Contains(lead.out.String()[mark:], "leadership lost"), "still leading by its log"
		})
		stops = append(stops, time.Since(start))
		t.Logf("round %d: %s stopped its controllers %v after the cut", r+1, lead.name, stops[r].Round(time.Millisecond))
		if kind == cutPeers {
			waitFor(t, 60*time.Second, lead.name+" to answer /readyz 503", func() (bool, string) {
				code, body := readyz(lead)
				return code == http.StatusServiceUnavailable, fmt.Sprint(code, " ", body)
			})
			// A write through it is refused, and at once (503), not left
			// waiting for a majority it cannot reach.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			began := time.Now()
			_, err := noRetryECS(lead).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(fmt.Sprintf("cut-off-%d", r))})
			cancel()
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable {
				t.Fatalf("round %d: a write through %s, cut off from the majority, answered after %v: %v; want a 503", r+1, lead.name, time.Since(began), err)
			}
			t.Logf("round %d: a write through %s refused after %v: %v", r+1, lead.name, time.Since(began).Round(time.Millisecond), err)
		}

		// The majority runs the controllers: a service scaled now reaches
		// its count.
		want := int32(3 - r%2)
		if _, err := next.ecs().UpdateService(context.Background(), &ecs.UpdateServiceInput{Service: aws.String("part"), DesiredCount: aws.Int32(want)}); err != nil {
			t.Fatalf("round %d: scaling through %s: %v", r+1, next.name, err)
		}
		waitFor(t, 120*time.Second, fmt.Sprintf("service part at %d tasks during the cut", want), func() (bool, string) {
			svc := describeService(t, rest[0].node, "part")
			return svc.DesiredCount == want && svc.RunningCount == want && len(svc.Deployments) == 1,
				fmt.Sprintf("desired=%d running=%d deployments=%d events=%v", svc.DesiredCount, svc.RunningCount, len(svc.Deployments), firstEvents(svc, 3))
		})
		w.waitMore(t, 5)
		if strings.Contains(lead.out.String()[mark:], "leading: starting the controllers") {
			t.Fatalf("round %d: %s led again while cut off", r+1, lead.name)
		}

		// Healed, the old leader rejoins and follows.
		healed := time.Now()
		lab.heal(lead.name, kind)
		waitFor(t, 120*time.Second, lead.name+" to rejoin", func() (bool, string) { return rejoined(lead, ss, healed) })
		rejoins = append(rejoins, time.Since(healed))
		t.Logf("round %d: %s rejoined %v after the heal", r+1, lead.name, rejoins[r].Round(time.Millisecond))
		waitFor(t, 60*time.Second, lead.name+"'s view of service part", func() (bool, string) {
			out, err := lead.ecs().DescribeServices(context.Background(), &ecs.DescribeServicesInput{Services: []string{"part"}})
			if err != nil || len(out.Services) != 1 {
				return false, fmt.Sprint(err)
			}
			svc := out.Services[0]
			return svc.DesiredCount == want && svc.RunningCount == want, fmt.Sprintf("desired=%d running=%d", svc.DesiredCount, svc.RunningCount)
		})
	}
	w.waitMore(t, 5)
	w.finish()
	w.check(t, ss, lead)
	checkTasksStartedOnce(t, agent.instanceID())
	t.Logf("network partition of the leader, %d rounds: new leader after %v, old leader stopped after %v, rejoined %v after the heal",
		len(rounds), durations(failovers), durations(stops), durations(rejoins))
}

// startLabHA starts three servers in the lab's namespaces s1-s3.
func startLabHA(t *testing.T, lab *netLab) []*haServer {
	t.Helper()
	var ss []*haServer
	for i := 1; i <= 3; i++ {
		n := lab.node(fmt.Sprintf("s%d", i))
		ss = append(ss, &haServer{node: &node{t: t, dataDir: t.TempDir(), addr: n.ip + ":7400"}, name: n.name, ip: n.ip, in: n})
	}
	for i, s := range ss {
		if i == 0 {
			s.args = []string{"--cluster-init"}
		} else {
			s.args = []string{"--join", ss[0].etcdURL()}
		}
		s.startServer()
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s: what it logged of note:\n%s", s.name, notable(s.out.String(), 30))
			}
			s.stop()
		})
	}
	return ss
}

// readyz asks s's /readyz.
func readyz(s *haServer) (int, string) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(s.url() + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// rejoined reports whether s is back among ss: ready, three healthy etcd
// members, and every server names one leader, the only one whose record
// says it leads, s's record written since healed.
func rejoined(s *haServer, ss []*haServer, healed time.Time) (bool, string) {
	if code, body := readyz(s); code != http.StatusOK {
		return false, fmt.Sprintf("%s /readyz: %d %s", s.name, code, body)
	}
	m, err := s.members()
	if err != nil {
		return false, err.Error()
	}
	healthy := 0
	for _, sm := range m.Store {
		if sm.Healthy {
			healthy++
		}
	}
	if healthy != 3 {
		return false, fmt.Sprintf("etcd members: %+v", m.Store)
	}
	for _, o := range ss {
		om, err := o.membersQ("?store=false")
		if err != nil {
			return false, o.name + ": " + err.Error()
		}
		if om.Leader == "" || om.Leader != m.Leader {
			return false, fmt.Sprintf("%s names %q the leader, %s names %q", o.name, om.Leader, s.name, m.Leader)
		}
	}
	var leading []string
	for _, r := range m.Servers {
		if r.Leading {
			leading = append(leading, r.Name)
		}
		if r.Name == s.name && r.At.Before(healed) {
			return false, s.name + "'s record is from before the heal"
		}
	}
	if len(leading) != 1 || leading[0] != m.Leader {
		return false, fmt.Sprintf("leader %s; servers that say they lead: %v", m.Leader, leading)
	}
	return true, ""
}

func durations(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Round(10*time.Millisecond).String())
	}
	return strings.Join(parts, " · ")
}

// noRetryECS is s's ECS client that makes each call once: the history
// writer records each attempt, and a retry would be a second write.
func noRetryECS(s *haServer) *ecs.Client {
	return ecs.New(ecs.Options{
		BaseEndpoint: aws.String(s.url()),
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// histWriter registers revisions of one task definition family, one after
// another, through the servers in turn, each with a marker of its own in its environment, and records the
// revision each acknowledged write was given.
type histWriter struct {
	family string
	mu     sync.Mutex
	acked  map[int32]string // revision -> marker
	tried  map[string]bool  // every marker sent
	bad    []string         // revisions acknowledged twice
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

const histFamily = "ha-hist"

func startHistWriter(ss []*haServer) *histWriter {
	w := &histWriter{family: histFamily, acked: map[int32]string{}, tried: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	clients := make([]*ecs.Client, len(ss))
	for i, s := range ss {
		clients[i] = noRetryECS(s)
	}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			s := i % len(ss)
			marker := fmt.Sprintf("%d@%s", i, ss[s].name)
			w.mu.Lock()
			w.tried[marker] = true
			w.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			out, err := clients[s].RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
				Family: aws.String(w.family),
				ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("minato-e2e/hist:1"), Memory: aws.Int32(16),
					Environment: []types.KeyValuePair{{Name: aws.String("MARK"), Value: aws.String(marker)}}}},
			})
			cancel()
			if err != nil {
				continue // not acknowledged: it may or may not be there
			}
			rev := out.TaskDefinition.Revision
			w.mu.Lock()
			if prev, ok := w.acked[rev]; ok {
				w.bad = append(w.bad, fmt.Sprintf("revision %d acknowledged to %s and to %s", rev, prev, marker))
			}
			w.acked[rev] = marker
			w.mu.Unlock()
		}
	}()
	return w
}

// waitMore waits until n more writes were acknowledged.
func (w *histWriter) waitMore(t *testing.T, n int) {
	t.Helper()
	w.mu.Lock()
	from := len(w.acked)
	w.mu.Unlock()
	waitFor(t, 90*time.Second, fmt.Sprintf("%d more acknowledged writes", n), func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.acked)-from >= n, strconv.Itoa(len(w.acked) - from)
	})
}

func (w *histWriter) finish() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// check compares the history with the final state: every server lists
// the same revisions, among them every acknowledged one; each revision
// holds the write it was acknowledged for; every revision there is a
// write the client made, once. What the revisions hold is read from
// from (the server cut off last).
func (w *histWriter) check(t *testing.T, ss []*haServer, from *haServer) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.bad {
		t.Errorf("acknowledged write lost: %s", b)
	}
	var acked []int32
	for rev := range w.acked {
		acked = append(acked, rev)
	}
	slices.Sort(acked)
	var revs []int32
	for _, s := range ss {
		waitFor(t, 60*time.Second, "every acknowledged revision on "+s.name, func() (bool, string) {
			have, err := w.revisions(s)
			if err != nil {
				return false, err.Error()
			}
			var missing []int32
			for _, rev := range acked {
				if _, ok := slices.BinarySearch(have, rev); !ok {
					missing = append(missing, rev)
				}
			}
			if revs != nil && !slices.Equal(have, revs) {
				return false, fmt.Sprintf("%s lists %d revisions, %s %d", s.name, len(have), ss[0].name, len(revs))
			}
			if len(missing) > 0 {
				return false, fmt.Sprintf("%d of %d acknowledged missing, e.g. %v", len(missing), len(acked), missing[:min(5, len(missing))])
			}
			revs = have
			return true, ""
		})
	}
	s := from
	seen := map[string]int32{}
	for _, rev := range revs {
		out, err := s.ecs().DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(fmt.Sprintf("%s:%d", w.family, rev))})
		if err != nil {
			t.Fatalf("%s:%d: %v", w.family, rev, err)
		}
		marker := ""
		for _, kv := range out.TaskDefinition.ContainerDefinitions[0].Environment {
			if aws.ToString(kv.Name) == "MARK" {
				marker = aws.ToString(kv.Value)
			}
		}
		if want, ok := w.acked[rev]; ok && marker != want {
			t.Errorf("acknowledged write lost: revision %d was acknowledged for %s and holds %s", rev, want, marker)
		}
		if !w.tried[marker] {
			t.Errorf("revision %d holds %q, a write the client never made", rev, marker)
		}
		if prev, ok := seen[marker]; ok {
			t.Errorf("the write %s is there twice: revisions %d and %d", marker, prev, rev)
		}
		seen[marker] = rev
	}
	t.Logf("history: %d writes tried, %d acknowledged, %d revisions in the final state, every acknowledged one there on %d servers",
		len(w.tried), len(acked), len(revs), len(ss))
}

// revisions lists the family's revisions on s, in order.
func (w *histWriter) revisions(s *haServer) ([]int32, error) {
	var revs []int32
	p := ecs.NewListTaskDefinitionsPaginator(s.ecs(), &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(w.family)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			return nil, err
		}
		for _, arn := range out.TaskDefinitionArns {
			rev, err := strconv.Atoi(arn[strings.LastIndex(arn, ":")+1:])
			if err != nil {
				return nil, fmt.Errorf("task definition ARN %s: %w", arn, err)
			}
			revs = append(revs, int32(rev))
		}
	}
	slices.Sort(revs)
	return revs, nil
}
