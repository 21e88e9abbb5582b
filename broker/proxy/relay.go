package proxy

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// The relay copies frames both ways until the client goes. It reads only
// envelopes: to refuse a second login, to time calls for the metrics, to
// see when the connection is idle, and to hide the controller's UUID in
// what the client receives. Frames are relayed as they came, in pooled
// buffers (the UUID replaced in place).
//
// What it reads of a frame depends on where it comes from. A client's
// request is small and is checked in full (ScanEnvelope): a malformed one
// closes the connection with a clear reason before the controller sees
// it. A controller's response may be large (a FullStatus of a big model
// is hundreds of kilobytes); only its header is read (ScanHeader): the
// request id and error that Juju writes before the body. The body is not
// parsed. Every response is searched for the controller's UUID, whatever
// the call (a result, a status message, an error may name it), at the
// speed of memchr (uuidRewriter).

// relayUp copies client frames to the controller, logging in again first
// when the connection was detached. A connection idle for DetachAfter is
// detached, and then parks: relayUp reports true, and serveUp runs again
// when the client next sends.
func (c *modelConn) relayUp() (parked bool) {
	var env jujuapi.Envelope
	// What the loop knows of the connection, kept up to date where it
	// holds c.mu anyway: whether it is detached, and how long to wait for
	// the client before checking whether to detach (0: for good).
	detachAfter := c.px.detachAfter
	// Resumed for its recheck time (parkIdle), not by the client:
	// nothing waits to be read, and the connection may park again at once.
	idle := c.client.Rechecked()
	detached, wait := c.detachIfIdle()
	// Not on entry otherwise: a resumed connection reads first (see
	// Conn.Park).
	mayPark := idle
	for {
		// A detached connection parks whenever it waits for its client;
		// an attached one once its client has been quiet for parkGrace,
		// so that a busy connection pays nothing for parking.
		if mayPark && (detached || idle) && c.parkIdle(detached, wait) {
			return true
		}
		mayPark, idle = true, false
		within := wait
		if !detached && (within == 0 || within > parkGrace) {
			within = parkGrace
		}
		frame, err := c.client.NextFrameWithin(within)
		if err == jujuapi.ErrIdle {
			detached, wait = c.detachIfIdle()
			idle = true
			continue
		}
		if err != nil {
			if !jujuapi.IsClosed(err) || errors.Is(err, jujuapi.ErrFrameTooLarge) {
				c.client.CloseWith(jujuapi.CloseFor(err), err.Error())
			}
			return false
		}
		if err := jujuapi.ScanEnvelope(frame.Bytes(), &env); err != nil {
			frame.Release()
			c.client.CloseWith(jujuapi.CloseInvalidPayload, err.Error())
			return false
		}
		if env.Type == "Admin" {
			// The connection is the broker's login; it stays so.
			frame.Release()
			c.reply(env.RequestID, nil, jujuapi.ErrLoggedIn)
			continue
		}
		// The request is kept until answered: in a buffer of its own
		// size, not a pooled one sized for the largest frame. At the
		// connection's bounds, nothing more is read from the client
		// until a call is answered (limits.go).
		waiting, unbounded := callKind(&env)
		frame.Trim()
		if !c.admit(waiting, frame.Size()) {
			frame.Release()
			return false
		}
		c.attach.Lock()
		c.mu.Lock()
		up := c.up
		detached = up == nil
		if detached && env.ID == "" && env.Type == "Pinger" && env.Request == "Ping" {
			// Detached and idle: the broker answers for itself.
			c.mu.Unlock()
			c.attach.Unlock()
			frame.Release()
			c.reply(env.RequestID, nil, nil)
			continue
		}
		var watcher string
		if env.ID != "" {
			watcher = c.noteObject(env.Type, env.ID)
		}
		if wait = detachAfter; c.sticky {
			wait = 0
		}
		call := pendingCall{id: env.RequestID, start: c.px.clock.Now(), facade: env.Type, method: env.Request, version: env.Version, watcher: watcher, frame: frame,
			size: frame.Size(), waiting: waiting, unbounded: unbounded}
		c.addPendingLocked(call)
		c.mu.Unlock()
		if up == nil {
			if up, err = c.reattach(env.RequestID); err != nil {
				c.attach.Unlock()
				err = dbfault.ForClient(err, c.logger())
				if call, took, ok := c.forget(env.RequestID); ok {
					c.auditFailed(call, took, err)
				}
				c.reply(env.RequestID, nil, err)
				continue
			}
			detached = false
		}
		data, err := c.upstreamFrame(call)
		if err == nil {
			err = up.WriteFrame(data)
		}
		c.attach.Unlock()
		if err != nil {
			if c.lostUpstream(up, call.id) {
				continue // let go meanwhile (its controller went down): the call was answered
			}
			c.client.CloseWith(jujuapi.CloseGoingAway, "controller connection lost")
			return false
		}
	}
}

// parkGrace is how long an attached connection waits for its client on a
// goroutine of its own before it parks.
const parkGrace = time.Second

// parkIdle parks the client's reader (see Conn.Park). An attached
// connection that may detach (wait > 0) is resumed after wait, to detach
// then if it is still idle.
func (c *modelConn) parkIdle(detached bool, wait time.Duration) bool {
	var recheck time.Time
	if !detached && wait > 0 {
		recheck = time.Now().Add(wait) // the parking's clock
	}
	return c.client.Park(c.serveUp, recheck)
}

// startDown starts relaying frames from up, a connection to the controller
// whose UUID is ctlUUID, to the client. The relay counts in c.downs until it
// ends for good: parked, waiting for the controller with no goroutine, it
// still counts, and closing up resumes it so that it ends.
func (c *modelConn) startDown(up *jujuapi.Conn, ctlUUID []byte) {
	c.downs.Add(1)
	ids := newUUIDRewriter(ctlUUID, c.px.brokerUUID)
	var run func()
	run = func() {
		if c.relayDown(up, ids, run) {
			return // parked: run again when the controller sends
		}
		c.downs.Done()
	}
	go run()
}

// relayDown copies frames from one controller connection to the client
// until that connection closes. If it closed because the broker detached
// it, the client connection goes on. Once the controller has been quiet
// for parkGrace (an attached connection waiting for its client, or for a
// watcher's next change), the reader parks: relayDown reports true, and
// resume runs when the controller next sends or up is closed.
func (c *modelConn) relayDown(up *jujuapi.Conn, ids *uuidRewriter, resume func()) (parked bool) {
	var env jujuapi.Envelope
	rpcs := c.px.rpcs
	for {
		frame, err := up.NextFrameWithin(parkGrace)
		if err == jujuapi.ErrIdle {
			if up.Park(resume, time.Time{}) {
				return true
			}
			continue
		}
		if err != nil {
			c.mu.Lock()
			current := c.up == up
			if current {
				c.up = nil
			}
			c.mu.Unlock()
			if current {
				c.px.upstreams.Dec()
				c.client.CloseWith(jujuapi.CloseGoingAway, "controller connection closed")
			}
			return
		}
		data := frame.Bytes()
		if jujuapi.ScanHeader(data, &env) == nil {
			if c.internalResponse(env.RequestID, data) {
				frame.Release()
				continue
			}
			if c.modelGone(&env) || c.watcherSawModelLeave(&env, data) {
				moved, err := c.followModel()
				if moved {
					// The model left this controller; the connection moved
					// and replayed this request where the model is now.
					frame.Release()
					return
				}
				if errors.Is(err, db.ErrUnavailable) {
					// Where the model went cannot be read: the controller's
					// "not found" may only mean that it moved, so the call
					// is answered "try again", never "not found".
					if call, took, ok := c.forget(env.RequestID); ok {
						frame.Release()
						err = dbfault.ForClient(err, nil)
						c.auditFailed(call, took, err)
						rpcs.WithLabelValues(call.facade, call.method, jujuapi.CodeTryAgain).Observe(took.Seconds())
						c.reply(call.id, nil, err)
						continue
					}
				}
			}
			if call, took, ok := c.forget(env.RequestID); ok {
				rpcs.WithLabelValues(call.facade, call.method, env.ErrorCode).Observe(took.Seconds())
				c.auditRelayed(call, took, env.ErrorCode, env.Error)
				data = c.objectAnswered(call, &env, data)
			} else if c.dropLate(env.RequestID) {
				// The broker answered this call already ("try again").
				frame.Release()
				continue
			}
		}
		data = ids.rewrite(data)
		err = c.client.WriteFrame(data)
		frame.Release()
		if err != nil {
			up.CloseWith(jujuapi.CloseNormal, "")
			return
		}
		c.closeIfDrained()
	}
}

// forget drops a pending call, releasing its frame, and returns it with
// how long it took. It reads the clock once: the duration, the metrics and
// the audit event of a relayed response all use it.
func (c *modelConn) forget(id uint64) (call pendingCall, took time.Duration, ok bool) {
	now := c.px.clock.Now()
	c.mu.Lock()
	call, ok = c.dropLocked(id)
	if c.pending.len() == 0 {
		c.lastUse = now
	}
	c.mu.Unlock()
	if !ok {
		return call, 0, false
	}
	call.frame.Release()
	return call, now.Sub(call.start), true
}

// detachIfIdle closes the controller side of an idle connection: no call
// in flight since DetachAfter, and no server-side object in use. It
// reports whether the connection is detached, and otherwise how long
// relayUp should wait before asking again (0: it never detaches).
func (c *modelConn) detachIfIdle() (detached bool, wait time.Duration) {
	after := c.px.detachAfter
	c.attach.Lock() // not while a call is being sent or the connection moves
	defer c.attach.Unlock()
	c.mu.Lock()
	switch {
	case c.up == nil:
		c.mu.Unlock()
		return true, 0
	case after <= 0 || c.sticky:
		c.mu.Unlock()
		return false, 0
	case c.pending.len() > 0:
		c.mu.Unlock()
		return false, after
	}
	if idle := c.px.clock.Now().Sub(c.lastUse); idle < after {
		c.mu.Unlock()
		return false, max(after-idle, after/10)
	}
	up := c.up
	c.up = nil
	c.pending.clear() // an idle connection keeps no room for calls
	c.mu.Unlock()
	c.px.upstreams.Dec()
	go up.CloseWith(jujuapi.CloseNormal, "") // its relayDown ends; the client's goes on
	return true, 0
}

// reattach logs in to the model's controller again for a detached
// connection, with the caller's access as it is now, and returns the new
// controller connection. reqID is the call that needs it.
func (c *modelConn) reattach(reqID uint64) (*jujuapi.Conn, error) {
	up, _, m, access, err := c.dialRoute(c.ctx, c.modelUUID, c.id, reqID)
	if err != nil {
		return nil, err
	}
	c.px.reattaches.Inc()
	c.px.upstreams.Inc()
	c.mu.Lock()
	c.up, c.model, c.access = up, m, access
	c.lastUse = c.px.clock.Now()
	c.mu.Unlock()
	c.startDown(up, []byte(m.Controller.UUID))
	if c.hasWatchers() {
		ctx, cancel := context.WithTimeout(c.ctx, loginTimeout)
		defer cancel()
		if err := c.rewatch(ctx, up); err != nil {
			c.logger().Warn("the client's watchers could not follow the model", "controller", m.Controller.Name, "err", err)
			c.client.CloseWith(jujuapi.CloseGoingAway, "the model moved to another controller and its watchers could not follow: reconnect")
			return nil, err
		}
	}
	return up, nil
}

// moveTo moves the connection to the model's controller now, ctlID. A
// connection pinned by a server-side object that cannot follow
// (watchers.go) is closed, so that its client reconnects. Any other logs
// in on the new controller, opens its AllWatchers there, and replays, in
// order, the requests the old one left unanswered (with none, its next
// call logs in there): the client never notices. (Replaying is safe: a controller refuses writes while a model
// migrates, and a model it no longer hosts executes nothing.)
func (c *modelConn) moveTo(ctlID uint) {
	c.attach.Lock()
	defer c.attach.Unlock()
	c.mu.Lock()
	if c.up == nil || c.model == nil || c.model.ControllerID == ctlID {
		c.mu.Unlock()
		return
	}
	if c.pinned() {
		c.mu.Unlock()
		c.client.CloseWith(jujuapi.CloseGoingAway, "the model moved to another controller: reconnect")
		return
	}
	old := c.up
	c.up = nil
	calls := c.pending.snapshot()
	c.mu.Unlock()
	c.px.upstreams.Dec()
	old.CloseWith(jujuapi.CloseNormal, "")
	if len(calls) == 0 {
		return // nothing to replay: the next call logs in on the new controller
	}
	slices.SortFunc(calls, func(a, b pendingCall) int { return cmp.Compare(a.id, b.id) })
	up, err := c.reattach(calls[0].id)
	for _, call := range calls {
		if err == nil {
			var data []byte
			if data, err = c.upstreamFrame(call); err == nil {
				if err = up.WriteFrame(data); err == nil {
					continue
				}
			}
		}
		failed := jujuapi.Errorf(jujuapi.CodeTryAgain, "the model moved to another controller during this call, which could not follow it: %v", dbfault.ForClient(err, nil))
		if call, took, ok := c.forget(call.id); ok {
			c.auditFailed(call, took, failed)
		}
		c.reply(call.id, nil, failed)
	}
}

// followModel finds where the connection's model went after its
// controller said it is no longer there, and moves the connection there.
// It reports whether the connection moved, and why it could not tell
// where the model is (the route's lookup failed: e.g. the database is
// unavailable, after waiting for it).
func (c *modelConn) followModel() (bool, error) {
	routes := c.px.routes
	routes.Check(c.ctx, c.modelUUID)
	m, err := routes.Route(c.ctx, c.modelUUID)
	if err != nil {
		c.logger().Warn("cannot tell where a model went after its controller said it is not there", "err", db.Detail(err))
		return false, err
	}
	c.mu.Lock()
	moved := c.model != nil && c.model.ControllerID != m.ControllerID
	c.mu.Unlock()
	if moved {
		c.moveTo(m.ControllerID)
	}
	return moved, nil
}

// modelGone reports whether a response says that the connection's model
// is no longer on this controller: a redirect, or "not found" naming it.
func (c *modelConn) modelGone(env *jujuapi.Envelope) bool {
	switch env.ErrorCode {
	case jujuapi.CodeRedirect:
		return true
	case jujuapi.CodeNotFound, jujuapi.CodeModelNotFound:
		return strings.Contains(env.Error, c.modelUUID)
	}
	return false
}

// auditRelayed records a relayed model call that changes state, when its
// response (error code code, message msg) has come back.
func (c *modelConn) auditRelayed(call pendingCall, took time.Duration, code, msg string) {
	if !audit.ChangesState(call.facade, call.method) {
		return
	}
	result := "ok"
	if code != "" {
		result = code
	} else if msg != "" {
		result = "error"
	}
	c.px.audit.Add(audit.Event{Time: call.start, Identity: c.id.Name, Remote: audit.Source(c.remote), Model: c.modelUUID,
		Facade: call.facade, Method: call.method, Result: result, Error: msg, Duration: took})
}

// auditFailed records a relayed model call that the broker answered with
// err itself (its controller could not be reached).
func (c *modelConn) auditFailed(call pendingCall, took time.Duration, err error) {
	code := jujuapi.ErrorCode(err)
	if code == "" {
		code = "error"
	}
	c.auditRelayed(call, took, code, err.Error())
}
