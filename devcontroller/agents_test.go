package devcontroller

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newTokenBucket(3, 100*time.Millisecond, t0)
	takes := func(at time.Duration, n int) []bool {
		var out []bool
		for range n {
			out = append(out, b.take(t0.Add(at)))
		}
		return out
	}
	// The burst, then nothing until a token is added.
	if got := takes(0, 4); !slices.Equal(got, []bool{true, true, true, false}) {
		t.Errorf("burst: %v", got)
	}
	if got := takes(99*time.Millisecond, 1); got[0] {
		t.Error("a token before the interval passed")
	}
	// Then one token per interval.
	for i := 1; i <= 5; i++ {
		at := time.Duration(i) * 100 * time.Millisecond
		if got := takes(at, 2); !slices.Equal(got, []bool{true, false}) {
			t.Errorf("at %v: %v, want one token", at, got)
		}
	}
	// Idle time fills the bucket up to its size, no more.
	if got := takes(10*time.Second, 4); !slices.Equal(got, []bool{true, true, true, false}) {
		t.Errorf("after a rest: %v", got)
	}
	if got := takes(10*time.Second+100*time.Millisecond, 2); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("after a rest, one interval on: %v", got)
	}
	// Size 0 disables the limit.
	off := newTokenBucket(0, time.Hour, t0)
	for range 100 {
		if !off.take(t0) {
			t.Fatal("a disabled bucket refused")
		}
	}
}

// agentPassword of the machine or unit of model uuid on c.
func agentPasswordOf(t *testing.T, c *Controller, uuid, tag string) string {
	t.Helper()
	m, ok := c.store.Model(uuid)
	if !ok {
		t.Fatalf("no model %s", uuid)
	}
	parsed, err := jujuapi.ParseTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	pw := agentPassword(m, parsed)
	if pw == "" {
		t.Fatalf("no agent password for %s", tag)
	}
	return pw
}

func agentLogin(t *testing.T, c *Controller, path, tag, password string) (*jujuapi.Client, params.LoginResult, error) {
	t.Helper()
	cl := dial(t, c, path)
	var res params.LoginResult
	err := cl.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: tag, Credentials: password}, &res)
	return cl, res, err
}

func waitAgents(t *testing.T, c *Controller, uuid string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d agents of %s connected to %s", n, uuid, c.cfg.Name), func() bool {
		return c.connectedAgents(uuid) == n
	})
}

func devAgentsOf(t *testing.T, c *Controller, uuid, user, password string) (devAgentsModel, int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "https://"+c.Addr()+"/dev/agents?model="+uuid, nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := httpsClient(c).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out devAgentsResult
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.Models) != 1 {
		return devAgentsModel{}, resp.StatusCode
	}
	return out.Models[0], resp.StatusCode
}

func httpsClient(c *Controller) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = newAgentHost(c).home.tls
	return &http.Client{Transport: tr}
}

func deployOn(t *testing.T, mc *jujuapi.Client, name string, units int, machines []string) {
	t.Helper()
	d := params.ApplicationDeploy{ApplicationName: name, CharmURL: "ch:amd64/jammy/" + name + "-1", CharmOrigin: chOrigin(), NumUnits: units}
	for _, id := range machines {
		d.Placement = append(d.Placement, &params.Placement{Scope: "#", Directive: id})
	}
	var res params.ErrorResults
	if err := mc.Call(t.Context(), "Application", 19, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{d}}, &res); err != nil || res.OneError() != nil {
		t.Fatalf("deploy %s: %v %v", name, err, res.OneError())
	}
}

// Every machine and unit gets an agent with two connections logged in;
// agents come and go with their entities, and come back after a restart.
func TestAgentsConnect(t *testing.T) {
	dir := t.TempDir()
	c, stop := runController(t, dir)
	waitAgents(t, c, c.UUID(), 1) // machine 0 of the controller model
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "m", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	deployApp(t, mc, "pg", 3)
	waitAgents(t, c, m.UUID, 6)
	var added params.AddApplicationUnitsResults
	if err := mc.Call(t.Context(), "Application", 19, "AddUnits", params.AddApplicationUnits{ApplicationName: "pg", NumUnits: 2, Placement: []*params.Placement{{Directive: "0"}}}, &added); err != nil {
		t.Fatal(err)
	}
	waitAgents(t, c, m.UUID, 9) // one new machine, two new units
	deployApp(t, mc, "web", 1)
	waitAgents(t, c, m.UUID, 11)
	if got := c.agentSessions.count()[m.UUID].Connections; got != 22 {
		t.Errorf("%d agent connections, want 22", got)
	}
	// Status is as before: machines started, units idle.
	st := fullStatusOf(t, mc)
	for id, ms := range st.Machines {
		if ms.AgentStatus.Status != "started" {
			t.Errorf("machine %s agent status %q", id, ms.AgentStatus.Status)
		}
	}
	for un, us := range st.Applications["pg"].Units {
		if us.AgentStatus.Status != "idle" {
			t.Errorf("unit %s agent status %q", un, us.AgentStatus.Status)
		}
	}
	// The development endpoint tells the same, to superusers only.
	got, code := devAgentsOf(t, c, m.UUID, "admin", "secret")
	if code != 200 || got.Agents != 11 || got.Connected != 11 || got.Connections != 22 || got.Hosted != (agentPlaces{Here: 11}) || got.Name != "m" {
		t.Errorf("/dev/agents: %d %+v", code, got)
	}
	if _, code := devAgentsOf(t, c, m.UUID, "admin", "nope"); code != http.StatusUnauthorized {
		t.Errorf("/dev/agents with a wrong password: %d", code)
	}
	if _, code := devAgentsOf(t, c, m.UUID, "", ""); code != http.StatusUnauthorized {
		t.Errorf("/dev/agents without credentials: %d", code)
	}

	// A destroyed application's unit agents go, and (as in Juju) those of
	// the machines its units were alone on.
	var res params.DestroyApplicationResults
	if err := mc.Call(t.Context(), "Application", 19, "DestroyApplication", params.DestroyApplicationsParams{Applications: []params.DestroyApplicationParams{{ApplicationTag: "application-pg"}}}, &res); err != nil {
		t.Fatal(err)
	}
	waitAgents(t, c, m.UUID, 2) // web/0 and its machine

	// After a restart, the agents connect again.
	stop()
	c, _ = runController(t, dir)
	waitAgents(t, c, m.UUID, 2)
	waitAgents(t, c, c.UUID(), 1)

	// A destroyed model's agents go.
	admin = mustLogin(t, c, "/api", "admin", "secret")
	var dres params.ErrorResults
	if err := admin.Call(t.Context(), "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + m.UUID}}}, &dres); err != nil || dres.OneError() != nil {
		t.Fatal(err, dres.OneError())
	}
	waitAgents(t, c, m.UUID, 0)
	if p := c.agents.places(m.UUID); p != (agentPlaces{}) {
		t.Errorf("agents of a destroyed model: %+v", p)
	}
}

// Agent logins: the entity of the model with its password, Pinger only,
// and a token from the bucket for each (user logins take none).
func TestAgentLogin(t *testing.T) {
	c := startController(t, t.TempDir(), func(c *Config) { c.AgentRateLimitMax = new(3); c.AgentRateLimitRate = time.Minute })
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "m", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	deployApp(t, mc, "pg", 1)
	pw := agentPasswordOf(t, c, m.UUID, "unit-pg-0")

	// 1: the unit logs in on its model; it may ping, nothing else.
	cl, res, err := agentLogin(t, c, "/model/"+m.UUID+"/api", "unit-pg-0", pw)
	if err != nil {
		t.Fatalf("agent login: %v", err)
	}
	if res.ModelTag != "model-"+m.UUID || res.ControllerTag != "controller-"+c.UUID() || res.UserInfo != nil {
		t.Errorf("login result: %+v", res)
	}
	var names []string
	for _, f := range res.Facades {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"Admin", "Pinger"}) {
		t.Errorf("agent facades %v", names)
	}
	if err := cl.Call(t.Context(), "Pinger", 1, "Ping", nil, nil); err != nil {
		t.Errorf("agent ping: %v", err)
	}
	err = cl.Call(t.Context(), "Client", 7, "FullStatus", params.StatusParams{}, nil)
	wantCode(t, err, jujuapi.CodeNotImplemented, `unknown object type "Client"`)
	// 2: a wrong password is refused (and took a token, as in Juju).
	_, _, err = agentLogin(t, c, "/model/"+m.UUID+"/api", "unit-pg-0", "nope")
	wantCode(t, err, jujuapi.CodeUnauthorized, "invalid entity name or password")
	// 3: on /api, found by its password.
	if _, res, err := agentLogin(t, c, "/api", "unit-pg-0", pw); err != nil || res.ModelTag != "" {
		t.Errorf("agent login on /api: %v %+v", err, res)
	}
	// The bucket is empty: agents are told to try again; users are not
	// limited.
	_, _, err = agentLogin(t, c, "/model/"+m.UUID+"/api", "machine-0", agentPasswordOf(t, c, m.UUID, "machine-0"))
	wantCode(t, err, jujuapi.CodeTryAgain, "try again")
	for range 5 {
		mustLogin(t, c, "/api", "admin", "secret")
	}
	waitFor(t, "agent sessions counted", func() bool {
		// The controller's own two agents, and the test's unit-pg-0.
		return c.agentSessions.count()[m.UUID] == agentCount{Connected: 2, Connections: 6}
	})

	// With the limit off, the rules: only an entity of the model, with
	// its own password.
	if err := admin.Call(t.Context(), "Controller", 11, "ConfigSet", params.ControllerConfigSet{Config: map[string]any{"agent-ratelimit-max": 0}}, nil); err != nil {
		t.Fatal(err)
	}
	other := createModel(t, admin, "other", "admin")
	for _, tc := range []struct{ path, tag, password string }{
		{"/model/" + other.UUID + "/api", "unit-pg-0", pw},         // not of that model
		{"/model/" + m.UUID + "/api", "machine-0", pw},             // another entity's password
		{"/model/" + m.UUID + "/api", "unit-pg-1", pw},             // no such unit
		{"/model/" + m.UUID + "/api", "application-pg", pw},        // not an agent
		{"/model/" + c.UUID() + "/api", "machine-0", pw},           // the controller model's machine
		{"/api", "machine-0", pw},                                  // on /api too
		{"/model/" + m.UUID + "/api", "unit-pg-0", ""},             // no password
		{"/model/" + m.UUID + "/api", "unit-pg-0", pw[:len(pw)-1]}, // a prefix
	} {
		_, _, err := agentLogin(t, c, tc.path, tc.tag, tc.password)
		wantCode(t, err, jujuapi.CodeUnauthorized, "invalid entity name or password")
	}
	_, _, err = agentLogin(t, c, "/model/00000000-0000-4000-8000-000000000000/api", "unit-pg-0", pw)
	wantCode(t, err, jujuapi.CodeModelNotFound, `unknown model: "00000000-0000-4000-8000-000000000000"`)
}

func TestControllerConfig(t *testing.T) {
	dir := t.TempDir()
	c, stop := runController(t, dir, func(c *Config) { c.AgentRateLimitMax = nil })
	admin := mustLogin(t, c, "/api", "admin", "secret")
	get := func(cl *jujuapi.Client) map[string]any {
		t.Helper()
		var res params.ControllerConfigResult
		if err := cl.Call(t.Context(), "Controller", 11, "ControllerConfig", nil, &res); err != nil {
			t.Fatal(err)
		}
		return res.Config
	}
	cfg := get(admin)
	if cfg["agent-ratelimit-max"] != 10.0 || cfg["agent-ratelimit-rate"] != "250ms" || cfg["migration-agent-wait-time"] != "15m0s" || cfg["controller-uuid"] != c.UUID() {
		t.Errorf("defaults: %v", cfg)
	}
	set := func(kv map[string]any) error {
		return admin.Call(t.Context(), "Controller", 11, "ConfigSet", params.ControllerConfigSet{Config: kv}, nil)
	}
	for _, tc := range []struct {
		kv   map[string]any
		code string
		msg  string
	}{
		{map[string]any{"agent-ratelimit-max": -1}, jujuapi.CodeNotValid, "negative agent-ratelimit-max (-1) not valid"},
		{map[string]any{"agent-ratelimit-max": 1.5}, jujuapi.CodeNotValid, "agent-ratelimit-max: 1.5 is not an integer"},
		{map[string]any{"agent-ratelimit-rate": "0s"}, jujuapi.CodeNotValid, "agent-ratelimit-rate cannot be zero"},
		{map[string]any{"agent-ratelimit-rate": "2m"}, jujuapi.CodeNotValid, "agent-ratelimit-rate must be between 0..1m"},
		{map[string]any{"agent-ratelimit-rate": "fast"}, jujuapi.CodeNotValid, `agent-ratelimit-rate: "fast" is not a duration`},
		{map[string]any{"migration-agent-wait-time": "-1s"}, jujuapi.CodeNotValid, "migration-agent-wait-time value -1s must be a valid positive duration"},
		{map[string]any{"agent-ratelimit-max": 5, "audit-log-max-backups": 3}, jujuapi.CodeNotSupported, `controller config "audit-log-max-backups" cannot be set on a development controller (it knows agent-ratelimit-max, agent-ratelimit-rate, migration-agent-wait-time)`},
	} {
		wantCode(t, set(tc.kv), tc.code, tc.msg)
	}
	if got := get(admin)["agent-ratelimit-max"]; got != 10.0 {
		t.Errorf("a refused ConfigSet changed agent-ratelimit-max to %v", got)
	}
	if err := set(map[string]any{"agent-ratelimit-max": 2, "agent-ratelimit-rate": "50ms", "migration-agent-wait-time": "1m"}); err != nil {
		t.Fatal(err)
	}
	if s := c.settings(); s != (controllerSettings{2, 50 * time.Millisecond, time.Minute}) {
		t.Errorf("settings %+v", s)
	}
	if b := c.agentBucket.Load(); b.max != 2 || b.rate != 50*time.Millisecond {
		t.Errorf("bucket %d/%v", b.max, b.rate)
	}
	var added params.AddUserResults
	admin.Call(t.Context(), "UserManager", 3, "AddUser", params.AddUsers{Users: []params.AddUser{{Username: "bob", Password: "bobpw"}}}, &added)
	bob := mustLogin(t, c, "/api", "bob", "bobpw")
	if got := get(bob)["agent-ratelimit-rate"]; got != "50ms" {
		t.Errorf("bob reads %v", got)
	}
	err := bob.Call(t.Context(), "Controller", 11, "ConfigSet", params.ControllerConfigSet{Config: map[string]any{"agent-ratelimit-max": 100}}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	// Settings survive a restart; a setting given at start wins.
	stop()
	c, stop = runController(t, dir, func(c *Config) { c.AgentRateLimitMax = nil })
	if s := c.settings(); s != (controllerSettings{2, 50 * time.Millisecond, time.Minute}) {
		t.Errorf("settings after restart %+v", s)
	}
	stop()
	c, _ = runController(t, dir, func(c *Config) { c.AgentRateLimitMax = new(7); c.MigrationAgentWaitTime = time.Second })
	if s := c.settings(); s != (controllerSettings{7, 50 * time.Millisecond, time.Second}) {
		t.Errorf("settings with overrides %+v", s)
	}

	// The flags.
	var cfgFlags Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	RegisterFlags(fs, &cfgFlags)
	if err := fs.Parse([]string{"--agent-ratelimit-max", "0", "--agent-ratelimit-rate", "20ms", "--migration-agent-wait-time", "3s"}); err != nil {
		t.Fatal(err)
	}
	if cfgFlags.AgentRateLimitMax == nil || *cfgFlags.AgentRateLimitMax != 0 || cfgFlags.AgentRateLimitRate != 20*time.Millisecond || cfgFlags.MigrationAgentWaitTime != 3*time.Second {
		t.Errorf("flags: %v %v %v", cfgFlags.AgentRateLimitMax, cfgFlags.AgentRateLimitRate, cfgFlags.MigrationAgentWaitTime)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(nopWriter))
	RegisterFlags(fs, &cfgFlags)
	if err := fs.Parse([]string{"--agent-ratelimit-rate", "0s"}); err == nil {
		t.Error("a zero rate was accepted")
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// agentModel creates model "m" on c with machines+units = 30 agents: 10
// machines, "pg" with a unit on each, and "web" with 10 units on the
// same machines.
func agentModel(t *testing.T, c *Controller, admin *jujuapi.Client) (params.ModelInfo, *jujuapi.Client) {
	t.Helper()
	m := createModel(t, admin, "m", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	deployApp(t, mc, "pg", 10)
	var ids []string
	for i := range 10 {
		ids = append(ids, strconv.Itoa(i))
	}
	deployOn(t, mc, "web", 10, ids)
	waitAgents(t, c, m.UUID, 30)
	return m, mc
}

// In VALIDATION the agents move to the target through its token bucket
// and report; the migration completes once all have, and the target then
// runs them.
func TestMigrationAgents(t *testing.T) {
	clock := &phaseClock{at: map[string]time.Time{}}
	gate := newGate(phaseSuccess)
	src := startController(t, t.TempDir(), named("src"), func(c *Config) {
		c.migrationHook = func(ctx context.Context, uuid, phase string) {
			clock.hook(ctx, uuid, phase)
			gate.hook(ctx, uuid, phase)
		}
	})
	tgt := startController(t, t.TempDir(), named("dst"), func(c *Config) {
		c.AgentRateLimitMax = new(5)
		c.AgentRateLimitRate = 20 * time.Millisecond
	})
	admin := mustLogin(t, src, "/api", "admin", "secret")
	m, _ := agentModel(t, src, admin)
	if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
		t.Fatal(perr)
	}

	// Held on entering SUCCESS: every agent has reported; all run on the
	// source, connected to the target.
	gate.wait(t)
	if got := tgt.connectedAgents(m.UUID); got != 30 {
		t.Errorf("%d agents connected to the target after VALIDATION, want 30", got)
	}
	if got := src.connectedAgents(m.UUID); got != 0 {
		t.Errorf("%d agents still connected to the source", got)
	}
	if p := src.agents.places(m.UUID); p != (agentPlaces{Elsewhere: 30}) {
		t.Errorf("source agents: %+v", p)
	}
	// 60 logins through a bucket of 5, one token per 20ms: at least 1.1s.
	v, _ := clock.get(phaseValidation)
	s, _ := clock.get(phaseSuccess)
	if took := s.Sub(v); took < 1100*time.Millisecond {
		t.Errorf("VALIDATION took %v: the bucket did not hold the agents back", took)
	} else {
		t.Logf("VALIDATION took %v", took)
	}
	close(gate.release)

	// Done: the target runs the agents, the source none.
	waitRedirect(t, src, m.UUID)
	waitFor(t, "the target runs the agents", func() bool {
		return tgt.agents.places(m.UUID) == agentPlaces{Here: 30} && src.agents.places(m.UUID) == agentPlaces{}
	})
	waitAgents(t, tgt, m.UUID, 30)
	waitFor(t, "the source's connections to the target closed", func() bool {
		return tgt.agentSessions.count()[m.UUID].Connections == 60
	})
	// And the model works there: a new unit gets an agent.
	tmc := mustLogin(t, tgt, "/model/"+m.UUID+"/api", "admin", "secret")
	deployApp(t, tmc, "extra", 1)
	waitAgents(t, tgt, m.UUID, 32)
}

// When the agents cannot all reach the target within
// migration-agent-wait-time, the migration aborts and they come back.
func TestMigrationAgentsTimeout(t *testing.T) {
	src := startController(t, t.TempDir(), named("src"), func(c *Config) { c.MigrationAgentWaitTime = 300 * time.Millisecond })
	tgt := startController(t, t.TempDir(), named("dst"), func(c *Config) {
		c.AgentRateLimitMax = new(2)
		c.AgentRateLimitRate = 10 * time.Second
	})
	admin := mustLogin(t, src, "/api", "admin", "secret")
	m, mc := agentModel(t, src, admin)
	if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
		t.Fatal(perr)
	}
	sm := waitPhase(t, src, m.UUID, phaseAbortDone)
	want := regexp.MustCompile(`^(29|30) of 30 agents did not report from the target controller within migration-agent-wait-time \(300ms\)$`)
	if mig := sm.Migration; mig.FailedPhase != phaseValidation || !want.MatchString(mig.Failure) {
		t.Errorf("failed phase %q: %q", mig.FailedPhase, mig.Failure)
	}
	// The agents are back on the source, none on the target, and the
	// model works.
	waitAgents(t, src, m.UUID, 30)
	waitAgents(t, tgt, m.UUID, 0)
	if p := src.agents.places(m.UUID); p != (agentPlaces{Here: 30}) {
		t.Errorf("source agents: %+v", p)
	}
	if _, ok := tgt.store.Model(m.UUID); ok {
		t.Error("the target kept the model")
	}
	if ms := fullStatusOf(t, mc).Model.ModelStatus; ms.Status != "available" {
		t.Errorf("model status %q %q", ms.Status, ms.Info)
	}
	deployApp(t, mc, "extra", 1)
	waitAgents(t, src, m.UUID, 32)
}
