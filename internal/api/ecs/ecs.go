// Package ecs serves the Amazon ECS API (JSON 1.1): it decodes each
// operation, validates it, calls the domain, and encodes the reply in
// ECS's shapes. Tasks are launched, stopped and changed only by the task
// domain (internal/tasks, through the Tasks interface); clusters, task
// definitions, services and container instances are read and written here.
// Decisions live in their own pure packages (scheduler, reconcile,
// taskdef); this package wires them to the wire.
package ecs

import (
	"context"
	"log/slog"
	"time"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/tasks"
)

// API is the ECS service.
type API struct {
	store  store.Store
	view   *clusterview.View
	clock  core.Clock
	log    *slog.Logger
	agents *liveness.Tracker
	ids    core.IDs
	tgs    TargetGroups
	tasks  Tasks
	exec   Exec
	// serial queues this node's read-modify-writes of one record (a
	// family's revision counter, a service), which would otherwise race
	// each other for it; compare-and-swap still guards against writers
	// elsewhere.
	serial store.Serial
}

// Tasks is the task domain as the ECS API uses it: every change of a task
// goes through it.
type Tasks interface {
	// Launch places and creates tasks; the result's failures name
	// instances by ID.
	Launch(ctx context.Context, l tasks.Launch) ([]state.Task, scheduler.Result, error)
	// Stop asks a task to stop (desired status STOPPED).
	Stop(ctx context.Context, cluster, id string, code ecstypes.TaskStopCode, reason string) (state.Task, error)
	// EditTags edits (or, with a nil edit, reads) a task's tags.
	EditTags(ctx context.Context, cluster, id string, edit func([]ecstypes.Tag) ([]ecstypes.Tag, error)) ([]ecstypes.Tag, bool, error)
}

var _ Tasks = (*tasks.Manager)(nil)

// TargetGroups looks up the load balancer target groups services name.
type TargetGroups interface {
	// LookupTargetGroup returns a target group by ARN; found is false
	// when there is none.
	LookupTargetGroup(ctx context.Context, arn string) (tg TargetGroupRef, found bool, err error)
}

// TargetGroupRef is what a service's loadBalancers entry is checked
// against.
type TargetGroupRef struct {
	TargetType       string // "instance" or "ip"
	LoadBalancerARNs []string
}

// Config is what the ECS API needs.
type Config struct {
	// Store is where records are kept; with a View, it must be the view's
	// store (View.Store()), as New takes it as given.
	Store store.Store
	// View is the in-memory view of Store's instances and tasks that the
	// hot paths read; the caller runs it. Default: New makes one and runs
	// it until Store closes.
	View   *clusterview.View
	Clock  core.Clock
	Logger *slog.Logger
	// Agents tells which host agents are connected.
	Agents *liveness.Tracker
	// IDs makes task and container instance IDs; default random.
	IDs core.IDs
	// TargetGroups checks the target groups of services' loadBalancers
	// (nil: no load balancer; services with loadBalancers are refused).
	TargetGroups TargetGroups
	// Tasks is the task domain. Default: one over Store and View, with
	// Clock, IDs, Logger and Agents.
	Tasks Tasks
	// Exec opens ECS Exec sessions (nil: ExecuteCommand is refused).
	Exec Exec
}

// New returns the ECS API.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, clock: cfg.Clock, log: cfg.Logger, agents: cfg.Agents, ids: cfg.IDs, tgs: cfg.TargetGroups, exec: cfg.Exec}
	if a.clock == nil {
		a.clock = core.SystemClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.store != nil {
		a.view = cfg.View
		if a.view == nil {
			a.view = clusterview.New(a.store, a.log.With("component", "clusterview"))
			go a.view.Run(context.Background()) // ends when the store closes
			// Writes go through the view, so that a caller reads its own.
			a.store = a.view.Store()
		}
	}
	if a.agents == nil {
		a.agents = liveness.New(a.clock, time.Minute)
	}
	if a.ids == nil {
		a.ids = core.RandomIDs{}
	}
	a.tasks = cfg.Tasks
	if a.tasks == nil && a.store != nil {
		a.tasks = tasks.New(tasks.Config{Store: a.store, View: a.view, Clock: a.clock, IDs: a.ids, Logger: a.log, Agents: a.agents})
	}
	return a
}

// Service returns the JSON 1.1 service description to register with the
// protocol server.
func (a *API) Service() awsproto.JSONService {
	ops := map[string]awsproto.JSONHandler{}
	for _, group := range []map[string]awsproto.JSONHandler{
		a.clusterOps(), a.taskDefOps(), a.tagOps(), a.instanceOps(), a.taskOps(), a.serviceOps(),
	} {
		for name, h := range group {
			if ops[name] != nil {
				panic("ecs: operation " + name + " registered twice")
			}
			ops[name] = h
		}
	}
	return awsproto.JSONService{
		SigningName:       ecstypes.SigningName,
		TargetPrefix:      ecstypes.TargetPrefix,
		InternalErrorCode: ecstypes.ErrCodeServerException,
		Ops:               ops,
	}
}

func (a *API) clusterOps() map[string]awsproto.JSONHandler {
	return map[string]awsproto.JSONHandler{
		"CreateCluster":               awsproto.Op(a.CreateCluster),
		"DescribeClusters":            awsproto.Op(a.DescribeClusters),
		"ListClusters":                awsproto.Op(a.ListClusters),
		"UpdateCluster":               awsproto.Op(a.UpdateCluster),
		"UpdateClusterSettings":       awsproto.Op(a.UpdateClusterSettings),
		"PutClusterCapacityProviders": awsproto.Op(a.PutClusterCapacityProviders),
		"DeleteCluster":               awsproto.Op(a.DeleteCluster),
	}
}

func (a *API) taskDefOps() map[string]awsproto.JSONHandler {
	return map[string]awsproto.JSONHandler{
		"RegisterTaskDefinition":     awsproto.Op(a.RegisterTaskDefinition),
		"DescribeTaskDefinition":     awsproto.Op(a.DescribeTaskDefinition),
		"ListTaskDefinitions":        awsproto.Op(a.ListTaskDefinitions),
		"ListTaskDefinitionFamilies": awsproto.Op(a.ListTaskDefinitionFamilies),
		"DeregisterTaskDefinition":   awsproto.Op(a.DeregisterTaskDefinition),
		"DeleteTaskDefinitions":      awsproto.Op(a.DeleteTaskDefinitions),
	}
}

func (a *API) tagOps() map[string]awsproto.JSONHandler {
	return map[string]awsproto.JSONHandler{
		"TagResource":         awsproto.Op(a.TagResource),
		"UntagResource":       awsproto.Op(a.UntagResource),
		"ListTagsForResource": awsproto.Op(a.ListTagsForResource),
	}
}

// Implemented lists the operations this package serves, for the
// compatibility matrix.
func (a *API) Implemented() []string {
	svc := a.Service()
	out := make([]string, 0, len(svc.Ops))
	for name := range svc.Ops {
		out = append(out, name)
	}
	return out
}

func scopeOf(c *awsproto.Call) arn.Scope {
	return arn.Scope{Region: c.Region, AccountID: c.Principal.AccountID}
}

func (a *API) now() time.Time { return a.clock.Now() }

// Errors, named as the ECS API model names them.

func clientErr(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, ecstypes.ErrCodeClientException, format, args...)
}

func invalidParam(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, ecstypes.ErrCodeInvalidParameterException, format, args...)
}

func errClusterNotFound() error {
	return core.Errorf(core.KindNotFound, ecstypes.ErrCodeClusterNotFoundException, "Cluster not found.")
}

func errResourceNotFound() error {
	return core.Errorf(core.KindNotFound, ecstypes.ErrCodeResourceNotFoundException, "The specified resource could not be found.")
}

// validate runs the model's checks (required members, enum values) on a
// request and reports a failure as InvalidParameterException.
func validate(v interface{ Validate() error }) error {
	if err := v.Validate(); err != nil {
		return invalidParam("%v", err)
	}
	return nil
}

func pagingLimit(maxResults *int32) (int, bool) { return paging.Limit(maxResults, 100, 100) }

func pagingAfter(token string) (string, bool) { return paging.Decode(token) }

// View returns the cluster view the API reads.
func (a *API) View() *clusterview.View { return a.view }

// synced returns the cluster view once it holds every write committed
// before the call: reads of the view then see the caller's own writes.
func (a *API) synced(ctx context.Context) (*clusterview.View, error) {
	if err := a.view.Sync(ctx); err != nil {
		return nil, err
	}
	return a.view, nil
}
