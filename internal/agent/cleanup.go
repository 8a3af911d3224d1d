package agent

import (
	"context"
	"time"
)

// imageMinimumAge is how old an unused image must be before it is removed,
// as ECS_IMAGE_MINIMUM_CLEANUP_AGE.
const imageMinimumAge = time.Hour

// imageCleanupLoop removes, on a schedule, images no container uses and no
// current task needs.
func (a *Agent) imageCleanupLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.ImageCleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.cleanupImages(ctx)
	}
}

func (a *Agent) cleanupImages(ctx context.Context) {
	images, err := a.cfg.Runtime.ListImages(ctx)
	if err != nil {
		a.log.Warn("listing images for cleanup", "err", err)
		return
	}
	needed := map[string]bool{}
	a.mu.Lock()
	for _, r := range a.runners {
		for name := range r.defs {
			needed[r.image(name)] = true
		}
	}
	a.mu.Unlock()
	now := a.cfg.Clock.Now()
	for _, img := range images {
		if img.InUse || now.Sub(img.Created) < imageMinimumAge {
			continue
		}
		keep := false
		for _, tag := range img.Tags {
			keep = keep || needed[tag]
		}
		if keep {
			continue
		}
		if err := a.cfg.Runtime.RemoveImage(ctx, img.ID); err != nil {
			a.log.Debug("removing unused image", "image", img.ID, "err", err)
			continue
		}
		a.log.Info("removed unused image", "image", img.ID, "tags", img.Tags)
	}
}
