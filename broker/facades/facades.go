package facades

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
	"github.com/jimmbroker/jimm/broker/clouds"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/broker/migration"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/broker/summaries"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Deps are the parts the facades work with.
type Deps struct {
	DB        *db.DB
	Routes    *routing.Table
	Identity  *identity.Service
	Relations *authz.Relations
	Audit     *audit.Log // nil: calls are not audited
	Registry  *controllers.Registry
	Pool      *controllers.Pool
	// Clouds answers for clouds, credentials and model defaults.
	Clouds *clouds.Service
	// Migrations runs the migrations juju migrate asks for.
	Migrations *migration.Manager
	// Summaries serves the model summary watchers.
	Summaries *summaries.Hub
	// Up reports whether the controller named name is up (health).
	Up func(name string) bool
	// BrokerUUID is the broker's controller UUID, the one clients see.
	BrokerUUID string
	// Servers is the broker's own address, the only one clients are told.
	Servers [][]params.HostPort
	// PublicAddress is host:port clients reach the broker at; CACert the
	// CA of its certificate, when it made its own (else "").
	PublicAddress, CACert string
	// JujuVersion is the Juju version the broker reports.
	JujuVersion string
	// ControllerName is the broker's name in its controller config.
	ControllerName string
	// ModelCreateTimeout bounds how long a controller may take to create a
	// model before the next candidate is tried.
	ModelCreateTimeout time.Duration
	// ReplicaID names this broker replica in the model creations it
	// records.
	ReplicaID string
	// Conn bounds each connection.
	Conn jujuapi.ConnOptions
	// RPCs is jimm_rpc_duration_seconds.
	RPCs *prometheus.HistogramVec
	// Metrics registers the facades' own metrics (nil: not registered).
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	Clock   clock.Clock // nil: the system clock
}

// API serves /api connections.
type API struct {
	drain     chan struct{} // closed by Drain
	drainOnce sync.Once

	db                 *db.DB
	routes             *routing.Table
	identity           *identity.Service
	rel                *authz.Relations
	audit              *audit.Log
	registry           *controllers.Registry
	pool               *controllers.Pool
	clouds             *clouds.Service
	migrations         *migration.Manager
	summaries          *summaries.Hub
	up                 func(name string) bool
	brokerUUID         string
	servers            [][]params.HostPort
	publicAddress      string
	caCert             string
	jujuVersion        string
	controllerName     string
	modelCreateTimeout time.Duration
	replicaID          string
	conn               jujuapi.ConnOptions
	log                *slog.Logger
	clock              clock.Clock

	rpcs       *prometheus.HistogramVec
	placements *prometheus.CounterVec

	root    *root
	facades []params.FacadeVersions
}

// New builds the facades.
func New(deps Deps) (*API, error) {
	a := &API{drain: make(chan struct{}),
		db: deps.DB, routes: deps.Routes, identity: deps.Identity, rel: deps.Relations, audit: deps.Audit,
		registry: deps.Registry, pool: deps.Pool, clouds: deps.Clouds, migrations: deps.Migrations, summaries: deps.Summaries, up: deps.Up, brokerUUID: deps.BrokerUUID, servers: deps.Servers, publicAddress: deps.PublicAddress, caCert: deps.CACert,
		jujuVersion: deps.JujuVersion, controllerName: deps.ControllerName, modelCreateTimeout: deps.ModelCreateTimeout, replicaID: deps.ReplicaID, conn: deps.Conn,
		log: deps.Logger, clock: clock.Or(deps.Clock), rpcs: deps.RPCs,
		placements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_placements_total", Help: "Model placements, by controller and result (ok, controller-error, refused).",
		}, []string{"controller", "result"}),
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.rpcs == nil {
		a.rpcs = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jimm_rpc_duration_seconds"}, []string{"facade", "method", "code"})
	}
	if deps.Metrics != nil {
		if err := deps.Metrics.Register(a.placements); err != nil {
			return nil, fmt.Errorf("register facade metrics: %w", err)
		}
	}
	a.root = a.buildRoot()
	for _, v := range a.root.Versions() {
		a.facades = append(a.facades, params.FacadeVersions{Name: v.Name, Versions: v.Versions})
	}
	return a, nil
}

// DrainReason is the close reason an /api connection gets when the broker
// replica serving it shuts down.
const DrainReason = "broker replica shutting down: reconnect"

// Drain hands every /api connection back to its client, for a shutdown:
// each is closed (WebSocket status 1012, service restart) as soon as no
// call is in flight on it but watchers' Next, at once if none is.
func (a *API) Drain() { a.drainOnce.Do(func() { close(a.drain) }) }

// waitsForEvents reports a watcher's Next: it waits for a change, for as
// long as it takes, and a drain does not wait for it.
func waitsForEvents(msg *jujuapi.Message) bool { return msg.ID != "" && msg.Request == "Next" }

// Serve answers one client's /api connection from remote until it ends.
// ctx is the server's: background work a call starts (looking for a model
// a controller created late) runs under it, beyond the connection.
func (a *API) Serve(ctx context.Context, conn *jujuapi.Conn, remote string) {
	s := &session{api: a, conn: conn, remote: remote, bg: ctx, log: a.log.With("remote", remote)}
	jujuapi.Serve(ctx, conn, s, jujuapi.ServerOptions{ConnOptions: a.conn, Logger: s.log,
		Drain: a.drain, DrainReason: DrainReason, Waits: waitsForEvents})
	s.stopWatchers()
	s.mu.Lock()
	release := s.release
	s.mu.Unlock()
	if release != nil {
		release()
	}
}

// session is one client connection to /api.
type session struct {
	api    *API
	conn   *jujuapi.Conn
	remote string
	bg     context.Context
	log    *slog.Logger

	mu       sync.Mutex
	id       *identity.Identity // nil until login
	release  func()             // forgets the login's tracking (identity.Track)
	device   *authz.DeviceLogin // from LoginDevice, until GetDeviceSessionToken
	watchers watchers
}

// ServeRequest implements jujuapi.Handler.
func (s *session) ServeRequest(ctx context.Context, req *jujuapi.Message) (any, error) {
	if s.caller() == nil && req.Type != "Admin" {
		return nil, jujuapi.UnknownVersionError(req.Type, req.Version)
	}
	a := s.api
	start := a.clock.Now()
	result, err := a.root.Serve(ctx, s, req)
	if req.Type == "Admin" && err == nil && s.caller() != nil {
		jujuapi.ConnFrom(ctx).LoggedIn() // the login deadline no longer applies
	}
	// A database failure is "try again" or an internal error, whatever the
	// call (a login's included): never the driver's words.
	err = dbfault.ForClient(err, s.logger())
	took := a.clock.Now().Sub(start)
	a.rpcs.WithLabelValues(req.Type, req.Request, jujuapi.ErrorCode(err)).Observe(took.Seconds())
	s.auditCall(req, start, took, result, err)
	return result, err
}

// asError is the wire error for one item of a bulk result: a database
// failure as dbfault.ForClient words it.
func (s *session) asError(err error) *jujuapi.Error {
	return dbfault.AsError(err, s.logger())
}

func (s *session) caller() *identity.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// logger is the connection's logger (naming the user once logged in).
func (s *session) logger() *slog.Logger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log
}

type root = jujuapi.Registry[*session]

// asCaller makes a facade method of a function that serves the
// connection's caller.
func asCaller[P, R any](fn func(ctx context.Context, caller *identity.Identity, p P) (R, error)) jujuapi.Method[*session] {
	return jujuapi.Typed(func(s *session, ctx context.Context, p P) (R, error) { return fn(ctx, s.caller(), p) })
}

// buildRoot lists the facades the broker answers on /api, with the
// versions a Juju 3.5 controller serves (jujuapi.Juju35), and Admin 4 for
// the logins only a broker answers.
func (a *API) buildRoot() *root {
	r := &root{}
	v := jujuapi.Juju35.Versions
	brokerLogins := []int{jujuapi.AdminSessionLoginVersion}
	r.Register("Admin", append(v("Admin"), jujuapi.AdminSessionLoginVersion), "Login", jujuapi.Typed((*session).login))
	r.Register("Admin", brokerLogins, "LoginWithSessionToken", jujuapi.Typed((*session).loginWithSessionToken))
	r.Register("Admin", brokerLogins, "LoginDevice", jujuapi.Typed((*session).loginDevice))
	r.Register("Admin", brokerLogins, "GetDeviceSessionToken", jujuapi.Typed((*session).getDeviceSessionToken))
	r.Register("Admin", brokerLogins, "LoginWithClientCredentials", jujuapi.Typed((*session).loginWithClientCredentials))
	r.Register("Pinger", v("Pinger"), "Ping", jujuapi.NoParams(func(*session, context.Context) (struct{}, error) { return struct{}{}, nil }))
	mm := v("ModelManager")
	r.Register("ModelManager", mm, "ListModels", jujuapi.Typed((*session).listModels))
	r.Register("ModelManager", mm, "ListModelSummaries", jujuapi.Typed((*session).listModelSummaries))
	r.Register("ModelManager", mm, "ModelInfo", jujuapi.Typed((*session).modelInfo))
	r.Register("ModelManager", mm, "CreateModel", jujuapi.Typed((*session).createModel))
	r.Register("ModelManager", mm, "DestroyModels", jujuapi.Typed((*session).destroyModels))
	r.Register("ModelManager", mm, "ModelStatus", jujuapi.Typed((*session).modelStatus))
	r.Register("ModelManager", mm, "ModifyModelAccess", jujuapi.Typed((*session).modifyModelAccess))
	r.Register("ModelManager", mm, "ModelDefaultsForClouds", asCaller(a.clouds.ModelDefaultsForClouds))
	r.Register("ModelManager", mm, "SetModelDefaults", asCaller(a.clouds.SetModelDefaults))
	r.Register("ModelManager", mm, "UnsetModelDefaults", asCaller(a.clouds.UnsetModelDefaults))
	cl := v("Cloud")
	r.Register("Cloud", cl, "Clouds", jujuapi.NoParams(func(s *session, ctx context.Context) (params.CloudsResult, error) {
		return a.clouds.Clouds(ctx, s.caller())
	}))
	r.Register("Cloud", cl, "Cloud", asCaller(a.clouds.Cloud))
	r.Register("Cloud", cl, "CloudInfo", asCaller(a.clouds.CloudInfo))
	r.Register("Cloud", cl, "UserCredentials", asCaller(a.clouds.UserCredentials))
	r.Register("Cloud", cl, "CredentialContents", asCaller(a.clouds.CredentialContents))
	r.Register("Cloud", cl, "UpdateCredentialsCheckModels", asCaller(a.clouds.UpdateCredentials))
	r.Register("Cloud", cl, "AddCredentials", asCaller(a.clouds.AddCredentials))
	r.Register("Cloud", cl, "RevokeCredentialsCheckModels", asCaller(a.clouds.RevokeCredentials))
	ctl := v("Controller")
	r.Register("Controller", ctl, "ControllerVersion", jujuapi.NoParams((*session).controllerVersion))
	r.Register("Controller", ctl, "GetControllerAccess", jujuapi.Typed((*session).getControllerAccess))
	r.Register("Controller", ctl, "IdentityProviderURL", jujuapi.NoParams((*session).identityProviderURL))
	r.Register("Controller", ctl, "ControllerConfig", jujuapi.NoParams((*session).controllerConfig))
	r.Register("Controller", ctl, "ModelConfig", jujuapi.NoParams((*session).controllerModelConfig))
	r.Register("Controller", ctl, "InitiateMigration", jujuapi.Typed((*session).initiateMigration))
	r.Register("Controller", ctl, "AllModels", jujuapi.NoParams((*session).allModels))
	r.Register("Controller", ctl, "MongoVersion", jujuapi.NoParams((*session).mongoVersion))
	r.Register("Controller", ctl, "ModelStatus", jujuapi.Typed((*session).modelStatus))
	r.Register("Controller", ctl, "ListBlockedModels", jujuapi.NoParams((*session).listBlockedModels))
	r.Register("Controller", ctl, "WatchModelSummaries", jujuapi.NoParams(func(s *session, _ context.Context) (params.SummaryWatcherID, error) {
		return s.watchSummaries(false)
	}))
	r.Register("Controller", ctl, "WatchAllModelSummaries", jujuapi.NoParams(func(s *session, _ context.Context) (params.SummaryWatcherID, error) {
		return s.watchSummaries(true)
	}))
	sw := v("ModelSummaryWatcher")
	r.Register("ModelSummaryWatcher", sw, "Next", jujuapi.Typed((*session).summaryNext))
	r.Register("ModelSummaryWatcher", sw, "Stop", jujuapi.Typed((*session).summaryStop))
	mu := v("ModelUpgrader")
	r.Register("ModelUpgrader", mu, "UpgradeModel", jujuapi.Typed((*session).upgradeModel))
	r.Register("ModelUpgrader", mu, "AbortModelUpgrade", jujuapi.Typed((*session).abortModelUpgrade))
	um := v("UserManager")
	r.Register("UserManager", um, "UserInfo", jujuapi.Typed((*session).userInfo))
	r.Register("UserManager", um, "AddUser", jujuapi.Typed((*session).addUser))
	r.Register("UserManager", um, "ModelUserInfo", jujuapi.Typed((*session).modelUserInfo))
	r.Register("UserManager", um, "DisableUser", jujuapi.Typed(func(s *session, ctx context.Context, p params.Entities) (params.ErrorResults, error) {
		return s.setDisabled(ctx, p, true)
	}))
	r.Register("UserManager", um, "EnableUser", jujuapi.Typed(func(s *session, ctx context.Context, p params.Entities) (params.ErrorResults, error) {
		return s.setDisabled(ctx, p, false)
	}))
	return r
}

// Admin: logins. Each method authenticates through identity, whatever the
// credential; a connection logs in once.

func (s *session) login(ctx context.Context, req params.LoginRequest) (params.LoginResult, error) {
	return s.loginWith(func() (*identity.Identity, error) { return s.api.identity.JujuLogin(ctx, s.remote, req) })
}

func (s *session) loginWithSessionToken(ctx context.Context, req params.LoginWithSessionTokenRequest) (params.LoginResult, error) {
	return s.loginWith(func() (*identity.Identity, error) {
		return s.api.identity.JujuSessionLogin(ctx, s.remote, req.SessionToken)
	})
}

func (s *session) loginWithClientCredentials(ctx context.Context, req params.LoginWithClientCredentialsRequest) (params.LoginResult, error) {
	return s.loginWith(func() (*identity.Identity, error) {
		return s.api.identity.ClientCredentials(ctx, s.remote, req.ClientID, req.ClientSecret)
	})
}

// loginWith logs the connection in as who authenticate says, once.
func (s *session) loginWith(authenticate func() (*identity.Identity, error)) (params.LoginResult, error) {
	if s.caller() != nil {
		return params.LoginResult{}, jujuapi.ErrLoggedIn
	}
	id, err := authenticate()
	if err != nil {
		return params.LoginResult{}, err
	}
	// The connection ends with the login's session, or when its identity
	// is disabled; and counts toward its identity's connections.
	release, err := s.api.identity.Track(id, func(reason string) {
		s.conn.CloseWith(identity.CloseSessionEnded, reason)
	})
	if err != nil {
		return params.LoginResult{}, err
	}
	s.mu.Lock()
	if s.id != nil { // another login won the race
		s.mu.Unlock()
		release()
		return params.LoginResult{}, jujuapi.ErrLoggedIn
	}
	s.id, s.release = id, release
	s.log = s.log.With("user", id.Name)
	s.mu.Unlock()
	a := s.api
	// What the broker says at login: its own identity and address, never
	// a controller's.
	return params.LoginResult{
		ControllerTag: jujuapi.ControllerTag(a.brokerUUID).String(),
		Servers:       a.servers,
		ServerVersion: a.jujuVersion,
		Facades:       a.facades,
		UserInfo: &params.AuthUserInfo{
			DisplayName:      id.Name,
			Identity:         id.UserTag(),
			ControllerAccess: id.ControllerAccess(),
		},
	}, nil
}

// setDisabled is UserManager.DisableUser (disabled) and EnableUser, for
// broker administrators: a disabled identity's connections are closed on
// every replica and it cannot log in until enabled again.
func (s *session) setDisabled(ctx context.Context, p params.Entities, disabled bool) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Entities))}
	for i, e := range p.Entities {
		tag, err := jujuapi.ParseUserTag(e.Tag)
		if err == nil {
			err = s.api.identity.SetDisabled(ctx, s.caller(), tag.ID, disabled)
		}
		if err != nil {
			out.Results[i].Error = s.asError(err)
		}
	}
	return out, nil
}

// Admin(4) on /api: the Juju client's device login.

func (s *session) loginDevice(ctx context.Context, _ struct{}) (params.LoginDeviceResponse, error) {
	if s.caller() != nil {
		return params.LoginDeviceResponse{}, jujuapi.ErrLoggedIn
	}
	d, err := s.api.identity.StartDevice(ctx, s.remote)
	if err != nil {
		return params.LoginDeviceResponse{}, err
	}
	s.mu.Lock()
	s.device = d
	s.mu.Unlock()
	jujuapi.ConnFrom(ctx).ExtendLoginUntil(d.Expiry) // the person has until the code expires
	return params.LoginDeviceResponse{VerificationURI: d.VerificationURI, UserCode: d.UserCode}, nil
}

func (s *session) getDeviceSessionToken(ctx context.Context, _ struct{}) (params.GetDeviceSessionTokenResponse, error) {
	s.mu.Lock()
	d := s.device
	s.device = nil
	s.mu.Unlock()
	return s.api.identity.DeviceSessionToken(ctx, s.remote, d)
}

// auditCall records a state-changing call the broker answered on /api.
// The model is the one the call names, if it names one.
func (s *session) auditCall(req *jujuapi.Message, start time.Time, took time.Duration, result any, err error) {
	if req.Type == "Admin" || !audit.ChangesState(req.Type, req.Request) {
		return // logins are audited by identity
	}
	ev := audit.Event{Time: start, Remote: audit.Source(s.remote), Facade: req.Type, Method: req.Request, Duration: took}
	if id := s.caller(); id != nil {
		ev.Identity = id.Name
	}
	ev.Result, ev.Error = audit.Result(err)
	switch r := result.(type) {
	case params.ModelInfo:
		ev.Model = r.UUID
	case *params.ModelInfo:
		if r != nil {
			ev.Model = r.UUID
		}
	case params.ErrorResults:
		ev.Result, ev.Error = audit.BulkResult(r, ev.Result, ev.Error)
	case *params.ErrorResults:
		if r != nil {
			ev.Result, ev.Error = audit.BulkResult(*r, ev.Result, ev.Error)
		}
	}
	if ev.Model == "" {
		ev.Model = audit.ModelNamed(req.Params)
	}
	s.api.audit.Add(ev)
}
