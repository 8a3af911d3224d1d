package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/testutil/testimage"
)

// `minato agent` with a token the server refuses exits non-zero at once
// and says where the right token is.
func TestAgentWrongTokenExits(t *testing.T) {
	e2eTest(t)
	testimage.RequireDocker(t)
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, minatoBin, "agent", "--server", n.url(), "--token", "wrong",
		"--data-dir", t.TempDir()).CombinedOutput()
	var ee *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("minato agent with a wrong token: %v (context: %v)\n%s", err, ctx.Err(), out)
	}
	if !strings.Contains(string(out), "the server refused the agent token: check --token / MINATO_AGENT_TOKEN") ||
		!strings.Contains(string(out), "agent-token") {
		t.Fatalf("the output does not say what to check:\n%s", out)
	}
}

// `minato agent` for a cluster that does not exist yet waits for it and
// registers once it is created. Without --dynamic-ports it registers
// dynamic host ports outside the kernel's ephemeral port range.
func TestAgentWaitsForClusterCLI(t *testing.T) {
	e2eTest(t)
	testimage.RequireDocker(t)
	n := startNode(t)
	a := &agentProc{t: t, dataDir: t.TempDir()}
	token := strings.TrimSpace(readFileT(t, n.dataDir+"/agent-token"))
	a.out = &syncBuffer{}
	a.proc = startProc(t, exec.Command(minatoBin, "agent", "--server", n.url(), "--token", token, "--data-dir", a.dataDir, "--cluster", "later"), a.out)
	t.Cleanup(func() {
		a.kill()
		removeInstanceContainers(t, agentInstanceID(a.dataDir))
	})
	waitFor(t, time.Minute, "the agent to wait for its cluster", func() (bool, string) {
		return strings.Contains(a.out.String(), "waiting for cluster later to be created"), a.out.String()
	})
	if _, err := n.ecs().CreateCluster(ctxT(t), &ecs.CreateClusterInput{ClusterName: aws.String("later")}); err != nil {
		t.Fatal(err)
	}
	waitForInstances(t, n, "later", 1)

	m := regexp.MustCompile(`dynamic host ports (\d+)-(\d+)`).FindStringSubmatch(a.out.String())
	if m == nil {
		t.Fatalf("the agent does not say its dynamic host ports:\n%s", a.out.String())
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("the kernel's ephemeral port range is unknown here: %v", err)
	}
	f := strings.Fields(string(b))
	var got, eph scheduler.PortRange
	got.From, _ = strconv.Atoi(m[1])
	got.To, _ = strconv.Atoi(m[2])
	eph.From, _ = strconv.Atoi(f[0])
	eph.To, _ = strconv.Atoi(f[1])
	// A kernel range that leaves no room outside it is the agent's
	// fallback, with a warning.
	if _, roomy := scheduler.DynamicPortsOutside(eph); roomy && got.Overlaps(eph) {
		t.Fatalf("dynamic host ports %s overlap the kernel's ephemeral range %s", got, eph)
	}
}
