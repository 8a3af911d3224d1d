package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Environment of a child process: its role and its JSON configuration.
const (
	envRole   = "MINATO_BENCH_ROLE"
	envConfig = "MINATO_BENCH_CONFIG"
)

// Roles a child process can play.
const (
	roleControlPlane = "controlplane"
	roleFleet        = "fleet"
)

// readyLine is the first line a child writes on stdout.
type readyLine struct {
	Ready json.RawMessage `json:"ready,omitempty"`
	Debug string          `json:"debug,omitempty"` // base URL of the child's debug server
	Error string          `json:"error,omitempty"`
}

// ChildMain runs the role this process was started for and exits; in a
// process started by a person it returns at once. Call it first in main.
func ChildMain() {
	role := os.Getenv(envRole)
	if role == "" {
		return
	}
	RaiseNoFile()
	err := runChild(role, []byte(os.Getenv(envConfig)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runChild serves one role until stdin closes (the parent went away or
// asked it to stop) or a signal arrives.
func runChild(role string, config []byte) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) error {
		out.Encode(readyLine{Error: err.Error()})
		return err
	}
	dbg, err := startDebugServer()
	if err != nil {
		return fail(err)
	}
	defer dbg.Close()
	switch role {
	case roleControlPlane:
		var cfg CPConfig
		if err := json.Unmarshal(config, &cfg); err != nil {
			return fail(err)
		}
		cp, err := StartControlPlane(ctx, cfg)
		if err != nil {
			return fail(err)
		}
		b, _ := json.Marshal(cp.Info)
		out.Encode(readyLine{Ready: b, Debug: dbg.URL})
		<-ctx.Done()
		return cp.Stop()
	case roleFleet:
		var cfg FleetConfig
		if err := json.Unmarshal(config, &cfg); err != nil {
			return fail(err)
		}
		f, err := StartFleet(ctx, cfg)
		if err != nil {
			return fail(err)
		}
		dbg.stats.Store(&statsFunc{f: func() any { return f.Stats() }})
		b, _ := json.Marshal(f.Ready())
		out.Encode(readyLine{Ready: b, Debug: dbg.URL})
		<-ctx.Done()
		f.Stop()
		return nil
	}
	return fail(fmt.Errorf("unknown role %q", role))
}

// Child is a running child process of this binary.
type Child struct {
	Role  string
	PID   int
	Debug string // base URL of its debug server
	Log   string // file its stderr goes to
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

// spawn starts this binary as a child playing role with cfg, waits for its
// ready line (at most timeout) and decodes the ready payload into ready.
func spawn(role string, cfg any, logPath string, timeout time.Duration, ready any) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envRole+"="+role, envConfig+"="+string(b))
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{Role: role, PID: cmd.Process.Pid, Log: logPath, cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	lines := make(chan readyLine, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		var rl readyLine
		if sc.Scan() {
			if err := json.Unmarshal(sc.Bytes(), &rl); err != nil {
				rl.Error = "bad ready line: " + err.Error()
			}
		} else {
			rl.Error = "exited before it was ready"
		}
		lines <- rl
		io.Copy(io.Discard, stdout)
		c.done <- cmd.Wait()
	}()
	var rl readyLine
	select {
	case rl = <-lines:
	case <-time.After(timeout):
		c.kill()
		return nil, fmt.Errorf("%s child not ready after %v (log: %s)", role, timeout, logPath)
	}
	if rl.Error != "" {
		c.kill()
		return nil, fmt.Errorf("%s child: %s (log: %s%s)", role, rl.Error, logPath, tail(logPath))
	}
	c.Debug = rl.Debug
	if ready != nil {
		if err := json.Unmarshal(rl.Ready, ready); err != nil {
			c.kill()
			return nil, err
		}
	}
	return c, nil
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "; last output:\n" + strings.TrimSpace(string(b))
}

func (c *Child) kill() {
	c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
	}
}

// Stop asks the child to stop (its stdin closes) and waits for it; after
// timeout it is killed.
func (c *Child) Stop(timeout time.Duration) error {
	c.stdin.Close()
	select {
	case err := <-c.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s child (pid %d) exited: %v (log: %s)", c.Role, c.PID, err, c.Log)
		}
		return err
	case <-time.After(timeout):
		c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("%s child (pid %d) did not stop within %v; killed", c.Role, c.PID, timeout)
	}
}

// RaiseNoFile raises this process's open-file limit to its hard limit, and
// the hard limit to what the kernel allows when running as root: 5,000
// simulated hosts hold two connections each on both ends.
func RaiseNoFile() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > lim.Max {
			want := syscall.Rlimit{Cur: n, Max: n}
			if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
				return
			}
		}
	}
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// NoFile returns the current open-file limit.
func NoFile() uint64 {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}
