package jujuapi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ServingGroup counts the connections a server is serving, so that it can
// wait for them when it shuts down. Once it drains it admits no more: a
// handler that took its connection over just as the server shut down is
// refused, so Drain's wait sees every connection it admitted.
type ServingGroup struct {
	mu       sync.Mutex
	draining bool
	n        int
	idle     chan struct{} // closed when n drops to 0; nil while nobody waits
}

// Add admits one connection; call Done when it ends. It reports false
// once the group drains: close the connection instead of serving it.
func (g *ServingGroup) Add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining {
		return false
	}
	g.n++
	return true
}

// Done reports that an admitted connection has ended.
func (g *ServingGroup) Done() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// Len returns the connections admitted and not yet ended.
func (g *ServingGroup) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// Close refuses new connections from now on.
func (g *ServingGroup) Close() {
	g.mu.Lock()
	g.draining = true
	g.mu.Unlock()
}

// Wait waits until every admitted connection has ended, or ctx ends; it
// reports whether they all ended.
func (g *ServingGroup) Wait(ctx context.Context) bool {
	g.mu.Lock()
	if g.n == 0 {
		g.mu.Unlock()
		return true
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// Drain refuses new connections, then waits for those admitted to end.
func (g *ServingGroup) Drain() {
	g.Close()
	g.Wait(context.Background())
}

// Admission bounds what a server's connections may take before anyone
// has logged in on them: WebSocket connections per source address, and
// file descriptors. Near the process's descriptor limit (RLIMIT_NOFILE)
// it keeps a reserve: new WebSocket connections are refused first (with
// an HTTP error before the upgrade) while plain HTTPS requests, the calls
// and logins of connections already open, the database, the controllers
// and the metrics listener go on; closer still, connections accepted
// through Listener are closed at once, so that the last descriptors stay
// for the process's own use.
type Admission struct {
	maxPerAddress int
	reserveOpt    int

	mu      sync.Mutex
	perAddr map[string]int

	open  atomic.Int64 // connections accepted through Listener, not closed
	other atomic.Int64 // descriptors open besides those, at the last sample
	limit atomic.Int64 // the soft RLIMIT_NOFILE at the last sample; 0: unknown

	lastSample                    atomic.Int64 // unix nanoseconds of the last Sample
	refusedAddr, refusedFDs, shed atomic.Int64
	lastShedLog                   atomic.Int64 // unix seconds
	log                           *slog.Logger
	usage                         func() (limit, open int) // fdUsage; tests replace it
	limitNow                      func() (int, bool)       // fdLimit; tests replace it
}

// AdmissionOptions configure an Admission.
type AdmissionOptions struct {
	// MaxConnsPerAddress bounds the WebSocket connections open from one
	// source address (IP); 0 or less: no bound.
	MaxConnsPerAddress int
	// FDReserve is how many descriptors are kept free for the process's
	// own use: new WebSocket connections are refused when fewer are left,
	// and new TCP connections are closed at once when fewer than half of
	// it are. 0: DefaultFDReserve (5% of the limit, at least 64);
	// negative: none.
	FDReserve int
	Logger    *slog.Logger
}

// DefaultFDReserve is the descriptor reserve for a limit: 5% of it, at
// least 64, at most half of it.
func DefaultFDReserve(limit int) int {
	return min(max(64, limit/20), limit/2)
}

// NewAdmission returns an Admission, having read the descriptor limit and
// counted the descriptors open. Call Run to keep them up to date.
func NewAdmission(opts AdmissionOptions) *Admission {
	a := &Admission{maxPerAddress: opts.MaxConnsPerAddress, reserveOpt: opts.FDReserve, perAddr: map[string]int{}, log: opts.Logger, usage: fdUsage, limitNow: fdLimit}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.Sample()
	return a
}

// admissionSampleEvery is how often Run counts the descriptors open.
const admissionSampleEvery = time.Second

// Run samples the descriptor limit and count every second until ctx ends.
// Between samples, connections accepted and closed through Listener are
// counted as they come and go.
func (a *Admission) Run(ctx context.Context) {
	t := time.NewTicker(admissionSampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Sample()
		}
	}
}

// resampleEvery bounds how often a connection about to be shed samples
// the descriptors again first.
const resampleEvery = 100 * time.Millisecond

// resampled samples the descriptors again before a connection is refused
// or shed, so that it is only on a fresh count: at once when the limit
// changed since the last sample (an operator raised it with prlimit; one
// getrlimit call tells), else at most every resampleEvery (descriptors
// freed meanwhile; counting them reads /proc/self/fd).
func (a *Admission) resampled() bool {
	if limit, ok := a.limitNow(); ok && int64(limit) != a.limit.Load() {
		a.Sample()
		return true
	}
	now := time.Now().UnixNano()
	last := a.lastSample.Load()
	if now-last < int64(resampleEvery) || !a.lastSample.CompareAndSwap(last, now) {
		return false
	}
	a.Sample()
	return true
}

// Sample reads the descriptor limit and counts the descriptors open.
func (a *Admission) Sample() {
	a.lastSample.Store(time.Now().UnixNano())
	limit, n := a.usage()
	a.limit.Store(int64(limit))
	// At the limit itself the count may fail (it needs a descriptor):
	// the last count stands.
	if n > 0 {
		a.other.Store(max(int64(n)-a.open.Load(), 0))
	}
}

// Descriptors returns the descriptors open (as last sampled, plus the
// connections accepted since), the limit (0: unknown) and the reserve.
func (a *Admission) Descriptors() (open, limit, reserve int) {
	limit = int(a.limit.Load())
	return int(a.other.Load() + a.open.Load()), limit, a.reserve(limit)
}

func (a *Admission) reserve(limit int) int {
	switch {
	case limit <= 0 || a.reserveOpt < 0:
		return 0
	case a.reserveOpt == 0:
		return DefaultFDReserve(limit)
	}
	return min(a.reserveOpt, limit/2)
}

// free is how many descriptors are left before the limit, and the
// reserve; ok is false when either is unknown or there is no reserve.
func (a *Admission) free() (left, reserve int, ok bool) {
	open, limit, reserve := a.Descriptors()
	if limit <= 0 || reserve <= 0 {
		return 0, 0, false
	}
	return limit - open, reserve, true
}

// Refusal is why a connection was not admitted: the HTTP status to answer
// with and a short reason for the client.
type Refusal struct {
	Status     int
	Reason     string
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return r.Reason }

// Write answers the upgrade request with the refusal and closes the
// connection after it (it is not kept alive).
func (r *Refusal) Write(w http.ResponseWriter) {
	if r.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(r.RetryAfter.Round(time.Second)/time.Second)))
	}
	w.Header().Set("Connection", "close")
	http.Error(w, r.Reason, r.Status)
}

// Admit decides whether a new WebSocket connection from remote (host:port)
// may be upgraded. If so, call release once it has ended.
func (a *Admission) Admit(remote string) (release func(), refusal *Refusal) {
	if left, reserve, ok := a.free(); ok && left <= reserve {
		a.resampled() // refuse only on a fresh count
	}
	if left, reserve, ok := a.free(); ok && left <= reserve {
		a.refusedFDs.Add(1)
		return nil, &Refusal{Status: http.StatusServiceUnavailable, RetryAfter: 5 * time.Second,
			Reason: "the broker is at its limit of open connections; try again later"}
	}
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	a.mu.Lock()
	n := a.perAddr[host]
	if a.maxPerAddress > 0 && n >= a.maxPerAddress {
		a.mu.Unlock()
		a.refusedAddr.Add(1)
		return nil, &Refusal{Status: http.StatusTooManyRequests, RetryAfter: 5 * time.Second,
			Reason: fmt.Sprintf("too many connections from %s (at most %d per address); close some and try again", host, a.maxPerAddress)}
	}
	a.perAddr[host] = n + 1
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			if a.perAddr[host] <= 1 {
				delete(a.perAddr, host)
			} else {
				a.perAddr[host]--
			}
			a.mu.Unlock()
		})
	}, nil
}

// Refused returns how many connections were refused for their address,
// refused for want of descriptors, and closed at accept (shed).
func (a *Admission) Refused() (perAddress, descriptors, shed int64) {
	return a.refusedAddr.Load(), a.refusedFDs.Load(), a.shed.Load()
}

// Listener counts the connections ln accepts (they take a descriptor
// each), and closes a new one at once when fewer than half the reserve
// of descriptors are left. Accept errors are passed on as they are: an
// HTTP server backs off on "too many open files" and tries again.
func (a *Admission) Listener(ln net.Listener) net.Listener {
	return &admissionListener{Listener: ln, a: a}
}

type admissionListener struct {
	net.Listener
	a *Admission
}

func (l *admissionListener) Accept() (net.Conn, error) {
	a := l.a
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a.open.Add(1)
		if left, reserve, ok := a.free(); ok && left <= reserve/2 {
			a.resampled() // shed only on a fresh count
		}
		if left, reserve, ok := a.free(); ok && left <= reserve/2 {
			nc.Close()
			a.open.Add(-1)
			a.shed.Add(1)
			if now := time.Now().Unix(); a.lastShedLog.Swap(now) != now {
				a.log.Warn("closing new connections at once: almost no file descriptor left", "left", left, "reserve", reserve)
			}
			continue
		}
		return &admittedConn{Conn: nc, a: a}, nil
	}
}

// admittedConn is an accepted connection, uncounted when it closes.
type admittedConn struct {
	net.Conn
	a      *Admission
	closed atomic.Bool
}

func (c *admittedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.a.open.Add(-1)
	}
	return c.Conn.Close()
}

// NetConn is the connection wrapped (for parking, which needs the socket).
func (c *admittedConn) NetConn() net.Conn { return c.Conn }
