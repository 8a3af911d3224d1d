package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/testutil"
)

// A network lab: machines of their own on this one, each a network
// namespace with an address of its own on a switch the test makes, so
// that a test can cut one off from the others as a network would.
//
//	      host (the test, Docker): hostIf 10.214.N.1
//	        │ veth
//	  ┌─────┴───────────────── switch namespace ───┐
//	  │ up0 ── br0 ── p-s1 ── p-s2 ── p-s3 ── p-a1  │
//	  └────────────────┼───────┼──────┼───────┼────┘
//	                 eth0    eth0   eth0    eth0     one namespace each
//	              10.214.N.11 .12    .13     .14
//
// The bridge lives in a namespace of its own, not the host's: Docker sets
// the host's FORWARD policy to DROP and has bridged frames go through
// iptables (bridge-nf-call-iptables), which would drop the lab's traffic;
// the switch namespace has neither rule. The host keeps one veth on the
// switch, so the test reaches every node.
//
// Two kinds of cut, both on the switch, so that the cut-off node sees a
// network that went silent (no error from its own stack):
//   - cutPeers: the switch drops every frame between the node and any
//     other node (nft, bridge family); the host still reaches it, so the
//     test can ask the cut-off node what it thinks;
//   - cutLink: the switch's port of the node goes down (a pulled cable):
//     nothing reaches it, the host neither.
//
// Names carry a random id, so that labs of parallel runs never collide,
// and every namespace and link is removed when the test ends, whatever
// its outcome.

type cutKind string

const (
	cutPeers cutKind = "peers"
	cutLink  cutKind = "link"
)

type netLab struct {
	t      *testing.T
	id     string
	prefix string // "10.214.N."
	sw     string // the switch's namespace
	hostIf string
	nodes  map[string]*labNode
	names  []string
}

// labNode is one machine of the lab.
type labNode struct {
	name string
	ns   string
	ip   string
}

// requireNetns skips the test where network namespaces cannot be made:
// not Linux, not root, or no `ip`/`nft`. A root on Linux is a machine
// that should have them: there, under CI=true, the test fails instead of
// skipping when they cannot be made (CI runs as root; see docs/ha.md).
func requireNetns(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("the network partition test needs network namespaces: Linux and root (CAP_NET_ADMIN)")
	}
	fail := t.Skipf
	if os.Getenv("CI") == "true" {
		fail = t.Fatalf
	}
	for _, bin := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			fail("the network partition test needs %s (iproute2, nftables): %v", bin, err)
		}
	}
	probe := "minato-probe-" + randomID(t)
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		fail("cannot make a network namespace as root: %v %s", err, out)
	}
	exec.Command("ip", "netns", "del", probe).Run()
}

func randomID(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)[:5]
}

// newNetLab makes a switch and one namespace per name, each on the
// switch with an address of its own (10.214.N.11, .12, ... in order).
func newNetLab(t *testing.T, names ...string) *netLab {
	t.Helper()
	requireNetns(t)
	id := randomID(t)
	l := &netLab{t: t, id: id, prefix: labSubnet(t), sw: "minato-" + id + "-sw", hostIf: "mnt" + id + "h",
		nodes: map[string]*labNode{}, names: names}
	// Registered first, so that it runs last: after every process in a
	// namespace was stopped (a namespace lives as long as a process in it).
	t.Cleanup(l.remove)
	l.ip("netns", "add", l.sw)
	l.ip("-n", l.sw, "link", "set", "lo", "up")
	l.ip("-n", l.sw, "link", "add", "br0", "type", "bridge")
	l.ip("-n", l.sw, "link", "set", "br0", "up")
	l.ip("link", "add", l.hostIf, "type", "veth", "peer", "name", "up0", "netns", l.sw)
	l.ip("-n", l.sw, "link", "set", "up0", "master", "br0", "up")
	l.ip("addr", "add", l.prefix+"1/24", "dev", l.hostIf)
	l.ip("link", "set", l.hostIf, "up")
	for i, name := range names {
		n := &labNode{name: name, ns: "minato-" + id + "-" + name, ip: fmt.Sprintf("%s%d", l.prefix, 11+i)}
		l.nodes[name] = n
		l.ip("netns", "add", n.ns)
		l.ip("-n", n.ns, "link", "set", "lo", "up")
		l.ip("-n", l.sw, "link", "add", "p-"+name, "type", "veth", "peer", "name", "eth0", "netns", n.ns)
		l.ip("-n", l.sw, "link", "set", "p-"+name, "master", "br0", "up")
		l.ip("-n", n.ns, "addr", "add", n.ip+"/24", "dev", "eth0")
		l.ip("-n", n.ns, "link", "set", "eth0", "up")
		l.ip("-n", n.ns, "route", "add", "default", "via", l.prefix+"1")
	}
	return l
}

// labSubnet takes a /24 of 10.214.0.0/16 that no interface of the host
// uses and no other lab of this machine holds, for the rest of the test.
func labSubnet(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "minato-e2e-netlab")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	addrs, _ := net.InterfaceAddrs()
	start := int(randomID(t)[0]) // any start; the loop covers all 256
	for i := range 256 {
		n := (start + i) % 256
		prefix := fmt.Sprintf("10.214.%d.", n)
		used := false
		for _, a := range addrs {
			used = used || strings.HasPrefix(a.String(), prefix)
		}
		if used {
			continue
		}
		unlock, ok, err := testutil.TryLockFile(filepath.Join(dir, fmt.Sprintf("%d.lock", n)))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			t.Cleanup(unlock)
			return prefix
		}
	}
	t.Fatal("no free /24 in 10.214.0.0/16 for the network lab")
	return ""
}

// ip runs `ip args...` and fails the test if it fails.
func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
	}
}

// remove deletes the namespaces (their veths go with them) and the host's
// veth; it only reports what it could not remove.
func (l *netLab) remove() {
	for _, name := range l.names {
		if n := l.nodes[name]; n != nil {
			if out, err := exec.Command("ip", "netns", "del", n.ns).CombinedOutput(); err != nil {
				l.t.Logf("removing the network lab: ip netns del %s: %v %s", n.ns, err, out)
			}
		}
	}
	exec.Command("ip", "netns", "del", l.sw).Run()
	exec.Command("ip", "link", "del", l.hostIf).Run() // gone with its peer already, normally
}

// node returns the lab's machine name.
func (l *netLab) node(name string) *labNode {
	n := l.nodes[name]
	if n == nil {
		l.t.Fatalf("the network lab has no node %q", name)
	}
	return n
}

// command is name run inside n's namespace.
func (n *labNode) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.ns, name}, args...)...)
}

// cutRules is the nft ruleset of the switch that drops every frame
// between port and any other port but the host's.
func cutRules(port string) string {
	return fmt.Sprintf(`table bridge minato_cut {
	chain cut {
		type filter hook forward priority 0; policy accept;
		iifname %q oifname != "up0" drop
		oifname %q iifname != "up0" drop
	}
}
`, port, port)
}

// cut cuts the machine name off from the others.
func (l *netLab) cut(name string, kind cutKind) {
	l.t.Helper()
	n := l.node(name)
	switch kind {
	case cutPeers:
		cmd := exec.Command("ip", "netns", "exec", l.sw, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(cutRules("p-" + n.name))
		if out, err := cmd.CombinedOutput(); err != nil {
			l.t.Fatalf("nft: %v %s", err, out)
		}
	case cutLink:
		l.ip("-n", l.sw, "link", "set", "p-"+n.name, "down")
	default:
		l.t.Fatalf("no cut %q", kind)
	}
}

// heal undoes cut.
func (l *netLab) heal(name string, kind cutKind) {
	l.t.Helper()
	n := l.node(name)
	switch kind {
	case cutPeers:
		if out, err := exec.Command("ip", "netns", "exec", l.sw, "nft", "delete", "table", "bridge", "minato_cut").CombinedOutput(); err != nil {
			l.t.Fatalf("nft: %v %s", err, out)
		}
	case cutLink:
		l.ip("-n", l.sw, "link", "set", "p-"+n.name, "up")
	}
}
