package broker

import (
	"context"
	"crypto/tls"
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
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/admin"
	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/clouds"
	"github.com/jimmbroker/jimm/broker/facades"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/migration"
	"github.com/jimmbroker/jimm/broker/modelhttp"
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

	serveCtx context.Context
	conns    jujuapi.ServingGroup
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
	if err := s.loadTLS(); err != nil {
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
	if cfg.MetricsListen != "" {
		if s.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return nil, fmt.Errorf("metrics listener on %s: %w", cfg.MetricsListen, err)
		}
	}
	ok = true
	return s, nil
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
		OIDC: cfg.OIDC, OIDCRedirectURL: "https://" + s.cfg.PublicAddress + restapi.PathAuthCallback,
	}, identity.Deps{DB: s.db, Cipher: cipher, Relations: s.rel, Audit: s.audit, Metrics: reg, Logger: log, Clock: cfg.Clock}); err != nil {
		return err
	}
	s.registry = controllers.NewRegistry(s.db, cipher, log)
	// Never the broker itself as one of its controllers: its UUID, where
	// it listens (as configured and as bound) and where clients reach it.
	s.registry.SetSelf(controllers.Self{UUID: s.uuid, Addresses: []string{s.Addr(), cfg.Listen, s.cfg.PublicAddress}})
	if err := reg.Register(newModelsCollector(s.registry.ModelCountsByName, log)); err != nil {
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
	if s.migrations, err = migration.New(migration.Deps{
		DB: s.db, Routes: s.routes, Registry: s.registry, Up: s.health.Up, ReplicaID: replicaID,
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
	})
	return nil
}

// loadTLS loads the configured certificate, or generates (once) a CA and a
// certificate with SAN juju-apiserver in the data directory.
func (s *Server) loadTLS() error {
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		return nil
	}
	host, _, _ := net.SplitHostPort(s.cfg.PublicAddress)
	bundle, err := pki.LoadOrCreate(filepath.Join(s.cfg.DataDir, "tls"), []string{host})
	if err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	s.tlsConfig, s.caCertPEM = bundle.TLSConfig(), bundle.CACertPEM
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
		s.upgrade(c, "api", s.cfg.Conn, func(ctx context.Context, conn *jujuapi.Conn, done func()) {
			defer done()
			s.facades.Serve(ctx, conn, r.RemoteAddr)
		})
		return nil
	})
	e.GET("/model/:uuid/api", func(c echo.Context) error {
		uuid, remote := c.Param("uuid"), c.Request().RemoteAddr
		s.upgrade(c, "model", s.cfg.Conn, func(ctx context.Context, conn *jujuapi.Conn, done func()) {
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
		s.upgrade(c, "model-log", opts, func(ctx context.Context, conn *jujuapi.Conn, done func()) {
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
func (s *Server) upgrade(c echo.Context, endpoint string, opts jujuapi.ConnOptions, serve func(ctx context.Context, conn *jujuapi.Conn, done func())) {
	conn, err := jujuapi.Upgrade(c.Response(), c.Request(), opts)
	if err != nil {
		s.log.Debug("rejected a connection", "endpoint", endpoint, "path", c.Request().URL.Path, "err", err)
		return
	}
	if !s.conns.Add() {
		conn.CloseWith(jujuapi.CloseGoingAway, "broker shutting down")
		return
	}
	g := s.metrics.connections.WithLabelValues(endpoint)
	g.Inc()
	var once sync.Once
	done := func() {
		once.Do(func() {
			g.Dec()
			s.conns.Done()
		})
	}
	go serve(s.serveCtx, conn, done)
}

// Serve answers until ctx ends, then closes every connection.
func (s *Server) Serve(ctx context.Context) error {
	s.serveCtx = ctx
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
	s.migrations.Start(ctx)
	go s.reconciler.Run(ctx)
	go s.identity.RunKeyRotation(ctx)
	go s.audit.Run()
	go s.audit.Purge(ctx, s.cfg.AuditRetention)
	srv := &http.Server{
		Handler:           s.handler(),
		TLSConfig:         s.tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(tls.NewListener(s.listener, s.tlsConfig)) }()
	var msrv *http.Server
	if s.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
		// Profiles for operators, on the operators' listener only.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- msrv.Serve(s.metricsLn) }()
	}
	go s.health.Run(ctx)
	s.log.Info("broker serving", "address", s.Addr(), "public-address", s.cfg.PublicAddress, "uuid", s.uuid, "metrics", s.MetricsAddr())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	if msrv != nil {
		msrv.Shutdown(shutdownCtx)
	}
	s.conns.Drain()
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
