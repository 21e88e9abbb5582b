package devcontroller

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// phaseGate records the phases a migration runner enters and can hold it
// on entering one of them until released (or the controller stops).
type phaseGate struct {
	stopAt  string
	reached chan struct{} // closed when the runner reaches stopAt
	release chan struct{} // close to let it go on

	mu     sync.Mutex
	phases []string
	once   sync.Once
}

func newGate(stopAt string) *phaseGate {
	return &phaseGate{stopAt: stopAt, reached: make(chan struct{}), release: make(chan struct{})}
}

// through waits until the runner has entered phase, and returns the
// phases it entered. (A migration's redirect is recorded with DONE, and
// the runner enters DONE just after: wait for it rather than read early.)
func (g *phaseGate) through(t *testing.T, phase string) []string {
	t.Helper()
	waitFor(t, "the runner enters "+phase, func() bool { return slices.Contains(g.seen(), phase) })
	return g.seen()
}

func (g *phaseGate) hook(ctx context.Context, _, phase string) {
	g.mu.Lock()
	g.phases = append(g.phases, phase)
	g.mu.Unlock()
	if phase != g.stopAt {
		return
	}
	held := false
	g.once.Do(func() { held = true; close(g.reached) })
	if held {
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	}
}

func (g *phaseGate) seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.phases)
}

func (g *phaseGate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.reached:
	case <-time.After(10 * time.Second):
		t.Fatalf("migration did not reach %s; phases so far %v", g.stopAt, g.seen())
	}
}

func withHook(g *phaseGate) func(*Config) {
	return func(c *Config) { c.migrationHook = g.hook }
}

func named(name string) func(*Config) { return func(c *Config) { c.Name = name } }

// runController is startController with a stop function, for tests that
// restart a controller on the same directory.
func runController(t *testing.T, dir string, mod ...func(*Config)) (*Controller, func()) {
	t.Helper()
	cfg := Config{Name: "ctl-test", Listen: "127.0.0.1:0", DataDir: dir, Cloud: "localhost",
		Regions: []string{"r1", "r2"}, AdminPassword: "secret", ModelDestroyDelay: 100 * time.Millisecond, Logger: quiet,
		// Agents reach a target without waiting for tokens, unless a
		// test asks for a limit.
		AgentRateLimitMax: testBurst}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

// targetInfo is how a source reaches tgt, as `juju migrate` gives it.
func targetInfo(tgt *Controller) params.MigrationTargetInfo {
	return params.MigrationTargetInfo{
		ControllerTag: "controller-" + tgt.UUID(), ControllerAlias: "dst", Addrs: []string{tgt.Addr()},
		CACert: string(tgt.CACertPEM()), AuthTag: "user-admin", Password: "secret",
	}
}

func initiate(t *testing.T, admin *jujuapi.Client, uuid string, ti params.MigrationTargetInfo) (string, *params.Error) {
	t.Helper()
	var res params.InitiateMigrationResults
	if err := admin.Call(t.Context(), "Controller", 11, "InitiateMigration", params.InitiateMigrationArgs{
		Specs: []params.MigrationSpec{{ModelTag: "model-" + uuid, TargetInfo: ti}},
	}, &res); err != nil {
		t.Fatalf("InitiateMigration: %v", err)
	}
	if len(res.Results) != 1 || res.Results[0].ModelTag != "model-"+uuid {
		t.Fatalf("InitiateMigration results: %+v", res)
	}
	return res.Results[0].MigrationId, res.Results[0].Error
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 15s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitPhase(t *testing.T, c *Controller, uuid, phase string) *store.Model {
	t.Helper()
	var m *store.Model
	waitFor(t, "migration of "+uuid+" in phase "+phase, func() bool {
		var ok bool
		m, ok = c.store.Model(uuid)
		return ok && m.Migration != nil && m.Migration.Phase == phase
	})
	return m
}

func waitRedirect(t *testing.T, c *Controller, uuid string) *store.Redirect {
	t.Helper()
	var r *store.Redirect
	waitFor(t, "model "+uuid+" migrated away", func() bool {
		var ok bool
		r, ok = c.store.Redirect(uuid)
		return ok
	})
	return r
}

func deployApp(t *testing.T, mc *jujuapi.Client, name string, units int) {
	t.Helper()
	var res params.ErrorResults
	if err := mc.Call(t.Context(), "Application", 19, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{{
		ApplicationName: name, CharmURL: "ch:amd64/jammy/" + name + "-7", CharmOrigin: chOrigin(), NumUnits: units,
	}}}, &res); err != nil || res.OneError() != nil {
		t.Fatalf("deploy %s: %v %v", name, err, res.OneError())
	}
}

// populated creates model "m" on c with two applications, a spare machine
// and a model setting, and returns it with a model connection.
func populated(t *testing.T, c *Controller, admin *jujuapi.Client) (params.ModelInfo, *jujuapi.Client) {
	t.Helper()
	m := createModel(t, admin, "m", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	deployApp(t, mc, "pg", 3)
	deployApp(t, mc, "web", 2)
	var machines params.AddMachinesResults
	if err := mc.Call(t.Context(), "MachineManager", 10, "AddMachines", params.AddMachines{MachineParams: []params.AddMachineParams{{}}}, &machines); err != nil {
		t.Fatal(err)
	}
	if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"logging-config": "<root>=DEBUG"}}, nil); err != nil {
		t.Fatal(err)
	}
	return m, mc
}

func fullStatusOf(t *testing.T, mc *jujuapi.Client) params.FullStatus {
	t.Helper()
	var st params.FullStatus
	if err := mc.Call(t.Context(), "Client", 7, "FullStatus", params.StatusParams{}, &st); err != nil {
		t.Fatalf("FullStatus: %v", err)
	}
	return st
}

// comparable renders a status without its timestamps.
func comparable(t *testing.T, st params.FullStatus) any {
	t.Helper()
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	json.Unmarshal(raw, &v)
	var strip func(v any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "since")
			delete(x, "controller-timestamp")
			for _, e := range x {
				strip(e)
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	return v
}

func modelInfoOf(t *testing.T, cl *jujuapi.Client, uuid string) params.ModelInfoResult {
	t.Helper()
	var res params.ModelInfoResults
	if err := cl.Call(t.Context(), "ModelManager", 10, "ModelInfo", params.Entities{Entities: []params.Entity{{Tag: "model-" + uuid}}}, &res); err != nil {
		t.Fatal(err)
	}
	return res.Results[0]
}

func wantRedirectInfo(t *testing.T, info map[string]any, tgt *Controller) {
	t.Helper()
	var ri params.RedirectErrorInfo
	e := &jujuapi.Error{Info: info}
	if err := e.UnmarshalInfo(&ri); err != nil {
		t.Fatal(err)
	}
	if ri.CACert != string(tgt.CACertPEM()) || ri.ControllerTag != "controller-"+tgt.UUID() || ri.ControllerAlias != "dst" {
		t.Errorf("redirect info: ca %v, tag %q, alias %q", ri.CACert == string(tgt.CACertPEM()), ri.ControllerTag, ri.ControllerAlias)
	}
	if len(ri.Servers) != 1 || len(ri.Servers[0]) != 1 {
		t.Fatalf("redirect servers %+v", ri.Servers)
	}
	hp := ri.Servers[0][0]
	if fmt.Sprintf("%s:%d", hp.Value, hp.Port) != tgt.Addr() || hp.Scope != "public" || hp.Type != "ipv4" {
		t.Errorf("redirect server %+v, want %s public ipv4", hp, tgt.Addr())
	}
}

func TestMigration(t *testing.T) {
	gate := newGate(phaseValidation)
	src := startController(t, t.TempDir(), named("src"), withHook(gate))
	tgt := startController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	var added params.AddUserResults
	admin.Call(t.Context(), "UserManager", 3, "AddUser", params.AddUsers{Users: []params.AddUser{{Username: "bob", Password: "bobpw"}}}, &added)
	m, mc := populated(t, src, admin)
	// An external user is known everywhere.
	var res params.ErrorResults
	if err := admin.Call(t.Context(), "ModelManager", 10, "ModifyModelAccess", params.ModifyModelAccessRequest{Changes: []params.ModifyModelAccess{{
		UserTag: "user-alice@external", Action: "grant", Access: "read", ModelTag: "model-" + m.UUID,
	}}}, &res); err != nil || res.OneError() != nil {
		t.Fatalf("grant: %v %v", err, res.OneError())
	}
	before := fullStatusOf(t, mc)

	// Only a superuser migrates.
	bob := mustLogin(t, src, "/api", "bob", "bobpw")
	err := bob.Call(t.Context(), "Controller", 11, "InitiateMigration", params.InitiateMigrationArgs{
		Specs: []params.MigrationSpec{{ModelTag: "model-" + m.UUID, TargetInfo: targetInfo(tgt)}}}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	start := time.Now()
	id, perr := initiate(t, admin, m.UUID, targetInfo(tgt))
	if perr != nil {
		t.Fatalf("InitiateMigration: %v", perr)
	}
	if id != m.UUID+":0" {
		t.Errorf("migration id %q, want %s:0", id, m.UUID)
	}

	// Held in VALIDATION: the model is imported on the target, not yet
	// active; on the source reads work and writes are refused.
	gate.wait(t)
	mi := modelInfoOf(t, admin, m.UUID)
	if mi.Error != nil || mi.Result.Migration == nil || mi.Result.Migration.Status != "validating" ||
		mi.Result.Migration.Start == nil || mi.Result.Migration.End != nil {
		t.Errorf("ModelInfo during VALIDATION: %+v %+v", mi.Error, mi.Result.Migration)
	}
	st := fullStatusOf(t, mc)
	if ms := st.Model.ModelStatus; ms.Status != "busy" || ms.Info != "migrating: validating" {
		t.Errorf("model status during VALIDATION: %q %q", ms.Status, ms.Info)
	}
	if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelGet", nil, &params.ModelConfigResults{}); err != nil {
		t.Errorf("ModelGet during migration: %v", err)
	}
	err = mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"development": true}}, nil)
	wantCode(t, err, jujuapi.CodeMigrationRunning, "model migration in progress")
	err = mc.Call(t.Context(), "Application", 19, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{{ApplicationName: "late", CharmURL: "ch:late"}}}, nil)
	wantCode(t, err, jujuapi.CodeMigrationRunning, "model migration in progress")
	err = mc.Call(t.Context(), "Application", 19, "AddUnits", params.AddApplicationUnits{ApplicationName: "pg", NumUnits: 1}, nil)
	wantCode(t, err, jujuapi.CodeMigrationRunning, "model migration in progress")
	res = params.ErrorResults{}
	admin.Call(t.Context(), "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + m.UUID}}}, &res)
	if e := res.OneError(); jujuapi.ErrorCode(e) != jujuapi.CodeMigrationRunning {
		t.Errorf("DestroyModels during migration: %v", e)
	}
	_, perr = initiate(t, admin, m.UUID, targetInfo(tgt))
	if perr == nil || perr.Message != fmt.Sprintf(`a migration of model "m" is already running (%s, phase VALIDATION)`, id) {
		t.Errorf("second InitiateMigration: %v", perr)
	}
	// On the target, the importing model is invisible and closed.
	tadmin := mustLogin(t, tgt, "/api", "admin", "secret")
	if got := summaries(t, tadmin, "admin"); len(got) != 1 {
		t.Errorf("target lists %v while importing", got)
	}
	if e := modelInfoOf(t, tadmin, m.UUID).Error; e == nil || e.Code != jujuapi.CodeNotFound {
		t.Errorf("target ModelInfo while importing: %v", e)
	}
	_, _, err = login(t, tgt, "/model/"+m.UUID+"/api", "admin", "secret")
	wantCode(t, err, jujuapi.CodeMigrationRunning, "migration in progress, model is importing")
	close(gate.release)

	r := waitRedirect(t, src, m.UUID)
	t.Logf("migration took %v", time.Since(start))
	want := []string{"QUIESCE", "IMPORT", "PROCESSRELATIONS", "VALIDATION", "SUCCESS", "LOGTRANSFER", "REAP", "DONE"}
	if got := gate.through(t, "DONE"); !slices.Equal(got, want) {
		t.Errorf("phases %v, want %v", got, want)
	}
	if mig := r.Migration; mig == nil || mig.Phase != "DONE" || mig.StatusMessage != "migration completed" || mig.End.IsZero() || mig.Target.Password != "" {
		t.Errorf("recorded migration: %+v", mig)
	}
	if _, ok := src.store.Model(m.UUID); ok {
		t.Error("the model is still on the source")
	}

	// The target has the model, whole.
	tm, ok := tgt.store.Model(m.UUID)
	if !ok || tm.MigrationMode != "" || tm.Users["alice@external"] != "read" || tm.Config["logging-config"] != "<root>=DEBUG" || tm.Migration != nil {
		t.Fatalf("model on the target: %+v", tm)
	}
	if got := summaries(t, tadmin, "admin"); got["m"] != "admin" {
		t.Errorf("target lists %v", got)
	}
	tmc := mustLogin(t, tgt, "/model/"+m.UUID+"/api", "admin", "secret")
	if a, b := comparable(t, before), comparable(t, fullStatusOf(t, tmc)); !reflect.DeepEqual(a, b) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		t.Errorf("status on the target differs:\nsource %s\ntarget %s", ja, jb)
	}
	// Next ids carry over.
	var units params.AddApplicationUnitsResults
	if err := tmc.Call(t.Context(), "Application", 19, "AddUnits", params.AddApplicationUnits{ApplicationName: "pg", NumUnits: 1}, &units); err != nil || !slices.Equal(units.Units, []string{"pg/3"}) {
		t.Errorf("AddUnits on the target: %v %v", units.Units, err)
	}

	// The source redirects: login, ModelInfo, RedirectInfo.
	_, _, err = login(t, src, "/model/"+m.UUID+"/api", "admin", "secret")
	wantCode(t, err, jujuapi.CodeRedirect, "redirection to alternative server required")
	wantRedirectInfo(t, err.(*jujuapi.Error).Info, tgt)
	mi = modelInfoOf(t, admin, m.UUID)
	if mi.Error == nil || mi.Error.Code != jujuapi.CodeRedirect {
		t.Fatalf("ModelInfo of the migrated model: %+v", mi)
	}
	wantRedirectInfo(t, mi.Error.Info, tgt)
	anon := dial(t, src, "/model/"+m.UUID+"/api")
	var ri params.RedirectInfoResult
	if err := anon.Call(t.Context(), "Admin", 3, "RedirectInfo", nil, &ri); err != nil || ri.CACert != string(tgt.CACertPEM()) || len(ri.Servers) != 1 {
		t.Errorf("RedirectInfo: %v %+v", err, ri)
	}
	// Someone who had no access to the model is not told where it went.
	_, _, err = login(t, src, "/model/"+m.UUID+"/api", "bob", "bobpw")
	wantCode(t, err, jujuapi.CodeModelNotFound, fmt.Sprintf("unknown model: %q", m.UUID))
	if got := summaries(t, admin, "admin"); len(got) != 1 {
		t.Errorf("source still lists %v", got)
	}
}

func TestMigrationPrechecks(t *testing.T) {
	src := startController(t, t.TempDir(), named("src"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	var added params.AddUserResults
	admin.Call(t.Context(), "UserManager", 3, "AddUser", params.AddUsers{Users: []params.AddUser{{Username: "bob", Password: "bobpw"}}}, &added)
	m, _ := populated(t, src, admin)
	before, _ := src.store.Model(m.UUID)

	for _, tc := range []struct {
		name string
		mod  func(*Config)
		prep func(t *testing.T, tgt *Controller)
		want string
	}{{
		name: "older target",
		mod:  func(c *Config) { c.AgentVersion = "3.4.9" },
		want: `target prechecks failed: target controller version 3.4.9 is older than the model's 3.5.4`,
	}, {
		name: "other cloud",
		mod:  func(c *Config) { c.Cloud = "elsewhere" },
		want: `target prechecks failed: target controller does not host cloud "localhost" (lxd) region "r2"`,
	}, {
		name: "other cloud type",
		mod:  func(c *Config) { c.CloudType = "maas" },
		want: `target prechecks failed: target controller does not host cloud "localhost" (lxd) region "r2"`,
	}, {
		name: "other region",
		mod:  func(c *Config) { c.Regions = []string{"r1"} },
		want: `target prechecks failed: target controller does not host cloud "localhost" (lxd) region "r2"`,
	}, {
		name: "same name",
		prep: func(t *testing.T, tgt *Controller) {
			createModel(t, mustLogin(t, tgt, "/api", "admin", "secret"), "m", "admin")
		},
		want: `target prechecks failed: a model named "m" owned by "admin" already exists on the target`,
	}, {
		name: "unknown user",
		prep: func(*testing.T, *Controller) {
			var res params.ErrorResults
			admin.Call(t.Context(), "ModelManager", 10, "ModifyModelAccess", params.ModifyModelAccessRequest{Changes: []params.ModifyModelAccess{{
				UserTag: "user-bob", Action: "grant", Access: "write", ModelTag: "model-" + m.UUID,
			}}}, &res)
			if res.OneError() != nil {
				t.Fatal(res.OneError())
			}
			before, _ = src.store.Model(m.UUID)
		},
		want: `target prechecks failed: model user "bob" is not known to the target controller`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			mods := []func(*Config){named("dst")}
			if tc.mod != nil {
				mods = append(mods, tc.mod)
			}
			tgt := startController(t, t.TempDir(), mods...)
			if tc.prep != nil {
				tc.prep(t, tgt)
			}
			targetModels := len(tgt.store.Models())
			_, perr := initiate(t, admin, m.UUID, targetInfo(tgt))
			if perr == nil || perr.Message != tc.want {
				t.Fatalf("got %v, want %q", perr, tc.want)
			}
			after, _ := src.store.Model(m.UUID)
			if after != before {
				t.Errorf("the source model changed: %+v", after)
			}
			if _, ok := tgt.store.Model(m.UUID); ok || len(tgt.store.Models()) != targetModels {
				t.Errorf("the target changed: %d models, had %d", len(tgt.store.Models()), targetModels)
			}
		})
	}

	tgt := startController(t, t.TempDir(), named("dst"))
	for _, tc := range []struct {
		name, uuid string
		ti         params.MigrationTargetInfo
		want       string
	}{
		{"controller model", src.UUID(), targetInfo(tgt), `model "controller" is the controller model: a controller model cannot be migrated`},
		{"unknown model", "00000000-0000-4000-8000-000000000000", targetInfo(tgt), `model "00000000-0000-4000-8000-000000000000" not found`},
		{"to itself", m.UUID, targetInfo(src), fmt.Sprintf(`model "m" is already on controller %s`, src.UUID())},
		{"wrong password", m.UUID, func() params.MigrationTargetInfo { ti := targetInfo(tgt); ti.Password = "nope"; return ti }(),
			fmt.Sprintf("log in to target controller at %s as user-admin: invalid entity name or password", tgt.Addr())},
		{"wrong controller", m.UUID, func() params.MigrationTargetInfo {
			ti := targetInfo(tgt)
			ti.ControllerTag = "controller-00000000-0000-4000-8000-000000000000"
			return ti
		}(), fmt.Sprintf("target controller at %s is controller-%s, not controller-00000000-0000-4000-8000-000000000000", tgt.Addr(), tgt.UUID())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, perr := initiate(t, admin, tc.uuid, tc.ti)
			if perr == nil || perr.Message != tc.want {
				t.Fatalf("got %v, want %q", perr, tc.want)
			}
		})
	}
}

func TestMigrationInjectedFailure(t *testing.T) {
	for _, phase := range []string{"IMPORT", "VALIDATION"} {
		t.Run(phase, func(t *testing.T) {
			gate := newGate("")
			src := startController(t, t.TempDir(), named("src"), withHook(gate))
			tgt := startController(t, t.TempDir(), named("dst"))
			admin := mustLogin(t, src, "/api", "admin", "secret")
			m, mc := populated(t, src, admin)
			if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{failPhaseKey: strings.ToLower(phase)}}, nil); err != nil {
				t.Fatal(err)
			}
			if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
				t.Fatal(perr)
			}
			sm := waitPhase(t, src, m.UUID, "ABORTDONE")
			want := []string{"QUIESCE", "IMPORT"}
			if phase == "VALIDATION" {
				want = append(want, "PROCESSRELATIONS", "VALIDATION")
			}
			want = append(want, "ABORT", "ABORTDONE")
			waitFor(t, "runner done", func() bool { return len(gate.seen()) == len(want) })
			if got := gate.seen(); !slices.Equal(got, want) {
				t.Errorf("phases %v, want %v", got, want)
			}
			reason := "injected failure in phase " + phase
			if mig := sm.Migration; mig.FailedPhase != phase || mig.Failure != reason || mig.Target.Password != "" || sm.MigrationMode != "" {
				t.Errorf("recorded migration: %+v (mode %q)", mig, sm.MigrationMode)
			}
			mi := modelInfoOf(t, admin, m.UUID)
			if mi.Error != nil || mi.Result.Migration == nil || mi.Result.Migration.Status != "migration aborted: "+reason || mi.Result.Migration.End == nil {
				t.Errorf("ModelInfo after abort: %+v %+v", mi.Error, mi.Result.Migration)
			}
			if ms := fullStatusOf(t, mc).Model.ModelStatus; ms.Status != "available" || ms.Info != "migration aborted: "+reason {
				t.Errorf("model status after abort: %q %q", ms.Status, ms.Info)
			}
			// Nothing on the target, not even an importing model.
			if _, ok := tgt.store.Model(m.UUID); ok {
				t.Error("the target kept the model")
			}
			// The model is usable on the source, and migrates once the
			// failure is no longer asked for.
			if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelUnset", params.ModelUnset{Keys: []string{failPhaseKey}}, nil); err != nil {
				t.Fatalf("ModelUnset after abort: %v", err)
			}
			deployApp(t, mc, "extra", 1)
			id, perr := initiate(t, admin, m.UUID, targetInfo(tgt))
			if perr != nil || id != m.UUID+":1" {
				t.Fatalf("second attempt: %q %v", id, perr)
			}
			waitRedirect(t, src, m.UUID)
			if tm, ok := tgt.store.Model(m.UUID); !ok || tm.Applications["extra"] == nil {
				t.Errorf("target after the second attempt: %v", ok)
			}
		})
	}
}

// From SUCCESS on, a failing step is retried, never aborted.
func TestMigrationFailureAfterSuccessIsRetried(t *testing.T) {
	gate := newGate("")
	src := startController(t, t.TempDir(), named("src"), withHook(gate))
	tgt := startController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	m, mc := populated(t, src, admin)
	mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{failPhaseKey: "SUCCESS"}}, nil)
	if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
		t.Fatal(perr)
	}
	waitRedirect(t, src, m.UUID)
	want := []string{"QUIESCE", "IMPORT", "PROCESSRELATIONS", "VALIDATION", "SUCCESS", "SUCCESS", "LOGTRANSFER", "REAP", "DONE"}
	if got := gate.through(t, "DONE"); !slices.Equal(got, want) {
		t.Errorf("phases %v, want %v", got, want)
	}
}

func TestMigrationRestart(t *testing.T) {
	t.Run("before SUCCESS aborts", func(t *testing.T) {
		dir := t.TempDir()
		gate := newGate(phaseProcessRelations)
		src, stop := runController(t, dir, named("src"), withHook(gate))
		tgt := startController(t, t.TempDir(), named("dst"))
		admin := mustLogin(t, src, "/api", "admin", "secret")
		m, _ := populated(t, src, admin)
		if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
			t.Fatal(perr)
		}
		gate.wait(t)
		if tm, ok := tgt.store.Model(m.UUID); !ok || tm.MigrationMode != store.MigrationModeImporting {
			t.Fatal("the target has not imported the model")
		}
		stop()

		src, _ = runController(t, dir, named("src"))
		sm := waitPhase(t, src, m.UUID, "ABORTDONE")
		reason := "the source controller restarted during phase PROCESSRELATIONS"
		if sm.Migration.Failure != reason || sm.Status.Info != "migration aborted: "+reason || sm.MigrationMode != "" {
			t.Errorf("after restart: %+v, status %+v", sm.Migration, sm.Status)
		}
		if _, ok := tgt.store.Model(m.UUID); ok {
			t.Error("the target kept the imported model")
		}
		mc := mustLogin(t, src, "/model/"+m.UUID+"/api", "admin", "secret")
		if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"development": true}}, nil); err != nil {
			t.Errorf("ModelSet after the aborted migration: %v", err)
		}
	})
	t.Run("past SUCCESS completes", func(t *testing.T) {
		dir := t.TempDir()
		gate := newGate(phaseLogTransfer)
		src, stop := runController(t, dir, named("src"), withHook(gate))
		tgt := startController(t, t.TempDir(), named("dst"))
		admin := mustLogin(t, src, "/api", "admin", "secret")
		m, _ := populated(t, src, admin)
		if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
			t.Fatal(perr)
		}
		gate.wait(t)
		stop()

		gate2 := newGate("")
		src, stop = runController(t, dir, named("src"), withHook(gate2))
		waitRedirect(t, src, m.UUID)
		if got, want := gate2.through(t, "DONE"), []string{"LOGTRANSFER", "REAP", "DONE"}; !slices.Equal(got, want) {
			t.Errorf("phases after restart %v, want %v", got, want)
		}
		if tm, ok := tgt.store.Model(m.UUID); !ok || tm.MigrationMode != "" {
			t.Error("the model is not active on the target")
		}
		// The redirect survives another restart.
		stop()
		src, _ = runController(t, dir, named("src"))
		_, _, err := login(t, src, "/model/"+m.UUID+"/api", "admin", "secret")
		wantCode(t, err, jujuapi.CodeRedirect, "redirection to alternative server required")
	})
	t.Run("activated before the crash completes", func(t *testing.T) {
		// The source crashed after asking the target to activate, before
		// recording SUCCESS: the target has the model live, so the
		// migration must go on rather than abort.
		dir := t.TempDir()
		gate := newGate(phaseSuccess)
		src, stop := runController(t, dir, named("src"), withHook(gate))
		tgt := startController(t, t.TempDir(), named("dst"))
		admin := mustLogin(t, src, "/api", "admin", "secret")
		m, _ := populated(t, src, admin)
		if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
			t.Fatal(perr)
		}
		gate.wait(t)
		stop()
		// Put the record back to just before SUCCESS was committed.
		st, err := store.Open(dir + "/state.db")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateModel(t.Context(), m.UUID, func(m *store.Model) error {
			m.Migration.Phase = phaseValidation
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		src, _ = runController(t, dir, named("src"))
		r := waitRedirect(t, src, m.UUID)
		if r.Migration.Failure != "" {
			t.Errorf("migration recorded a failure: %q", r.Migration.Failure)
		}
	})
}

func TestMigrationTargetFacade(t *testing.T) {
	tgt := startController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, tgt, "/api", "admin", "secret")
	m := tgt.newModel("incoming", "admin", "r1")
	tgt.addMachine(m, defaultBase, params.Constraints{})
	export, err := exportModel(m, m.Status)
	if err != nil {
		t.Fatal(err)
	}
	tag := params.ModelArgs{ModelTag: "model-" + m.UUID}
	call := func(method string, args any) error {
		return admin.Call(t.Context(), "MigrationTarget", 3, method, args, nil)
	}
	if err := call("Abort", tag); err != nil {
		t.Errorf("Abort of an unknown model: %v", err)
	}
	err = call("Activate", params.ActivateModelArgs{ModelTag: tag.ModelTag})
	wantCode(t, err, jujuapi.CodeNotFound, fmt.Sprintf("model %q not found", m.UUID))
	for range 2 { // importing again replaces
		if err := call("Import", params.SerializedModel{Bytes: export}); err != nil {
			t.Fatalf("Import: %v", err)
		}
	}
	if got := summaries(t, admin, "admin"); len(got) != 1 {
		t.Errorf("importing model listed: %v", got)
	}
	if err := call("Activate", params.ActivateModelArgs{ModelTag: tag.ModelTag}); err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if err := call("Activate", params.ActivateModelArgs{ModelTag: tag.ModelTag}); err != nil {
		t.Errorf("Activate again: %v", err)
	}
	if got := summaries(t, admin, "admin"); got["incoming"] != "admin" {
		t.Errorf("activated model not listed: %v", got)
	}
	err = call("Abort", tag)
	wantCode(t, err, jujuapi.CodeNotValid, fmt.Sprintf("model %q is not being imported: only an importing model can be aborted", m.UUID))
	err = call("Import", params.SerializedModel{Bytes: export})
	wantCode(t, err, jujuapi.CodeAlreadyExists, fmt.Sprintf("model \"incoming\" (%s) already exists on the target", m.UUID))
	err = call("Import", params.SerializedModel{Bytes: []byte(`{"version":2,"model":{}}`)})
	wantCode(t, err, jujuapi.CodeBadRequest, "invalid model export: format version 2 is not supported (this controller reads version 1)")

	// Superusers only.
	var added params.AddUserResults
	admin.Call(t.Context(), "UserManager", 3, "AddUser", params.AddUsers{Users: []params.AddUser{{Username: "bob", Password: "bobpw"}}}, &added)
	bob := mustLogin(t, tgt, "/api", "bob", "bobpw")
	err = bob.Call(t.Context(), "MigrationTarget", 3, "Prechecks", params.MigrationModelInfo{UUID: m.UUID, Name: "x", OwnerTag: "user-bob", AgentVersion: "3.5.4"}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")
}

func TestExportRoundTrip(t *testing.T) {
	c := startController(t, t.TempDir())
	m := c.newModel("round", "admin", "r1")
	m.Users["alice@external"] = store.AccessRead
	m.Config["logging-config"] = "<root>=DEBUG"
	app := &store.Application{Name: "pg", CharmURL: "ch:pg-3", Revision: 3, Base: defaultBase, Units: map[string]*store.Unit{},
		Status: store.Status{Status: "active", Since: time.Now().UTC()}, Config: map[string]any{"port": 5432.0}}
	m.Applications["pg"] = app
	if _, err := c.addUnits(m, app, 3, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := exportModel(m, m.Status)
	if err != nil {
		t.Fatal(err)
	}
	got, err := importModel(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		a, _ := json.Marshal(m)
		b, _ := json.Marshal(got)
		t.Errorf("round trip changed the model:\n%s\n%s", a, b)
	}
}
