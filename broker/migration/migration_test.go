package migration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

var quiet = slog.New(slog.DiscardHandler)

// fakeController plays a controller: the source shows a scripted migration
// status, the target hosts what it is told.
type fakeController struct {
	name string
	mu   sync.Mutex
	// status is the migration status ModelInfo shows ("": none); gone
	// makes ModelInfo answer "redirection required" (the model left).
	status string
	gone   bool
	hosts  map[string]bool // models it hosts (for a target)
	models []params.ModelSummaryResult
	// initiate, when set, is InitiateMigration's error.
	initiate  error
	initiated int
	users     map[string]bool   // local users it knows
	config    map[string]any    // its controller config
	backends  map[string]string // secret backends it has: id → name
}

func (c *fakeController) ControllerConfig(context.Context) (map[string]any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]any{}
	for k, v := range c.config {
		out[k] = v
	}
	return out, nil
}

func (c *fakeController) SetControllerConfig(_ context.Context, cfg map[string]any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.config == nil {
		c.config = map[string]any{}
	}
	for k, v := range cfg {
		c.config[k] = v
	}
	return nil
}

func (c *fakeController) User() string { return "admin" }

func (c *fakeController) set(f func(c *fakeController)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

func (c *fakeController) ModelInfo(_ context.Context, uuid string) (params.ModelInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.gone:
		return params.ModelInfo{}, &jujuapi.Error{Code: jujuapi.CodeRedirect, Message: "redirection required"}
	case c.hosts != nil && !c.hosts[uuid]:
		return params.ModelInfo{}, jujuapi.NotFoundf("model %q", uuid)
	}
	info := params.ModelInfo{UUID: uuid, Users: []params.ModelUserInfo{{UserName: "alice"}, {UserName: "bob@example.com"}}}
	if c.status != "" {
		info.Migration = &params.ModelMigrationStatus{Status: c.status}
	}
	return info, nil
}

func (c *fakeController) ListModelSummaries(context.Context, string, bool) ([]params.ModelSummaryResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.models, nil
}

func (c *fakeController) Call(_ context.Context, facade string, _ int, method string, args, result any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch facade + "." + method {
	case "Controller.InitiateMigration":
		c.initiated++
		if c.initiate != nil {
			return c.initiate
		}
		*result.(*params.InitiateMigrationResults) = params.InitiateMigrationResults{Results: []params.InitiateMigrationResult{{MigrationId: "mig-1"}}}
		c.status = "quiescing"
		return nil
	case "SecretBackends.ListSecretBackends":
		var out listSecretBackendsResults
		for id, name := range c.backends {
			if want := args.(listSecretBackendsArgs).Names; len(want) > 0 && !slices.Contains(want, name) {
				continue
			}
			r := secretBackendResult{ID: id}
			r.Result.Name, r.Result.BackendType = name, "vault"
			out.Results = append(out.Results, r)
		}
		*result.(*listSecretBackendsResults) = out
		return nil
	case "UserManager.UserInfo":
		user := strings.TrimPrefix(args.(params.UserInfoRequest).Entities[0].Tag, "user-")
		out := params.UserInfoResult{Result: &params.UserInfo{Username: user}}
		if !c.users[user] {
			out = params.UserInfoResult{Error: jujuapi.Errorf(jujuapi.CodeUserNotFound, "user %q not found", user)}
		}
		*result.(*params.UserInfoResults) = params.UserInfoResults{Results: []params.UserInfoResult{out}}
		return nil
	}
	return jujuapi.UnknownMethodError(facade, 0, method)
}

// registry serves the controllers stored in the test's database.
type registry struct{ d *db.DB }

func (r registry) Get(ctx context.Context, name string) (*db.Controller, error) {
	var c db.Controller
	if err := r.d.WithContext(ctx).Where("name = ?", name).First(&c).Error; err != nil {
		return nil, fmt.Errorf("%w: controller %q is not registered", controllers.ErrNotFound, name)
	}
	return &c, nil
}

func (r registry) List(ctx context.Context) ([]db.Controller, error) {
	var out []db.Controller
	err := r.d.WithContext(ctx).Order("name").Find(&out).Error
	return out, err
}

func (r registry) SetDeprecated(ctx context.Context, name string, deprecated bool) (*db.Controller, error) {
	if err := r.d.WithContext(ctx).Model(&db.Controller{}).Where("name = ?", name).Update("deprecated", deprecated).Error; err != nil {
		return nil, err
	}
	return r.Get(ctx, name)
}

func (r registry) Resolve(ctx context.Context, name string) (controllers.Endpoint, controllers.Credentials, error) {
	c, err := r.Get(ctx, name)
	if err != nil {
		return controllers.Endpoint{}, controllers.Credentials{}, err
	}
	return controllers.EndpointOf(c), controllers.Credentials{User: "admin", Password: "target-password"}, nil
}

type env struct {
	d      *db.DB
	routes *routing.Table
	ctls   map[string]*fakeController
	down   map[string]bool
	rows   map[string]*db.Controller
	model  *db.Model
	// modelConfig is what ModelConfig answers for every model.
	modelConfig map[string]any
	clock       *clock.Fake
	mu          sync.Mutex
	managers    []*Manager
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := dbtest.SQLite(t)
	e := &env{d: d, ctls: map[string]*fakeController{}, down: map[string]bool{}, rows: map[string]*db.Controller{},
		clock: clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))}
	for _, c := range []struct{ name, version, cloudType string }{{"ctl-a", "3.5.4", "lxd"}, {"ctl-b", "3.5.4", "lxd"}, {"ctl-old", "3.4.0", "lxd"}, {"ctl-k8s", "3.5.4", "kubernetes"}} {
		row := &db.Controller{Name: c.name, UUID: "uuid-" + c.name, Addresses: []string{"127.0.0.1:1"}, Cloud: "c", CloudType: c.cloudType,
			Regions: []string{"r"}, AdminPassword: []byte{0}, AgentVersion: c.version}
		if err := d.WithContext(t.Context()).Create(row).Error; err != nil {
			t.Fatal(err)
		}
		e.rows[c.name] = row
		e.ctls[c.name] = &fakeController{name: c.name, hosts: map[string]bool{}, users: map[string]bool{"alice": true}}
	}
	e.model = &db.Model{UUID: "5e55c0de-0000-4000-8000-0000000000aa", Name: "m", Owner: "alice", ControllerID: e.rows["ctl-a"].ID, Cloud: "c", Region: "r", Life: db.LifeAlive}
	if err := d.AddModel(t.Context(), e.model, "user:alice"); err != nil {
		t.Fatal(err)
	}
	e.ctls["ctl-a"].hosts = nil // the source answers for the model
	var err error
	if e.routes, err = routing.New(routing.Deps{DB: d, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if err := e.routes.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

// manager starts a replica's manager until ctx ends.
func (e *env) manager(t *testing.T, ctx context.Context, replica string) *Manager {
	t.Helper()
	m, err := New(Deps{
		DB: e.d, Routes: e.routes, Registry: registry{e.d}, ReplicaID: replica, Metrics: prometheus.NewRegistry(), Logger: quiet, Clock: e.clock,
		Controller: func(_ context.Context, name string) (Controller, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.down[name] {
				return nil, errors.New("connection refused")
			}
			return e.ctls[name], nil
		},
		Up: func(name string) bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return !e.down[name]
		},
		ModelConfig: func(context.Context, string, string) (map[string]any, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.modelConfig, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Start(ctx)
	return m
}

func (e *env) migration(t *testing.T, id int64) *db.Migration {
	t.Helper()
	var m db.Migration
	if err := e.d.WithContext(t.Context()).Preload("Source").Preload("Target").First(&m, id).Error; err != nil {
		t.Fatal(err)
	}
	return &m
}

// until moves the fake clock on, a poll at a time, until cond holds (a
// generous bound of steps).
func (e *env) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 2000 {
			t.Fatalf("%s: not after %d polls", what, i)
		}
		e.clock.AwaitWaiters(1, t.Context().Done())
		e.clock.Advance(poll)
		time.Sleep(time.Millisecond) // let the woken goroutines run
	}
}

func (e *env) routedTo(t *testing.T) string {
	t.Helper()
	m, err := e.d.ModelByUUID(t.Context(), e.model.UUID)
	if err != nil {
		t.Fatal(err)
	}
	return m.Controller.Name
}

// TestMigrationFollowsPhasesToTheFlip: a migration the source accepts is
// followed phase by phase, and the route flips (ending it as succeeded)
// once the model left the source and the target hosts it.
func TestMigrationFollowsPhasesToTheFlip(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	mig, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	row := e.migration(t, mig.ID)
	if row.Result != db.MigrationRunning || row.LeaseOwner != "r1" || row.ControllerMigrationID != "mig-1" || row.Source.Name != "ctl-a" || row.Target.Name != "ctl-b" {
		t.Fatalf("the migration as recorded: %+v", row)
	}
	src := e.ctls["ctl-a"]
	e.until(t, "QUIESCE is recorded", func() bool { return e.migration(t, mig.ID).Phase == "QUIESCE" })
	src.set(func(c *fakeController) { c.status = "successful" })
	e.until(t, "SUCCESS is recorded", func() bool { return e.migration(t, mig.ID).Phase == phaseSuccess })
	if e.routedTo(t) != "ctl-a" {
		t.Fatal("the route flipped before the model left its source")
	}
	// The model leaves the source, but the target does not host it yet:
	// no flip.
	src.set(func(c *fakeController) { c.gone = true })
	for range 5 {
		e.clock.AwaitWaiters(1, t.Context().Done())
		e.clock.Advance(poll)
	}
	if e.routedTo(t) != "ctl-a" {
		t.Fatal("the route flipped to a target that does not host the model")
	}
	e.ctls["ctl-b"].set(func(c *fakeController) { c.hosts[e.model.UUID] = true })
	e.until(t, "the migration ends", func() bool { return e.migration(t, mig.ID).Result != db.MigrationRunning })
	row = e.migration(t, mig.ID)
	if row.Result != db.MigrationSucceeded || row.Phase != phaseDone || row.EndedAt == nil || row.LeaseOwner != "" {
		t.Fatalf("the migration after its end: %+v", row)
	}
	if e.routedTo(t) != "ctl-b" {
		t.Fatalf("the model routes to %s after the migration", e.routedTo(t))
	}
	if n := testutil.ToFloat64(m.migrations.WithLabelValues(db.MigrationSucceeded)); n != 1 {
		t.Fatalf("jimm_migrations_total{result=succeeded} = %v", n)
	}
	for _, phase := range []string{"QUIESCE", phaseSuccess, phaseDone} {
		if n := testutil.ToFloat64(m.phases.WithLabelValues(phase)); n != 1 {
			t.Errorf("jimm_migration_phase_changes_total{phase=%s} = %v, want 1", phase, n)
		}
	}
}

// TestMigrationAbortLeavesTheModel: a migration the source aborts ends as
// failed, and the model stays where it was.
func TestMigrationAbortLeavesTheModel(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	mig, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.ctls["ctl-a"].set(func(c *fakeController) { c.status = "aborted, removing model from target controller: injected failure" })
	e.until(t, "ABORT is recorded", func() bool { return e.migration(t, mig.ID).Phase == "ABORT" })
	e.ctls["ctl-a"].set(func(c *fakeController) { c.status = "migration aborted" })
	e.until(t, "the migration ends", func() bool { return e.migration(t, mig.ID).Result != db.MigrationRunning })
	row := e.migration(t, mig.ID)
	if row.Result != db.MigrationFailed || row.Phase != phaseAbortDone || row.Message != "migration aborted" || row.LeaseOwner != "" {
		t.Fatalf("the aborted migration: %+v", row)
	}
	if e.routedTo(t) != "ctl-a" {
		t.Fatalf("an aborted migration moved the model to %s", e.routedTo(t))
	}
	if n := testutil.ToFloat64(m.migrations.WithLabelValues(db.MigrationFailed)); n != 1 {
		t.Fatalf("jimm_migrations_total{result=failed} = %v", n)
	}
	// The model can be migrated again.
	e.ctls["ctl-a"].set(func(c *fakeController) { c.status = "" })
	if _, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{}); err != nil {
		t.Fatalf("a second migration after an abort: %v", err)
	}
}

// TestMigrationAdoptedAfterTheLeaseLapses: a replica that dies while
// following a migration leaves it to another, which adopts it once the
// lease has lapsed (not before) and takes it to its end.
func TestMigrationAdoptedAfterTheLeaseLapses(t *testing.T) {
	e := newEnv(t)
	ctx1, kill := context.WithCancel(t.Context())
	m1 := e.manager(t, ctx1, "r1")
	claimedAt := e.clock.Now() // the lease starts with the migration
	mig, err := m1.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.until(t, "r1 follows", func() bool { return e.migration(t, mig.ID).Phase == "QUIESCE" })
	kill() // r1 dies: it renews its lease no more
	e.manager(t, t.Context(), "r2")
	e.until(t, "r2 adopts the migration", func() bool { return e.migration(t, mig.ID).LeaseOwner == "r2" })
	if held := e.clock.Now().Sub(claimedAt); held <= Lease {
		t.Fatalf("r2 adopted the migration %s after r1 claimed it, before its %s lease lapsed", held, Lease)
	}
	e.ctls["ctl-a"].set(func(c *fakeController) { c.gone = true })
	e.ctls["ctl-b"].set(func(c *fakeController) { c.hosts[e.model.UUID] = true })
	e.until(t, "the migration ends", func() bool { return e.migration(t, mig.ID).Result != db.MigrationRunning })
	if row := e.migration(t, mig.ID); row.Result != db.MigrationSucceeded || e.routedTo(t) != "ctl-b" {
		t.Fatalf("after adoption: %+v, routed to %s", row, e.routedTo(t))
	}
}

// TestMigrationRefusals: the rules the broker checks itself, each with a
// message that names it; nothing is started.
func TestMigrationRefusals(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	for _, c := range []struct {
		name, target string
		setup        func()
		want         string
	}{
		{"unknown model", "ctl-b", func() {}, "model nope is not known to the broker"},
		{"same controller", "ctl-a", func() {}, `model "m" is already on controller "ctl-a"`},
		{"unknown target", "ctl-none", func() {}, "not registered"},
		{"down target", "ctl-b", func() { e.down["ctl-b"] = true }, `controller "ctl-b" is down`},
		{"another substrate", "ctl-k8s", func() {}, "source and target must share cloud and substrate"},
		{"older target", "ctl-old", func() {}, `controller "ctl-old" runs Juju 3.4.0, older than 3.5.4 on controller "ctl-a"`},
		{"same name on target", "ctl-b", func() {
			e.ctls["ctl-b"].models = []params.ModelSummaryResult{{Result: &params.ModelSummary{Name: "m", OwnerTag: "user-alice"}}}
		}, `controller "ctl-b" already has a model "m" owned by alice`},
		{"unknown user on target", "ctl-b", func() { e.ctls["ctl-b"].users = map[string]bool{} }, `user "alice" of model "m" is not known to controller "ctl-b"`},
		{"the source refuses", "ctl-b", func() { e.ctls["ctl-a"].initiate = errors.New("boom") }, `controller "ctl-a" refused to migrate model "m": boom`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.mu.Lock()
			e.down = map[string]bool{}
			e.mu.Unlock()
			e.ctls["ctl-b"].models, e.ctls["ctl-b"].users, e.ctls["ctl-a"].initiate = nil, map[string]bool{"alice": true}, nil
			c.setup()
			uuid := e.model.UUID
			if c.name == "unknown model" {
				uuid = "nope"
			}
			_, err := m.Migrate(t.Context(), c.target, uuid, Options{})
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Migrate: %v; want a refusal saying %q", err, c.want)
			}
			var running int64
			e.d.WithContext(t.Context()).Model(&db.Migration{}).Where("result = ?", db.MigrationRunning).Count(&running)
			if running != 0 {
				t.Fatalf("a refused migration left %d running", running)
			}
		})
	}
	// A model with a migration running already.
	e.ctls["ctl-a"].initiate = nil
	if _, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{})
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), `a migration of model "m" is already running`) {
		t.Fatalf("a second migration: %v", err)
	}
}

// TestUpdateMigratedModel: a model moved outside the broker is pointed at
// its new controller only once that controller says it hosts it.
func TestUpdateMigratedModel(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	_, err := m.UpdateMigratedModel(t.Context(), "ctl-b", e.model.UUID)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `controller "ctl-b" does not host model `+e.model.UUID) {
		t.Fatalf("update to a controller that does not host the model: %v", err)
	}
	e.ctls["ctl-b"].set(func(c *fakeController) { c.hosts[e.model.UUID] = true })
	got, err := m.UpdateMigratedModel(t.Context(), "ctl-b", e.model.UUID)
	if err != nil || got.Controller.Name != "ctl-b" || e.routedTo(t) != "ctl-b" {
		t.Fatalf("update: %v %+v", err, got)
	}
}

func TestPhaseOf(t *testing.T) {
	for status, want := range map[string]string{
		"quiescing":  "QUIESCE",
		"successful": phaseSuccess,
		"successful, transferring logs to target controller": "LOGTRANSFER",
		"successful, removing model from source controller":  "REAP",
		"migration aborted": phaseAbortDone,
		"aborted, removing model from target controller: boom": "ABORT",
		"something else": "",
	} {
		if got := phaseOf(status); got != want {
			t.Errorf("phaseOf(%q) = %q, want %q", status, got, want)
		}
	}
}

// TestMigrationNeverAcceptedEnds: a replica that stopped between recording
// a migration and the source's answer leaves it INITIATING with no id from
// the source. The replica that adopts it ends it as failed when the source
// shows no migration, leaving the model where it was (and migratable
// again); when the source does show one, it follows it.
func TestMigrationNeverAcceptedEnds(t *testing.T) {
	for _, accepted := range []bool{false, true} {
		t.Run(fmt.Sprintf("accepted=%v", accepted), func(t *testing.T) {
			e := newEnv(t)
			now := e.clock.Now().UTC()
			lease := now.Add(Lease)
			mig := &db.Migration{
				ModelUUID: e.model.UUID, ModelName: e.model.Name, Owner: e.model.Owner,
				SourceControllerID: e.rows["ctl-a"].ID, TargetControllerID: e.rows["ctl-b"].ID,
				SourceController: "ctl-a", TargetController: "ctl-b",
				Phase: phaseInitiating, Result: db.MigrationRunning, StartedAt: now, PhaseChangedAt: now,
				LeaseOwner: "r1", LeaseUntil: &lease,
			}
			if err := e.d.AddMigration(t.Context(), mig); err != nil {
				t.Fatal(err)
			}
			if accepted {
				e.ctls["ctl-a"].set(func(c *fakeController) { c.status = "quiescing" })
			}
			m := e.manager(t, t.Context(), "r2")
			if accepted {
				e.until(t, "r2 adopts the migration and follows it", func() bool {
					row := e.migration(t, mig.ID)
					return row.LeaseOwner == "r2" && row.Phase == "QUIESCE"
				})
				if row := e.migration(t, mig.ID); row.Result != db.MigrationRunning {
					t.Fatalf("a migration the source took: %+v", row)
				}
				return
			}
			// (Its lease is given up as it ends: the end is what to wait for.)
			e.until(t, "the migration ends", func() bool { return e.migration(t, mig.ID).Result != db.MigrationRunning })
			row := e.migration(t, mig.ID)
			if row.Result != db.MigrationFailed || row.Phase != phaseInitiating || !strings.HasPrefix(row.Message, notAccepted) || e.routedTo(t) != "ctl-a" {
				t.Fatalf("a migration the source never took: %+v, routed to %s", row, e.routedTo(t))
			}
			if row.EndedAt == nil || row.EndedAt.Sub(now) <= Lease {
				t.Fatalf("ended at %v, started at %v: before its %s lease lapsed", row.EndedAt, now, Lease)
			}
			if _, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{}); err != nil || e.ctls["ctl-a"].initiated != 1 {
				t.Fatalf("migrating again: %v (initiated %d)", err, e.ctls["ctl-a"].initiated)
			}
		})
	}
}
