package controllers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
)

// DefaultTLSServerName is the name a Juju controller's certificate is
// verified against, whatever address was dialled.
const DefaultTLSServerName = "juju-apiserver"

// DialTimeout bounds the attempt on each of a controller's addresses (TCP
// connect, TLS handshake and WebSocket upgrade); the caller's context
// bounds the whole dial.
const DialTimeout = 5 * time.Second

// Endpoint says how to reach one controller's API.
type Endpoint struct {
	// Name is the controller's name in the broker, used in errors and logs.
	Name string
	// UUID is the controller's UUID. When set, Connect refuses a controller
	// that reports another one.
	UUID string
	// Addresses are the API addresses, host:port, tried in order.
	Addresses []string
	// CACert is the PEM CA certificate that signed the controller's
	// certificate; it is the only root trusted.
	CACert string
	// TLSServerName is the name the certificate is verified against.
	// Default DefaultTLSServerName.
	TLSServerName string
}

// serverName returns the TLS server name to verify.
func (e Endpoint) serverName() string {
	if e.TLSServerName == "" {
		return DefaultTLSServerName
	}
	return e.TLSServerName
}

// tlsConfigs are the TLS configurations of the controllers, by name,
// each with the CA and server name it was made for: every connection
// keeps its configuration (and the CA parsed into it) for as long as it
// is open, so connections to one controller share one rather than each
// parsing the CA again, and share its TLS sessions. A controller whose CA
// or server name changes gets a new one in place of the old: there is one
// per controller name.
var tlsConfigs sync.Map // controller name -> *tlsEntry

type tlsEntry struct {
	ca, serverName string
	cfg            *tls.Config
}

// tlsConfig trusts only the pinned CA. The configuration is shared
// (tlsConfigs): callers must not modify it.
func (e Endpoint) tlsConfig() (*tls.Config, error) {
	if x, ok := tlsConfigs.Load(e.Name); ok {
		if t := x.(*tlsEntry); t.ca == e.CACert && t.serverName == e.serverName() {
			return t.cfg, nil
		}
	}
	c, err := e.newTLSConfig()
	if err == nil {
		tlsConfigs.Store(e.Name, &tlsEntry{ca: e.CACert, serverName: e.serverName(), cfg: c})
	}
	return c, err
}

// newTLSConfig parses the CA into a new configuration.
func (e Endpoint) newTLSConfig() (*tls.Config, error) {
	pool := x509.NewCertPool()
	rest := []byte(e.CACert)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("controller %q: CA certificate: %w", e.Name, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("controller %q: CA certificate: no PEM certificate found", e.Name)
	}
	return &tls.Config{RootCAs: pool, ServerName: e.serverName(), MinVersion: tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize)}, nil
}

// sessionCacheSize is how many TLS sessions with one controller are kept
// for resumption. A connection that resumes one is not sent the
// controller's certificate again, nor parses and verifies it (it was when
// the session began): a new connection costs less CPU, and an open one
// keeps less memory (a parsed certificate, and the larger buffers its
// handshake grew).
const sessionCacheSize = 64

// Dial opens a WebSocket connection to path ("/api" or
// "/model/<uuid>/api") on the controller, trying its addresses in order,
// each for at most DialTimeout, the next starting when the one before has
// failed or has not answered within dialStagger (see dialAddresses), and
// returns the first that answers. The
// server must present a certificate for TLSServerName signed by CACert.
// Errors say which controller and address failed; when every address
// fails the error is the last address's, listing the others.
func (e Endpoint) Dial(ctx context.Context, path string, opts jujuapi.ConnOptions) (*jujuapi.Conn, error) {
	conn, _, err := e.dial(ctx, path, nil, opts)
	return conn, err
}

// DialAs is Dial for the controller's HTTP WebSocket endpoints (a model's
// /log, say), which take their credentials in the upgrade request: it
// presents creds with HTTP basic auth (the user's tag and password), as
// Juju's HTTP endpoints expect. path may carry a query string.
func (e Endpoint) DialAs(ctx context.Context, path string, creds Credentials, opts jujuapi.ConnOptions) (*jujuapi.Conn, error) {
	h := http.Header{}
	h.Set("Authorization", creds.BasicAuth())
	conn, _, err := e.dial(ctx, path, h, opts)
	return conn, err
}

// BasicAuth is the Authorization header value with which creds reach a
// controller's HTTP endpoints: the user's tag and password.
func (c Credentials) BasicAuth() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(jujuapi.UserTag(c.User).String()+":"+c.Password))
}

// HTTPTransport returns a transport for the controller's plain HTTPS
// endpoints (a model's /charms, say). Whatever host a request names, the
// transport connects to the controller's addresses in order, each for at
// most DialTimeout, and trusts only the pinned CA for TLSServerName; it
// keeps idle connections for reuse, so callers should keep it while the
// endpoint is unchanged, and CloseIdleConnections when done with it. A
// request's body is sent once: an address is given up only before any of
// it has been.
func (e Endpoint) HTTPTransport() (*http.Transport, error) {
	if len(e.Addresses) == 0 {
		return nil, fmt.Errorf("controller %q: no API addresses", e.Name)
	}
	tlsConfig, err := e.tlsConfig()
	if err != nil {
		return nil, err
	}
	addrs := slices.Clone(e.Addresses)
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var failed []*DialError
		for _, addr := range addrs {
			if expired(ctx) {
				break
			}
			actx, cancel := context.WithTimeout(ctx, DialTimeout)
			d := tls.Dialer{Config: tlsConfig}
			conn, err := d.DialContext(actx, "tcp", addr)
			cancel()
			if err == nil {
				return conn, nil
			}
			failed = append(failed, &DialError{Controller: e.Name, Address: addr, Err: err})
		}
		if len(failed) == 0 {
			return nil, fmt.Errorf("dial controller %q: %w", e.Name, context.Cause(ctx))
		}
		last := failed[len(failed)-1]
		last.Earlier = failed[:len(failed)-1]
		return nil, last
	}
	return &http.Transport{
		DialTLSContext:        dial,
		ForceAttemptHTTP2:     false,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // an upload's answer comes once it is stored
	}, nil
}

// HTTPHost is the host a request sent with HTTPTransport names: the TLS
// server name, which the transport verifies whatever address it dials.
func (e Endpoint) HTTPHost() string { return e.serverName() }

// HTTPURL is the URL of path (with its query) on the controller's HTTPS
// endpoints, for a request sent with HTTPTransport.
func (e Endpoint) HTTPURL(path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return "https://" + e.HTTPHost() + path
}

// dial is Dial that also returns the address that answered.
func (e Endpoint) dial(ctx context.Context, path string, header http.Header, opts jujuapi.ConnOptions) (*jujuapi.Conn, string, error) {
	if len(e.Addresses) == 0 {
		return nil, "", fmt.Errorf("dial controller %q: no API addresses", e.Name)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	tlsConfig, err := e.tlsConfig()
	if err != nil {
		return nil, "", err
	}
	return dialAddresses(ctx, e.Name, e.Addresses, func(ctx context.Context, addr string) (*jujuapi.Conn, string, error) {
		url := "wss://" + addr + path
		conn, err := jujuapi.Dial(ctx, url, jujuapi.DialOptions{ConnOptions: opts, TLSConfig: tlsConfig, Header: header})
		return conn, url, err
	})
}

// Concurrent dialling of a controller's addresses ("happy eyeballs"): the
// first address is tried alone for dialStagger, then the next joins, and
// so on, at most maxDialsInFlight at once; a failure starts the next at
// once. So a controller whose first addresses are dead is reached in about
// dialStagger per dead address, not DialTimeout each, and twenty dead
// addresses fail in a few DialTimeouts, not twenty.
const (
	dialStagger      = 250 * time.Millisecond
	maxDialsInFlight = 16
)

// dialAddresses dials addrs as above with dialOne (bounded by DialTimeout
// each), returning the first connection and its address; the others are
// cancelled and closed. When every address fails, the error is a
// *DialError listing each address tried, in order.
func dialAddresses(ctx context.Context, name string, addrs []string, dialOne func(ctx context.Context, addr string) (*jujuapi.Conn, string, error)) (*jujuapi.Conn, string, error) {
	type result struct {
		i    int
		conn *jujuapi.Conn
		url  string
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan result, len(addrs))
	failed := make([]*DialError, len(addrs))
	next, inFlight, startNext := 0, 0, true
	stagger := time.NewTimer(time.Hour)
	defer stagger.Stop()
	for {
		if startNext && next < len(addrs) && inFlight < maxDialsInFlight && !expired(ctx) {
			i := next
			next, inFlight, startNext = next+1, inFlight+1, false
			go func() {
				actx, acancel := context.WithTimeout(ctx, DialTimeout)
				conn, url, err := dialOne(actx, addrs[i])
				acancel()
				results <- result{i: i, conn: conn, url: url, err: err}
			}()
			stagger.Reset(dialStagger)
		}
		if inFlight == 0 {
			if next < len(addrs) && !expired(ctx) {
				startNext = true
				continue
			}
			break
		}
		select {
		case r := <-results:
			inFlight--
			if r.err == nil {
				cancel() // the others
				go func(pending int) {
					for range pending {
						if late := <-results; late.conn != nil {
							late.conn.Close()
						}
					}
				}(inFlight)
				return r.conn, addrs[r.i], nil
			}
			failed[r.i] = &DialError{Controller: name, Address: addrs[r.i], url: r.url, Err: r.err}
			startNext = true
		case <-stagger.C:
			startNext = true
		}
	}
	var tried []*DialError
	for _, f := range failed {
		if f != nil {
			tried = append(tried, f)
		}
	}
	if len(tried) == 0 {
		err := ctx.Err()
		if err == nil {
			err = context.DeadlineExceeded
		}
		return nil, "", fmt.Errorf("dial controller %q: %w", name, err)
	}
	last := tried[len(tried)-1]
	last.Earlier = tried[:len(tried)-1]
	return nil, "", last
}

// expired reports whether ctx has ended or its deadline has passed (a
// deadline may pass a moment before ctx says so).
func expired(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// DialError is the failure to reach a controller: the last address tried,
// and the addresses that failed before it.
type DialError struct {
	Controller string
	Address    string
	Err        error
	// Earlier holds the failures of the addresses tried before Address.
	Earlier []*DialError
	url     string
}

func (e *DialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dial controller %q at %s: %s", e.Controller, e.Address, e.reason())
	if len(e.Earlier) > 0 {
		b.WriteString(" (also failed:")
		for i, d := range e.Earlier {
			if i > 0 {
				b.WriteString(";")
			}
			fmt.Fprintf(&b, " %s: %s", d.Address, d.reason())
		}
		b.WriteString(")")
	}
	return b.String()
}

// reason is the underlying error without jujuapi's "dial <url>: " prefix,
// which would repeat the address.
func (e *DialError) reason() string {
	msg := e.Err.Error()
	if e.url != "" {
		msg = strings.TrimPrefix(msg, "dial "+e.url+": ")
	}
	return msg
}

// Unwrap returns the error of the last address tried.
func (e *DialError) Unwrap() error { return e.Err }

// isDialError reports whether err is a failure to reach a controller.
func isDialError(err error) bool {
	var d *DialError
	return errors.As(err, &d)
}
