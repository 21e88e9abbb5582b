package routing

import "context"

// Cutovers: from a migration's SUCCESS until the model's route flips (or
// the migration fails), new connections to the model wait, at most
// CutoverMaxWait, rather than reach a source that is handing the model
// over. A replica learns that a cutover began from db.CutoverChannel, and
// that it ended from the route's change.

func (t *Table) startCutover(uuid string) {
	t.cutoverMu.Lock()
	defer t.cutoverMu.Unlock()
	if _, ok := t.cutovers[uuid]; ok {
		return
	}
	t.cutovers[uuid] = make(chan struct{})
	t.clock.AfterFunc(CutoverMaxWait, func() { t.EndCutover(uuid) })
}

// EndCutover lets connections waiting for a model's cutover go on: its
// route flipped, or its migration ended.
func (t *Table) EndCutover(uuid string) {
	t.cutoverMu.Lock()
	defer t.cutoverMu.Unlock()
	if ch, ok := t.cutovers[uuid]; ok {
		close(ch)
		delete(t.cutovers, uuid)
	}
}

// AwaitCutover holds a new connection while its model is cutting over.
func (t *Table) AwaitCutover(ctx context.Context, uuid string) {
	t.cutoverMu.Lock()
	ch := t.cutovers[uuid]
	t.cutoverMu.Unlock()
	if ch == nil {
		return
	}
	start := t.clock.Now()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	t.cutoverWait.Observe(t.clock.Now().Sub(start).Seconds())
}
