package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// ClusterConfig describes a simulated cluster.
type ClusterConfig struct {
	// Dir holds the control plane's data, the agents' directories and the
	// children's logs.
	Dir   string
	Hosts int
	// Images present on every simulated host.
	Images []string
	// Procs 1 runs everything in this process; otherwise the control
	// plane and the fleet each run in a child process (the default), so
	// their RSS and CPU time are their own.
	Procs int
	// CPLogLevel is the control plane's log level (CPConfig.LogLevel).
	CPLogLevel string
	// Store is the control plane's state-store engine (CPConfig.Store).
	Store string
	// HostCPUs and HostMemoryMiB size every simulated host (FleetConfig).
	HostCPUs      int
	HostMemoryMiB int64
}

// Cluster is a running control plane and fleet.
type Cluster struct {
	CP    CPInfo
	Ready FleetReady
	// CPStartSeconds is how long the control plane took to answer.
	CPStartSeconds float64
	// CPPID and FleetPID are the processes to read /proc of (this process
	// with Procs 1).
	CPPID, FleetPID int
	// CPDebug and FleetDebug are their debug servers (the same one with
	// Procs 1).
	CPDebug, FleetDebug string

	cfg      ClusterConfig
	cpChild  *Child
	flChild  *Child
	cp       *ControlPlane
	fleet    *Fleet
	inDebug  *debugServer
	stopOnce bool
}

// StartCluster starts a control plane, then a fleet of cfg.Hosts agents,
// and returns once every agent has registered.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	RaiseNoFile()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg}
	cpCfg := CPConfig{DataDir: filepath.Join(cfg.Dir, "controlplane"), LogLevel: cfg.CPLogLevel, Store: cfg.Store}
	start := time.Now()
	if cfg.Procs == 1 {
		d, err := sharedDebugServer()
		if err != nil {
			return nil, err
		}
		c.inDebug = d
		c.CPDebug, c.FleetDebug = d.URL, d.URL
		c.CPPID, c.FleetPID = os.Getpid(), os.Getpid()
		cp, err := StartControlPlane(ctx, cpCfg)
		if err != nil {
			return nil, err
		}
		c.cp, c.CP = cp, cp.Info
	} else {
		ch, err := spawn(roleControlPlane, cpCfg, filepath.Join(cfg.Dir, "controlplane.log"), 2*time.Minute, &c.CP)
		if err != nil {
			return nil, err
		}
		c.cpChild, c.CPPID, c.CPDebug = ch, ch.PID, ch.Debug
	}
	c.CPStartSeconds = time.Since(start).Seconds()
	if cfg.Hosts > 0 {
		if err := c.AddFleet(ctx, cfg.Hosts); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// AddFleet starts the cluster's fleet of hosts (once).
func (c *Cluster) AddFleet(ctx context.Context, hosts int) error {
	if c.fleet != nil || c.flChild != nil {
		return errors.New("the cluster has a fleet already")
	}
	fcfg := FleetConfig{Server: c.CP.URL, Token: AgentToken, Hosts: hosts, Images: c.cfg.Images,
		DataDir: filepath.Join(c.cfg.Dir, "agents"), CPUs: c.cfg.HostCPUs, MemoryMiB: c.cfg.HostMemoryMiB}
	if c.cfg.Procs == 1 {
		f, err := StartFleet(ctx, fcfg)
		if err != nil {
			return err
		}
		c.fleet, c.Ready = f, f.Ready()
		c.inDebug.stats.Store(&statsFunc{f: func() any { return f.Stats() }})
		return nil
	}
	ch, err := spawn(roleFleet, fcfg, filepath.Join(c.cfg.Dir, "fleet.log"), 15*time.Minute, &c.Ready)
	if err != nil {
		return err
	}
	c.flChild, c.FleetPID, c.FleetDebug = ch, ch.PID, ch.Debug
	return nil
}

// FleetStats returns the fleet's state now.
func (c *Cluster) FleetStats() (FleetStats, error) {
	if c.fleet != nil {
		return c.fleet.Stats(), nil
	}
	var s FleetStats
	err := fetchStats(c.FleetDebug, &s)
	return s, err
}

// WaitRunning waits until at least n simulated containers run, or timeout.
func (c *Cluster) WaitRunning(ctx context.Context, n int64, timeout time.Duration) (FleetStats, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := c.FleetStats()
		if err != nil {
			return s, err
		}
		if s.Running >= n {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("%d of %d containers running after %v", s.Running, n, timeout)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CPProc and FleetProc read the control plane's and the fleet's process
// statistics (the same process with Procs 1).
func (c *Cluster) CPProc() ProcStat    { s, _ := ReadProc(c.CPPID); return s }
func (c *Cluster) FleetProc() ProcStat { s, _ := ReadProc(c.FleetPID); return s }

// ECS returns an ECS client for the control plane: the AWS SDK for Go v2,
// SigV4-signed, no retries (an error is an error), up to maxConns
// connections kept.
func (c *Cluster) ECS(maxConns int) *ecs.Client {
	return NewECSClient(c.CP.URL, maxConns)
}

// NewECSClient returns an AWS SDK ECS client for the control plane at url.
func NewECSClient(url string, maxConns int) *ecs.Client {
	hc := awshttp.NewBuildableClient().WithTimeout(5 * time.Minute).WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = maxConns
		t.MaxIdleConnsPerHost = maxConns
	})
	return ecs.New(ecs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   ownBody{hc},
	})
}

// ownBody hands the transport a copy of the request body. smithy-go closes
// the request body as soon as the response headers are in; when the
// transport is still writing it then, the transport closes the connection
// and reading the response fails with "use of closed network connection"
// (aws/aws-sdk-go-v2#1825, #2737). Under load on two cores this happens to
// about one request in a hundred: a client bug, not the server's.
type ownBody struct{ c *awshttp.BuildableClient }

func (o ownBody) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return o.c.Do(r)
}

// Stop stops the fleet, then the control plane.
func (c *Cluster) Stop() error {
	if c.stopOnce {
		return nil
	}
	c.stopOnce = true
	var errs []error
	if c.fleet != nil {
		c.fleet.Stop()
	}
	if c.flChild != nil {
		errs = append(errs, c.flChild.Stop(2*time.Minute))
	}
	if c.cp != nil {
		errs = append(errs, c.cp.Stop())
	}
	if c.cpChild != nil {
		errs = append(errs, c.cpChild.Stop(time.Minute))
	}
	if c.inDebug != nil {
		c.inDebug.stats.Store(nil)
	}
	return errors.Join(errs...)
}
