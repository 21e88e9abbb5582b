package devcontroller

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/jwtauth"
	"github.com/jimmbroker/jimm/devcontroller/modellog"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
	"github.com/jimmbroker/jimm/jujuapi/pki"
)

// adminUser is the name of the controller's bootstrap user.
const adminUser = "admin"

// Controller is a running development controller.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	logs     *modellog.Logs // the models' logs
	pki      *pki.Bundle
	verifier *jwtauth.Verifier // nil when no token issuer is trusted
	// controllerRoot serves /api, modelRoot /model/<uuid>/api, agentRoot
	// the agents logged in on either.
	controllerRoot, modelRoot, agentRoot *root
	listener                             net.Listener
	servers                              [][]params.HostPort
	addrs                                []string

	// lastLogin holds users' last connection times, in memory only.
	lastLogin sync.Map // user name → time.Time
	// transferred holds, per model arriving by migration, the time of the
	// newest log record transferred (MigrationTarget.LatestLogTime).
	transferred sync.Map // model uuid → time.Time

	// serveCtx is Serve's context: API connections live until it ends.
	serveCtx context.Context
	conns    jujuapi.ServingGroup // API connections being served
	timers   sync.Map             // model uuid → *time.Timer removing a dying model
	// runners counts migration runners; they end with Serve's context.
	runners sync.WaitGroup
	closing chan struct{}

	// settingsV is the controller config in effect, agentBucket the token
	// bucket admitting agent logins; settingsMu serialises changes.
	settingsV   settingsHolder
	agentBucket bucketHolder
	settingsMu  sync.Mutex
	// agents runs the agents of this controller's models; agentSessions
	// counts the agent connections logged in here; localSecret marks the
	// connections of this controller's own agents.
	agents        *agentHost
	agentSessions agentSessions
	localSecret   string

	// feed keeps the watchers' store in step with the models; hooks ends
	// the units' simulated hooks.
	feed  *watchFeed
	hooks *hookRunner
}

// New prepares a controller: it opens (or creates) the data directory,
// certificates and state, starts listening, and writes controller.yaml.
// Call Serve to answer connections.
func New(ctx context.Context, cfg Config) (*Controller, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("controller config: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	host, _, _ := net.SplitHostPort(cfg.Listen)
	bundle, err := pki.LoadOrCreate(filepath.Join(cfg.DataDir, "tls"), []string{host})
	if err != nil {
		return nil, fmt.Errorf("controller %q certificates: %w", cfg.Name, err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "state.db"))
	if err != nil {
		return nil, fmt.Errorf("controller %q state: %w", cfg.Name, err)
	}
	logs, err := modellog.Open(filepath.Join(cfg.DataDir, "logs"), cfg.ModelLogRecords)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("controller %q model logs: %w", cfg.Name, err)
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", cfg.Name), store: st, logs: logs, pki: bundle,
		closing: make(chan struct{}), localSecret: randomPassword()}
	c.controllerRoot, c.modelRoot, c.agentRoot = buildRoots()
	c.feed, c.hooks = newWatchFeed(c), newHookRunner(c)
	st.OnModelChange(func(uuid string) {
		if c.agents != nil {
			c.agents.modelChanged(uuid)
		}
		c.feed.modelChanged(uuid)
		c.hooks.modelChanged(uuid)
	})
	if err := c.initState(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := c.ensureAgentPasswords(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := c.initSettings(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if cfg.TrustJWKSURL != "" {
		c.verifier, err = jwtauth.NewVerifier(jwtauth.Config{
			JWKSURL:   cfg.TrustJWKSURL,
			CACertPEM: cfg.TrustJWKSCA,
			Audience:  c.UUID(),
			Logger:    c.log,
		})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("controller %q token verifier: %w", cfg.Name, err)
		}
	}
	c.listener, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("controller %q: listen on %s: %w", cfg.Name, cfg.Listen, err)
	}
	c.setAddresses()
	c.agents = newAgentHost(c)
	if err := c.writeControllerFile(); err != nil {
		c.listener.Close()
		st.Close()
		return nil, err
	}
	c.resumeDyingModels()
	c.pruneModelLogs()
	c.pruneCharmArchives()
	c.feed.feedAll()
	return c, nil
}

// pruneModelLogs removes the logs of models that are no longer here (a
// stop between removing a model and its log leaves one).
func (c *Controller) pruneModelLogs() {
	stored, err := c.logs.Stored()
	if err != nil {
		c.log.Warn("cannot list model logs", "err", err)
		return
	}
	for _, uuid := range stored {
		if _, ok := c.store.Model(uuid); !ok {
			if err := c.logs.Remove(uuid); err != nil {
				c.log.Warn("cannot remove the log of a model that is gone", "uuid", uuid, "err", err)
			}
		}
	}
}

// initState creates the controller's identity, admin user and controller
// model on first start, and applies a changed admin password later.
func (c *Controller) initState(ctx context.Context) error {
	meta := c.store.Meta()
	if meta == nil {
		var err error
		meta, err = c.store.UpdateMeta(ctx, func(m *store.Meta) error {
			m.UUID = uuid.NewString()
			m.CreatedAt = time.Now().UTC()
			return nil
		})
		if err != nil {
			return fmt.Errorf("controller %q: create identity: %w", c.cfg.Name, err)
		}
	}
	if err := c.initAdmin(ctx); err != nil {
		return err
	}
	if err := c.ensureAdminCredential(ctx); err != nil {
		return err
	}
	for _, m := range c.store.Models() {
		if m.IsController {
			return nil
		}
	}
	m := c.newModel("controller", adminUser, c.cfg.Regions[0])
	m.UUID = meta.UUID // as in Juju, the controller model shares the controller's UUID
	m.IsController = true
	m.Credential, _ = c.modelCredential("", adminUser)
	c.addMachine(m, store.Base{Name: "ubuntu", Channel: "22.04"}, params.Constraints{})
	if err := c.store.CreateModel(ctx, m); err != nil {
		return fmt.Errorf("controller %q: create controller model: %w", c.cfg.Name, err)
	}
	return nil
}

// initAdmin makes sure the admin user exists and that controller.yaml will
// carry a password that logs in: the one given, else the one in the
// existing controller.yaml if it still matches, else a new one (a lost
// controller.yaml leaves no other way to learn it).
func (c *Controller) initAdmin(ctx context.Context) error {
	u, exists := c.store.User(adminUser)
	password := c.cfg.AdminPassword
	if password == "" && exists {
		f, err := ReadControllerFile(filepath.Join(c.cfg.DataDir, ControllerFileName))
		if err == nil && checkPassword(u.PasswordHash, f.AdminPassword) {
			c.cfg.AdminPassword = f.AdminPassword
			return nil
		}
		c.log.Warn("admin password unknown (controller.yaml missing or stale): setting a new one", "file", c.ControllerFilePath())
	}
	if password == "" {
		password = randomPassword()
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	_, err = c.store.UpdateUser(ctx, adminUser, true, func(u *store.User) error {
		u.PasswordHash = hash
		u.Access = store.AccessSuperuser
		if u.CreatedAt.IsZero() {
			u.DisplayName, u.CreatedBy, u.CreatedAt = adminUser, adminUser, time.Now().UTC()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("controller %q: set admin password: %w", c.cfg.Name, err)
	}
	c.cfg.AdminPassword = password
	return nil
}

func (c *Controller) setAddresses() {
	addr := c.listener.Addr().(*net.TCPAddr)
	host, _, _ := net.SplitHostPort(c.cfg.Listen)
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	hp := params.HostPort{Address: params.Address{Value: host, Type: addressType(host), Scope: "public"}, Port: addr.Port}
	c.servers = [][]params.HostPort{{hp}}
	c.addrs = []string{net.JoinHostPort(host, strconv.Itoa(addr.Port))}
}

func addressType(host string) string {
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return "hostname"
	case ip.To4() != nil:
		return "ipv4"
	default:
		return "ipv6"
	}
}

func (c *Controller) writeControllerFile() error {
	f := &ControllerFile{
		Name: c.cfg.Name, UUID: c.UUID(), APIAddresses: c.addrs, CACert: string(c.pki.CACertPEM),
		AdminUser: adminUser, AdminPassword: c.cfg.AdminPassword,
		Cloud: c.cfg.Cloud, CloudType: c.cfg.CloudType, CloudEndpoint: c.cfg.CloudEndpoint, Regions: c.cfg.Regions, AgentVersion: c.cfg.AgentVersion,
	}
	if err := f.write(c.ControllerFilePath()); err != nil {
		return fmt.Errorf("controller %q: %w", c.cfg.Name, err)
	}
	return nil
}

// UUID is the controller's UUID.
func (c *Controller) UUID() string { return c.store.Meta().UUID }

// Addr is the address the controller serves on, host:port.
func (c *Controller) Addr() string { return c.addrs[0] }

// CACertPEM is the CA that signed the controller's certificate.
func (c *Controller) CACertPEM() []byte { return c.pki.CACertPEM }

// AdminPassword is the admin user's password.
func (c *Controller) AdminPassword() string { return c.cfg.AdminPassword }

// ControllerFilePath is where controller.yaml was written.
func (c *Controller) ControllerFilePath() string {
	return filepath.Join(c.cfg.DataDir, ControllerFileName)
}

// Handler returns the controller's HTTP handler: the API endpoints.
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) { c.serveAPI(w, r, "") })
	mux.HandleFunc("GET /model/{uuid}/api", func(w http.ResponseWriter, r *http.Request) {
		c.serveAPI(w, r, r.PathValue("uuid"))
	})
	mux.HandleFunc("GET /model/{uuid}/log", func(w http.ResponseWriter, r *http.Request) {
		c.serveDebugLog(w, r, r.PathValue("uuid"))
	})
	mux.HandleFunc("GET /log", func(w http.ResponseWriter, r *http.Request) { c.serveDebugLog(w, r, "") })
	mux.HandleFunc("GET /migrate/logtransfer", c.serveLogTransfer)
	mux.HandleFunc("GET /dev/agents", c.serveDevAgents)
	mux.HandleFunc("/model/{uuid}/charms", c.serveModelCharms)
	mux.HandleFunc("/", c.serveCharmObjects) // /model-<uuid>/charms/<object>
	return mux
}

// Serve answers connections until ctx ends, then closes every connection
// and the state file.
func (c *Controller) Serve(ctx context.Context) error {
	srv := &http.Server{
		Handler:           c.Handler(),
		TLSConfig:         c.pki.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	c.serveCtx = ctx
	c.feed.start(ctx)
	c.hooks.start(ctx)
	c.agents.start(ctx)
	c.resumeMigrations()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(c.listener, srv.TLSConfig)) }()
	c.log.Info("development controller serving", "address", c.Addr(), "uuid", c.UUID())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	close(c.closing)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx) // hijacked API connections end with ctx
	c.runners.Wait()
	c.agents.shutdown()
	c.conns.Drain()
	c.feed.wait()
	c.hooks.wait()
	c.timers.Range(func(_, t any) bool { t.(*time.Timer).Stop(); return true })
	if cerr := errors.Join(c.store.Close(), c.logs.Close()); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (c *Controller) serveAPI(w http.ResponseWriter, r *http.Request, modelUUID string) {
	conn, err := jujuapi.Upgrade(w, r, c.cfg.Conn)
	if err != nil {
		c.log.Debug("rejected API connection", "err", err)
		return
	}
	s := &session{ctl: c, modelUUID: modelUUID, remote: r.RemoteAddr,
		local: subtle.ConstantTimeCompare([]byte(r.Header.Get(localAgentHeader)), []byte(c.localSecret)) == 1}
	if !c.conns.Add() {
		conn.CloseWith(jujuapi.CloseGoingAway, "controller shutting down")
		return
	}
	go func() {
		defer c.conns.Done()
		defer s.closed()
		jujuapi.Serve(c.serveCtx, conn, s, jujuapi.ServerOptions{ConnOptions: c.cfg.Conn, Logger: c.log})
	}()
}
