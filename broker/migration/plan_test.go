package migration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func TestEstimateAndAdvice(t *testing.T) {
	defaults := Limits{Max: DefaultRateLimitMax, Rate: DefaultRateLimitRate, Wait: DefaultAgentWaitTime}
	// The token bucket's floor: the last of 2n logins waits (2n − max) × rate.
	if got, floor := Estimate(223, defaults), time.Duration(2*223-10)*250*time.Millisecond; got < floor || got > floor+5*time.Second {
		t.Errorf("Estimate(223 agents, defaults) = %s, want just above the floor %s", got, floor)
	}
	if Estimate(223, Limits{Max: 0, Wait: time.Minute}) > 3*time.Second {
		t.Errorf("no limit: %s", Estimate(223, Limits{Wait: time.Minute}))
	}
	if !Fits(Estimate(223, defaults), defaults) {
		t.Error("223 agents at Juju's defaults (15m wait) should fit")
	}
	slow := Limits{Max: 1, Rate: 10 * time.Second, Wait: time.Minute}
	if Fits(Estimate(223, slow), slow) {
		t.Fatal("223 agents at 1 login per 10s with a 1m wait fits?")
	}
	advised, advice, ok := Advise(223, slow)
	if !ok || !Fits(Estimate(223, advised), advised) || advised.Wait != slow.Wait {
		t.Fatalf("Advise = %+v %v; its estimate %s does not fit", advised, ok, Estimate(223, advised))
	}
	for _, want := range []string{"223 agents", "446 logins", "agent-ratelimit-rate=" + advised.Rate.String(), "migration-agent-wait-time="} {
		if !strings.Contains(advice, want) {
			t.Errorf("advice %q lacks %q", advice, want)
		}
	}
	if _, _, ok := Advise(223, defaults); ok {
		t.Error("advice for a plan that fits")
	}
	// A wait so short that only a longer wait helps.
	tiny := Limits{Max: 1, Rate: time.Second, Wait: time.Second}
	advised, advice, ok = Advise(5000, tiny)
	if !ok || advised.Wait <= tiny.Wait || !strings.Contains(advice, "even without a rate limit") || !Fits(Estimate(5000, Limits{Wait: advised.Wait}), Limits{Wait: advised.Wait}) {
		t.Errorf("Advise(5000 agents, 1s wait) = %+v %q", advised, advice)
	}
}

func TestLimitsFromConfig(t *testing.T) {
	l, err := LimitsFromConfig(map[string]any{"agent-ratelimit-max": float64(1), "agent-ratelimit-rate": "10s", "migration-agent-wait-time": "1m"})
	if err != nil || l != (Limits{Max: 1, Rate: 10 * time.Second, Wait: time.Minute}) {
		t.Errorf("LimitsFromConfig = %+v, %v", l, err)
	}
	l, err = LimitsFromConfig(map[string]any{})
	if err != nil || l != (Limits{Max: DefaultRateLimitMax, Rate: DefaultRateLimitRate, Wait: DefaultAgentWaitTime}) {
		t.Errorf("LimitsFromConfig(empty) = %+v, %v; want Juju's defaults", l, err)
	}
	if _, err := LimitsFromConfig(map[string]any{"agent-ratelimit-rate": "soon"}); err == nil || !strings.Contains(err.Error(), "agent-ratelimit-rate") {
		t.Errorf("a bad rate: %v", err)
	}
}

// TestPlanRefusesUnlessForced: a migration whose agents would not
// reconnect within the target's wait time is refused with the advice,
// nothing recorded; --force starts it; applying the advice makes it fit.
func TestPlanRefusesUnlessForced(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	e.ctls["ctl-a"].set(func(c *fakeController) {
		c.models = []params.ModelSummaryResult{{Result: &params.ModelSummary{UUID: e.model.UUID, Name: e.model.Name,
			Counts: []params.ModelEntityCount{{Entity: params.Machines, Count: 56}, {Entity: params.Units, Count: 167}}}}}
	})
	// The target's bucket admits one login per 10s; the source, whose
	// migration master waits for the agents, waits a minute. (The
	// target's own wait time plays no part.)
	target := e.ctls["ctl-b"]
	target.set(func(c *fakeController) {
		c.config = map[string]any{"agent-ratelimit-max": float64(1), "agent-ratelimit-rate": "10s", "migration-agent-wait-time": "1h"}
	})
	e.ctls["ctl-a"].set(func(c *fakeController) { c.config = map[string]any{"migration-agent-wait-time": "1m"} })
	p, err := m.PlanMigration(t.Context(), "ctl-b", e.model.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Agents() != 223 || p.Fits || p.Advised == nil || p.Source != "ctl-a" || p.Model != "alice/m" ||
		p.Limits != (Limits{Max: 1, Rate: 10 * time.Second, Wait: time.Minute}) {
		t.Fatalf("plan %+v", p)
	}
	_, err = m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "would not finish VALIDATION") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Migrate of a plan that does not fit: %v", err)
	}
	if rows, _ := e.d.Migrations(t.Context()); len(rows) != 0 || e.ctls["ctl-a"].initiated != 0 {
		t.Fatalf("a refused migration left %d rows, %d initiations", len(rows), e.ctls["ctl-a"].initiated)
	}
	applied, err := m.ApplyAdvice(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !applied.Applied || !applied.Fits || applied.Limits != *p.Advised {
		t.Fatalf("after applying: %+v, want fits with %+v", applied, *p.Advised)
	}
	if got := target.config["agent-ratelimit-rate"]; got != p.Advised.Rate.String() {
		t.Errorf("the target's agent-ratelimit-rate after applying: %v, want %s", got, p.Advised.Rate)
	}
	mig, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stored := StoredPlan(e.migration(t, mig.ID))
	if stored == nil || stored.Agents() != 223 || stored.Estimate != applied.Estimate || !stored.Fits {
		t.Fatalf("plan stored on the migration: %+v", stored)
	}
}

func TestPlanForced(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	e.model.MachineCount, e.model.UnitCount = 56, 167
	if err := e.d.SetModelCounts(t.Context(), e.model.UUID, 56, 167); err != nil {
		t.Fatal(err)
	}
	e.ctls["ctl-b"].set(func(c *fakeController) {
		c.config = map[string]any{"agent-ratelimit-max": "1", "agent-ratelimit-rate": "10s", "migration-agent-wait-time": "1m"}
	})
	// The source's summaries do not list the model: its recorded size counts.
	mig, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{Force: true})
	if err != nil {
		t.Fatalf("a forced migration: %v", err)
	}
	if p := StoredPlan(e.migration(t, mig.ID)); p == nil || p.Fits || p.Agents() != 223 {
		t.Fatalf("plan stored on a forced migration: %+v", p)
	}
	if mig.Result != db.MigrationRunning {
		t.Fatalf("forced migration %+v", mig)
	}
}

// TestSecretBackendPrecheck: a model whose secret backend the target
// lacks (by id) is refused before anything starts, naming the backend,
// its id and the fix; a backend of the same name but another id does not
// count; once the target has the id, the migration starts.
func TestSecretBackendPrecheck(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	e.modelConfig = map[string]any{"secret-backend": "myvault"}
	e.ctls["ctl-a"].set(func(c *fakeController) { c.backends = map[string]string{"id-vault-1": "myvault", "id-other": "other"} })
	e.ctls["ctl-b"].set(func(c *fakeController) { c.backends = map[string]string{"id-elsewhere": "myvault"} })
	_, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{Force: true})
	for _, want := range []string{`secret backend "myvault"`, "id id-vault-1", "another id", "--import-id id-vault-1"} {
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Migrate with the backend missing on the target: %v; want a refusal saying %q", err, want)
		}
	}
	if rows, _ := e.d.Migrations(t.Context()); len(rows) != 0 || e.ctls["ctl-a"].initiated != 0 {
		t.Fatalf("a refused migration left %d rows, %d initiations", len(rows), e.ctls["ctl-a"].initiated)
	}
	e.ctls["ctl-b"].set(func(c *fakeController) { c.backends["id-vault-1"] = "imported" })
	if _, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{}); err != nil {
		t.Fatalf("Migrate once the target has the backend's id: %v", err)
	}
}

// TestCredentialPrecheck: a model whose credential is not its owner's is
// refused, naming both.
func TestCredentialPrecheck(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	if err := e.d.WithContext(t.Context()).Model(&db.Model{}).Where("uuid = ?", e.model.UUID).Update("credential", "c/bob/bobs").Error; err != nil {
		t.Fatal(err)
	}
	e.routes.Forget(e.model.UUID)
	_, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `credential "bobs" of bob, not of its owner alice`) {
		t.Fatalf("Migrate with another user's credential: %v", err)
	}
}

// TestEvacuationWaitsForItsSource: a move whose source is down stays
// pending, saying why, and the job goes on; once the source is back, the
// move's migration starts.
func TestEvacuationWaitsForItsSource(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	e.mu.Lock()
	e.down["ctl-a"] = true
	e.mu.Unlock()
	j, err := m.Evacuate(t.Context(), EvacuateRequest{Controller: "ctl-a", To: []string{"ctl-b"}, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if j.ID == 0 || len(j.Moves) != 1 || j.Moves[0].Target != "ctl-b" || j.Moves[0].ModelUUID != e.model.UUID {
		t.Fatalf("evacuation %+v", j)
	}
	if c, _ := (registry{e.d}).Get(t.Context(), "ctl-a"); !c.Deprecated {
		t.Error("the evacuated controller is not deprecated")
	}
	job := func() *Job {
		got, err := m.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	e.until(t, "the move says why it waits", func() bool { return job().Moves[0].Error != "" })
	if got := job(); got.State != db.FleetJobRunning || got.Moves[0].State != db.MovePending || !strings.Contains(got.Moves[0].Error, `controller "ctl-a", the model's source, is down`) {
		t.Fatalf("with the source down: %+v", got)
	}
	e.mu.Lock()
	e.down["ctl-a"] = false
	e.mu.Unlock()
	e.until(t, "the move starts once the source is back", func() bool { return job().Moves[0].State == db.MoveRunning })
	if got := job().Moves[0]; got.MigrationID == 0 || got.Error != "" || e.ctls["ctl-a"].initiated != 1 {
		t.Fatalf("the started move %+v (initiated %d)", got, e.ctls["ctl-a"].initiated)
	}
}

// TestEvacuationRestartsAMoveNeverStarted: a move whose migration ended
// because the source never took it (its replica stopped first) goes back
// to pending and starts again, with a new migration; nothing had moved.
func TestEvacuationRestartsAMoveNeverStarted(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, t.Context(), "r1")
	e.mu.Lock()
	e.down["ctl-a"] = true // the move waits, pending, until the row below is in place
	e.mu.Unlock()
	j, err := m.Evacuate(t.Context(), EvacuateRequest{Controller: "ctl-a", To: []string{"ctl-b"}, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now().UTC()
	never := &db.Migration{
		ModelUUID: e.model.UUID, ModelName: e.model.Name, Owner: e.model.Owner,
		SourceControllerID: e.rows["ctl-a"].ID, TargetControllerID: e.rows["ctl-b"].ID,
		SourceController: "ctl-a", TargetController: "ctl-b",
		Phase: phaseInitiating, Result: db.MigrationRunning, StartedAt: now, PhaseChangedAt: now,
	}
	if err := e.d.AddMigration(t.Context(), never); err != nil {
		t.Fatal(err)
	}
	if err := e.d.EndMigration(t.Context(), never.ID, db.MigrationFailed, phaseInitiating, notAccepted+": the model stays on ctl-a", now); err != nil {
		t.Fatal(err)
	}
	if err := e.d.SetFleetMove(t.Context(), j.Moves[0].ID, db.MoveRunning, never.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.down["ctl-a"] = false
	e.mu.Unlock()
	job := func() *Job {
		got, err := m.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	e.until(t, "the move runs again", func() bool {
		mv := job().Moves[0]
		return mv.State == db.MoveRunning && mv.MigrationID != never.ID
	})
	if got := job(); got.State != db.FleetJobRunning || e.ctls["ctl-a"].initiated != 1 {
		t.Fatalf("after the restart: %+v (initiated %d)", got, e.ctls["ctl-a"].initiated)
	}
}
