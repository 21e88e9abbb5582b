package jujuapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The WebSocket opening handshake, both ends.

// Upgrade turns an HTTP request into a Conn. A request that is not a
// WebSocket upgrade gets an HTTP error.
func Upgrade(w http.ResponseWriter, r *http.Request, opts ConnOptions) (*Conn, error) {
	refuse := func(status int, why string) (*Conn, error) {
		http.Error(w, "websocket: "+why, status)
		return nil, fmt.Errorf("websocket upgrade from %s: %s", r.RemoteAddr, why)
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	switch {
	case r.Method != http.MethodGet:
		return refuse(http.StatusMethodNotAllowed, "the upgrade request must be a GET")
	case !hasToken(r.Header, "Connection", "upgrade"), !hasToken(r.Header, "Upgrade", "websocket"):
		return refuse(http.StatusBadRequest, "not a websocket upgrade request")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		w.Header().Set("Sec-WebSocket-Version", "13")
		return refuse(http.StatusUpgradeRequired, "unsupported version (13 is)")
	case !validChallengeKey(key):
		return refuse(http.StatusBadRequest, "missing or invalid Sec-WebSocket-Key")
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return refuse(http.StatusInternalServerError, "the connection cannot be taken over")
	}
	if brw.Reader.Buffered() > 0 {
		nc.Close()
		return nil, fmt.Errorf("websocket upgrade from %s: data sent before the handshake completed", r.RemoteAddr)
	}
	c := newConn(nc, false, opts)
	// The HTTP server's deadlines no longer apply.
	nc.SetDeadline(time.Now().Add(c.opts.WriteTimeout))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
	if _, err := io.WriteString(nc, resp); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket upgrade from %s: %w", r.RemoteAddr, err)
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

// DialOptions say how to reach a server.
type DialOptions struct {
	ConnOptions
	// TLSConfig verifies the server. Juju servers are verified with server
	// name "juju-apiserver" against the controller's CA. It is not
	// modified, and may be shared by many connections.
	TLSConfig *tls.Config
	// Header is sent with the upgrade request.
	Header http.Header
}

// handshakeTimeout bounds dialling, the TLS handshake and the upgrade.
const handshakeTimeout = 30 * time.Second

// ErrBadHandshake is a server's refusal of the WebSocket upgrade.
var ErrBadHandshake = errors.New("websocket: bad handshake")

// Dial opens a Conn to url (wss://host:port/api or /model/<uuid>/api).
func Dial(ctx context.Context, url string, opts DialOptions) (*Conn, error) {
	c, err := dial(ctx, url, opts)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return c, nil
}

func dial(ctx context.Context, rawURL string, opts DialOptions) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	var secure bool
	switch u.Scheme {
	case "wss":
		secure = true
	case "ws":
	default:
		return nil, fmt.Errorf("scheme %q: want wss or ws", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			nc.Close()
		}
	}()
	// Cancelling ctx aborts the handshake.
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	raw := nc
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if secure {
		// The connection keeps its configuration while it is open: the
		// caller's is used as it is (it may be shared by many), and copied
		// only to name the server.
		cfg := opts.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(&gatheringConn{Conn: nc}, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		nc = tc
	}
	key := newChallengeKey()
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
		u.RequestURI(), u.Host, key)
	if err := opts.Header.Write(&req); err != nil {
		return nil, err
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(nc, req.String()); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 512)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return nil, fmt.Errorf("%w (HTTP %s)", ErrBadHandshake, resp.Status)
	case !hasToken(resp.Header, "Upgrade", "websocket"), !hasToken(resp.Header, "Connection", "upgrade"):
		return nil, fmt.Errorf("%w: the response does not upgrade to websocket", ErrBadHandshake)
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
		return nil, fmt.Errorf("%w: wrong Sec-WebSocket-Accept", ErrBadHandshake)
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return nil, fmt.Errorf("%w: the server chose an extension that was not offered", ErrBadHandshake)
	}
	c := newConn(nc, true, opts.ConnOptions)
	if n := br.Buffered(); n > 0 {
		c.pre, _ = br.Peek(n)
		c.pre = slices.Clone(c.pre)
	}
	if !stop() {
		return nil, ctx.Err() // cancelled just now: the deadline is past
	}
	nc.SetDeadline(time.Time{})
	ok = true
	return c, nil
}

// The login deadline: a server connection that must log in within a
// bound is closed with status 1008 when it has not, whatever it sent
// meanwhile (WebSocket pings and requests other than a login do not
// extend it). The deadline is kept beside the connection, not in it, so
// that a connection that logged in carries nothing of it.
var loginDeadlines = struct {
	mu sync.Mutex
	m  map[*Conn]*time.Timer
}{m: map[*Conn]*time.Timer{}}

var loginTimeouts atomic.Int64

// LoginTimeouts is how many connections of this process were closed for
// not logging in in time.
func LoginTimeouts() int64 { return loginTimeouts.Load() }

// RequireLogin closes c with status 1008 (policy violation) unless
// LoggedIn is called within d; d <= 0 sets no deadline. Call it once,
// right after the upgrade.
func (c *Conn) RequireLogin(d time.Duration) {
	if d <= 0 {
		return
	}
	reason := fmt.Sprintf("no login within %s", d)
	loginDeadlines.mu.Lock()
	defer loginDeadlines.mu.Unlock()
	if old := loginDeadlines.m[c]; old != nil {
		old.Stop()
	}
	loginDeadlines.m[c] = time.AfterFunc(d, func() {
		loginDeadlines.mu.Lock()
		_, pending := loginDeadlines.m[c]
		delete(loginDeadlines.m, c)
		loginDeadlines.mu.Unlock()
		if pending {
			loginTimeouts.Add(1)
			c.CloseWith(ClosePolicyViolation, reason)
		}
	})
}

// LoggedIn reports that the connection's client has logged in: its login
// deadline, if any, no longer applies. Safe on a nil Conn and on a
// connection with no deadline.
func (c *Conn) LoggedIn() {
	if c == nil {
		return
	}
	loginDeadlines.mu.Lock()
	t := loginDeadlines.m[c]
	delete(loginDeadlines.m, c)
	loginDeadlines.mu.Unlock()
	if t != nil {
		t.Stop()
	}
}

// MaxLoginExtension bounds how far ExtendLoginUntil moves a login
// deadline.
const MaxLoginExtension = 15 * time.Minute

// ExtendLoginUntil moves a pending login deadline to until (at most
// MaxLoginExtension from now; zero: that far), for a login that waits on
// a person: a device login, approved in a browser before its code
// expires. It does nothing when the connection has logged in or has no
// deadline.
func (c *Conn) ExtendLoginUntil(until time.Time) {
	if c == nil {
		return
	}
	d := time.Until(until)
	if until.IsZero() || d > MaxLoginExtension {
		d = MaxLoginExtension
	}
	if d <= 0 {
		return
	}
	loginDeadlines.mu.Lock()
	defer loginDeadlines.mu.Unlock()
	if t := loginDeadlines.m[c]; t != nil {
		t.Reset(d)
	}
}

// LoginPending reports whether c has a login deadline still running.
func (c *Conn) LoginPending() bool {
	loginDeadlines.mu.Lock()
	defer loginDeadlines.mu.Unlock()
	_, ok := loginDeadlines.m[c]
	return ok
}
