package proxy

import "github.com/jimmbroker/jimm/jujuapi"

// DrainReason is the close reason a model connection gets when the
// broker replica serving it shuts down: its client reconnects, and the
// load balancer sends it to another replica.
const DrainReason = "broker replica shutting down: reconnect"

// Drain hands every model connection back to its client, for a shutdown:
// each is closed (WebSocket status 1012, service restart) as soon as it
// has no call in flight other than waiting ones (watcher Next, pings),
// which its client makes again on the connection it opens next. Calls
// in flight are answered first. Connections that finish logging in from
// now on are drained too; those still logging in end with the broker's
// context.
func (p *Proxy) Drain() {
	p.connsMu.Lock()
	p.draining = true
	conns := make([]*modelConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.connsMu.Unlock()
	for _, c := range conns {
		c.startDrain()
	}
}

// startDrain marks c drained, closing it now if it is idle.
func (c *modelConn) startDrain() {
	c.draining.Store(true)
	c.closeIfDrained()
}

// closeIfDrained closes a drained connection that has no call in flight
// (waiting ones aside). The relay calls it after writing each response,
// so that a call's answer always goes out before the close frame.
func (c *modelConn) closeIfDrained() {
	if !c.draining.Load() {
		return
	}
	c.mu.Lock()
	idle := c.calls == 0
	c.mu.Unlock()
	if idle {
		c.drainClose()
	}
}

// drainClose closes the client connection once, off the caller's
// goroutine (closing waits a moment for the client's close frame).
func (c *modelConn) drainClose() {
	c.drained.Do(func() { go c.client.CloseWith(jujuapi.CloseServiceRestart, DrainReason) })
}
