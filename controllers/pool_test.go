package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
)

// testResolver resolves the named test controllers and counts the
// connection attempts made for each.
type testResolver struct {
	mu       sync.Mutex
	ctls     map[string]*testController
	creds    map[string]Credentials
	attempts map[string]int
	delay    time.Duration // before answering, to let callers pile up
}

func newResolver(ctls ...*testController) *testResolver {
	r := &testResolver{ctls: map[string]*testController{}, creds: map[string]Credentials{}, attempts: map[string]int{}}
	for _, tc := range ctls {
		r.ctls[tc.name()] = tc
		r.creds[tc.name()] = adminCreds()
	}
	return r
}

func (r *testResolver) resolve(ctx context.Context, name string) (Endpoint, Credentials, error) {
	r.mu.Lock()
	r.attempts[name]++
	tc, ok := r.ctls[name]
	creds, delay := r.creds[name], r.delay
	r.mu.Unlock()
	if !ok {
		return Endpoint{}, Credentials{}, jujuapi.NotFoundf("controller %q", name)
	}
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return Endpoint{}, Credentials{}, ctx.Err()
	}
	return tc.endpoint(), creds, nil
}

func (r *testResolver) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[name]
}

func (r *testResolver) setCreds(name string, c Credentials) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.creds[name] = c
}

func newTestPool(t *testing.T, r *testResolver) *Pool {
	p := NewPool(r.resolve, jujuapi.ConnOptions{}, testLogger())
	t.Cleanup(p.Close)
	return p
}

func TestPoolSharesOneConnection(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	b := startController(t, "ctl-b")
	r := newResolver(a, b)
	r.delay = 50 * time.Millisecond // all callers arrive during the first attempt
	p := newTestPool(t, r)

	const callers = 20
	got := map[string][]*Client{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range callers {
		for _, name := range []string{"ctl-a", "ctl-b"} {
			wg.Go(func() {
				c, err := p.Get(t.Context(), name)
				if err != nil {
					t.Errorf("caller %d: get %s: %v", i, name, err)
					return
				}
				mu.Lock()
				got[name] = append(got[name], c)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for _, tc := range []*testController{a, b} {
		cs := got[tc.name()]
		if len(cs) != callers {
			t.Fatalf("%s: %d clients, want %d", tc.name(), len(cs), callers)
		}
		for _, c := range cs {
			if c != cs[0] {
				t.Fatalf("%s: callers got different clients", tc.name())
			}
		}
		if n := r.count(tc.name()); n != 1 {
			t.Fatalf("%s: %d connection attempts, want 1", tc.name(), n)
		}
		if cs[0].UUID() != tc.uuid() {
			t.Fatalf("%s: client of controller %s", tc.name(), cs[0].UUID())
		}
	}
	if got["ctl-a"][0] == got["ctl-b"][0] {
		t.Fatal("two controllers share a client")
	}
	// Later calls reuse it without a new attempt.
	c, err := p.Get(t.Context(), "ctl-a")
	if err != nil || c != got["ctl-a"][0] || r.count("ctl-a") != 1 {
		t.Fatalf("later Get: %p, %v, %d attempts", c, err, r.count("ctl-a"))
	}
}

func TestPoolReconnectsAfterRestart(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	r := newResolver(a)
	p := newTestPool(t, r)
	ctx := t.Context()

	c1, err := p.Get(ctx, "ctl-a")
	if err != nil {
		t.Fatal(err)
	}
	a.stop()
	select {
	case <-c1.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client still alive after its controller stopped")
	}
	_, err = p.Get(ctx, "ctl-a")
	var ce *ConnectError
	if !errors.As(err, &ce) || !IsControllerFault(err) {
		t.Fatalf("Get while the controller is down: %v, want a *ConnectError", err)
	}
	a.restart()
	c2, err := p.Get(ctx, "ctl-a")
	if err != nil {
		t.Fatal(err)
	}
	if c2 == c1 {
		t.Fatal("Get returned the dead client")
	}
	if v, err := c2.ControllerVersion(ctx); err != nil || v != "3.5.4" {
		t.Fatalf("new client: %q, %v", v, err)
	}
	if n := r.count("ctl-a"); n != 3 {
		t.Fatalf("%d connection attempts, want 3 (first, while down, after restart)", n)
	}
}

func TestPoolForgetAndDiscard(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	r := newResolver(a)
	p := newTestPool(t, r)
	ctx := t.Context()

	tests := []struct {
		name string
		drop func(c *Client)
	}{
		{"Forget", func(*Client) { p.Forget("ctl-a") }},
		{"Discard", func(c *Client) { p.Discard("ctl-a", c) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c1, err := p.Get(ctx, "ctl-a")
			if err != nil {
				t.Fatal(err)
			}
			before := r.count("ctl-a")
			tt.drop(c1)
			select {
			case <-c1.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("client not closed")
			}
			c2, err := p.Get(ctx, "ctl-a")
			if err != nil {
				t.Fatal(err)
			}
			if c2 == c1 || r.count("ctl-a") != before+1 {
				t.Fatalf("same client %v, attempts %d -> %d", c2 == c1, before, r.count("ctl-a"))
			}
			if err := c2.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("Forget picks up new credentials", func(t *testing.T) {
		r.setCreds("ctl-a", Credentials{User: "admin", Password: "changed"})
		if _, err := p.Get(ctx, "ctl-a"); err != nil {
			t.Fatalf("the live client should still be used: %v", err)
		}
		p.Forget("ctl-a")
		_, err := p.Get(ctx, "ctl-a")
		if jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
			t.Fatalf("got %v, want the new (wrong) password refused", err)
		}
		r.setCreds("ctl-a", adminCreds())
		if _, err := p.Get(ctx, "ctl-a"); err != nil {
			t.Fatalf("failures are not cached: %v", err)
		}
	})
}

func TestPoolErrors(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	r := newResolver(a)
	p := newTestPool(t, r)

	t.Run("unknown controller", func(t *testing.T) {
		_, err := p.Get(t.Context(), "ctl-x")
		if jujuapi.ErrorCode(err) != jujuapi.CodeNotFound {
			t.Fatalf("got %v, want the resolver's not found", err)
		}
	})
	t.Run("caller gives up, the attempt goes on", func(t *testing.T) {
		r.mu.Lock()
		r.delay = 300 * time.Millisecond
		r.mu.Unlock()
		defer func() { r.mu.Lock(); r.delay = 0; r.mu.Unlock() }()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, err := p.Get(ctx, "ctl-a")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want deadline exceeded", err)
		}
		before := r.count("ctl-a")
		c, err := p.Get(t.Context(), "ctl-a") // joins the attempt in flight
		if err != nil {
			t.Fatal(err)
		}
		if r.count("ctl-a") != before {
			t.Fatalf("a second attempt was started")
		}
		if err := c.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		c, err := p.Get(t.Context(), "ctl-a")
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
		select {
		case <-c.Done():
		default:
			t.Fatal("client open after Close returned")
		}
		if _, err := p.Get(t.Context(), "ctl-a"); !errors.Is(err, ErrPoolClosed) {
			t.Fatalf("got %v, want ErrPoolClosed", err)
		}
		p.Close() // twice is fine
	})
}

// TestPoolConcurrentChurn exercises Get, Forget and Discard together under
// the race detector.
func TestPoolConcurrentChurn(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	p := newTestPool(t, newResolver(a))
	var failures atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				c, err := p.Get(t.Context(), "ctl-a")
				if err != nil {
					failures.Add(1)
					continue
				}
				switch (i + j) % 5 {
				case 0:
					p.Forget("ctl-a")
				case 1:
					p.Discard("ctl-a", c)
				default:
					c.Ping(t.Context()) // may fail: another goroutine closed it
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d Get calls failed", n)
	}
	c, err := p.Get(t.Context(), "ctl-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(fmt.Errorf("after churn: %w", err))
	}
}
