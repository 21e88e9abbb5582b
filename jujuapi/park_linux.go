//go:build linux

package jujuapi

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Parking lets a connection that is expected to stay idle give up its
// reading goroutine. The connection's socket joins an epoll set watched by
// one goroutine for the whole process; when the peer sends something (or
// the connection's idle deadline passes, or it is closed) the reader is
// resumed on a fresh goroutine. A parked connection costs its TLS state
// and a few words here, not a goroutine stack.

// parkState is a connection's parking, under mu.
type parkState struct {
	mu      sync.Mutex
	parked  bool
	closed  bool
	inEpoll bool // the socket is in the epoll set (armed or not)
	token   int32
	resume  func()
	expired bool        // resumed because its idle deadline passed (read by the resumed reader)
	recheck *time.Timer // resumes the reader at its recheck time (Park)
	// resumed for its recheck time, with nothing from the peer (read,
	// and cleared, by Rechecked)
	rechecked bool
}

// parked is one parked connection in the poller.
type parkedConn struct {
	c     *Conn
	until time.Time // its idle deadline; zero for none
}

type poller struct {
	// ready is set once the epoll set exists and its goroutine runs:
	// from then on epfd is fixed.
	ready atomic.Bool
	epfd  int

	// The creation of the epoll set, under startMu. A failure (e.g. no
	// descriptor left) is retried, no sooner than retryAt, with back-off:
	// it is transient, and must not leave connections unable to park
	// until a restart. One failure episode is logged once when it begins
	// and once when it ends.
	startMu   sync.Mutex
	create    func() (int, error) // epoll_create1 (tests inject failures)
	log       *slog.Logger        // nil: slog.Default()
	err       error               // the last failure, while failing
	failSince time.Time           // when the episode began; zero: none
	retryAt   time.Time
	backoff   time.Duration
	failures  int // in the current episode

	mu     sync.Mutex
	conns  map[int32]parkedConn
	serial int32
}

var parking poller

// sweepEvery is how often the poller looks for parked connections past
// their idle deadline.
const sweepEvery = time.Second

// The back-off between attempts to create the epoll set after a failure.
const (
	epollRetryMin = 100 * time.Millisecond
	epollRetryMax = 5 * time.Second
)

func epollCreate() (int, error) { return syscall.EpollCreate1(syscall.EPOLL_CLOEXEC) }

func (p *poller) logger() *slog.Logger {
	if p.log != nil {
		return p.log
	}
	return slog.Default()
}

// start makes sure the epoll set exists, creating it (again, after a
// failure whose back-off has passed) when it does not.
func (p *poller) start() error {
	if p.ready.Load() {
		return nil
	}
	p.startMu.Lock()
	defer p.startMu.Unlock()
	if p.ready.Load() {
		return nil
	}
	now := time.Now()
	if !p.failSince.IsZero() && now.Before(p.retryAt) {
		return p.err
	}
	create := p.create
	if create == nil {
		create = epollCreate
	}
	fd, err := create()
	if err != nil {
		p.failures++
		if p.failSince.IsZero() {
			p.failSince, p.backoff = now, epollRetryMin
			p.logger().Warn("idle connections cannot park for now: cannot create the epoll set; retrying with back-off (each idle connection keeps a goroutine meanwhile)", "err", err)
		} else {
			p.backoff = min(2*p.backoff, epollRetryMax)
		}
		p.err, p.retryAt = err, now.Add(p.backoff)
		return err
	}
	if !p.failSince.IsZero() {
		p.logger().Info("idle connections park again: epoll set created", "failed-attempts", p.failures, "after", now.Sub(p.failSince).Round(time.Millisecond))
	}
	p.failSince, p.err, p.failures, p.backoff = time.Time{}, nil, 0, 0
	p.epfd = fd
	p.mu.Lock()
	if p.conns == nil {
		p.conns = map[int32]parkedConn{}
	}
	p.mu.Unlock()
	p.ready.Store(true)
	go p.run()
	return nil
}

func (p *poller) run() {
	events := make([]syscall.EpollEvent, 256)
	lastSweep := time.Now()
	waitFailing := false // logged once per run of failures
	for {
		n, err := syscall.EpollWait(p.epfd, events, int(sweepEvery/time.Millisecond))
		if err != nil && !errors.Is(err, syscall.EINTR) {
			if !waitFailing {
				p.logger().Error("parked connections: epoll wait failed; retrying", "err", err)
			}
			waitFailing = true
			time.Sleep(10 * time.Millisecond)
		} else {
			waitFailing = false
		}
		for _, ev := range events[:max(n, 0)] {
			p.mu.Lock()
			pc, ok := p.conns[ev.Fd]
			delete(p.conns, ev.Fd)
			p.mu.Unlock()
			if ok {
				pc.c.wake(ev.Fd, false, false)
			}
		}
		if now := time.Now(); now.Sub(lastSweep) >= sweepEvery {
			lastSweep = now
			p.sweep(now)
		}
	}
}

// sweep resumes the parked connections past their idle deadline; their
// readers find them expired.
func (p *poller) sweep(now time.Time) {
	type lateConn struct {
		c     *Conn
		token int32
	}
	var late []lateConn
	p.mu.Lock()
	for token, pc := range p.conns {
		if !pc.until.IsZero() && now.After(pc.until) {
			late = append(late, lateConn{pc.c, token})
			delete(p.conns, token)
		}
	}
	p.mu.Unlock()
	for _, l := range late {
		l.c.wake(l.token, true, false)
	}
}

// add registers c under a fresh token.
func (p *poller) add(c *Conn, until time.Time) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		p.serial++
		if p.serial <= 0 {
			p.serial = 1
		}
		if _, used := p.conns[p.serial]; !used {
			p.conns[p.serial] = parkedConn{c: c, until: until}
			return p.serial
		}
	}
}

func (p *poller) remove(token int32) {
	p.mu.Lock()
	delete(p.conns, token)
	p.mu.Unlock()
}

// Park gives up the reader's goroutine until the peer sends something:
// then resume is called on a new goroutine, and should go on reading
// (NextFrame). resume is also called when the connection is closed or its
// idle deadline passes; NextFrame then fails. It is called too, with the
// connection intact, at the time recheck (unless zero): a reader that has
// something to do at a time of its own (detach, say) asks Rechecked
// whether that is why it runs. That is a timer of its own: the poller's
// sweep would resume together every connection whose time fell in the
// same second (a burst of connections then detaches all at once, and the
// runtime keeps that peak's goroutines).
//
// Only the reader may call Park, between frames, and a resumed reader
// must read before it parks again: Park sees what the TLS layer holds
// already, while what waits in the socket resumes the connection at once.
// It reports false, having done nothing, when the connection cannot park
// (something is already buffered, it is closed, or it is not a TCP
// connection): the caller goes on reading.
func (c *Conn) Park(resume func(), recheck time.Time) bool {
	if c.rerr != nil || c.park.expired || len(c.pre) > 0 || c.ready() {
		return false
	}
	rc := rawConnOf(c.nc)
	if rc == nil || parking.start() != nil {
		return false
	}
	// Nothing is buffered (ready saw to that) and no goroutine reads
	// until the connection is resumed: its TLS read buffers can go.
	trimTLS(c.nc)
	var until time.Time
	if c.opts.IdleTimeout > 0 {
		until = time.Now().Add(c.opts.IdleTimeout)
	}
	s := &c.park
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	token := parking.add(c, until)
	var cerr error
	err := rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: token}
		op := syscall.EPOLL_CTL_ADD
		if s.inEpoll {
			op = syscall.EPOLL_CTL_MOD
		}
		cerr = syscall.EpollCtl(parking.epfd, op, int(fd), &ev)
		if errors.Is(cerr, syscall.EEXIST) {
			cerr = syscall.EpollCtl(parking.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		} else if errors.Is(cerr, syscall.ENOENT) {
			cerr = syscall.EpollCtl(parking.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		parking.remove(token)
		return false
	}
	s.inEpoll, s.parked, s.token, s.resume = true, true, token, resume
	if !recheck.IsZero() {
		s.recheck = time.AfterFunc(time.Until(recheck), func() { c.recheckDue(token) })
	}
	return true
}

// ready reports whether a read would return at once: the TLS layer holds
// data already read from the socket, or the socket has some. A byte so
// read is kept for the next frame.
func (c *Conn) ready() bool {
	c.setReadDeadline(time.Unix(1, 0), 0)
	n, err := c.nc.Read(c.peek[:])
	if n > 0 {
		c.pre = c.peek[:n]
		return true
	}
	return err != nil && !isTimeout(err)
}

// Rechecked reports whether the reader was resumed for its recheck time
// (Park) with nothing from the peer, since it last asked.
func (c *Conn) Rechecked() bool {
	s := &c.park
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rechecked
	s.rechecked = false
	return r
}

// recheckDue resumes the reader parked under token at its recheck time,
// unless it was resumed already (and perhaps parked again since).
func (c *Conn) recheckDue(token int32) {
	s := &c.park
	s.mu.Lock()
	current := s.parked && s.token == token
	if current {
		// Under s.mu, as Park adds it: a token taken out of the poller
		// can no longer resume this parking, and one that is not this
		// parking's (it was resumed, and the token since given to
		// another) is not touched.
		parking.remove(token)
	}
	s.mu.Unlock()
	if current {
		c.wake(token, false, true)
	}
}

// wake resumes a reader parked under token: expired, its idle deadline
// passed; rechecked, its recheck time. A reader resumed meanwhile, and
// perhaps parked again under another token, is left as it is: what woke
// it was about the parking that ended.
func (c *Conn) wake(token int32, expired, rechecked bool) {
	s := &c.park
	s.mu.Lock()
	if !s.parked || s.token != token {
		s.mu.Unlock()
		return
	}
	resume := s.resume
	s.parked, s.resume = false, nil
	s.expired = s.expired || expired
	s.rechecked = rechecked
	if s.recheck != nil {
		s.recheck.Stop()
		s.recheck = nil
	}
	s.mu.Unlock()
	go resume()
}

// unparkToClose marks the connection closed, and resumes its reader if it
// is parked so that it finds it so.
func (c *Conn) unparkToClose() {
	s := &c.park
	s.mu.Lock()
	s.closed = true
	parked, token := s.parked, s.token
	if parked {
		parking.remove(token) // under s.mu: see recheckDue
	}
	s.mu.Unlock()
	if parked {
		c.wake(token, false, false)
	}
}

// rawConnOf finds the socket under a connection, through TLS and any
// wrapper that gives the connection it wraps (NetConn, as tls.Conn does).
func rawConnOf(nc net.Conn) (rc syscall.RawConn) {
	underneath(nc, func(c net.Conn) bool {
		sc, ok := c.(syscall.Conn)
		if ok {
			rc, _ = sc.SyscallConn() // nil on error
		}
		return ok
	})
	return rc
}

// ParkedConns is how many connections of this process are parked.
func ParkedConns() int {
	parking.mu.Lock()
	defer parking.mu.Unlock()
	return len(parking.conns)
}
