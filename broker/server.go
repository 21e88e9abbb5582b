package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
	"github.com/jimmbroker/jimm/jujuapi/pki"
)

// Server is a running broker.
type Server struct {
	cfg           Config
	log           *slog.Logger
	db            *db.DB
	uuid          string
	cipher        *authz.Cipher
	keys          *authz.KeySet
	keysMu        sync.Mutex // serialises reloads of keys
	adminPassword *authz.PasswordCheck
	oidc          *authz.OIDC // nil: no identity provider
	registry      *controllers.Registry
	pool          *controllers.Pool
	health        *controllers.Health
	routes        *routes
	metrics       *metrics
	loginSeen     sync.Map // identity name → *loginSeen
	throttle      *loginThrottle
	rel           *authz.Relations
	recheck       chan struct{}      // signalled when relations change
	replicaID     string             // this process, for migration leases
	routeChecks   singleflight.Group // one route check per model at a time
	auditLog      *auditLog

	cutoverMu sync.Mutex
	cutovers  map[string]chan struct{} // model uuid → closed when its cutover ends

	proxiesMu sync.Mutex
	proxies   map[string]map[*modelProxy]struct{} // model uuid → live proxied connections

	apiRoot    *apiRoot
	apiFacades []params.FacadeVersions

	tlsConfig *tls.Config
	caCertPEM []byte // the generated CA, when the broker made its own certificate
	listener  net.Listener
	metricsLn net.Listener
	publicHP  [][]params.HostPort

	serveCtx context.Context
	conns    jujuapi.ServingGroup
}

// New prepares a broker: opens and migrates the database, loads or creates
// its identity, signing key and certificate, and starts listening. Call
// Serve to answer.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(), replicaID: uuid.NewString(),
		cutovers: map[string]chan struct{}{}, proxies: map[string]map[*modelProxy]struct{}{}}
	var err error
	if s.cipher, err = authz.NewCipher(cfg.SecretsKey); err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	s.adminPassword = authz.NewPasswordCheck(cfg.AdminPassword)
	s.throttle = newLoginThrottle(cfg.LoginFailureBurst, cfg.LoginFailureRate)
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
	if err := s.loadKeys(ctx); err != nil {
		return nil, err
	}
	if err := s.loadTLS(); err != nil {
		return nil, err
	}
	s.routes = newRoutes(s.db)
	s.rel = authz.NewRelations(s.db, s.log)
	s.recheck = make(chan struct{}, 1)
	s.rel.OnChange(s.accessChanged)
	s.auditLog = newAuditLog(s.db, s.log, s.metrics.reg)
	s.registry = controllers.NewRegistry(s.db, s.cipher, s.log)
	s.pool = controllers.NewPool(s.registry.Resolve, jujuapi.ConnOptions{}, s.log)
	healthMetrics, err := controllers.NewHealthMetrics(s.metrics.reg)
	if err != nil {
		return nil, err
	}
	if s.health, err = controllers.NewHealth(controllers.HealthConfig{
		Interval: cfg.HealthInterval, Pool: s.pool, Logger: s.log, Metrics: healthMetrics,
	}); err != nil {
		return nil, err
	}
	s.apiRoot = buildAPIRoot()
	s.apiFacades = toParamsFacades(s.apiRoot.Versions())
	if s.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if s.cfg.PublicAddress == "" {
		s.cfg.PublicAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.listener.Addr().(*net.TCPAddr).Port))
	}
	if s.publicHP, err = hostPorts(s.cfg.PublicAddress); err != nil {
		return nil, err
	}
	if err := s.setupOIDC(); err != nil {
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

// servers is the broker's own address, the only one clients are told.
func (s *Server) servers() [][]params.HostPort { return s.publicHP }

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

// handler returns the broker's HTTP routes.
func (s *Server) handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/api", echo.WrapHandler(http.HandlerFunc(s.serveAPI)))
	e.GET("/model/:uuid/api", func(c echo.Context) error {
		s.serveModel(c.Response(), c.Request(), c.Param("uuid"))
		return nil
	})
	e.GET(authz.JWKSPath, echo.WrapHandler(s.keys))
	e.HEAD(authz.JWKSPath, echo.WrapHandler(s.keys))
	s.restRoutes(e)
	return e
}

// Serve answers until ctx ends, then closes every connection.
func (s *Server) Serve(ctx context.Context) error {
	s.serveCtx = ctx
	if err := s.trackControllers(ctx); err != nil {
		return err
	}
	// Other replicas' route changes invalidate this one's cache.
	err := s.db.Listen(ctx, routesChannel, func(uuid string) {
		if uuid == "" {
			s.routes.clear()
			s.rerouteAll()
			return
		}
		s.routes.forget(uuid)
		s.endCutover(uuid)
		s.reroute(uuid)
	})
	if err == nil {
		err = s.db.Listen(ctx, cutoverChannel, s.startCutover)
	}
	if err == nil {
		err = s.db.Listen(ctx, keysChannel, func(string) {
			if err := s.reloadKeys(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("cannot reload signing keys", "err", err)
			}
		})
	}
	if err != nil {
		return err
	}
	go s.adoptMigrations(ctx)
	go s.keyRotation(ctx)
	go s.recheckAccess(ctx)
	go s.auditLog.run()
	go s.auditLog.purge(ctx, s.cfg.AuditRetention)
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
	s.closeAudit() // write what the last calls queued
	s.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// trackControllers starts health checks of every registered controller and
// sets the model gauges.
func (s *Server) trackControllers(ctx context.Context) error {
	ctls, err := s.registry.List(ctx)
	if err != nil {
		return err
	}
	counts, err := s.registry.ModelCounts(ctx)
	if err != nil {
		return err
	}
	for _, c := range ctls {
		s.health.Track(c.Name)
		s.metrics.models.WithLabelValues(c.Name).Set(float64(counts[c.ID]))
	}
	return nil
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

// goServe runs one client connection off the HTTP handler's goroutine, so
// net/http releases its per-request state, and counts it in the metrics.
// serve must call done exactly once, when the connection has ended; it may
// hand the connection on to goroutines of its own and return first. Once
// the server is shutting down, conn is closed instead.
func (s *Server) goServe(endpoint string, conn *jujuapi.Conn, serve func(ctx context.Context, done func())) {
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
	go serve(s.serveCtx, done)
}

func now() time.Time                { return time.Now() }
func since(start time.Time) float64 { return time.Since(start).Seconds() }
