package broker

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jimmbroker/jimm/broker/admin"
	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/load"
	"github.com/jimmbroker/jimm/broker/proxy"
	"github.com/jimmbroker/jimm/broker/reconcile"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Config says how to run a broker. Every field has a jimmd flag and a
// JIMM_* environment variable (see cmd/jimmd).
type Config struct {
	// Listen is the API's TCP address, e.g. ":17070".
	Listen string
	// PublicAddress is the host:port clients reach the broker at; it is
	// what the broker tells clients in login results. Default: Listen's
	// port on 127.0.0.1 when Listen has no host.
	PublicAddress string
	// TLSCertFile and TLSKeyFile are the server certificate; when both are
	// empty a CA and a certificate with SAN juju-apiserver are generated
	// into DataDir/tls and reused.
	TLSCertFile, TLSKeyFile string
	// DataDir holds generated certificates and, by default, the SQLite
	// database.
	DataDir string
	// DSN is the database: postgres://... for PostgreSQL, else an SQLite
	// file path. Default DataDir/jimm.db.
	DSN string
	// AdminPassword is the bootstrap admin's password (user "admin").
	AdminPassword string
	// SecretsKey encrypts controller credentials and signing keys at rest
	// (32 bytes).
	SecretsKey []byte
	// MetricsListen is the address of the Prometheus metrics listener;
	// empty disables it.
	MetricsListen string
	// JujuVersion is the Juju version the broker reports to clients.
	JujuVersion string
	// ControllerName is the broker's name where Juju shows a controller's
	// (model summaries, controller config). Default DefaultControllerName.
	ControllerName string
	// ControllerTokenTTL is the lifetime of the tokens the broker signs to
	// log in to controllers.
	ControllerTokenTTL time.Duration
	// SessionTTL is the lifetime of session tokens from a login.
	SessionTTL time.Duration
	// HealthInterval is how often each controller is pinged (at most 5s).
	HealthInterval time.Duration
	// ProxyDetachAfter is how long a model connection may sit with no call
	// in flight before the broker closes its controller side, logging in
	// again on the next call. Connections that used server-side objects
	// (watchers) are never detached. Negative disables detaching.
	ProxyDetachAfter time.Duration
	// MaxCallsInFlight bounds the calls one model connection may have in
	// flight at its controller (watcher Next calls and pings apart, up to
	// ten times as many); MaxCallBytesInFlight bounds the bytes of their
	// requests. Past either the broker stops reading from that client
	// until a call is answered. Zero is the default (DefaultMaxCallsInFlight,
	// DefaultMaxCallBytesInFlight).
	MaxCallsInFlight     int
	MaxCallBytesInFlight int
	// CallTimeout bounds how long a call relayed on a model connection
	// waits for its controller before the broker answers "try again"
	// itself (watcher Next calls are not bounded). Zero is
	// DefaultCallTimeout; negative: no bound. A call on a controller the
	// health check sees go down is answered at once, whatever this is.
	CallTimeout time.Duration
	// SigningKeyRotation is how long a signing key signs before the next
	// takes over; SigningKeyPrepublish is how long before that the next
	// one is published (0: the default, at most half the rotation;
	// negative: not at all).
	SigningKeyRotation, SigningKeyPrepublish time.Duration
	// ModelCreateTimeout bounds how long a controller may take to create a
	// model before the broker tries the next candidate.
	ModelCreateTimeout time.Duration
	// ReconcileInterval is the time between reconciliation passes.
	ReconcileInterval time.Duration
	// LoadInterval is the time between two readings of every model's
	// size from its controller's model summaries.
	LoadInterval time.Duration
	// LoginFailureBurst is how many failed logins a source address may make
	// at once; after that, LoginFailureRate per second (negative disables
	// the slowdown).
	LoginFailureBurst int
	LoginFailureRate  float64
	// LoginFailureUserBurst and LoginFailureUserRate are the same for one
	// user from every address, and for one address over every user.
	// Correct credentials are never slowed: they are checked first, at
	// most LoginVerifyConcurrency at once.
	LoginFailureUserBurst  int
	LoginFailureUserRate   float64
	LoginVerifyConcurrency int
	// MaxRequestBody bounds the body of an authenticated /v1 request, and
	// MaxRequestBodyUnauthenticated that of a login, in bytes (413 past
	// them). DeviceLoginBurst device logins (POST /v1/login/device) a
	// source address may start at once, then DeviceLoginRate per second
	// (429 with Retry-After past them).
	MaxRequestBody, MaxRequestBodyUnauthenticated int64
	DeviceLoginBurst                              int
	DeviceLoginRate                               float64
	// MaxConnsPerIdentity bounds the connections one identity may hold
	// open on one replica (/api, model connections, model streams); zero
	// is DefaultMaxConnsPerIdentity, negative no limit.
	MaxConnsPerIdentity int
	// AuditRetention is how long audit events are kept; zero or negative
	// keeps them forever (jimmd's default is DefaultAuditRetention).
	AuditRetention time.Duration
	// AuditSpoolMaxBytes bounds the file in DataDir (audit-spool.jsonl)
	// that keeps audit events while the database cannot take them, until
	// they are written; zero or negative is DefaultAuditSpoolMaxBytes.
	AuditSpoolMaxBytes int64
	// OIDC is the identity provider for people and service accounts;
	// none when its Issuer is empty.
	OIDC OIDCConfig
	// Clock is the time source of the parts whose behaviour time decides
	// (detaching, cutovers, leases, the login throttle, sessions); nil is
	// the system clock. Tests set a fake.
	Clock clock.Clock
	// LoginTimeout is how long a client WebSocket connection (/api, a
	// model's /api, a model's log stream) may stay open without logging
	// in; pings and other requests do not extend it. Zero is
	// DefaultLoginTimeout; negative disables.
	LoginTimeout time.Duration
	// MaxConnsPerAddress bounds the WebSocket connections open from one
	// source address; past it an upgrade is refused with HTTP 429. Zero is
	// DefaultMaxConnsPerAddress; negative: no bound.
	MaxConnsPerAddress int
	// FDReserve is how many file descriptors the broker keeps for its own
	// use (database, controllers, metrics, plain HTTPS): with fewer left,
	// new WebSocket connections are refused with HTTP 503; with fewer than
	// half of it left, new TCP connections are closed at once. Zero: 5% of
	// RLIMIT_NOFILE, at least 64; negative: no reserve.
	FDReserve int
	// ShutdownGrace bounds a shutdown's drain: when Serve's context ends
	// the replica reports itself not ready, stops accepting connections,
	// and hands every WebSocket connection back to its client (WebSocket
	// status 1012, service restart) as soon as it has no call in flight;
	// at the end of the grace the remaining ones are closed too. Zero is
	// DefaultShutdownGrace; negative: close every connection at once.
	ShutdownGrace time.Duration
	// Version and Revision are the build's, for jimm_build_info.
	Version, Revision string
	// Conn bounds each client connection.
	Conn   jujuapi.ConnOptions
	Logger *slog.Logger
}

// OIDCConfig is the broker's OpenID Connect identity provider.
type OIDCConfig = identity.OIDCConfig

// DefaultAuditRetention is how long audit events are kept by default.
const DefaultAuditRetention = audit.DefaultRetention

// DefaultAuditSpoolMaxBytes bounds the audit spool by default.
const DefaultAuditSpoolMaxBytes = audit.DefaultSpoolMaxBytes

// Defaults.
const (
	DefaultJujuVersion        = "3.5.4"
	DefaultControllerName     = "jimm"
	DefaultControllerTokenTTL = 5 * time.Minute
	DefaultSessionTTL         = 24 * time.Hour
	DefaultHealthInterval     = 2 * time.Second
	DefaultProxyDetachAfter   = 30 * time.Second
	DefaultModelCreateTimeout = 30 * time.Second
	DefaultReconcileInterval  = reconcile.DefaultInterval
	DefaultLoadInterval       = load.DefaultInterval
	DefaultKeyRotation        = 24 * time.Hour
	DefaultShutdownGrace      = 30 * time.Second
	DefaultKeyPrepublish      = 5 * time.Minute
	DefaultLoginFailureBurst  = 10
	DefaultLoginFailureRate   = 1.0
	// Per user (from every address) and per address (over every user).
	DefaultLoginFailureUserBurst  = 50
	DefaultLoginFailureUserRate   = 5.0
	DefaultLoginVerifyConcurrency = identity.DefaultLoginVerifyConcurrency
	DefaultMaxRequestBody         = admin.DefaultMaxBody
	DefaultMaxRequestBodyUnauth   = admin.DefaultMaxBodyUnauthenticated
	DefaultDeviceLoginBurst       = identity.DefaultDeviceLoginBurst
	DefaultDeviceLoginRate        = identity.DefaultDeviceLoginRate
	// DefaultLoginTimeout is how long a WebSocket connection may stay
	// open before it logs in.
	DefaultLoginTimeout = 15 * time.Second
	// DefaultMaxConnsPerAddress bounds the WebSocket connections of one
	// source address (one NAT, one CI runner).
	DefaultMaxConnsPerAddress = 256
	// DefaultMaxConnsPerIdentity leaves room for a busy tool (Terraform
	// with a model connection per resource in flight, say): only users
	// and clients connect to the broker, never controllers' agents.
	DefaultMaxConnsPerIdentity = 300
)

// Defaults of the bounds on a client's calls and writes.
const (
	// DefaultMaxCallsInFlight is what Juju's incumbent broker allows.
	DefaultMaxCallsInFlight     = proxy.DefaultMaxCalls
	DefaultMaxCallBytesInFlight = proxy.DefaultMaxCallBytes
	DefaultCallTimeout          = proxy.DefaultCallTimeout
	// DefaultWriteTimeout is how long a client may leave a response
	// unread before its connection is closed.
	DefaultWriteTimeout = jujuapi.DefaultWriteTimeout
)

func (c *Config) validate() error {
	if c.Listen == "" {
		c.Listen = ":17070"
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if c.PublicAddress == "" && port != "0" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		c.PublicAddress = net.JoinHostPort(host, port)
	}
	if c.DataDir == "" {
		return fmt.Errorf("data directory is required")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("give both a TLS certificate and its key, or neither")
	}
	if c.AdminPassword == "" {
		return fmt.Errorf("the bootstrap admin password is required (JIMM_ADMIN_PASSWORD)")
	}
	if len(c.SecretsKey) != 32 {
		return fmt.Errorf("the secrets key must be 32 bytes (JIMM_SECRETS_KEY, 64 hex characters)")
	}
	if c.JujuVersion == "" {
		c.JujuVersion = DefaultJujuVersion
	}
	if c.ControllerName == "" {
		c.ControllerName = DefaultControllerName
	}
	if c.ControllerTokenTTL <= 0 {
		c.ControllerTokenTTL = DefaultControllerTokenTTL
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.ProxyDetachAfter == 0 {
		c.ProxyDetachAfter = DefaultProxyDetachAfter
	}
	if c.SigningKeyRotation <= 0 {
		c.SigningKeyRotation = DefaultKeyRotation
	}
	switch {
	case c.SigningKeyPrepublish == 0:
		c.SigningKeyPrepublish = min(DefaultKeyPrepublish, c.SigningKeyRotation/2)
	case c.SigningKeyPrepublish < 0:
		c.SigningKeyPrepublish = 0 // none: only to show why it matters
	}
	if c.SigningKeyPrepublish >= c.SigningKeyRotation {
		return fmt.Errorf("signing key pre-publication (%s) must be shorter than the rotation period (%s)", c.SigningKeyPrepublish, c.SigningKeyRotation)
	}
	if c.LoginFailureBurst <= 0 {
		c.LoginFailureBurst = DefaultLoginFailureBurst
	}
	if c.LoginFailureRate == 0 {
		c.LoginFailureRate = DefaultLoginFailureRate
	}
	if c.LoginFailureUserBurst <= 0 {
		c.LoginFailureUserBurst = DefaultLoginFailureUserBurst
	}
	if c.LoginFailureUserRate == 0 {
		c.LoginFailureUserRate = DefaultLoginFailureUserRate
	}
	if c.MaxConnsPerIdentity == 0 {
		c.MaxConnsPerIdentity = DefaultMaxConnsPerIdentity
	}
	if c.ModelCreateTimeout <= 0 {
		c.ModelCreateTimeout = DefaultModelCreateTimeout
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = DefaultLoginTimeout
	}
	if c.MaxConnsPerAddress == 0 {
		c.MaxConnsPerAddress = DefaultMaxConnsPerAddress
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.LoadInterval <= 0 {
		c.LoadInterval = DefaultLoadInterval
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.HealthInterval > 5*time.Second {
		return fmt.Errorf("health interval %s is over the 5s bound", c.HealthInterval)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
