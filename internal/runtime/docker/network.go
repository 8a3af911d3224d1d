package docker

import (
	"context"
	"fmt"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/minato-project/minato/internal/runtime"
)

// CreateTaskNetwork starts an awsvpc task's pause container on minato's
// task network (both made on first use) and returns the task's address.
// A pause container of the same name that already exists is reused, so a
// restarted agent can call it again.
func (r *Runtime) CreateTaskNetwork(ctx context.Context, spec runtime.TaskNetworkSpec) (runtime.TaskNetwork, error) {
	netID, err := r.ensureNetwork(ctx)
	if err != nil {
		return runtime.TaskNetwork{}, err
	}
	img, err := r.ensurePauseImage(ctx)
	if err != nil {
		return runtime.TaskNetwork{}, err
	}
	lbl := labels(nil, spec.Labels)
	lbl[runtime.LabelPause] = "true"
	stop := 1
	cfg := &container.Config{
		Image:       img,
		Hostname:    spec.Hostname,
		Labels:      lbl,
		StopSignal:  "SIGKILL", // PID 1 without a handler ignores SIGTERM
		StopTimeout: &stop,
	}
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(netID),
		ReadonlyRootfs: true,
		Resources:      container.Resources{CPUShares: minCPUShares},
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netID: {}}}
	created := true
	resp, err := r.cli.ContainerCreate(ctx, cfg, hc, nc, nil, spec.Name)
	id := resp.ID
	if err != nil {
		if !cerrdefs.IsConflict(err) || spec.Name == "" {
			return runtime.TaskNetwork{}, fmt.Errorf("create pause container %q: %w", spec.Name, err)
		}
		old, ierr := r.cli.ContainerInspect(ctx, spec.Name)
		if ierr != nil || old.Config == nil || old.Config.Labels[runtime.LabelPause] != "true" {
			return runtime.TaskNetwork{}, fmt.Errorf("create pause container %q: %w", spec.Name, err)
		}
		id, created = old.ID, false
	}
	if err := r.connectEndpoints(ctx, id); err != nil {
		r.log.Warn("awsvpc task without the task endpoints", "container", spec.Name, "err", err)
	}
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		if created {
			_ = r.cli.ContainerRemove(context.WithoutCancel(ctx), id, container.RemoveOptions{Force: true})
		}
		return runtime.TaskNetwork{}, fmt.Errorf("start pause container %q: %w", spec.Name, err)
	}
	c, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return runtime.TaskNetwork{}, containerErr("inspect", id, err)
	}
	tn := runtime.TaskNetwork{ContainerID: id}
	if c.NetworkSettings != nil {
		ep := c.NetworkSettings.Networks[r.netName]
		if ep == nil {
			for _, e := range c.NetworkSettings.Networks {
				ep = e
			}
		}
		if ep != nil {
			tn.IPv4, tn.MAC, tn.Gateway = ep.IPAddress, ep.MacAddress, ep.Gateway
			tn.SubnetCIDR = subnetOf(ep.IPAddress, ep.IPPrefixLen)
		}
	}
	if tn.IPv4 == "" {
		return tn, fmt.Errorf("pause container %q has no address on %s", spec.Name, r.netName)
	}
	return tn, nil
}

// netLocks serializes the creation of a task network by name across every
// Runtime in this process.
var netLocks sync.Map // name -> *sync.Mutex

// ensureNetwork returns the ID of the task network, creating it if needed.
// Docker 20.10 lets two creations with one name race to two networks (and
// then refuses to attach to the "ambiguous" name), so creations in this
// process are serialized, and a creation that raced with another process
// keeps the oldest network and removes its own.
func (r *Runtime) ensureNetwork(ctx context.Context) (string, error) {
	mu, _ := netLocks.LoadOrStore(r.netName, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if id, err := r.findNetwork(ctx); err != nil || id != "" {
		return id, err
	}
	opts := network.CreateOptions{
		Driver: "bridge",
		Labels: map[string]string{runtime.LabelManaged: "true"},
	}
	if r.netSubnet != "" {
		opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: r.netSubnet}}}
	}
	resp, err := r.cli.NetworkCreate(ctx, r.netName, opts)
	winner, ferr := r.findNetwork(ctx)
	if ferr != nil {
		return "", ferr
	}
	if err != nil {
		if winner != "" {
			return winner, nil
		}
		return "", fmt.Errorf("create network %s: %w", r.netName, err)
	}
	if winner != resp.ID {
		// Another process made one first: use it, and drop ours.
		_ = r.cli.NetworkRemove(ctx, resp.ID)
		return winner, nil
	}
	r.log.Info("created task network", "network", r.netName, "id", resp.ID)
	return resp.ID, nil
}

// findNetwork returns the task network's ID, or "" if there is none. Of
// two with the name, every caller picks the same: the oldest.
func (r *Runtime) findNetwork(ctx context.Context) (string, error) {
	ns, err := r.cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", r.netName))})
	if err != nil {
		return "", fmt.Errorf("list networks: %w", err)
	}
	best := -1
	for i, n := range ns {
		if n.Name != r.netName {
			continue // the name filter matches substrings
		}
		if best < 0 || n.Created.Before(ns[best].Created) || n.Created.Equal(ns[best].Created) && n.ID < ns[best].ID {
			best = i
		}
	}
	if best < 0 {
		return "", nil
	}
	return ns[best].ID, nil
}
