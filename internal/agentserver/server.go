// Package agentserver is the control plane's end of the agent protocol
// (internal/agentproto): it registers container instances, answers agents'
// long polls with the tasks assigned to them, and hands their reports and
// port moves to the task domain (internal/tasks, through the Tasks
// interface), converting between the protocol's messages and the
// domain's types at this edge.
package agentserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/fence"
	"github.com/minato-project/minato/internal/tasks"
)

// Tasks is the task domain as the agent server uses it.
type Tasks interface {
	// ApplyReports merges an instance's task reports into the tasks.
	ApplyReports(ctx context.Context, instanceID, cluster string, reports []tasks.Report) error
	// MovePorts moves a container's dynamic host ports off busy ones and
	// returns its host ports; errors carry a core.Kind.
	MovePorts(ctx context.Context, instanceID, taskID, container string, busy []int) ([]int, error)
}

var _ Tasks = (*tasks.Manager)(nil)

// Config is what the agent server needs.
type Config struct {
	Store store.Store
	// View is the cluster view of Store, when there is one: reports are
	// then applied to the tasks it holds decoded, in one transaction per
	// report, instead of reading and decoding each task from Store. Store
	// must then be the view's store (View.Store()), so that the view sees
	// its writes whole.
	View *clusterview.View
	// Tasks is the task domain. Default: one over Store and View, with
	// Clock, IDs, Logger and Agents.
	Tasks  Tasks
	Agents *liveness.Tracker
	Clock  core.Clock
	IDs    core.IDs
	Logger *slog.Logger
	// Token is the join token agents present.
	Token string
	// Scope is the region and account of the ARNs handed to agents.
	Scope arn.Scope
	// PollTimeout bounds a long poll; default agentproto.PollTimeout.
	PollTimeout time.Duration
	// Images says which task images are minato's registry's and how to
	// pull them (nil: none are).
	Images ImageResolver
}

// Server serves the agent protocol.
type Server struct {
	cfg Config
	log *slog.Logger
	// polled holds the instances that polled this server since it
	// started; the first answer to each asks its agent to report all its
	// tasks again.
	polled sync.Map

	defsMu sync.Mutex
	defs   map[string]ecstypes.TaskDefinition // by family:revision

	bells *doorbells // what long polls wait on
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.IDs == nil {
		cfg.IDs = core.RandomIDs{}
	}
	if cfg.PollTimeout == 0 {
		cfg.PollTimeout = agentproto.PollTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Tasks == nil {
		cfg.Tasks = tasks.New(tasks.Config{Store: cfg.Store, View: cfg.View, Clock: cfg.Clock, IDs: cfg.IDs, Logger: log, Agents: cfg.Agents})
	}
	return &Server{cfg: cfg, log: log, bells: newDoorbells(cfg.Store)}
}

// Handler returns the HTTP handler of the agent paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentproto.PathRegister, s.auth(s.register))
	mux.HandleFunc("GET "+agentproto.PathPoll, s.auth(s.poll))
	mux.HandleFunc("POST "+agentproto.PathReport, s.auth(s.report))
	mux.HandleFunc("POST "+agentproto.PathPorts, s.auth(s.movePorts))
	return mux
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, core.Errorf(core.KindInvalid, "", format, args...).(*core.Error).Message}
}

// httpErrorOf answers a domain error with the HTTP status of its kind:
// 400 invalid, 404 not found, 409 conflict. Any other error is the
// server's (500).
func httpErrorOf(err error) error {
	e, ok := core.AsError(err)
	if !ok {
		return err
	}
	switch e.Kind {
	case core.KindInvalid:
		return &httpError{http.StatusBadRequest, e.Message}
	case core.KindNotFound:
		return &httpError{http.StatusNotFound, e.Message}
	case core.KindConflict:
		return &httpError{http.StatusConflict, e.Message}
	}
	return err
}

func (s *Server) auth(h func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid agent token"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
		out, err := h(w, r)
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				writeJSON(w, he.status, map[string]string{"error": he.msg})
				return
			}
			if errors.Is(err, context.Canceled) {
				return
			}
			s.log.Error("agent request failed", "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return badRequest("malformed request: %v", err)
	}
	return nil
}

func (s *Server) instanceARN(cluster, id string) string {
	return s.cfg.Scope.New("ecs", "container-instance/"+cluster+"/"+id)
}

// register creates or refreshes a container instance.
func (s *Server) register(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req agentproto.RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	ctx := r.Context()
	if req.Cluster == "" {
		req.Cluster = "default"
	}
	if req.Resources.CPU <= 0 || req.Resources.MemoryMiB <= 0 {
		return nil, badRequest("registered CPU and memory must be positive")
	}
	var inst state.ContainerInstance
	err := store.RetryConflicts(ctx, func() error {
		// The instance joins only an ACTIVE cluster, and a DeleteCluster
		// that found the cluster empty must not commit after it: the
		// cluster's revision and fence (store/fence) order the two.
		ckey := state.ClusterKey(req.Cluster)
		cl, err := state.Get[clusterStatus](ctx, s.cfg.Store, ckey)
		if state.IsNotFound(err) || (err == nil && cl.Value.Status != "ACTIVE") {
			// 404: the agent waits for the cluster to be created.
			return &httpError{http.StatusNotFound, fmt.Sprintf("cluster %q does not exist or is not ACTIVE", req.Cluster)}
		}
		if err != nil {
			return err
		}
		fconds, fops, err := fence.Enter(ctx, s.cfg.Store, ckey)
		if err != nil {
			return err
		}
		var rev int64
		inst = state.ContainerInstance{}
		if req.InstanceID != "" {
			it, err := state.Get[state.ContainerInstance](ctx, s.cfg.Store, state.ContainerInstanceKey(req.Cluster, req.InstanceID))
			switch {
			case err == nil && it.Value.Status != state.InstanceInactive:
				inst, rev = it.Value, it.ModRevision
			case err != nil && !state.IsNotFound(err):
				return err
			}
		}
		if rev == 0 { // a new instance, or the old one was deregistered
			id := s.cfg.IDs.NewID()
			inst = state.ContainerInstance{
				ID: id, Cluster: req.Cluster, Status: state.InstanceActive,
				EC2InstanceID: "mi-" + id[:17], RegisteredAt: s.cfg.Clock.Now().UTC(),
			}
		}
		inst.Hostname, inst.Address = req.Hostname, req.Address
		inst.AgentVersion, inst.DockerVer = req.AgentVersion, req.DockerVersion
		inst.Registered = resourcesOf(req.Resources)
		inst.DynamicPorts = req.DynamicPorts
		inst.Attributes = mergeAttributes(inst.Attributes, req.Attributes)
		inst.Fargate = req.Fargate
		inst.Version++
		b, err := state.Encode(inst)
		if err != nil {
			return err
		}
		key := state.ContainerInstanceKey(req.Cluster, inst.ID)
		conds := append([]store.Cond{{Key: key, ModRevision: rev}, store.MustBeAt(ckey, cl.ModRevision)}, fconds...)
		_, err = s.cfg.Store.Txn(ctx, conds, append([]store.Op{store.Put(key, b)}, fops...))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Agents.Touch(inst.ID)
	s.log.Info("container instance registered", "cluster", req.Cluster, "instance", inst.ID, "hostname", req.Hostname, "fargate", req.Fargate)
	return agentproto.RegisterResponse{InstanceID: inst.ID, InstanceARN: s.instanceARN(req.Cluster, inst.ID), Cluster: req.Cluster}, nil
}

// clusterStatus reads only the status of a stored cluster.
type clusterStatus struct {
	Status string `json:"status"`
}

// mergeAttributes keeps attributes a user put (names the agent does not
// send) and takes the agent's values for the rest.
func mergeAttributes(have, fromAgent []ecstypes.Attribute) []ecstypes.Attribute {
	out := append([]ecstypes.Attribute(nil), fromAgent...)
	for _, a := range have {
		found := false
		for _, b := range fromAgent {
			found = found || a.Name == b.Name
		}
		if !found {
			out = append(out, a)
		}
	}
	return out
}

// poll answers with the instance's assignments once they changed after
// the agent's revision, or when the poll times out. An open poll is the
// agent's heartbeat (liveness.Tracker.Hold). The first poll of an instance
// since this server started is answered at once and asks the agent to
// report all its tasks again: reports sent while the server was away, or
// lost with it, are then not missed.
func (s *Server) poll(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	cluster, id := q.Get("cluster"), q.Get("instance")
	since, _ := strconv.ParseInt(q.Get("since"), 10, 64)
	if cluster == "" || id == "" {
		return nil, badRequest("cluster and instance are required")
	}
	release := s.cfg.Agents.Hold(id)
	defer release()
	_, seen := s.polled.Load(id)
	if since > 0 && seen {
		// Wait until something under the instance's index changes after
		// since, or the poll times out. A watch that cannot start from
		// since (history compacted) ends at once: answer anew.
		// One watch of the whole index rings the instance's doorbell;
		// until it runs, a watch of the poll's own.
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PollTimeout)
		s.bells.start()
		if !s.bells.wait(ctx, id, since) {
			w, err := s.cfg.Store.Watch(ctx, state.InstanceTasksPrefix(id), since)
			if err != nil {
				cancel()
				return nil, err
			}
			select {
			case <-w.Events():
			case <-ctx.Done():
			}
		}
		cancel()
		if err := r.Context().Err(); err != nil {
			// The agent closed its long poll: it stopped, or lost the
			// connection (it polls again at once otherwise).
			s.log.Info("container instance disconnected", "cluster", cluster, "instance", id)
			return nil, err
		}
	}
	resp, err := s.assignments(r.Context(), cluster, id)
	if err != nil {
		return nil, err
	}
	if !seen {
		s.polled.Store(id, struct{}{})
		resp.Resend = true
	}
	return resp, nil
}

// assignments reads the whole desired state of an instance.
func (s *Server) assignments(ctx context.Context, cluster, id string) (agentproto.PollResponse, error) {
	idx, rev, err := s.cfg.Store.List(ctx, state.InstanceTasksPrefix(id), store.ListOptions{})
	if err != nil {
		return agentproto.PollResponse{}, err
	}
	// The instance and its tasks from the view, decoded already, once it
	// is as new as the index read; from the store what it lacks (below).
	status, found := "", false
	if s.cfg.View != nil {
		if err := s.cfg.View.WaitFor(ctx, rev); err != nil {
			return agentproto.PollResponse{}, err
		}
		var inst clusterview.Instance
		if inst, found = s.cfg.View.Instance(cluster, id); found {
			status = inst.Record.Status
		}
	}
	if !found {
		inst, err := state.Get[state.ContainerInstance](ctx, s.cfg.Store, state.ContainerInstanceKey(cluster, id))
		if state.IsNotFound(err) {
			return agentproto.PollResponse{}, &httpError{http.StatusNotFound, "container instance " + id + " is not registered in cluster " + cluster}
		}
		if err != nil {
			return agentproto.PollResponse{}, err
		}
		status = inst.Value.Status
	}
	resp := agentproto.PollResponse{Revision: rev, InstanceStatus: status, Tasks: []agentproto.Assignment{}}
	for _, kv := range idx {
		taskID := state.LastSegment(kv.Key)
		// The entry names the task's cluster: the instance's, or, for a
		// task of the Fargate pool, its own.
		taskCluster := cluster
		var entry state.IndexEntry
		if err := json.Unmarshal(kv.Value, &entry); err == nil && entry.Cluster != "" {
			taskCluster = entry.Cluster
		}
		var t state.Task
		// The index entry is written with the task whenever the
		// assignment changes. A view task older than its entry, or none,
		// means the view has applied the revision of that write only in
		// part (a large transaction whose writer has not handed it over
		// yet): the store has it.
		it, ok := state.Item[state.Task]{}, false
		if s.cfg.View != nil {
			it, ok = s.cfg.View.Task(taskCluster, taskID)
			ok = ok && it.ModRevision >= kv.ModRevision
		}
		if ok {
			t = it.Value
		} else {
			it, err := state.Get[state.Task](ctx, s.cfg.Store, state.TaskKey(taskCluster, taskID))
			if state.IsNotFound(err) {
				continue
			}
			if err != nil {
				return resp, err
			}
			t = it.Value
		}
		td, err := s.taskDef(ctx, t.Family, t.Revision)
		if err != nil {
			return resp, err
		}
		resp.Tasks = append(resp.Tasks, s.assignment(t, td))
	}
	return resp, nil
}

// taskDef returns a task definition, from a cache: what an agent needs of a
// revision (its containers, volumes, network mode) never changes once it is
// registered, and every poll answer names the definition of each task.
func (s *Server) taskDef(ctx context.Context, family string, rev int32) (ecstypes.TaskDefinition, error) {
	key := state.TaskDefKey(family, rev)
	s.defsMu.Lock()
	td, ok := s.defs[key]
	s.defsMu.Unlock()
	if ok {
		return td, nil
	}
	it, err := state.Get[state.TaskDef](ctx, s.cfg.Store, key)
	if err != nil {
		return ecstypes.TaskDefinition{}, err
	}
	s.defsMu.Lock()
	if s.defs == nil || len(s.defs) >= maxCachedDefs {
		s.defs = map[string]ecstypes.TaskDefinition{}
	}
	s.defs[key] = it.Value.TaskDefinition
	s.defsMu.Unlock()
	return it.Value.TaskDefinition, nil
}

// maxCachedDefs bounds the task definition cache; past it, it starts anew.
const maxCachedDefs = 4096

func (s *Server) assignment(t state.Task, td ecstypes.TaskDefinition) agentproto.Assignment {
	ids := make(map[string]string, len(t.ContainerIDs))
	for i, c := range td.ContainerDefinitions {
		if i < len(t.ContainerIDs) {
			ids[c.Name] = t.ContainerIDs[i]
		}
	}
	return agentproto.Assignment{
		TaskID:        t.ID,
		TaskARN:       s.cfg.Scope.New("ecs", "task/"+t.Cluster+"/"+t.ID),
		Cluster:       t.Cluster,
		DesiredStatus: tasks.AgentDesiredStatus(t),
		Definition:    td,
		Overrides:     t.Task.Overrides,
		HostPorts:     t.HostPorts,
		ContainerIDs:  ids,
		StopCode:      t.Task.StopCode,
		StoppedReason: t.Task.StoppedReason,
		LastStatus:    t.LastStatus(),
	}
}

// resourcesOf converts what an agent registers into the record's form.
func resourcesOf(r agentproto.Resources) state.Resources {
	return state.Resources{CPU: r.CPU, MemoryMiB: r.MemoryMiB, Ports: r.Ports, PortsUDP: r.PortsUDP}
}
