package devcontroller

import (
	"context"
	"log/slog"
	"slices"
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

// delayLog is a log handler that records the delays a controller's
// migration runners announce ("delaying migration phase"), which they do
// as the delay begins.
type delayLog struct {
	// hold, when set, keeps a runner that announces a delay from
	// beginning it until hold is closed: a test sees the migration as it
	// is during the delay, for as long as it needs.
	hold chan struct{}

	mu      sync.Mutex
	delays  []phaseDelay
	changed chan struct{} // closed and replaced on each delay
}

type phaseDelay struct {
	phase string
	d     time.Duration
}

func newDelayLog() *delayLog { return &delayLog{changed: make(chan struct{})} }

func (l *delayLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *delayLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "delaying migration phase" {
		return nil
	}
	var pd phaseDelay
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "phase":
			pd.phase = a.Value.String()
		case "for":
			pd.d = a.Value.Duration()
		}
		return true
	})
	l.mu.Lock()
	l.delays = append(l.delays, pd)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	if l.hold != nil {
		<-l.hold
	}
	return nil
}

func (l *delayLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *delayLog) WithGroup(string) slog.Handler      { return l }

func (l *delayLog) logger() func(*Config) {
	return func(c *Config) { c.Logger = slog.New(l) }
}

// get returns the delays announced so far.
func (l *delayLog) get() []phaseDelay {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.delays)
}

// wait waits until a delay of phase has been announced: the runner is
// then in it.
func (l *delayLog) wait(t *testing.T, phase string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		l.mu.Lock()
		changed := l.changed
		found := slices.ContainsFunc(l.delays, func(pd phaseDelay) bool { return pd.phase == phase })
		l.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no delay of phase %s within 15s (delays announced: %v)", phase, l.get())
		}
	}
}

func TestMigrationPhaseDelay(t *testing.T) {
	delays := newDelayLog()
	delays.hold = make(chan struct{})
	release := sync.OnceFunc(func() { close(delays.hold) })
	src := startController(t, t.TempDir(), named("src"), delays.logger())
	t.Cleanup(release) // runs before src stops, which waits for its runner
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
	// As the delay begins (held there), the migration shows VALIDATION
	// and the model has not been activated on the target.
	delays.wait(t, phaseValidation)
	if sm, ok := src.store.Model(m.UUID); !ok || sm.Migration == nil || sm.Migration.Phase != phaseValidation {
		t.Errorf("migration during the delay: %v", ok)
	}
	if tm, ok := tgt.store.Model(m.UUID); !ok || tm.MigrationMode != "importing" {
		t.Errorf("target model during the delay: %v", ok)
	}
	// Then it completes, having delayed VALIDATION only, by the delay
	// asked for.
	release()
	waitRedirect(t, src, m.UUID)
	if got, want := delays.get(), []phaseDelay{{phaseValidation, delay}}; !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
}

// The delay ends when the controller stops; the next start takes the
// migration from there (aborting it, before SUCCESS).
func TestMigrationPhaseDelayInterruptible(t *testing.T) {
	dir := t.TempDir()
	delays := newDelayLog()
	src, stop := runController(t, dir, named("src"), delays.logger())
	tgt := startController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	m, mc := populated(t, src, admin)
	if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{phaseDelayKey: "IMPORT:1h"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, perr := initiate(t, admin, m.UUID, targetInfo(tgt)); perr != nil {
		t.Fatal(perr)
	}
	delays.wait(t, phaseImport)
	if _, ok := tgt.store.Model(m.UUID); ok {
		t.Error("the target imported the model during the delay")
	}
	// An hour's delay does not hold the controller's stop.
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("the controller did not stop within a minute of being asked, during a delay of an hour")
	}
	src, _ = runController(t, dir, named("src"))
	sm := waitPhase(t, src, m.UUID, phaseAbortDone)
	if sm.Migration.FailedPhase != phaseImport {
		t.Errorf("failed phase %q", sm.Migration.FailedPhase)
	}
}
