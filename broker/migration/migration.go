package migration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Controller is what a migration asks of a controller: a logged-in admin
// connection (controllers.Client is one).
type Controller interface {
	// User is the user the connection is logged in as.
	User() string
	ModelInfo(ctx context.Context, uuid string) (params.ModelInfo, error)
	ListModelSummaries(ctx context.Context, user string, all bool) ([]params.ModelSummaryResult, error)
	// ControllerConfig and SetControllerConfig read and change the
	// controller's config (the agent login settings a plan reads).
	ControllerConfig(ctx context.Context) (map[string]any, error)
	SetControllerConfig(ctx context.Context, cfg map[string]any) error
	Call(ctx context.Context, facade string, version int, method string, args, result any) error
}

// Registry is the registered controllers (controllers.Registry is one).
type Registry interface {
	Get(ctx context.Context, name string) (*db.Controller, error)
	List(ctx context.Context) ([]db.Controller, error)
	Resolve(ctx context.Context, name string) (controllers.Endpoint, controllers.Credentials, error)
	SetDeprecated(ctx context.Context, name string, deprecated bool) (*db.Controller, error)
}

// Deps are the parts a Manager works with.
type Deps struct {
	DB       *db.DB
	Routes   *routing.Table
	Registry Registry
	// Controller returns a logged-in connection to the controller named
	// name (the pool's).
	Controller func(ctx context.Context, name string) (Controller, error)
	// Up reports whether the controller named name is up (health).
	Up func(name string) bool
	// ReplicaID names this replica in migration leases.
	ReplicaID string
	// RefreshLoad reads every model's size afresh before a fleet plan
	// (nil: plans use the sizes last recorded).
	RefreshLoad func(ctx context.Context) error
	// Audit records fleet jobs' moves (nil: not recorded).
	Audit func(AuditEvent)
	// ModelConfig reads a model's config from its controller, as
	// ModelConfig.ModelGet answers it, values only (nil: the secret
	// backend precheck is skipped).
	ModelConfig func(ctx context.Context, controller, uuid string) (map[string]any, error)
	// Metrics registers the manager's metrics (nil: not registered).
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	Clock   clock.Clock // nil: the system clock
}

// Timing of leases and of following a migration.
const (
	// Lease is how long a replica may go without renewing its claim on a
	// migration before another takes it over.
	Lease = 15 * time.Second
	// poll is how often a follower reads the migration's progress.
	poll = 250 * time.Millisecond
	// adoptEvery is how often a replica looks for migrations nobody
	// follows.
	adoptEvery = 5 * time.Second
	// callTimeout bounds one call to a controller while following.
	callTimeout = 10 * time.Second
)

// Manager starts and follows migrations.
type Manager struct {
	db         *db.DB
	routes     *routing.Table
	registry   Registry
	controller func(ctx context.Context, name string) (Controller, error)
	up         func(name string) bool
	replica    string
	log        *slog.Logger
	clock      clock.Clock

	refreshLoad func(ctx context.Context) error
	modelConfig func(ctx context.Context, controller, uuid string) (map[string]any, error)
	audit       func(AuditEvent)
	jobKick     chan struct{}

	migrations *prometheus.CounterVec
	duration   prometheus.Histogram
	moves      *prometheus.CounterVec
	phases     *prometheus.CounterVec
	// validation is the measured VALIDATION phase, estimates the plans'
	// estimates of it.
	validation prometheus.Histogram
	estimates  prometheus.Histogram

	mu  sync.Mutex
	ctx context.Context // from Start: what followers run under; nil before
}

// New builds a migration manager; Start makes it follow migrations.
func New(deps Deps) (*Manager, error) {
	m := &Manager{
		db: deps.DB, routes: deps.Routes, registry: deps.Registry, controller: deps.Controller, up: deps.Up,
		replica: deps.ReplicaID, log: deps.Logger, clock: clock.Or(deps.Clock),
		refreshLoad: deps.RefreshLoad, modelConfig: deps.ModelConfig, audit: deps.Audit, jobKick: make(chan struct{}, 1),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_fleet_moves_total", Help: "Moves of fleet jobs (evacuate, rebalance), by kind and result: running when a move's migration starts, then succeeded or failed.",
		}, []string{"kind", "result"}),
		migrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_migrations_total", Help: "Model migrations ended, by result (succeeded, failed).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jimm_migration_duration_seconds", Help: "Time from the start of a migration to its end.",
			Buckets: prometheus.ExponentialBucketsRange(0.1, 3600, 16),
		}),
		phases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_migration_phase_changes_total", Help: "Migration phase changes seen, by phase entered.",
		}, []string{"phase"}),
		validation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jimm_migration_validation_seconds", Help: "Time migrations spent in VALIDATION (their agents reconnecting to the target), as measured by following them.",
			Buckets: prometheus.ExponentialBucketsRange(0.5, 3600, 16),
		}),
		estimates: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jimm_migration_validation_estimate_seconds", Help: "The planned VALIDATION time of the migrations started, from the target's agent login settings.",
			Buckets: prometheus.ExponentialBucketsRange(0.5, 3600, 16),
		}),
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	// Both results from the first scrape, at 0, so that an increase over
	// them (an alert on failures) is defined before the first migration.
	for _, r := range []string{db.MigrationSucceeded, db.MigrationFailed} {
		m.migrations.WithLabelValues(r)
		for _, kind := range []string{JobEvacuate, JobRebalance} {
			m.moves.WithLabelValues(kind, r)
		}
	}
	if deps.Metrics != nil {
		for _, c := range []prometheus.Collector{m.migrations, m.duration, m.phases, m.validation, m.estimates, m.moves} {
			if err := deps.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register migration metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Start makes the manager follow the migrations it starts, and adopt those
// no live replica follows (after a restart, say), until ctx ends.
func (m *Manager) Start(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	go m.adopt(ctx)
	go m.runJobs(ctx)
}

func (m *Manager) runCtx() (context.Context, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil {
		return nil, errors.New("the migration manager is not started")
	}
	return m.ctx, nil
}

// ErrRunning marks the refusal of a migration because another one of the
// model is running.
var ErrRunning = errors.New("migration running")

// ErrRefused marks a refusal to start a migration: the request breaks a
// rule, nothing was started.
var ErrRefused = errors.New("migration refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Migrate starts moving a model to the target controller after checking
// every rule it can itself. It returns once the source controller has
// accepted the migration; a follower then takes it to its end. Only a
// broker administrator may ask for it: the caller checks.
func (m *Manager) Migrate(ctx context.Context, targetName, modelUUID string, opts Options) (*db.Migration, error) {
	runCtx, err := m.runCtx()
	if err != nil {
		return nil, err
	}
	model, target, err := m.modelAndTarget(ctx, modelUUID, targetName)
	if err != nil {
		return nil, err
	}
	if err := m.precheck(ctx, model, target); err != nil {
		return nil, err
	}
	plan, err := m.plan(ctx, model, target)
	switch {
	case err != nil && !opts.Force:
		return nil, refuse("cannot plan the migration of model %q: %v (--force starts it without a plan)", model.Name, err)
	case err != nil:
		m.log.Warn("migration forced without a plan", "model", model.UUID, "to", target.Name, "err", err)
	case !plan.Fits && !opts.Force:
		return nil, refuse("model %q would not finish VALIDATION on controller %q: %s (--force starts it anyway)", model.Name, target.Name, plan.Advice)
	}
	now := m.clock.Now().UTC()
	leaseUntil := now.Add(Lease)
	mig := &db.Migration{
		ModelUUID: model.UUID, ModelName: model.Name, Owner: model.Owner,
		SourceControllerID: model.ControllerID, TargetControllerID: target.ID,
		SourceController: model.Controller.Name, TargetController: target.Name,
		Phase: phaseInitiating, Result: db.MigrationRunning, StartedAt: now, PhaseChangedAt: now,
		LeaseOwner: m.replica, LeaseUntil: &leaseUntil,
	}
	if plan != nil {
		mig.Plan = planJSON(plan)
		m.estimates.Observe(plan.Estimate.Seconds())
	}
	if err := m.db.AddMigration(ctx, mig); err != nil {
		if errors.Is(err, db.ErrDuplicate) {
			return nil, fmt.Errorf("%w: %w", ErrRunning, refuse("a migration of model %q is already running", model.Name))
		}
		return nil, err
	}
	mig.Source, mig.Target = model.Controller, *target
	f := m.follower(mig)
	f.log.Info("migration started", "from", model.Controller.Name, "to", target.Name)
	if err := m.initiate(ctx, mig); err != nil {
		if mig.ControllerMigrationID == "" {
			f.end(db.MigrationFailed, phaseInitiating, err.Error())
			return mig, err
		}
		// The source accepted the migration; only recording its id
		// failed (the database is unavailable, say). The migration runs:
		// follow it, and record the id when the database lets us.
		f.log.Warn("the source controller accepted a migration the broker could not record yet; following it", "err", db.Detail(err))
		f.idPending = true
	}
	go f.run(runCtx)
	return mig, nil
}

// modelAndTarget looks up the route of the model whose UUID is uuid and
// the controller named targetName, refusing when either is unknown.
func (m *Manager) modelAndTarget(ctx context.Context, uuid, targetName string) (*db.Model, *db.Controller, error) {
	model, err := m.routes.Route(ctx, uuid)
	if dbfault.IsDatabase(err) {
		return nil, nil, err // the broker's database, not the request: "try again"
	}
	if err != nil {
		return nil, nil, refuse("model %s is not known to the broker", uuid)
	}
	target, err := m.registry.Get(ctx, targetName)
	if dbfault.IsDatabase(err) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, refuse("%v", err)
	}
	return model, target, nil
}

// precheck applies the rules the broker can check itself, with messages
// that name the rule. Juju's controllers check them again.
func (m *Manager) precheck(ctx context.Context, model *db.Model, target *db.Controller) error {
	src := &model.Controller
	switch {
	case model.Life != db.LifeAlive:
		return refuse("model %q is %s: only a live model can be migrated", model.Name, model.Life)
	case target.ID == src.ID:
		return refuse("model %q is already on controller %q", model.Name, target.Name)
	case target.Deprecated:
		return refuse("controller %q is deprecated: it takes no models", target.Name)
	case !m.up(target.Name):
		return refuse("controller %q is down", target.Name)
	case target.Cloud != model.Cloud || target.CloudType != src.CloudType:
		return refuse("controller %q hosts cloud %q (%s); model %q is on cloud %q (%s): source and target must share cloud and substrate",
			target.Name, target.Cloud, target.CloudType, model.Name, model.Cloud, src.CloudType)
	case !slices.Contains(target.Regions, model.Region):
		return refuse("controller %q does not host region %q of cloud %q", target.Name, model.Region, model.Cloud)
	}
	if err := checkCredential(model); err != nil {
		return err
	}
	tv, err1 := controllers.ParseVersion(target.AgentVersion)
	sv, err2 := controllers.ParseVersion(src.AgentVersion)
	if err1 == nil && err2 == nil && tv.Compare(sv) < 0 {
		return refuse("controller %q runs Juju %s, older than %s on controller %q: the target must be at least the source's version",
			target.Name, target.AgentVersion, src.AgentVersion, src.Name)
	}
	tc, err := m.controller(ctx, target.Name)
	if err != nil {
		return refuse("controller %q cannot be reached: %v", target.Name, err)
	}
	sums, err := tc.ListModelSummaries(ctx, tc.User(), true)
	if err != nil {
		return fmt.Errorf("list models on controller %q: %w", target.Name, err)
	}
	owner := jujuapi.UserTag(model.Owner).String()
	for _, r := range sums {
		if r.Result != nil && r.Result.Name == model.Name && r.Result.OwnerTag == owner {
			return refuse("controller %q already has a model %q owned by %s", target.Name, model.Name, model.Owner)
		}
	}
	sc, err := m.controller(ctx, src.Name)
	if err != nil {
		m.log.Warn("controller unavailable", "controller", src.Name, "model", model.UUID, "err", err)
		return jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q is unavailable; try again later", model.Name)
	}
	info, err := sc.ModelInfo(ctx, model.UUID)
	if err != nil {
		return fmt.Errorf("read model %q on its controller: %w", model.Name, err)
	}
	for _, u := range info.Users {
		if strings.Contains(u.UserName, "@") {
			continue // an external identity: every controller knows it
		}
		var res params.UserInfoResults
		err := tc.Call(ctx, "UserManager", 3, "UserInfo", params.UserInfoRequest{Entities: []params.Entity{{Tag: jujuapi.UserTag(u.UserName).String()}}}, &res)
		if err != nil {
			return fmt.Errorf("look up user %q on controller %q: %w", u.UserName, target.Name, err)
		}
		if len(res.Results) != 1 || res.Results[0].Error != nil {
			if len(res.Results) == 1 && strings.Contains(res.Results[0].Error.Error(), "permanently deleted") {
				grant := fmt.Sprintf("granting access to model user %q", u.UserName)
				if u.UserName == model.Owner {
					grant = "granting admin permission to the owner"
				}
				return refuse("user %q of model %q was deleted on controller %q, which would refuse the model (%s: user %q is permanently deleted): "+
					"migrate it to a controller where the user is not deleted, or remove the user's access to the model first", u.UserName, model.Name, target.Name, grant, u.UserName)
			}
			return refuse("user %q of model %q is not known to controller %q: add the user there (juju add-user %s), or remove the user's access to the model, then migrate again",
				u.UserName, model.Name, target.Name, u.UserName)
		}
	}
	return m.checkSecretBackend(ctx, model, sc, tc)
}

// initiate asks the source controller to migrate the model to the target.
func (m *Manager) initiate(ctx context.Context, mig *db.Migration) error {
	ep, creds, err := m.registry.Resolve(ctx, mig.Target.Name)
	if err != nil {
		return err
	}
	sc, err := m.controller(ctx, mig.Source.Name)
	if err != nil {
		return fmt.Errorf("controller %q cannot be reached: %w", mig.Source.Name, err)
	}
	var res params.InitiateMigrationResults
	err = sc.Call(ctx, "Controller", 11, "InitiateMigration", params.InitiateMigrationArgs{Specs: []params.MigrationSpec{{
		ModelTag: jujuapi.ModelTag(mig.ModelUUID).String(),
		TargetInfo: params.MigrationTargetInfo{
			ControllerTag: jujuapi.ControllerTag(ep.UUID).String(), ControllerAlias: mig.Target.Name,
			Addrs: ep.Addresses, CACert: ep.CACert, AuthTag: jujuapi.UserTag(creds.User).String(), Password: creds.Password,
		},
	}}}, &res)
	if err == nil && (len(res.Results) != 1 || res.Results[0].Error != nil) {
		if len(res.Results) == 1 {
			err = res.Results[0].Error
		} else {
			err = fmt.Errorf("%d results for one migration", len(res.Results))
		}
	}
	if err != nil {
		return fmt.Errorf("%w: controller %q refused to migrate model %q: %v", ErrRefused, mig.Source.Name, mig.ModelName, jujuapi.Underlying(err))
	}
	mig.ControllerMigrationID = res.Results[0].MigrationId
	return m.db.SetControllerMigrationID(ctx, mig.ID, mig.ControllerMigrationID)
}

// UpdateMigratedModel points a model moved outside the broker at the
// controller that now hosts it, after checking that it does. Only a broker
// administrator may ask for it: the caller checks.
func (m *Manager) UpdateMigratedModel(ctx context.Context, targetName, uuid string) (*db.Model, error) {
	model, target, err := m.modelAndTarget(ctx, uuid, targetName)
	if err != nil {
		return nil, err
	}
	if model.ControllerID != target.ID {
		if err := m.checkOnTarget(ctx, uuid, target); err != nil {
			return nil, refuse("%v", err)
		}
		if err := m.routes.Flip(ctx, uuid, target, 0); err != nil {
			return nil, err
		}
	}
	m.routes.Forget(uuid)
	return m.routes.Route(ctx, uuid)
}

// checkOnTarget verifies that the target controller hosts the model.
func (m *Manager) checkOnTarget(ctx context.Context, uuid string, target *db.Controller) error {
	tc, err := m.controller(ctx, target.Name)
	if err != nil {
		return err
	}
	if _, err := tc.ModelInfo(ctx, uuid); err != nil {
		return fmt.Errorf("controller %q does not host model %s: %w", target.Name, uuid, jujuapi.Underlying(err))
	}
	return nil
}
