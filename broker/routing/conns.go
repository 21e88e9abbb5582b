package routing

import "context"

// Add registers a live connection: from now on it hears of route and
// access changes.
func (t *Table) Add(c Conn) {
	t.connsMu.Lock()
	defer t.connsMu.Unlock()
	uuid := c.ModelUUID()
	if t.conns[uuid] == nil {
		t.conns[uuid] = map[Conn]struct{}{}
	}
	t.conns[uuid][c] = struct{}{}
}

// Remove forgets a connection that ended.
func (t *Table) Remove(c Conn) {
	t.connsMu.Lock()
	defer t.connsMu.Unlock()
	uuid := c.ModelUUID()
	delete(t.conns[uuid], c)
	if len(t.conns[uuid]) == 0 {
		delete(t.conns, uuid)
	}
}

// connsOf returns the live connections to a model, or to every model for
// uuid "".
func (t *Table) connsOf(uuid string) []Conn {
	t.connsMu.Lock()
	defer t.connsMu.Unlock()
	var out []Conn
	for m, set := range t.conns {
		if uuid != "" && m != uuid {
			continue
		}
		for c := range set {
			out = append(out, c)
		}
	}
	return out
}

// reroute tells the live connections to a model whose route changed where
// it is now.
func (t *Table) reroute(uuid string) {
	cs := t.connsOf(uuid)
	if len(cs) == 0 {
		return
	}
	m, err := t.Route(t.runCtx, uuid)
	if err != nil {
		return // gone: its connections fail on their own
	}
	for _, c := range cs {
		go c.RouteChanged(m.ControllerID) // each may log in anew: not on the listener's goroutine
	}
}

// rerouteAll reroutes every live connection (after notifications may have
// been missed).
func (t *Table) rerouteAll() {
	t.connsMu.Lock()
	uuids := make([]string, 0, len(t.conns))
	for uuid := range t.conns {
		uuids = append(uuids, uuid)
	}
	t.connsMu.Unlock()
	for _, uuid := range uuids {
		t.reroute(uuid)
	}
}

// AccessChanged is to be called (it does not block) after every change to
// relations or groups, here or on another replica.
func (t *Table) AccessChanged() {
	select {
	case t.recheck <- struct{}{}:
	default: // a recheck is pending already; it will see this change
	}
}

// recheckAccess keeps live model connections to what their callers may
// do now: after a change to relations, every connection checks its
// caller's access again (see Conn.AccessChanged).
func (t *Table) recheckAccess(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.recheck:
		}
		for _, c := range t.connsOf("") {
			if ctx.Err() != nil {
				return
			}
			c.AccessChanged(ctx)
		}
	}
}
