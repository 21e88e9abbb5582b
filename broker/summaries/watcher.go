package summaries

import (
	"context"
	"sync"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Watcher is one client's model summary watcher. Its first Next answers
// every model the caller sees; each later one waits for changes and
// answers those, coalesced per model.
type Watcher struct {
	hub *Hub
	id  *identity.Identity
	all bool

	next sync.Mutex // one Next at a time

	mu      sync.Mutex
	started bool                // the first Next has answered
	visible map[string]struct{} // the models the client was last told of
	pending map[string]struct{} // models changed since the last Next
	resync  bool                // any model may have changed: answer all
	recheck bool                // access changed: which models it sees may have
	wake    chan struct{}       // signalled when any of the three is set
	stopped chan struct{}       // closed by Stop
	once    sync.Once
}

// changed marks model uuid changed, or every model for "".
func (w *Watcher) changed(uuid string) {
	w.mu.Lock()
	if uuid == "" {
		w.resync = true
	} else {
		w.pending[uuid] = struct{}{}
	}
	w.mu.Unlock()
	w.signal()
}

// accessChanged makes the next Next check which models the caller sees.
// A broker administrator sees every model whatever the relations say.
func (w *Watcher) accessChanged() {
	if w.id.Admin {
		return
	}
	w.mu.Lock()
	w.recheck = true
	w.mu.Unlock()
	w.signal()
}

func (w *Watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Stop ends the watcher: a Next waiting returns ErrStopped, as do later
// ones.
func (w *Watcher) Stop() {
	w.once.Do(func() {
		close(w.stopped)
		w.hub.remove(w)
	})
}

// Next answers the changes since the last Next (the first: every model
// the caller sees), waiting for some when there are none. It returns
// ErrStopped once the watcher is stopped, and ctx's error when ctx ends
// first; changes not answered are kept for the next Next.
func (w *Watcher) Next(ctx context.Context) ([]params.ModelAbstract, error) {
	w.next.Lock()
	defer w.next.Unlock()
	for {
		select {
		case <-w.stopped:
			return nil, ErrStopped
		default:
		}
		w.mu.Lock()
		first := !w.started
		c := changeSet{pending: w.pending, resync: w.resync || first, recheck: w.recheck}
		w.pending, w.resync, w.recheck = map[string]struct{}{}, false, false
		w.mu.Unlock()
		var out []params.ModelAbstract
		var err error
		switch {
		case c.resync || c.recheck:
			out, err = w.list(ctx, c)
		case len(c.pending) > 0:
			out, err = w.changes(ctx, c.pending)
		}
		if err != nil {
			w.mu.Lock()
			for uuid := range c.pending {
				w.pending[uuid] = struct{}{}
			}
			w.resync = w.resync || c.resync
			w.recheck = w.recheck || c.recheck
			w.mu.Unlock()
			return nil, err
		}
		if first {
			w.mu.Lock()
			w.started = true
			w.mu.Unlock()
			if out == nil {
				out = []params.ModelAbstract{} // the first answer lists no model
			}
			return out, nil
		}
		if len(out) > 0 {
			return out, nil
		}
		if err := w.wait(ctx); err != nil {
			return nil, err
		}
	}
}

// wait waits for a change, the watcher's stop or ctx's end.
func (w *Watcher) wait(ctx context.Context) error {
	w.hub.waiting.Add(1)
	defer w.hub.waiting.Add(-1)
	select {
	case <-w.wake:
		return nil
	case <-w.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// changeSet is what changed since the last Next.
type changeSet struct {
	pending map[string]struct{} // these models
	resync  bool                // any model may have
	recheck bool                // which models the caller sees may have
}

// list reads every model the caller sees now and answers: with c.resync,
// all of them; otherwise those it did not see before and those in
// c.pending. Models it saw before and no longer sees are answered as
// removed.
func (w *Watcher) list(ctx context.Context, c changeSet) ([]params.ModelAbstract, error) {
	rows, err := w.hub.identity.Models(ctx, w.id.Name, w.all)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	before := w.visible
	w.mu.Unlock()
	now := make(map[string]struct{}, len(rows))
	var answer []*db.Model
	for i := range rows {
		uuid := rows[i].UUID
		now[uuid] = struct{}{}
		_, saw := before[uuid]
		_, changed := c.pending[uuid]
		if c.resync || !saw || changed {
			answer = append(answer, &rows[i].Model)
		}
	}
	out, err := w.hub.abstracts(ctx, answer)
	if err != nil {
		return nil, err
	}
	for uuid := range before {
		if _, ok := now[uuid]; !ok {
			out = append(out, params.ModelAbstract{UUID: uuid, Removed: true})
		}
	}
	w.mu.Lock()
	w.visible = now
	w.mu.Unlock()
	return out, nil
}

// changes answers the models in pending as they are now: a summary for
// each the caller sees, a removal for each it saw and no longer sees.
func (w *Watcher) changes(ctx context.Context, pending map[string]struct{}) ([]params.ModelAbstract, error) {
	var seen []*db.Model
	var gone []string
	for uuid := range pending {
		m, err := w.hub.route(ctx, uuid)
		if err != nil {
			return nil, err
		}
		sees := false
		if m != nil {
			access, err := w.hub.identity.ModelAccess(ctx, w.id, m)
			if err != nil {
				return nil, err
			}
			sees = access != authz.AccessNone || w.all
		}
		if sees {
			seen = append(seen, m)
		} else {
			gone = append(gone, uuid)
		}
	}
	out, err := w.hub.abstracts(ctx, seen)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.visible == nil {
		w.visible = map[string]struct{}{}
	}
	for _, m := range seen {
		w.visible[m.UUID] = struct{}{}
	}
	for _, uuid := range gone {
		if _, ok := w.visible[uuid]; ok {
			delete(w.visible, uuid)
			out = append(out, params.ModelAbstract{UUID: uuid, Removed: true})
		}
	}
	return out, nil
}
