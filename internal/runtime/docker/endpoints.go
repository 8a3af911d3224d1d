package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"

	"github.com/minato-project/minato/internal/runtime"
)

// The network that carries the task endpoints (metadata, credentials,
// the API proxy) to containers, as ECS's 169.254.170.2 does: an internal
// bridge whose host side is 169.254.170.2. Containers in bridge mode and
// awsvpc tasks' network namespaces are connected to it besides their own
// network; internal, it gives them no route anywhere else (their default
// route stays on their own network). Host-mode containers reach the
// address on the host directly.
const (
	EndpointNetwork = "minato-task-endpoints"
	endpointSubnet  = "169.254.170.0/24"
	endpointBridge  = "minato-ep0"
)

var _ runtime.Endpoints = (*Runtime)(nil)

type endpointState struct {
	mu sync.Mutex
	id string // the network's ID once made
}

var endpoints endpointState // one per process: every runtime shares the network

// EnsureEndpointNetwork makes the task endpoint network (or finds it) and
// returns the host's address on it; from then on containers are connected
// to it.
func (r *Runtime) EnsureEndpointNetwork(ctx context.Context) (string, error) {
	endpoints.mu.Lock()
	defer endpoints.mu.Unlock()
	if endpoints.id == "" {
		nw, err := r.cli.NetworkInspect(ctx, EndpointNetwork, network.InspectOptions{})
		if cerrdefs.IsNotFound(err) {
			var resp network.CreateResponse
			resp, err = r.cli.NetworkCreate(ctx, EndpointNetwork, network.CreateOptions{
				Driver: "bridge", Internal: true,
				IPAM:    &network.IPAM{Config: []network.IPAMConfig{{Subnet: endpointSubnet, Gateway: runtime.EndpointAddress}}},
				Options: map[string]string{"com.docker.network.bridge.name": endpointBridge},
				Labels:  map[string]string{runtime.LabelManaged: "true"},
			})
			if cerrdefs.IsConflict(err) { // another agent made it meanwhile
				nw, err = r.cli.NetworkInspect(ctx, EndpointNetwork, network.InspectOptions{})
				resp.ID = nw.ID
			}
			nw.ID = resp.ID
		}
		if err != nil {
			return "", fmt.Errorf("task endpoint network: %w", err)
		}
		endpoints.id = nw.ID
	}
	r.mu.Lock()
	r.epNet = endpoints.id
	r.mu.Unlock()
	return runtime.EndpointAddress, nil
}

// connectEndpoints connects a created container to the endpoint network,
// when there is one.
func (r *Runtime) connectEndpoints(ctx context.Context, id string) error {
	r.mu.Lock()
	ep := r.epNet
	r.mu.Unlock()
	if ep == "" {
		return nil
	}
	err := r.cli.NetworkConnect(ctx, ep, id, &network.EndpointSettings{})
	if err != nil && !cerrdefs.IsConflict(err) && !cerrdefs.IsAlreadyExists(err) {
		return fmt.Errorf("connect container %s to the task endpoint network: %w", id, err)
	}
	return nil
}

// Stats returns a container's stats as Docker's stats API answers them
// (one shot), which is what the task metadata endpoint serves.
func (r *Runtime) Stats(ctx context.Context, id string) (json.RawMessage, error) {
	resp, err := r.cli.ContainerStats(ctx, id, false)
	if err != nil {
		return nil, containerErr("stats of", id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}
