package broker

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/admin"
	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/clouds"
	"github.com/jimmbroker/jimm/broker/facades"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/load"
	"github.com/jimmbroker/jimm/broker/migration"
	"github.com/jimmbroker/jimm/broker/modelhttp"
	"github.com/jimmbroker/jimm/broker/probes"
	"github.com/jimmbroker/jimm/broker/proxy"
	"github.com/jimmbroker/jimm/broker/reconcile"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/broker/summaries"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
	"github.com/jimmbroker/jimm/jujuapi/pki"
)

// Server is a running broker: the parts below, built from a Config and
// mounted on one listener.
type Server struct {
	cfg     Config
	log     *slog.Logger
	db      *db.DB
	uuid    string
	metrics *metrics

	rel        *authz.Relations
	audit      *audit.Log
	identity   *identity.Service
	registry   *controllers.Registry
	pool       *controllers.Pool
	health     *controllers.Health
	load       *load.Refresher
	routes     *routing.Table
	migrations *migration.Manager
	reconciler *reconcile.Reconciler
	proxy      *proxy.Proxy
	modelHTTP  *modelhttp.Endpoints
	clouds     *clouds.Service
	facades    *facades.API
	admin      *admin.API

	tlsConfig *tls.Config
	caCertPEM []byte // the generated CA, when the broker made its own certificate
	listener  net.Listener
	metricsLn net.Listener

	probes *probes.Probes // liveness, readiness, draining
	// serveCtx is the connections': it ends at the end of a shutdown's
	// grace, after the replica stopped taking new ones; streamCtx, the
	// log streams', ends as the shutdown starts (a stream never idles).
	serveCtx  context.Context
	streamCtx context.Context
	conns     jujuapi.ServingGroup
	admission *jujuapi.Admission // per-address cap and descriptor reserve
}

// New prepares a broker: opens and migrates the database, loads or creates
// its identity, signing key and certificate, builds its parts, and starts
// listening. Call Serve to answer.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics()}
	cipher, err := authz.NewCipher(cfg.SecretsKey)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	dsn := cfg.DSN
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "jimm.db")
	}
	if s.db, err = db.Open(ctx, dsn, s.log); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	if err := s.db.Migrate(ctx); err != nil {
		return nil, err
	}
	if s.uuid, err = s.db.Setting(ctx, "broker-uuid", uuid.NewString); err != nil {
		return nil, err
	}
	if err := s.loadTLS(ctx, cipher); err != nil {
		return nil, err
	}
	s.admission = jujuapi.NewAdmission(jujuapi.AdmissionOptions{MaxConnsPerAddress: cfg.MaxConnsPerAddress, FDReserve: cfg.FDReserve, Logger: s.log})
	if err := registerAdmissionMetrics(s.metrics.reg, s.admission); err != nil {
		return nil, err
	}
	if s.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if s.cfg.PublicAddress == "" {
		s.cfg.PublicAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.listener.Addr().(*net.TCPAddr).Port))
	}
	servers, err := hostPorts(s.cfg.PublicAddress)
	if err != nil {
		return nil, err
	}
	if err := s.build(ctx, cipher, servers); err != nil {
		return nil, err
	}
	s.probes = probes.New(probes.Options{Checks: s.readinessChecks()})
	if err := s.metrics.reg.Register(s.probes.Collector()); err != nil {
		return nil, fmt.Errorf("register readiness metric: %w", err)
	}
	if err := s.metrics.reg.Register(buildInfo(cfg.Version, cfg.Revision)); err != nil {
		return nil, fmt.Errorf("register build info metric: %w", err)
	}
	if cfg.MetricsListen != "" {
		if s.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return nil, fmt.Errorf("metrics listener on %s: %w", cfg.MetricsListen, err)
		}
	}
	ok = true
	return s, nil
}

// readinessChecks are what /readyz checks besides the listeners: the
// database answers, with the schema this build expects, and the signing
// keys are loaded. One query serves both database checks: probes runs the
// checks in order, one run at a time, so "schema" reads what "database"
// found in the same run.
func (s *Server) readinessChecks() []probes.Check {
	var current, latest int
	var dbErr error
	return []probes.Check{
		{Name: "database", Run: func(ctx context.Context) error {
			current, latest, dbErr = s.db.SchemaVersion(ctx)
			if dbErr != nil {
				return fmt.Errorf("the database does not answer: %w", dbErr)
			}
			return nil
		}},
		{Name: "schema", Run: func(context.Context) error {
			switch {
			case dbErr != nil:
				return fmt.Errorf("unknown: the database does not answer: %w", dbErr)
			case current > latest:
				return fmt.Errorf("the database schema is at version %d, newer than this jimmd's %d: a newer jimmd migrated it (an upgrade is rolling out)", current, latest)
			case current < latest:
				return fmt.Errorf("the database schema is at version %d, older than this jimmd's %d", current, latest)
			}
			return nil
		}},
		{Name: "keys", Run: func(context.Context) error {
			if s.identity.Keys().Current() == nil {
				return errors.New("no signing key is loaded: the broker cannot sign tokens for controllers")
			}
			return nil
		}},
	}
}

// build makes the broker's parts, each from the parts below it.
func (s *Server) build(ctx context.Context, cipher *authz.Cipher, servers [][]params.HostPort) error {
	cfg, log, reg := s.cfg, s.log, s.metrics.reg
	replicaID := uuid.NewString() // this process, in leases and records
	s.rel = authz.NewRelations(s.db, log)
	s.audit = audit.New(s.db, log, reg, audit.WithSpool(cfg.DataDir, cfg.AuditSpoolMaxBytes))
	var err error
	if s.identity, err = identity.New(ctx, identity.Config{
		BrokerUUID: s.uuid, AdminPassword: cfg.AdminPassword, JujuVersion: cfg.JujuVersion,
		SessionTTL: cfg.SessionTTL, ControllerTokenTTL: cfg.ControllerTokenTTL,
		KeyRotation: cfg.SigningKeyRotation, KeyPrepublish: cfg.SigningKeyPrepublish,
		LoginFailureBurst: cfg.LoginFailureBurst, LoginFailureRate: cfg.LoginFailureRate,
		LoginFailureUserBurst: cfg.LoginFailureUserBurst, LoginFailureUserRate: cfg.LoginFailureUserRate, LoginVerifyConcurrency: cfg.LoginVerifyConcurrency,
		DeviceLoginBurst: cfg.DeviceLoginBurst, DeviceLoginRate: cfg.DeviceLoginRate,
		OIDC: cfg.OIDC, OIDCRedirectURL: "https://" + s.cfg.PublicAddress + restapi.PathAuthCallback, MaxConnsPerIdentity: cfg.MaxConnsPerIdentity,
	}, identity.Deps{DB: s.db, Cipher: cipher, Relations: s.rel, Audit: s.audit, Metrics: reg, Logger: log, Clock: cfg.Clock}); err != nil {
		return err
	}
	s.registry = controllers.NewRegistry(s.db, cipher, log)
	// Never the broker itself as one of its controllers: its UUID, where
	// it listens (as configured and as bound) and where clients reach it.
	s.registry.SetSelf(controllers.Self{UUID: s.uuid, Addresses: []string{s.Addr(), cfg.Listen, s.cfg.PublicAddress}})
	if err := reg.Register(newModelsCollector(s.db.ControllerLoads, log)); err != nil {
		return fmt.Errorf("register jimm_models: %w", err)
	}
	s.pool = controllers.NewPool(s.registry.Resolve, jujuapi.ConnOptions{}, log)
	healthMetrics, err := controllers.NewHealthMetrics(reg)
	if err != nil {
		return err
	}
	if s.health, err = controllers.NewHealth(controllers.HealthConfig{
		Interval: cfg.HealthInterval, Pool: s.pool, Logger: log, Metrics: healthMetrics,
		OnChange: func(name string, up bool) {
			if up {
				// A controller that comes up gets the broker's model
				// defaults before it is asked for a model.
				go s.clouds.ControllerUp(context.WithoutCancel(ctx), name)
			} else if s.proxy != nil {
				// Calls in flight there are answered "try again" now,
				// not left waiting on a controller that may never answer.
				s.proxy.ControllerDown(name)
			}
		},
	}); err != nil {
		return err
	}
	if s.routes, err = routing.New(routing.Deps{
		DB: s.db, Pool: s.pool, Relations: s.rel, Metrics: reg, Logger: log, Clock: cfg.Clock,
	}); err != nil {
		return err
	}
	s.rel.OnChange(s.routes.AccessChanged)
	hub, err := summaries.New(summaries.Deps{DB: s.db, Routes: s.routes, Identity: s.identity, ControllerName: cfg.ControllerName, Metrics: reg, Logger: log})
	if err != nil {
		return err
	}
	s.routes.OnChange(hub.ModelChanged)
	s.rel.OnChange(hub.AccessChanged)
	s.load = load.New(load.Deps{
		DB: s.db, Controllers: s.registry.List, Up: s.health.Up, ReplicaID: replicaID, Interval: cfg.LoadInterval,
		Controller: func(ctx context.Context, name string) (load.Controller, error) {
			c, err := s.pool.Get(ctx, name)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		Logger: log, Clock: cfg.Clock,
	})
	if s.migrations, err = migration.New(migration.Deps{
		DB: s.db, Routes: s.routes, Registry: s.registry, Up: s.health.Up, ReplicaID: replicaID,
		RefreshLoad: s.load.Refresh,
		ModelConfig: func(ctx context.Context, controller, uuid string) (map[string]any, error) {
			ep, creds, err := s.registry.Resolve(ctx, controller)
			if err != nil {
				return nil, err
			}
			c, err := controllers.ConnectModel(ctx, ep, uuid, creds, jujuapi.ConnOptions{})
			if err != nil {
				return nil, err
			}
			defer c.Close()
			return c.ModelConfig(ctx)
		},
		Audit: func(ev migration.AuditEvent) {
			s.audit.Add(audit.Event{Time: ev.Time, Identity: "jimm", Model: ev.Model, Facade: "Fleet", Method: ev.Method, Result: ev.Result, Error: ev.Error})
		},
		Controller: func(ctx context.Context, name string) (migration.Controller, error) {
			c, err := s.pool.Get(ctx, name)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		Metrics: reg, Logger: log, Clock: cfg.Clock,
	}); err != nil {
		return err
	}
	if s.proxy, err = proxy.New(proxy.Deps{
		Routes: s.routes, Identity: s.identity, Audit: s.audit, BrokerUUID: s.uuid, Servers: servers,
		JujuVersion: cfg.JujuVersion, DetachAfter: cfg.ProxyDetachAfter, RPCs: s.metrics.rpcs,
		MaxCalls: cfg.MaxCallsInFlight, MaxCallBytes: cfg.MaxCallBytesInFlight, CallTimeout: cfg.CallTimeout,
		Metrics: reg, Logger: log, Clock: cfg.Clock,
	}); err != nil {
		return err
	}
	s.modelHTTP = modelhttp.New(modelhttp.Deps{
		Routes: s.routes, Identity: s.identity, Audit: s.audit, Logger: log, Clock: cfg.Clock,
		DialStream: func(ctx context.Context, m *db.Model, path string) (*jujuapi.Conn, error) {
			ep, creds, err := s.registry.Resolve(ctx, m.Controller.Name)
			if err != nil {
				return nil, err
			}
			return ep.DialAs(ctx, path, creds, modelhttp.StreamConnOptions)
		},
		HTTPEndpoint: func(ctx context.Context, m *db.Model) (controllers.Endpoint, controllers.Credentials, error) {
			return s.registry.Resolve(ctx, m.Controller.Name)
		},
	})
	s.clouds = clouds.New(clouds.Deps{DB: s.db, Identity: s.identity, Relations: s.rel, Registry: s.registry, Pool: s.pool,
		Up: s.health.Up, Sealer: cipher, Logger: log, Clock: cfg.Clock})
	if s.facades, err = facades.New(facades.Deps{
		DB: s.db, Routes: s.routes, Identity: s.identity, Relations: s.rel, Audit: s.audit,
		Registry: s.registry, Pool: s.pool, Migrations: s.migrations, Summaries: hub, Up: s.health.Up,
		Clouds:     s.clouds,
		BrokerUUID: s.uuid, Servers: servers, PublicAddress: s.cfg.PublicAddress, CACert: string(s.caCertPEM),
		JujuVersion: cfg.JujuVersion, ControllerName: cfg.ControllerName, ModelCreateTimeout: cfg.ModelCreateTimeout, ReplicaID: replicaID, Conn: cfg.Conn,
		RPCs: s.metrics.rpcs, Metrics: reg, Logger: log, Clock: cfg.Clock,
	}); err != nil {
		return err
	}
	if s.reconciler, err = reconcile.New(reconcile.Deps{
		DB: s.db, Registry: s.registry, Pool: s.pool, Routes: s.routes, Relations: s.rel, Audit: s.audit,
		ReplicaID: replicaID, Interval: cfg.ReconcileInterval,
		// A creation's every step is bounded by the creation timeout
		// (preparing, then creating, on each controller in turn).
		CreateGrace: 2*cfg.ModelCreateTimeout + 30*time.Second,
		Metrics:     reg, Logger: log, Clock: cfg.Clock,
	}); err != nil {
		return err
	}
	s.admin = admin.New(admin.Deps{
		DB: s.db, Identity: s.identity, Relations: s.rel, Routes: s.routes, Migrations: s.migrations,
		Registry: s.registry, Health: s.health, Pool: s.pool, Audit: s.audit, Reconciler: s.reconciler,
		Logger: log, Clock: cfg.Clock,
		Limits: admin.Limits{MaxBody: cfg.MaxRequestBody, MaxBodyUnauthenticated: cfg.MaxRequestBodyUnauthenticated},
	})
	return nil
}

// sharedTLSSetting is the settings row holding the TLS material every
// replica serves (pki.Shared as JSON, sealed with the secrets key).
const sharedTLSSetting = "tls-shared"

// loadTLS loads the configured certificate, or else the CA and server
// certificate every replica shares: generated once (by the first replica
// to start, from the CA already in its data directory if it has one) and
// stored encrypted in the database. The CA certificate is written to
// DataDir/tls/ca.crt for operators and clients. A replica whose public
// host the shared certificate does not name serves one of its own,
// issued from the shared CA.
func (s *Server) loadTLS(ctx context.Context, cipher *authz.Cipher) error {
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		return nil
	}
	host, _, _ := net.SplitHostPort(s.cfg.PublicAddress)
	hosts := []string{host}
	dir := filepath.Join(s.cfg.DataDir, "tls")
	// What this replica would store if it is the first: the CA of its
	// data directory (from before replicas shared one), else a new one.
	seed, err := pki.LoadCA(dir)
	if err != nil {
		s.log.Warn("the CA in the data directory cannot be used; a shared CA is used instead", "err", err)
		seed = nil
	}
	mine, err := pki.NewShared(seed, hosts)
	if err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	sealed, err := sealShared(cipher, mine)
	if err != nil {
		return err
	}
	// Insert if absent, then read back: of replicas starting together,
	// the first insert wins and every one reads it.
	stored, err := s.db.Setting(ctx, sharedTLSSetting, func() string { return sealed })
	if err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	shared, err := openShared(cipher, stored)
	if err != nil {
		return err
	}
	bundle, reissued, err := shared.Bundle(hosts)
	if err != nil {
		return fmt.Errorf("broker certificate (shared, from the database): %w", err)
	}
	if reissued != "" {
		s.log.Info("serving a certificate of this replica's own, from the shared CA", "reason", reissued, "public-host", host)
	}
	if seed != nil && !seed.Cert.Equal(bundle.CACert) {
		s.log.Warn("the data directory's CA differs from the one the replicas share: serving the shared one (clients that trusted the old CA need the new ca.crt)", "dir", dir)
	}
	if err := pki.WriteCACert(dir, bundle.CACertPEM); err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	s.tlsConfig, s.caCertPEM = bundle.TLSConfig(), bundle.CACertPEM
	return nil
}

// sharedTLSAAD names the shared TLS material to the cipher.
const sharedTLSAAD = "setting:" + sharedTLSSetting

func sealShared(cipher *authz.Cipher, sh *pki.Shared) (string, error) {
	raw, err := json.Marshal(sh)
	if err != nil {
		return "", fmt.Errorf("encode the shared TLS material: %w", err)
	}
	sealed, err := cipher.Seal(raw, sharedTLSAAD)
	if err != nil {
		return "", fmt.Errorf("seal the shared TLS material: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sealed), nil
}

func openShared(cipher *authz.Cipher, stored string) (*pki.Shared, error) {
	sealed, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, fmt.Errorf("the shared TLS material in the database (setting %q) is not base64: %w", sharedTLSSetting, err)
	}
	raw, err := cipher.Open(sealed, sharedTLSAAD)
	if err != nil {
		return nil, fmt.Errorf("the shared TLS material in the database (setting %q): %w (is every replica given the same secrets key?)", sharedTLSSetting, err)
	}
	var sh pki.Shared
	if err := json.Unmarshal(raw, &sh); err != nil {
		return nil, fmt.Errorf("decode the shared TLS material (setting %q): %w", sharedTLSSetting, err)
	}
	return &sh, nil
}

// registerAdmissionMetrics exports what a's limits refused, and the
// descriptors it watches.
func registerAdmissionMetrics(reg *prometheus.Registry, a *jujuapi.Admission) error {
	refused := func(reason string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jimm_connections_refused_total", Help: "Client connections refused or closed before login, by reason: per-address (HTTP 429), descriptors (HTTP 503 near the open-file limit), shed (closed at accept, almost no descriptor left), login-timeout (no login in time).",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 { return float64(f()) })
	}
	perAddr := func() int64 { n, _, _ := a.Refused(); return n }
	fds := func() int64 { _, n, _ := a.Refused(); return n }
	shed := func() int64 { _, _, n := a.Refused(); return n }
	for _, c := range []prometheus.Collector{
		refused("per-address", perAddr), refused("descriptors", fds), refused("shed", shed), refused("login-timeout", jujuapi.LoginTimeouts),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jimm_fd_reserve", Help: "File descriptors kept for the broker's own use (0: none)."},
			func() float64 { _, _, r := a.Descriptors(); return float64(r) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register admission metrics: %w", err)
		}
	}
	return nil
}

// hostPorts is the broker's public address as login results give it.
func hostPorts(addr string) ([][]params.HostPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("public address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("public address %q: bad port", addr)
	}
	typ := "hostname"
	if ip := net.ParseIP(host); ip != nil {
		typ = "ipv4"
		if ip.To4() == nil {
			typ = "ipv6"
		}
	}
	return [][]params.HostPort{{{Address: params.Address{Value: host, Type: typ, Scope: "public"}, Port: p}}}, nil
}

// UUID is the broker's controller UUID, the one clients see.
func (s *Server) UUID() string { return s.uuid }

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// PublicAddress is the address clients are told to use.
func (s *Server) PublicAddress() string { return s.cfg.PublicAddress }

// MetricsAddr is the metrics listener's address, or "".
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// CACertPEM is the CA of the broker's generated certificate (nil when a
// certificate was configured).
func (s *Server) CACertPEM() []byte { return s.caCertPEM }

// AddController verifies and registers a controller, and starts checking
// its health (as POST /v1/controllers does).
func (s *Server) AddController(ctx context.Context, req restapi.AddControllerRequest) (restapi.Controller, error) {
	return s.admin.AddController(ctx, req)
}

// handler returns the broker's HTTP routes.
func (s *Server) handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/api", func(c echo.Context) error {
		r := c.Request()
		s.upgrade(s.serveCtx, c, "api", s.cfg.Conn, func(ctx context.Context, conn *jujuapi.Conn, done func()) {
			defer done()
			s.facades.Serve(ctx, conn, r.RemoteAddr)
		})
		return nil
	})
	e.GET("/model/:uuid/api", func(c echo.Context) error {
		uuid, remote := c.Param("uuid"), c.Request().RemoteAddr
		s.upgrade(s.serveCtx, c, "model", s.cfg.Conn, func(ctx context.Context, conn *jujuapi.Conn, done func()) {
			s.proxy.Serve(ctx, conn, uuid, remote, done)
		})
		return nil
	})
	e.GET("/model/:uuid/log", func(c echo.Context) error {
		r := c.Request()
		req := modelhttp.StreamRequest{ModelUUID: c.Param("uuid"), Path: "/log", Query: r.URL.RawQuery, Remote: r.RemoteAddr}
		req.User, req.Password, req.HasAuth = r.BasicAuth()
		opts := modelhttp.StreamConnOptions
		opts.MaxFrameSize = s.cfg.Conn.MaxFrameSize
		opts.WriteTimeout = s.cfg.Conn.WriteTimeout
		s.upgrade(s.streamCtx, c, "model-log", opts, func(ctx context.Context, conn *jujuapi.Conn, done func()) {
			s.modelHTTP.ServeStream(ctx, conn, req, done)
		})
		return nil
	})
	// A model's plain HTTP endpoints: local charm uploads (the juju
	// client tries the object store's PUT first, then POST /charms) and
	// applications' resources.
	modelHTTP := func(c echo.Context) error {
		s.modelHTTP.ServeModelHTTP(c.Response(), c.Request(), c.Param("uuid"))
		return nil
	}
	e.Match([]string{http.MethodGet, http.MethodPost}, "/model/:uuid/charms", modelHTTP)
	e.Match([]string{http.MethodGet, http.MethodPut}, "/model-:uuid/charms/:object", modelHTTP)
	e.Match([]string{http.MethodGet, http.MethodPut}, "/model/:uuid/applications/:application/resources/:resource", modelHTTP)
	// Probes on the API listener too, for a load balancer that sees only
	// it; the reasons of a failed check are for the metrics listener.
	e.GET("/healthz", echo.WrapHandler(http.HandlerFunc(s.probes.Healthz)))
	e.GET("/readyz", echo.WrapHandler(http.HandlerFunc(s.probes.ReadyzBrief)))
	keys := echo.WrapHandler(s.identity.Keys())
	e.GET(authz.JWKSPath, keys)
	e.HEAD(authz.JWKSPath, keys)
	s.admin.Mount(e)
	return e
}

// upgrade takes a WebSocket connection over from net/http and serves it
// off the handler's goroutine, so net/http releases its per-request state,
// counting it in the metrics. serve must call done exactly once, when the
// connection has ended; it may hand the connection on to goroutines of its
// own and return first. Once the server is shutting down, the connection
// is closed instead.
func (s *Server) upgrade(ctx context.Context, c echo.Context, endpoint string, opts jujuapi.ConnOptions, serve func(ctx context.Context, conn *jujuapi.Conn, done func())) {
	// Refused before the upgrade, cheaply: a source address over its cap,
	// or the process near its descriptor limit.
	release, refusal := s.admission.Admit(c.Request().RemoteAddr)
	if refusal != nil {
		s.log.Debug("refused a connection", "endpoint", endpoint, "remote", c.Request().RemoteAddr, "status", refusal.Status, "reason", refusal.Reason)
		refusal.Write(c.Response())
		return
	}
	conn, err := jujuapi.Upgrade(c.Response(), c.Request(), opts)
	if err != nil {
		release()
		s.log.Debug("rejected a connection", "endpoint", endpoint, "path", c.Request().URL.Path, "err", err)
		return
	}
	if !s.conns.Add() {
		release()
		conn.CloseWith(jujuapi.CloseGoingAway, "broker shutting down")
		return
	}
	// Each endpoint calls conn.LoggedIn() once its client has logged in.
	conn.RequireLogin(s.cfg.LoginTimeout)
	g := s.metrics.connections.WithLabelValues(endpoint)
	g.Inc()
	var once sync.Once
	done := func() {
		once.Do(func() {
			g.Dec()
			release()
			s.conns.Done()
		})
	}
	go serve(ctx, conn, done)
}

// Serve answers until ctx ends, then shuts down: see drain.
func (s *Server) Serve(ctx context.Context) error {
	// The connections outlive ctx by the shutdown's grace.
	connCtx, endConns := context.WithCancel(context.WithoutCancel(ctx))
	defer endConns()
	streamCtx, endStreams := context.WithCancel(connCtx)
	defer endStreams()
	s.serveCtx, s.streamCtx = connCtx, streamCtx
	if err := controllers.Follow(ctx, s.db, s.registry, s.health, s.pool, s.log); err != nil {
		return err
	}
	// Other replicas' changes reach this one's routing table and keys.
	if err := s.routes.Run(ctx); err != nil {
		return err
	}
	err := s.db.Listen(ctx, db.KeysChannel, func(string) {
		if err := s.identity.ReloadKeys(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot reload signing keys", "err", err)
		}
	})
	if err != nil {
		return err
	}
	// Sessions logged out and identities disabled on any replica end
	// their connections here too.
	if err := s.identity.RunSessions(ctx); err != nil {
		return err
	}
	s.migrations.Start(ctx)
	go s.reconciler.Run(ctx)
	go s.load.Run(ctx)
	go s.identity.RunKeyRotation(ctx)
	go s.identity.RunSessionPurge(ctx)
	go s.audit.Run()
	go s.audit.Purge(ctx, s.cfg.AuditRetention)
	srv := &http.Server{
		Handler:           s.handler(),
		TLSConfig:         s.tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		// A kept-alive connection with no request holds a descriptor.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// Requests in flight when the shutdown starts may finish.
		BaseContext: func(net.Listener) context.Context { return connCtx },
	}
	errc := make(chan error, 2)
	go s.admission.Run(ctx)
	go func() {
		errc <- srv.Serve(tls.NewListener(jujuapi.GatheringListener(s.admission.Listener(s.listener)), s.tlsConfig))
	}()
	var msrv *http.Server
	if s.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
		s.probes.Mount(mux)
		// Profiles for operators, on the operators' listener only.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- msrv.Serve(s.metricsLn) }()
	}
	go s.health.Run(ctx)
	s.probes.SetServing()
	s.log.Info("broker serving", "address", s.Addr(), "public-address", s.cfg.PublicAddress, "uuid", s.uuid, "metrics", s.MetricsAddr(), "version", s.cfg.Version)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.drain(srv, endStreams, endConns)
	if msrv != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		msrv.Shutdown(shutdownCtx)
		cancel()
	}
	s.modelHTTP.CloseIdleHTTP()
	// Write what the last calls queued, a few seconds at most.
	auditCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.audit.Close(auditCtx)
	s.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// drain shuts the API listener down within the shutdown grace. The
// replica reports itself not ready (so that load balancers stop sending
// it connections) and stops accepting them; requests in flight on plain
// HTTPS finish; log streams end at once, and every /api and model
// connection is handed back to its client (WebSocket status 1012,
// service restart: it reconnects, to another replica) as soon as it has
// no call in flight, its calls answered first. What is still open at the
// end of the grace is closed (status 1001). The metrics listener, with
// /healthz and /readyz, answers until the end.
func (s *Server) drain(srv *http.Server, endStreams, endConns context.CancelFunc) {
	grace := max(s.cfg.ShutdownGrace, 0)
	start := time.Now()
	open := s.conns.Len()
	s.probes.StartDrain()
	s.log.Info("shutting down: draining connections", "connections", open, "grace", grace)
	graceCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		srv.Shutdown(graceCtx)
		close(stopped)
	}()
	s.conns.Close()
	endStreams()
	s.facades.Drain()
	s.proxy.Drain()
	drained := s.conns.Wait(graceCtx)
	left := s.conns.Len()
	endConns()
	<-stopped
	s.conns.Drain()
	if drained {
		s.log.Info("drained every connection", "connections", open, "took", time.Since(start).Round(time.Millisecond))
	} else {
		s.log.Warn("closed the connections still busy at the end of the shutdown grace", "connections", open, "closed", left, "grace", grace)
	}
}

func (s *Server) close() {
	if s.rel != nil {
		s.rel.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
	if s.listener != nil {
		s.listener.Close()
	}
	if s.metricsLn != nil {
		s.metricsLn.Close()
	}
}
