package controller

import (
	"context"
	"log/slog"
	"time"
)

// Alarms evaluates the CloudWatch alarms on a schedule, then applies the
// auto scaling policies that act on them, and drops metric buckets past
// their retention. Its work is the functions it is given: Evaluate
// (cloudwatch.API.EvaluateAlarms), Scale (autoscaling.API.Scale) and Prune
// (metricstore.Store.Prune).
type Alarms struct {
	Evaluate func(ctx context.Context) error
	// Scale applies the auto scaling policies after each evaluation
	// (autoscaling.API.Scale); nil: none.
	Scale  func(ctx context.Context) error
	Prune  func() (int, error)
	Logger *slog.Logger
	// Interval between evaluations; default 10 s. Alarms decide on complete
	// periods only, so evaluating more often than a period only makes a
	// transition show sooner after the period ends.
	Interval time.Duration
	// PruneInterval between prunes; default an hour.
	PruneInterval time.Duration
	// Observe, when set, is told how long each evaluation (with the
	// scaling after it) took (/metrics).
	Observe func(time.Duration)
}

// Run evaluates until ctx ends.
func (a *Alarms) Run(ctx context.Context) error {
	log := a.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if a.Interval <= 0 {
		a.Interval = 10 * time.Second
	}
	if a.PruneInterval <= 0 {
		a.PruneInterval = time.Hour
	}
	t := time.NewTicker(a.Interval)
	defer t.Stop()
	lastPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		if err := a.Evaluate(ctx); err != nil && ctx.Err() == nil {
			log.Warn("evaluating alarms", "err", err)
		}
		if a.Scale != nil {
			if err := a.Scale(ctx); err != nil && ctx.Err() == nil {
				log.Warn("applying scaling policies", "err", err)
			}
		}
		if a.Observe != nil {
			a.Observe(time.Since(start))
		}
		if a.Prune != nil && time.Since(lastPrune) >= a.PruneInterval {
			lastPrune = time.Now()
			if n, err := a.Prune(); err != nil {
				log.Warn("pruning metrics", "err", err)
			} else if n > 0 {
				log.Info("pruned metric buckets past retention", "buckets", n)
			}
		}
	}
}
