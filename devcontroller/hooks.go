package devcontroller

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
)

// errMigrating stops a change to a model that is migrating.
var errMigrating = errors.New("model is migrating")

// Hooks. A Juju unit agent runs hooks when its application's config
// changes (config-changed) or its relations do (<endpoint>-relation-
// joined, -departed); meanwhile its agent status is "executing" with the
// message "running <hook> hook", then "idle" again. A new relation is
// "joining" until its units' hooks ran, then "joined". The development
// controller simulates this: a change marks the units concerned as
// executing (in the same write as the change), and the hook runner puts
// them back to idle, and the relations to joined, once HookDuration has
// passed. The runner is driven by the model's changes (the store's change
// hook), not by polling: after each change it arms one timer per model for
// the earliest hook that ends. State left executing by a stop resumes at
// the next start.

// DefaultHookDuration is how long a simulated unit runs its hooks.
const DefaultHookDuration = 500 * time.Millisecond

// Agent and relation statuses of the simulation.
const (
	statusExecuting = "executing"
	statusIdle      = "idle"
	statusJoining   = "joining"
	statusJoined    = "joined"
)

// startHook marks units of a model being written as running a hook.
func startHook(m *store.Model, hook string, now time.Time, units ...string) {
	for _, un := range units {
		app, _, _ := cutUnit(un)
		if a := m.Applications[app]; a != nil {
			if u := a.Units[un]; u != nil {
				u.AgentStatus = store.Status{Status: statusExecuting, Info: "running " + hook + " hook", Since: now}
			}
		}
	}
}

// unitsOf lists the units of an application in a model being written.
func unitsOf(m *store.Model, app string) []string {
	if a := m.Applications[app]; a != nil {
		return sortedKeys(a.Units)
	}
	return nil
}

// hookRunner ends the simulated hooks of a controller's models.
type hookRunner struct {
	c *Controller

	mu     sync.Mutex
	ctx    context.Context // nil until started
	dirty  map[string]bool
	timers map[string]*time.Timer
	wake   chan struct{}
	wg     sync.WaitGroup
	// inflight counts the timers' runs of finish under way.
	inflight sync.WaitGroup
}

func newHookRunner(c *Controller) *hookRunner {
	return &hookRunner{c: c, dirty: map[string]bool{}, timers: map[string]*time.Timer{}, wake: make(chan struct{}, 1)}
}

// modelChanged notes a changed model; it runs under the store's write lock
// and only marks it.
func (h *hookRunner) modelChanged(uuid string) {
	h.mu.Lock()
	h.dirty[uuid] = true
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// start runs the runner until ctx ends, beginning with every model.
func (h *hookRunner) start(ctx context.Context) {
	h.mu.Lock()
	h.ctx = ctx
	h.mu.Unlock()
	for _, m := range h.c.store.Models() {
		h.modelChanged(m.UUID)
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			select {
			case <-ctx.Done():
				h.mu.Lock()
				for _, t := range h.timers {
					t.Stop()
				}
				h.mu.Unlock()
				return
			case <-h.wake:
			}
			h.mu.Lock()
			dirty := h.dirty
			h.dirty = map[string]bool{}
			h.mu.Unlock()
			for uuid := range dirty {
				h.schedule(uuid)
			}
		}
	}()
}

// wait waits for the runner's goroutine and timers to end (after its
// context).
func (h *hookRunner) wait() {
	h.wg.Wait()
	h.inflight.Wait()
}

// hookDue returns when the earliest running hook of m ends, if any.
func (h *hookRunner) hookDue(m *store.Model) (time.Time, bool) {
	var due time.Time
	found := false
	consider := func(t time.Time) {
		if !found || t.Before(due) {
			due, found = t, true
		}
	}
	d := h.c.cfg.HookDuration
	for _, a := range m.Applications {
		for _, u := range a.Units {
			if u.AgentStatus.Status == statusExecuting {
				consider(u.AgentStatus.Since.Add(d))
			}
		}
	}
	for _, r := range m.Relations {
		if r.Status.Status == statusJoining {
			consider(r.Status.Since.Add(d))
		}
	}
	return due, found
}

// schedule arms the model's timer for its earliest running hook.
func (h *hookRunner) schedule(uuid string) {
	m, ok := h.c.store.Model(uuid)
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.timers[uuid]; t != nil {
		t.Stop()
		delete(h.timers, uuid)
	}
	if !ok || m.Life == store.LifeDead || m.MigrationMode != store.MigrationModeNone || h.ctx == nil || h.ctx.Err() != nil {
		return
	}
	due, found := h.hookDue(m)
	if !found {
		return
	}
	h.timers[uuid] = time.AfterFunc(time.Until(due), func() { h.finish(uuid) })
}

// finish ends the hooks of a model that are due.
func (h *hookRunner) finish(uuid string) {
	h.mu.Lock()
	ctx := h.ctx
	if ctx == nil || ctx.Err() != nil {
		h.mu.Unlock()
		return
	}
	h.inflight.Add(1)
	h.mu.Unlock()
	defer h.inflight.Done()
	now := time.Now().UTC()
	d := h.c.cfg.HookDuration
	var ended []string
	_, err := h.c.store.UpdateModel(ctx, uuid, func(m *store.Model) error {
		ended = ended[:0]
		if m.MigrationMode != store.MigrationModeNone {
			return errMigrating
		}
		for _, a := range m.Applications {
			for un, u := range a.Units {
				if u.AgentStatus.Status == statusExecuting && !u.AgentStatus.Since.Add(d).After(now) {
					u.AgentStatus = store.Status{Status: statusIdle, Since: now}
					ended = append(ended, un)
				}
			}
		}
		for _, r := range m.Relations {
			if r.Status.Status == statusJoining && !r.Status.Since.Add(d).After(now) {
				r.Status = store.Status{Status: statusJoined, Since: now}
			}
		}
		return nil
	})
	if err != nil {
		// The model is gone or migrating: its next change reschedules.
		h.c.log.Debug("hooks not ended", "model", uuid, "err", err)
		return
	}
	for _, un := range ended {
		h.c.entityLog(uuid, jujuapi.UnitTag(un).String(), logInfo, "juju.worker.uniter.operation", "ran hooks; unit %q is idle", un)
	}
}
