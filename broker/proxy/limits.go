package proxy

import (
	"slices"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
)

// What one model connection may hold, and how long its calls may wait.
//
// Calls in flight are bounded in number (MaxCalls, and WaitingCallsFactor
// times as many watcher Next calls and pings, which a client keeps in
// flight as a matter of course) and in the memory of their requests
// (MaxCallBytes). At a bound the relay stops reading from the client
// until a call is answered: the client's requests wait in its own socket
// and TCP pushes back, and the broker holds nothing more for it. A client
// that does not read its responses stops being read, and once a response
// waits longer than the write timeout its connection is closed (see
// jujuapi.ConnOptions.WriteTimeout).
//
// Every call in flight is answered: by its controller; or, when the
// health check sees that controller down, at once with "try again"
// (ControllerDown); or, when its controller has not answered within
// CallTimeout, with "try again" too. A late answer from the controller
// is then dropped. Watcher Next calls wait for a change, for as long as
// it takes: only a controller going down ends them.

// callKind says how a request counts: waiting calls (watcher Next, which
// blocks until something changes, and pings) are counted apart from the
// others, and unbounded ones (watcher Next) have no deadline.
func callKind(env *jujuapi.Envelope) (waiting, unbounded bool) {
	switch {
	case env.ID != "" && env.Request == "Next":
		return true, true
	case env.Type == "Pinger" && env.Request == "Ping":
		return true, false
	}
	return false, false
}

// fitsLocked reports whether a request of the kind and size may be read
// now; c.mu must be held.
func (c *modelConn) fitsLocked(waiting bool, size int) bool {
	n, limit := c.calls, c.px.maxCalls
	if waiting {
		n, limit = c.waiting, c.px.maxCalls*WaitingCallsFactor
	}
	if n >= limit {
		return false
	}
	return c.bytes == 0 || c.bytes+size <= c.px.maxBytes
}

// admit waits until a request of the kind and size fits among the calls
// in flight, reading nothing from the client meanwhile. It reports false
// when the client connection closed first.
func (c *modelConn) admit(waiting bool, size int) bool {
	counted := false
	for {
		c.mu.Lock()
		if c.fitsLocked(waiting, size) {
			c.mu.Unlock()
			return true
		}
		if c.freed == nil {
			c.freed = make(chan struct{}, 1)
		}
		freed := c.freed
		c.mu.Unlock()
		if !counted {
			counted = true
			c.px.paused.Inc()
		}
		select {
		case <-freed:
		case <-c.client.Done():
			return false
		}
	}
}

// addPendingLocked records a call sent (or about to be) to the controller
// and arms its deadline; c.mu must be held.
func (c *modelConn) addPendingLocked(call pendingCall) {
	if old, replaced := c.pending.put(call); replaced {
		// The client reused a request id: the first call's response
		// will answer the second; only one is counted.
		c.uncountLocked(old)
	}
	if call.waiting {
		c.waiting++
	} else {
		c.calls++
	}
	c.bytes += call.size
	if !call.unbounded && c.px.callTimeout > 0 && !c.deadlineSet {
		c.deadlineSet = true
		c.deadline = c.px.clock.AfterFunc(c.px.callTimeout, c.expireCalls)
	}
}

// uncountLocked takes call out of the counts, and wakes a relay waiting
// for room; c.mu must be held.
func (c *modelConn) uncountLocked(call pendingCall) {
	if call.waiting {
		c.waiting--
	} else {
		c.calls--
	}
	c.bytes -= call.size
	if c.freed != nil {
		select {
		case c.freed <- struct{}{}:
		default:
		}
	}
}

// dropLocked removes the pending call id, reporting it; c.mu must be held.
// Its frame is the caller's to release.
func (c *modelConn) dropLocked(id uint64) (pendingCall, bool) {
	call, ok := c.pending.remove(id)
	if !ok {
		return call, false
	}
	c.uncountLocked(call)
	return call, true
}

// takeAllLocked removes every pending call and returns them in request
// order; c.mu must be held. Their frames are the caller's to release.
func (c *modelConn) takeAllLocked() []pendingCall {
	calls := c.pending.snapshot()
	for _, call := range calls {
		c.dropLocked(call.id)
	}
	slices.SortFunc(calls, func(a, b pendingCall) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return calls
}

// maxLate bounds the ids of calls answered by the broker whose late
// responses are still to be dropped.
const maxLate = 4096

// markLateLocked notes that the broker answered call id itself, so that
// the controller's response, if it comes, is dropped; c.mu must be held.
func (c *modelConn) markLateLocked(id uint64) {
	if c.late == nil || len(c.late) >= maxLate {
		c.late = map[uint64]struct{}{}
	}
	c.late[id] = struct{}{}
}

// dropLate reports whether a response is to a call the broker answered
// already (the controller's answer came too late), forgetting it.
func (c *modelConn) dropLate(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.late[id]; !ok {
		return false
	}
	delete(c.late, id)
	if len(c.late) == 0 {
		c.late = nil
	}
	return true
}

// expireCalls answers "try again" for the calls its controller left
// unanswered for CallTimeout, and arms the deadline of the next.
func (c *modelConn) expireCalls() {
	timeout := c.px.callTimeout
	now := c.px.clock.Now()
	c.mu.Lock()
	c.deadlineSet, c.deadline = false, nil
	var expired []pendingCall
	var next time.Time
	for _, call := range c.pending.snapshot() {
		id := call.id
		if call.unbounded {
			continue
		}
		due := call.start.Add(timeout)
		if now.Before(due) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		c.dropLocked(id)
		c.markLateLocked(id)
		expired = append(expired, call)
	}
	if !next.IsZero() && !c.ended {
		c.deadlineSet = true
		c.deadline = c.px.clock.AfterFunc(next.Sub(now), c.expireCalls)
	}
	model := c.modelName()
	c.mu.Unlock()
	for _, call := range expired {
		err := jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q did not answer %s.%s within %s; try again later",
			model, call.facade, call.method, timeout)
		c.answerUnanswered(call, now.Sub(call.start), err, "timeout")
	}
	if len(expired) > 0 {
		c.logger().Warn("the controller left calls unanswered past the call timeout", "calls", len(expired), "timeout", timeout)
	}
}

// modelName names the connection's model in errors; c.mu must be held.
func (c *modelConn) modelName() string {
	if c.model != nil {
		return c.model.Name
	}
	return c.modelUUID
}

// answerUnanswered answers a call its controller did not, with err,
// counting it in the metrics and the audit log. The call's frame is not
// returned to the pool: the relay may still be writing it to a
// controller that does not read (the garbage collector takes it).
func (c *modelConn) answerUnanswered(call pendingCall, took time.Duration, err error, reason string) {
	c.px.unanswered.WithLabelValues(reason).Inc()
	c.px.rpcs.WithLabelValues(call.facade, call.method, jujuapi.CodeTryAgain).Observe(took.Seconds())
	c.auditFailed(call, took, err)
	c.reply(call.id, nil, err)
}

// stopDeadline stops the connection's call deadline as it ends.
func (c *modelConn) stopDeadline() {
	c.mu.Lock()
	c.ended = true
	if c.deadline != nil {
		c.deadline.Stop()
	}
	c.deadlineSet, c.deadline = false, nil
	c.mu.Unlock()
}

// track and untrack keep the set of connections logged in, which
// ControllerDown walks.
func (p *Proxy) track(c *modelConn) {
	p.connsMu.Lock()
	p.conns[c] = struct{}{}
	draining := p.draining
	p.connsMu.Unlock()
	if draining {
		c.startDrain()
	}
}

func (p *Proxy) untrack(c *modelConn) {
	p.connsMu.Lock()
	delete(p.conns, c)
	p.connsMu.Unlock()
}

// ControllerDown tells the proxy that the health check saw the named
// controller stop answering. Every connection attached to it lets its
// controller connection go, and answers the calls it had in flight there
// at once with "try again", rather than leave them waiting on a
// controller that may never answer. A connection then logs in again on
// its client's next call (which fails, "try again", while the controller
// stays unreachable); one that used server-side objects which cannot
// follow (watchers other than AllWatchers) is closed, so that its client
// reconnects, as when its model moves.
func (p *Proxy) ControllerDown(name string) {
	p.connsMu.Lock()
	conns := make([]*modelConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.connsMu.Unlock()
	n := 0
	for _, c := range conns {
		if c.controllerDown(name) {
			n++
		}
	}
	if n > 0 {
		p.log.Warn("a controller stopped answering: its model connections let it go and their calls in flight were answered \"try again\"",
			"controller", name, "connections", n)
	}
}

// controllerDown does ControllerDown's work for c, reporting whether c
// was attached to the controller name. What may block (closing, answering
// the client) runs on a goroutine of its own.
func (c *modelConn) controllerDown(name string) bool {
	now := c.px.clock.Now()
	c.mu.Lock()
	if c.up == nil || c.model == nil || c.model.Controller.Name != name {
		c.mu.Unlock()
		return false
	}
	up := c.up
	c.up = nil
	calls := c.takeAllLocked()
	for _, call := range calls {
		// The old controller connection's relay may hold a response
		// already read: it is dropped.
		c.markLateLocked(call.id)
	}
	pinned := c.pinned()
	model := c.modelName()
	c.mu.Unlock()
	c.px.upstreams.Dec()
	go func() {
		up.Close() // its relayDown ends; the client's connection goes on
		err := jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q stopped answering (it is down); try again later", model)
		for _, call := range calls {
			c.answerUnanswered(call, now.Sub(call.start), err, "controller-down")
		}
		if pinned {
			c.client.CloseWith(jujuapi.CloseGoingAway, "the controller hosting this model stopped answering and its watchers are gone: reconnect")
		}
	}()
	return true
}

// lostUpstream reports whether a write of call id to up failed because up
// was let go meanwhile (ControllerDown, a move), rather than because the
// controller connection broke; a call left pending is then answered
// "try again".
func (c *modelConn) lostUpstream(up *jujuapi.Conn, id uint64) bool {
	c.mu.Lock()
	if c.up == up {
		c.mu.Unlock()
		return false
	}
	call, ok := c.dropLocked(id)
	model := c.modelName()
	c.mu.Unlock()
	if ok {
		err := jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q stopped answering (it is down); try again later", model)
		c.answerUnanswered(call, c.px.clock.Now().Sub(call.start), err, "controller-down")
	}
	return true
}
