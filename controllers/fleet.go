package controllers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/db"
)

// follower is Follow's state: the controllers followed.
type follower struct {
	registry *Registry
	health   *Health
	pool     *Pool
	log      *slog.Logger

	mu    sync.Mutex
	fleet map[string]uint // name → id
}

// Follow keeps this replica's view of the fleet (health checks, pooled
// connections) in step with the registry, whichever replica changed it,
// until ctx ends: it applies the registry once, then again after each
// change notification on db.ControllersChannel (several in a row are
// applied once). A failure to read the registry is retried until it
// succeeds.
func Follow(ctx context.Context, d *db.DB, reg *Registry, health *Health, pool *Pool, log *slog.Logger) error {
	f := &follower{registry: reg, health: health, pool: pool, log: log, fleet: map[string]uint{}}
	changed := make(chan struct{}, 1)
	err := d.Listen(ctx, db.ControllersChannel, func(string) {
		// Any payload, a name or "" (anything may have changed), means
		// reading the registry again: it is small.
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	if err := f.syncControllers(ctx); err != nil {
		return err
	}
	go func() {
		const maxRetry = 5 * time.Second
		retry := time.Duration(0)
		for {
			var again <-chan time.Time
			if retry > 0 {
				again = time.After(retry)
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-again:
			}
			if err := f.syncControllers(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				retry = min(max(2*retry, 100*time.Millisecond), maxRetry)
				f.log.Warn("cannot read the controller registry; will try again", "err", err, "retry-in", retry)
				continue
			}
			retry = 0
		}
	}()
	return nil
}

// syncControllers checks the health of every registered controller (a new
// one at once) and stops checking, and closes the pooled connection of,
// every controller no longer registered, or registered again (under the
// same name, as another controller). It is serialized.
func (f *follower) syncControllers(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ctls, err := f.registry.List(lctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := make(map[string]uint, len(ctls))
	for _, c := range ctls {
		now[c.Name] = c.ID
	}
	for name, id := range f.fleet {
		if nowID, ok := now[name]; ok && nowID == id {
			continue
		}
		f.health.Untrack(name)
		f.pool.Forget(name)
		delete(f.fleet, name)
		reason := "removed"
		if _, ok := now[name]; ok {
			reason = "registered again"
		}
		f.log.Info("stopped following a controller", "controller", name, "reason", reason)
	}
	for name, id := range now {
		if _, ok := f.fleet[name]; ok {
			continue
		}
		f.health.Track(name) // checked at once
		f.fleet[name] = id
	}
	return nil
}
