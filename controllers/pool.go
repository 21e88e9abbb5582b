package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
)

// ConnectTimeout bounds one connection attempt of a Pool (resolving the
// controller, dialling its addresses and logging in). It does not depend on
// the callers waiting for it: a caller that gives up does not abort the
// attempt others share.
const ConnectTimeout = 30 * time.Second

// ErrPoolClosed is returned by Get after Close.
var ErrPoolClosed = errors.New("controller connection pool closed")

// Resolver tells a Pool how to reach a controller and log in to it. It is
// called for every connection attempt, so a credential that expires (a
// token) is fresh each time. Its errors are returned by Get as they are.
type Resolver func(ctx context.Context, name string) (Endpoint, Credentials, error)

// Pool holds one shared, logged-in Client per controller. The Client is
// made on first use and made again after its connection dies; concurrent
// callers share one connection attempt. Callers must not Close a Client
// from the pool; use Forget or Discard.
//
// The pool does not notice that a controller's endpoint or credentials
// changed: call Forget when they do.
type Pool struct {
	resolve Resolver
	opts    jujuapi.ConnOptions
	log     *slog.Logger

	ctx    context.Context // ends on Close: aborts connection attempts
	cancel context.CancelFunc
	wg     sync.WaitGroup // connection attempts, watchers, closes

	mu      sync.Mutex
	closed  bool
	entries map[string]*poolEntry
}

type poolEntry struct {
	client *Client    // the live client, or nil
	dial   *dialState // the connection attempt in flight, or nil
}

// dialState is one connection attempt that callers wait for. When it ends
// with neither a client nor an error, the entry was forgotten meanwhile
// and the caller tries again.
type dialState struct {
	done   chan struct{}
	client *Client
	err    error
}

// NewPool returns a pool that finds controllers with resolve and opens
// connections with opts. A nil logger discards logs.
func NewPool(resolve Resolver, opts jujuapi.ConnOptions, logger *slog.Logger) *Pool {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{resolve: resolve, opts: opts, log: logger, ctx: ctx, cancel: cancel, entries: map[string]*poolEntry{}}
}

// Get returns the shared Client of the named controller, connecting when
// there is none or the last one died. It waits at most until ctx ends;
// the connection attempt itself goes on for other callers. A failure to
// connect is a *ConnectError (or the resolver's error).
func (p *Pool) Get(ctx context.Context, name string) (*Client, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrPoolClosed
		}
		e := p.entries[name]
		if e == nil {
			e = &poolEntry{}
			p.entries[name] = e
		}
		if c := e.client; c != nil {
			select {
			case <-c.Done():
				e.client = nil // died; its watcher logs it
			default:
				p.mu.Unlock()
				return c, nil
			}
		}
		d := e.dial
		if d == nil {
			d = &dialState{done: make(chan struct{})}
			e.dial = d
			p.wg.Add(1)
			go p.connect(name, e, d)
		}
		p.mu.Unlock()

		select {
		case <-d.done:
			if d.err != nil {
				return nil, d.err
			}
			if d.client != nil {
				return d.client, nil
			}
			// Forgotten while connecting: try again with what the
			// resolver says now.
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to controller %q: %w", name, ctx.Err())
		}
	}
}

// connect makes one connection attempt for entry e.
func (p *Pool) connect(name string, e *poolEntry, d *dialState) {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(p.ctx, ConnectTimeout)
	defer cancel()
	start := time.Now()
	var c *Client
	ep, creds, err := p.resolve(ctx, name)
	if err == nil {
		if ep.Name == "" {
			ep.Name = name
		}
		c, err = Connect(ctx, ep, creds, p.opts)
	}

	p.mu.Lock()
	current := !p.closed && p.entries[name] == e
	e.dial = nil
	switch {
	case err != nil:
		d.err = err
	case current:
		e.client, d.client = c, c
		p.wg.Add(1)
		go p.watch(name, e, c)
	}
	p.mu.Unlock()
	close(d.done)

	switch {
	case err != nil:
		p.log.Debug("cannot connect to controller", "controller", name, "err", err)
	case !current:
		c.Close()
	default:
		p.log.Info("connected to controller", "controller", name, "address", c.Addr(),
			"user", c.User(), "duration", time.Since(start))
	}
}

// watch forgets c when its connection dies.
func (p *Pool) watch(name string, e *poolEntry, c *Client) {
	defer p.wg.Done()
	<-c.Done()
	p.mu.Lock()
	lost := e.client == c
	if lost {
		e.client = nil
	}
	p.mu.Unlock()
	if lost {
		p.log.Warn("lost connection to controller", "controller", name, "address", c.Addr(), "err", c.Err())
	}
}

// Forget closes and drops the named controller's client, if any; the next
// Get connects again, asking the resolver anew. Use it when a controller
// is removed or its endpoint or credentials change. A connection attempt
// in flight is discarded when it completes.
func (p *Pool) Forget(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.entries[name]; e != nil {
		delete(p.entries, name)
		if e.client != nil {
			p.closeAsyncLocked(e.client)
			e.client = nil // not lost: closed
		}
	}
}

// Discard closes c and, if it is still the named controller's client,
// drops it so that the next Get connects again. Use it when a call on c
// failed in a way that makes the connection suspect (a timeout).
func (p *Pool) Discard(name string, c *Client) {
	if c == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.entries[name]; e != nil && e.client == c {
		e.client = nil
	}
	p.closeAsyncLocked(c)
}

// closeAsyncLocked closes c without making the caller wait for a peer that
// may not answer. The caller holds p.mu.
func (p *Pool) closeAsyncLocked(c *Client) {
	if p.closed {
		// Close is waiting for the pool's goroutines: add none.
		c.Close()
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		c.Close()
	}()
}

// Close closes every client and aborts connection attempts; Get then
// fails with ErrPoolClosed. It returns when all are closed.
func (p *Pool) Close() {
	p.mu.Lock()
	var clients []*Client
	if !p.closed {
		for _, e := range p.entries {
			if e.client != nil {
				clients = append(clients, e.client)
				e.client = nil // not lost: closed
			}
		}
		p.closed = true
		p.entries = map[string]*poolEntry{}
	}
	p.mu.Unlock()
	p.cancel()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
	p.wg.Wait()
}
