package tasks

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/store"
)

// Config is what the task domain needs.
type Config struct {
	Store store.Store
	// View is the cluster view of Store that placement and reports read;
	// the caller runs it, and Store must then be its store (View.Store()),
	// so that the view sees every write whole. Default: New makes one over
	// Store and runs it until Store closes.
	View   *clusterview.View
	Clock  core.Clock
	IDs    core.IDs
	Logger *slog.Logger
	// Agents tells which agents are connected: placement skips instances
	// whose agent is not. Default: a tracker nobody touches (no agent is
	// connected).
	Agents *liveness.Tracker
	// FargateCPUOvercommit is how many Fargate CPU units one CPU unit of a
	// host of the Fargate pool holds (scheduler.FargateCPU); memory is
	// not overcommitted. Default scheduler.DefaultFargateCPUOvercommit.
	FargateCPUOvercommit float64
	// Launched, when set, is told of every Launch: how many tasks it
	// placed and how many of those asked for it could not place (the
	// operators' /metrics).
	Launched func(placed, unplaced int)
}

// Manager carries out every change of task state.
type Manager struct {
	store  store.Store // wrapped by the view: it sees every write whole
	view   *clusterview.View
	clock  core.Clock
	ids    core.IDs
	log    *slog.Logger
	agents *liveness.Tracker
	// overcommit is Config.FargateCPUOvercommit.
	overcommit float64
	launched   func(placed, unplaced int)
}

// New returns the task domain over cfg.Store.
func New(cfg Config) *Manager {
	m := &Manager{store: cfg.Store, view: cfg.View, clock: cfg.Clock, ids: cfg.IDs, log: cfg.Logger, agents: cfg.Agents,
		overcommit: cfg.FargateCPUOvercommit, launched: cfg.Launched}
	if m.overcommit == 0 {
		m.overcommit = scheduler.DefaultFargateCPUOvercommit
	}
	if m.clock == nil {
		m.clock = core.SystemClock{}
	}
	if m.ids == nil {
		m.ids = core.RandomIDs{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.agents == nil {
		m.agents = liveness.New(m.clock, time.Minute)
	}
	if m.view == nil {
		m.view = clusterview.New(m.store, m.log.With("component", "clusterview"))
		go m.view.Run(context.Background()) // ends when the store closes
		m.store = m.view.Store()
	}
	return m
}

func invalidParam(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, ecstypes.ErrCodeInvalidParameterException, format, args...)
}

func newRand() *mrand.Rand {
	var b [16]byte
	rand.Read(b[:])
	return mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])))
}
