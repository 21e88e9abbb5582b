package identity

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/db"
)

// Config is what the broker's configuration says of identities.
type Config struct {
	// BrokerUUID is the broker's controller UUID: the audience of its
	// session tokens, and part of their issuer.
	BrokerUUID string
	// AdminPassword is the bootstrap admin's password.
	AdminPassword string
	// SessionTTL and ControllerTokenTTL are the lifetimes of session
	// tokens and of the tokens signed for controllers.
	SessionTTL, ControllerTokenTTL time.Duration
	// KeyRotation is how long a signing key signs; KeyPrepublish how long
	// the next is published before it signs (0: none).
	KeyRotation, KeyPrepublish time.Duration
	// LoginFailureBurst failed logins a source may make at once, then
	// LoginFailureRate per second (not positive: no slowdown).
	LoginFailureBurst int
	LoginFailureRate  float64
	// LoginFailureUserBurst and LoginFailureUserRate are the same for one
	// user from every address, and for one address over every user (not
	// positive rate: no such slowdown).
	LoginFailureUserBurst int
	LoginFailureUserRate  float64
	// LoginVerifyConcurrency bounds the credential checks that run at
	// once (0: DefaultLoginVerifyConcurrency).
	LoginVerifyConcurrency int
	// DeviceLoginBurst device logins a source address may start at once,
	// then DeviceLoginRate per second (not positive: the defaults).
	DeviceLoginBurst int
	DeviceLoginRate  float64
	// MaxConnsPerIdentity bounds the connections (/api, model connections,
	// model streams) one identity may hold open on one replica (not
	// positive: no limit).
	MaxConnsPerIdentity int
	// JujuVersion is the client version the broker names in its logins to
	// controllers.
	JujuVersion string
	// OIDC is the identity provider; none when its Issuer is empty.
	OIDC OIDCConfig
	// OIDCRedirectURL is where the provider sends a browser back to after
	// a browser login: the broker's callback, at its public address.
	OIDCRedirectURL string
}

// Deps are the parts a Service works with.
type Deps struct {
	DB        *db.DB
	Cipher    *authz.Cipher
	Relations *authz.Relations
	Audit     *audit.Log // nil: logins are not audited
	// Metrics registers jimm_logins_total, jimm_sessions_purged_total
	// and the connection counters (nil: not registered).
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	Clock   clock.Clock // nil: the system clock
}

// Service authenticates callers, keeps their sessions, signs the broker's
// tokens and answers access checks.
type Service struct {
	cfg           Config
	db            *db.DB
	cipher        *authz.Cipher
	rel           *authz.Relations
	audit         *audit.Log
	log           *slog.Logger
	clock         clock.Clock
	adminPassword *authz.PasswordCheck
	oidc          *authz.OIDC // nil: no identity provider
	throttle      *throttle
	verify        *verifier
	devices       *rateLimiter // device logins started, by source address
	logins        *prometheus.CounterVec
	purged        prometheus.Counter // expired sessions deleted (purge.go)
	conns         *conns             // live connections, by identity and session (conns.go)

	keys   *authz.KeySet
	keysMu sync.Mutex // serialises reloads of keys

	loginSeen sync.Map // identity name → *loginSeen
}

// New builds the identity service: it loads the signing keys (creating
// the first), and prepares the identity provider client (contacting
// nobody: the provider is discovered on first use).
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	s := &Service{
		cfg: cfg, db: deps.DB, cipher: deps.Cipher, rel: deps.Relations, audit: deps.Audit,
		log: deps.Logger, clock: clock.Or(deps.Clock),
		adminPassword: authz.NewPasswordCheck(cfg.AdminPassword),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_logins_total", Help: "Logins, by method (password, session-token, device, browser, client-credentials) and result (ok, refused, error, throttled).",
		}, []string{"method", "result"}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_sessions_purged_total", Help: "Expired sessions deleted from the database.",
		}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	// Every method and result from the first scrape, at 0, so that a rate
	// over them (an alert on refusals) is defined before the first login.
	for _, method := range []string{ByPassword, BySessionToken, ByDevice, ByBrowser, ByClientCredentials} {
		for _, result := range []string{"ok", "refused", "error", "throttled"} {
			s.logins.WithLabelValues(method, result)
		}
	}
	s.throttle = newThrottle(limit{float64(cfg.LoginFailureBurst), cfg.LoginFailureRate},
		limit{float64(cfg.LoginFailureUserBurst), cfg.LoginFailureUserRate},
		limit{float64(cfg.LoginFailureUserBurst), cfg.LoginFailureUserRate}, s.clock)
	s.verify = newVerifier(cfg.LoginVerifyConcurrency)
	if cfg.DeviceLoginBurst <= 0 {
		cfg.DeviceLoginBurst = DefaultDeviceLoginBurst
	}
	if cfg.DeviceLoginRate <= 0 {
		cfg.DeviceLoginRate = DefaultDeviceLoginRate
	}
	s.devices = newRateLimiter(cfg.DeviceLoginBurst, cfg.DeviceLoginRate, s.clock)
	s.conns = newConns(cfg.MaxConnsPerIdentity, s.clock, s.log)
	if deps.Metrics != nil {
		for _, c := range []prometheus.Collector{s.logins, s.purged} {
			if err := deps.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register identity metrics: %w", err)
			}
		}
		for _, c := range s.conns.collectors() {
			if err := deps.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register session metrics: %w", err)
			}
		}
	}
	if err := s.setupOIDC(); err != nil {
		return nil, err
	}
	if err := s.LoadKeys(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// issuer is the "iss" of the tokens the broker signs.
func (s *Service) issuer() string { return "jimm-" + s.cfg.BrokerUUID }
