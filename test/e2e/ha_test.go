package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/minato-project/minato/internal/controlplane"
	"github.com/minato-project/minato/internal/peers"
	"github.com/minato-project/minato/internal/testutil/testimage"
)

// The high-availability tests: three `minato server` processes, each on an
// address of its own (127.14.n.1-3: the API at :7400, its embedded etcd
// member at :2379/:2380, its load balancer listeners), that form one
// cluster with --cluster-init and --join, and agents that know all three.
//
// They run in full with MINATO_HA=full (docs/ha.md) and in a reduced
// form under CI=true; otherwise they skip: they take minutes.

// haNets numbers the tests' address blocks (127.14.<n>.1-3).
var haNets atomic.Int32

const haAgentToken = "mnt-e2e-ha-token-0000000000000000000000000"

// haMode returns "full" or "reduced", or skips the test.
func haMode(t *testing.T) string {
	t.Helper()
	e2eTest(t)
	switch {
	case os.Getenv("MINATO_HA") == "full":
		return "full"
	case os.Getenv("CI") == "true":
		return "reduced"
	}
	t.Skip("the high-availability tests take minutes: run them with MINATO_HA=full (or CI=true for the reduced form)")
	return ""
}

// haServer is one server of the three.
type haServer struct {
	*node
	name string
	ip   string
	// in is the network namespace the server runs in (nil: the host's).
	in *labNode
}

func (s *haServer) etcdURL() string { return "http://" + s.ip + ":2379" }

// startHA starts the three servers: the first makes the cluster, the
// others join it.
func startHA(t *testing.T) []*haServer {
	t.Helper()
	ports := reservePorts(t) // for the load balancers' listener ports
	// Each test its own addresses: the tests run in parallel.
	block := haNets.Add(1)
	var ss []*haServer
	for i := 1; i <= 3; i++ {
		ip := fmt.Sprintf("127.14.%d.%d", block, i)
		s := &haServer{node: &node{t: t, dataDir: t.TempDir(), ports: ports, addr: ip + ":7400"}, name: fmt.Sprintf("s%d", i), ip: ip}
		ss = append(ss, s)
	}
	for i, s := range ss {
		if i == 0 {
			s.args = []string{"--cluster-init"}
		} else {
			s.args = []string{"--join", ss[0].etcdURL()}
		}
		s.startServer()
		t.Cleanup(func() { s.stop() })
	}
	return ss
}

func (s *haServer) startServer() {
	s.t.Helper()
	s.out = &syncBuffer{}
	args := append([]string{"server", "--data-dir", s.dataDir, "--api-addr", s.addr, "--lb-addr", s.ip, "--name", s.name,
		"--log-level", "debug"}, s.args...)
	cmd := exec.Command(minatoBin, args...)
	if s.in != nil {
		cmd = s.in.command(minatoBin, args...)
	}
	cmd.Env = append(os.Environ(), "MINATO_ACCESS_KEY_ID="+testKeyID, "MINATO_SECRET_ACCESS_KEY="+testSecret,
		"MINATO_AGENT_TOKEN="+haAgentToken)
	s.proc = startProc(s.t, cmd, s.out)
	s.waitReady(http.DefaultClient, s.url())
}

// members asks s for the servers, the leader and the etcd members.
func (s *haServer) members() (controlplane.Members, error) { return s.membersQ("") }

// membersQ is members with a query.
func (s *haServer) membersQ(q string) (controlplane.Members, error) {
	var m controlplane.Members
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(s.url() + controlplane.MembersPath + q)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return m, fmt.Errorf("%s", resp.Status)
	}
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// leaderOf waits until the servers in ss that run agree on a leader, one
// of them, other than not, and returns it.
func leaderOf(t *testing.T, ss []*haServer, not string, timeout time.Duration) *haServer {
	t.Helper()
	var lead *haServer
	waitFor(t, timeout, "a leader other than "+not, func() (bool, string) {
		var seen []string
		for _, s := range ss {
			if s.proc == nil {
				continue
			}
			m, err := s.membersQ("?store=false")
			if err != nil {
				return false, err.Error()
			}
			seen = append(seen, m.Leader)
		}
		if len(seen) == 0 || seen[0] == "" || seen[0] == not || slices.ContainsFunc(seen, func(l string) bool { return l != seen[0] }) {
			return false, fmt.Sprint("leaders seen: ", seen)
		}
		for _, s := range ss {
			if s.name == seen[0] && s.proc != nil {
				lead = s
				return true, ""
			}
		}
		return false, "the leader " + seen[0] + " is not running"
	})
	return lead
}

// alive returns the servers that run.
func alive(ss []*haServer) []*haServer {
	var out []*haServer
	for _, s := range ss {
		if s.proc != nil {
			out = append(out, s)
		}
	}
	return out
}

// TestHALeaderFailover kills the leader with SIGKILL again and again and
// measures how long the others take to elect a new one (docs/BENCHMARKS.md).
func TestHALeaderFailover(t *testing.T) {
	kills := 3
	if haMode(t) == "full" {
		kills = 10
	}
	ss := startHA(t)
	lead := leaderOf(t, ss, "", 60*time.Second)
	var took []time.Duration
	for i := range kills {
		start := time.Now()
		lead.kill()
		next := leaderOf(t, alive(ss), lead.name, 60*time.Second)
		d := time.Since(start)
		took = append(took, d)
		t.Logf("kill %d: %s -> %s in %v", i+1, lead.name, next.name, d.Round(time.Millisecond))
		// The killed server comes back (its data names its member) and
		// rejoins; the next kill waits for the three to be whole.
		lead.startServer()
		waitFor(t, 60*time.Second, "three healthy etcd members", func() (bool, string) {
			m, err := next.members()
			if err != nil {
				return false, err.Error()
			}
			healthy := 0
			for _, sm := range m.Store {
				if sm.Healthy {
					healthy++
				}
			}
			return healthy == 3, fmt.Sprintf("%+v", m.Store)
		})
		lead = next
	}
	slices.Sort(took)
	median, worst := took[len(took)/2], took[len(took)-1]
	t.Logf("leader failover over %d kills: median %v, max %v", kills, median.Round(time.Millisecond), worst.Round(time.Millisecond))
	if worst > 15*time.Second {
		t.Fatalf("a failover took %v", worst)
	}
}

// TestHAKillLeaderDuringDeployment: three servers and two agents run a
// service behind the load balancer; the leader is killed with SIGKILL in
// the middle of a rolling deployment under load through a listener of
// another server, while a client keeps creating clusters through
// whichever server answers. A new leader takes over, the deployment
// completes, every task ran once, and every acknowledged write is there.
// Then the new leader is frozen (SIGSTOP: to the others it is cut off),
// the majority goes on without it, and it comes back as a follower.
func TestHAKillLeaderDuringDeployment(t *testing.T) {
	haMode(t)
	testimage.RequireDocker(t)
	ss := startHA(t)
	lead := leaderOf(t, ss, "", 60*time.Second)
	var others []*haServer
	for _, s := range ss {
		if s != lead {
			others = append(others, s)
		}
	}
	front := others[0] // the API and the listener the test uses
	// Two agents, each knowing all three servers: the first talks to the
	// leader (which dies), the second to another.
	agentA := startHAAgent(t, strings.Join([]string{lead.url(), others[0].url(), others[1].url()}, ","))
	agentB := startHAAgent(t, strings.Join([]string{others[1].url(), others[0].url(), lead.url()}, ","))

	registerApp(t, front.node, "ha", nil)
	alb := createALB(t, front.node, "ha", 5)
	url := fmt.Sprintf("http://%s:%d/", front.ip, alb.port)
	createLBService(t, front.node, "ha", "ha", alb.tgARN, 4)
	waitStable(t, front.node, "ha", 180*time.Second)
	waitHealthy(t, front.node, alb.tgARN, 4)

	// The writer: creates clusters through the servers in turn, moving on
	// when one fails, and remembers what was acknowledged.
	w := startWriter(ss)
	l := startLoad(url, 4)
	l.waitMore(t, 100)

	ctx := context.Background()
	if _, err := front.ecs().UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("ha"), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the rollout to start", func() (bool, string) {
		svc := describeService(t, front.node, "ha")
		return len(svc.Deployments) == 2 && svc.Deployments[0].RunningCount > 0, fmt.Sprint(len(svc.Deployments), " deployments")
	})
	start := time.Now()
	lead.kill()
	newLead := leaderOf(t, alive(ss), lead.name, 60*time.Second)
	failover := time.Since(start)
	t.Logf("leader %s killed mid-deployment: %s leads after %v", lead.name, newLead.name, failover.Round(time.Millisecond))
	if failover > 15*time.Second {
		t.Fatalf("failover took %v", failover)
	}
	waitStable(t, front.node, "ha", 240*time.Second)
	waitCompleted(t, front.node, "ha")
	// The leader's agent moved to another server, and counts as connected.
	if !strings.Contains(agentA.out.String(), "moving to the next") {
		t.Errorf("the agent of the killed server did not move to another:\n%s", agentA.out.String())
	}
	waitFor(t, 60*time.Second, "both agents connected", func() (bool, string) {
		list, err := front.ecs().ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
		if err != nil {
			return false, err.Error()
		}
		d, err := front.ecs().DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: list.ContainerInstanceArns})
		if err != nil {
			return false, err.Error()
		}
		connected := 0
		for _, ci := range d.ContainerInstances {
			if ci.AgentConnected {
				connected++
			}
		}
		return connected == 2, fmt.Sprintf("%d of %d connected", connected, len(d.ContainerInstances))
	})
	l.waitMore(t, 100)
	ok, bad, errs := l.finish()
	t.Logf("load through %s during the failover: %d answered 2xx, %d did not %v", url, ok, bad, errs)
	if bad > 0 {
		t.Errorf("the load through a surviving server's listener failed %d times: %v", bad, errs)
	}

	// Every task of the service ran one container, once.
	for _, tk := range serviceTasks(t, front.node, "ha") {
		if cs := containersOfTask(t, taskID(aws.ToString(tk.TaskArn))); len(cs) != 1 {
			t.Errorf("task %s has %d containers, want 1", aws.ToString(tk.TaskArn), len(cs))
		}
	}
	checkTasksStartedOnce(t, agentA.instanceID(), agentB.instanceID())

	// The killed server rejoins; the new leader is frozen: the others
	// elect a third, and go on writing.
	lead.startServer()
	newLead.proc.cmd.Process.Signal(syscall.SIGSTOP)
	frozen := newLead
	var rest []*haServer
	for _, s := range alive(ss) {
		if s != frozen {
			rest = append(rest, s)
		}
	}
	third := leaderOf(t, rest, frozen.name, 60*time.Second)
	t.Logf("%s frozen: %s leads", frozen.name, third.name)
	w.waitMore(t, rest, 5)
	frozen.proc.cmd.Process.Signal(syscall.SIGCONT)
	waitFor(t, 60*time.Second, frozen.name+" to follow again", func() (bool, string) {
		m, err := frozen.members()
		if err != nil {
			return false, err.Error()
		}
		return m.Leader == third.name && !slices.ContainsFunc(m.Servers, func(r peers.Record) bool { return r.Name == frozen.name && r.Leading }),
			fmt.Sprintf("leader %s", m.Leader)
	})
	acked := w.finish()
	w.check(t, front, acked)
}

// startHAAgent runs `minato agent` with the servers at servers.
func startHAAgent(t *testing.T, servers string) *agentProc {
	t.Helper()
	a := &agentProc{t: t, dataDir: t.TempDir()}
	a.args = []string{"agent", "--server", servers, "--token", haAgentToken, "--data-dir", a.dataDir,
		"--stop-timeout", "5s", "--log-level", "debug", "--dynamic-ports", agentPorts(t)}
	a.start()
	t.Cleanup(func() {
		a.kill()
		removeInstanceContainers(t, agentInstanceID(a.dataDir))
	})
	return a
}

// checkTasksStartedOnce fails the test if a task on the instances ran
// more than one container of its app (a task started twice).
func checkTasksStartedOnce(t *testing.T, instances ...string) {
	t.Helper()
	cli := testimage.RequireDocker(t)
	for _, inst := range instances {
		all, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", "minato.container-instance="+inst))})
		if err != nil {
			t.Fatal(err)
		}
		perTask := map[string]int{}
		for _, c := range all {
			if strings.HasPrefix(c.Names[0], "/minato-ha-") {
				perTask[c.Labels["minato.task"]]++
			}
		}
		for task, n := range perTask {
			if n != 1 {
				t.Errorf("task %s ran %d containers on %s, want 1", task, n, inst)
			}
		}
	}
}

// writer creates clusters one after another through whichever server
// answers, and records those acknowledged.
type writer struct {
	mu    sync.Mutex
	acked []string
	stop  chan struct{}
	done  chan struct{}
}

func startWriter(ss []*haServer) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i, at := 0, 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			name := "w-" + strconv.Itoa(i)
			for range len(ss) {
				s := ss[at%len(ss)]
				if s.proc != nil {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := s.ecs().CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)})
					cancel()
					if err == nil {
						w.mu.Lock()
						w.acked = append(w.acked, name)
						w.mu.Unlock()
						break
					}
				}
				at++
			}
		}
	}()
	return w
}

// waitMore waits until n more writes were acknowledged.
func (w *writer) waitMore(t *testing.T, _ []*haServer, n int) {
	t.Helper()
	w.mu.Lock()
	from := len(w.acked)
	w.mu.Unlock()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d more acknowledged writes", n), func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.acked)-from >= n, strconv.Itoa(len(w.acked) - from)
	})
}

func (w *writer) finish() []string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked
}

// check fails the test unless every acknowledged write is in s's state.
func (w *writer) check(t *testing.T, s *haServer, acked []string) {
	t.Helper()
	have := map[string]bool{}
	p := ecs.NewListClustersPaginator(s.ecs(), &ecs.ListClustersInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, arn := range out.ClusterArns {
			have[arn[strings.LastIndex(arn, "/")+1:]] = true
		}
	}
	lost := 0
	for _, name := range acked {
		if !have[name] {
			lost++
			t.Errorf("acknowledged write lost: cluster %s", name)
		}
	}
	t.Logf("writer: %d writes acknowledged during the faults, %d lost", len(acked), lost)
}
