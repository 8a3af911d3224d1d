package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func (n *node) ssm() *ssm.Client {
	return ssm.New(ssm.Options{
		BaseEndpoint: aws.String(n.url()),
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
	})
}

// startNodeIn runs `minato up --no-agent` on dataDir.
func startNodeIn(t *testing.T, dataDir string) *node {
	t.Helper()
	n := &node{t: t, dataDir: dataDir, addr: freeAddr(t), args: []string{"--no-agent"}}
	n.start()
	t.Cleanup(func() { n.stop() })
	return n
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupRestore backs up a running node with `minato backup` while
// writers write, restores the copy into a new data directory with the
// master key, starts a node on it and finds every write acknowledged
// before the backup began, the secret value readable. Without the master
// key the restored node refuses to start and says why.
func TestBackupRestore(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	ctx := ctxT(t)
	c := n.ssm()
	if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/backup/secret"), Value: aws.String("s3cr3t"),
		Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked = map[string]string{} // parameter name -> value
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				name, value := fmt.Sprintf("/backup/w%d/p%05d", w, i), fmt.Sprintf("value %d of writer %d", i, w)
				if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value),
					Type: ssmtypes.ParameterTypeString}); err != nil {
					t.Errorf("put %s: %v", name, err)
					return
				}
				mu.Lock()
				acked[name] = value
				mu.Unlock()
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor(t, 60*time.Second, "writers to write 200 parameters", func() (bool, string) {
		return count() >= 200 || t.Failed(), fmt.Sprint(count())
	})
	mu.Lock()
	before := make(map[string]string, len(acked))
	for k, v := range acked {
		before[k] = v
	}
	mu.Unlock()

	out := filepath.Join(t.TempDir(), "state-backup.db")
	cmd := exec.Command(minatoBin, "backup", "--data-dir", n.dataDir, "--out", out)
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("minato backup: %v\n%s", err, res)
	}
	t.Logf("minato backup:\n%s", res)
	if !strings.Contains(string(res), "the copy verifies") || !strings.Contains(string(res), "sealed with master key") {
		t.Fatalf("minato backup printed:\n%s", res)
	}
	waitFor(t, 60*time.Second, "writers to go on after the backup", func() (bool, string) {
		return count() >= len(before)+50 || t.Failed(), fmt.Sprint(count())
	})
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	// Restore: the copy as state.db, and the master key, in a new data
	// directory.
	dir := t.TempDir()
	copyFile(t, out, filepath.Join(dir, "state.db"))
	copyFile(t, filepath.Join(n.dataDir, "secrets.key"), filepath.Join(dir, "secrets.key"))
	r := startNodeIn(t, dir)
	rc := r.ssm()
	names := make([]string, 0, len(before))
	for name := range before {
		names = append(names, name)
	}
	for i := 0; i < len(names); i += 10 {
		batch := names[i:min(i+10, len(names))]
		got, err := rc.GetParameters(ctx, &ssm.GetParametersInput{Names: batch})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.InvalidParameters) > 0 {
			t.Fatalf("acknowledged before the backup, missing after the restore: %v", got.InvalidParameters)
		}
		for _, p := range got.Parameters {
			if aws.ToString(p.Value) != before[aws.ToString(p.Name)] {
				t.Fatalf("%s = %q after the restore, want %q", aws.ToString(p.Name), aws.ToString(p.Value), before[aws.ToString(p.Name)])
			}
		}
	}
	sec, err := rc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/backup/secret"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(sec.Parameter.Value) != "s3cr3t" {
		t.Fatalf("secret after the restore: %v", err)
	}
	t.Logf("restored %d parameters acknowledged before the backup (%d written in all)", len(before), count())

	// The same copy without the master key: the node must refuse.
	nokey := t.TempDir()
	copyFile(t, out, filepath.Join(nokey, "state.db"))
	var outb syncBuffer
	bad := exec.Command(minatoBin, "up", "--no-agent", "--data-dir", nokey, "--api-addr", freeAddr(t))
	bad.Env = append(os.Environ(), "MINATO_ACCESS_KEY_ID="+testKeyID, "MINATO_SECRET_ACCESS_KEY="+testSecret)
	bad.Stdout, bad.Stderr = &outb, &outb
	if err := bad.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bad.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(outb.String(), "master key") {
			t.Fatalf("node on a restored copy without its master key: %v\n%s", err, outb.String())
		}
	case <-time.After(30 * time.Second):
		bad.Process.Kill()
		<-done
		t.Fatalf("node without the master key did not refuse within 30s:\n%s", outb.String())
	}
}

// TestStartRefusesDamagedState: a node refuses a damaged state.db at startup
// with an error that names the file and the remedy.
func TestStartRefusesDamagedState(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(n.dataDir, "state.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[:8192]) // both meta pages
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(minatoBin, "up", "--no-agent", "--data-dir", n.dataDir, "--api-addr", freeAddr(t)).CombinedOutput()
	if err == nil {
		t.Fatalf("minato started on a damaged state.db:\n%s", res)
	}
	for _, want := range []string{path, "is damaged", "minato backup"} {
		if !bytes.Contains(res, []byte(want)) {
			t.Fatalf("the refusal does not say %q:\n%s", want, res)
		}
	}
}

// TestReadyzDiskFull runs a node whose data directory is a small tmpfs:
// once the disk is full, /readyz says so (503) while /healthz stays 200,
// writes fail with an error, and once space returns the node takes writes
// and is ready again by itself, without a restart. Needs permission to
// mount (root); skips otherwise.
func TestReadyzDiskFull(t *testing.T) {
	e2eTest(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "minato-e2e", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); run as root to include this test", err, bytes.TrimSpace(out))
	}
	n := &node{t: t, dataDir: filepath.Join(dir, "data"), addr: freeAddr(t), args: []string{"--no-agent"}}
	t.Cleanup(func() {
		n.stop()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	n.start()
	ctx := ctxT(t)
	c := n.ssm()
	get := func(path string) (int, string) {
		resp, err := http.Get(n.url() + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("/readyz before: %d %s", code, body)
	}

	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("v", 4000)
	var putErr error
	for i := 0; putErr == nil; i++ {
		if i == 5000 {
			t.Fatal("5000 parameters of 4 KB fit on a full disk")
		}
		_, putErr = c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(fmt.Sprintf("/full/p%05d", i)),
			Value: aws.String(value), Type: ssmtypes.ParameterTypeString})
	}
	t.Logf("disk full: %v", putErr)
	waitFor(t, 60*time.Second, "/readyz to report the full disk", func() (bool, string) {
		code, body := get("/readyz")
		return code == 503, body
	})
	_, body := get("/readyz")
	t.Logf("/readyz on a full disk:\n%s", body)
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("/healthz on a full disk: %d %s (a restart would not help)", code, body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "/readyz to recover once space returned", func() (bool, string) {
		code, body := get("/readyz")
		return code == 200, body
	})
	if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/after/space"), Value: aws.String("ok"),
		Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatalf("write after space returned: %v", err)
	}
}
