package devcontroller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// phaseClock records when a migration runner enters each phase.
type phaseClock struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (p *phaseClock) hook(_ context.Context, _, phase string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.at[phase]; !ok {
		p.at[phase] = time.Now()
	}
}

func (p *phaseClock) get(phase string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.at[phase]
	return t, ok
}

func TestParsePhaseDelay(t *testing.T) {
	for _, tc := range []struct {
		in    any
		phase string
		d     time.Duration
		bad   bool
	}{
		{in: "VALIDATION:5s", phase: "VALIDATION", d: 5 * time.Second},
		{in: " import : 250ms ", phase: "IMPORT", d: 250 * time.Millisecond},
		{in: "DONE:0s", phase: "DONE"},
		{in: "VALIDATION", bad: true},
		{in: "NOPE:1s", bad: true},
		{in: "VALIDATION:soon", bad: true},
		{in: "VALIDATION:-1s", bad: true},
		{in: 5, bad: true},
	} {
		phase, d, err := parsePhaseDelay(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%v: no error", tc.in)
			}
			continue
		}
		if err != nil || phase != tc.phase || d != tc.d {
			t.Errorf("%v: %q %v %v, want %q %v", tc.in, phase, d, err, tc.phase, tc.d)
		}
	}
}

func TestMigrationPhaseDelay(t *testing.T) {
	clock := &phaseClock{at: map[string]time.Time{}}
	src := startController(t, t.TempDir(), named("src"), func(c *Config) { c.migrationHook = clock.hook })
	tgt := startController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	m, mc := populated(t, src, admin)

	err := mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{phaseDelayKey: "VALIDATION:soon"}}, nil)
	wantCode(t, err, jujuapi.CodeNotValid, `dev-migration-phase-delay "VALIDATION:soon": "soon" is not a non-negative duration`)
	const delay = 600 * time.Millisecond
	if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{phaseDelayKey: "validation:600ms"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
		t.Fatal(perr)
	}
	// While the runner waits, the migration shows VALIDATION and the
	// model has not been activated on the target.
	waitPhase(t, src, m.UUID, phaseValidation)
	if tm, ok := tgt.store.Model(m.UUID); !ok || tm.MigrationMode != "importing" {
		t.Errorf("target model during the delay: %v", ok)
	}
	waitRedirect(t, src, m.UUID)
	v, _ := clock.get(phaseValidation)
	s, _ := clock.get(phaseSuccess)
	imp, _ := clock.get(phaseImport)
	pr, _ := clock.get(phaseProcessRelations)
	if got := s.Sub(v); got < delay {
		t.Errorf("VALIDATION lasted %v, want at least %v", got, delay)
	}
	if got := pr.Sub(imp); got >= delay {
		t.Errorf("IMPORT lasted %v: the delay applies to VALIDATION only", got)
	}
}

// The delay ends when the controller stops; the next start takes the
// migration from there (aborting it, before SUCCESS).
func TestMigrationPhaseDelayInterruptible(t *testing.T) {
	dir := t.TempDir()
	src, stop := runController(t, dir, named("src"))
	tgt := startController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	m, mc := populated(t, src, admin)
	if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{phaseDelayKey: "IMPORT:1h"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
		t.Fatal(perr)
	}
	waitPhase(t, src, m.UUID, phaseImport)
	time.Sleep(100 * time.Millisecond)
	if _, ok := tgt.store.Model(m.UUID); ok {
		t.Error("the target imported the model during the delay")
	}
	start := time.Now()
	stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping the controller took %v", took)
	}
	src, _ = runController(t, dir, named("src"))
	sm := waitPhase(t, src, m.UUID, phaseAbortDone)
	if sm.Migration.FailedPhase != phaseImport {
		t.Errorf("failed phase %q", sm.Migration.FailedPhase)
	}
}
