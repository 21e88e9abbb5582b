package jujuapi

import "sync"

// ServingGroup counts the connections a server is serving, so that it can
// wait for them when it shuts down. Once it drains it admits no more: a
// handler that took its connection over just as the server shut down is
// refused, so Drain's wait sees every connection it admitted.
type ServingGroup struct {
	mu       sync.Mutex
	draining bool
	wg       sync.WaitGroup
}

// Add admits one connection; call Done when it ends. It reports false
// once the group drains: close the connection instead of serving it.
func (g *ServingGroup) Add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining {
		return false
	}
	g.wg.Add(1)
	return true
}

// Done reports that an admitted connection has ended.
func (g *ServingGroup) Done() { g.wg.Done() }

// Drain refuses new connections, then waits for those admitted to end.
func (g *ServingGroup) Drain() {
	g.mu.Lock()
	g.draining = true
	g.mu.Unlock()
	g.wg.Wait()
}
