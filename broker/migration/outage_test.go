package migration

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/db"
)

// TestFollowerRidesOutAnOutage: the database goes away while a migration
// is followed, across its cutover (lease renewals, phases and the flip all
// fail as a lost connection does). The follower neither gives up nor
// marks the migration failed; once the database is back it records the
// end and flips the route at once, without waiting for the lease to lapse
// and another follower to adopt the migration.
func TestFollowerRidesOutAnOutage(t *testing.T) {
	e := newEnv(t)
	var err error
	if e.routes, err = routing.New(routing.Deps{DB: e.d, Logger: quiet, DBWait: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := e.routes.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	var outage atomic.Bool
	var failed atomic.Int64
	fail := func(tx *gorm.DB) {
		if outage.Load() {
			failed.Add(1)
			tx.AddError(io.ErrUnexpectedEOF)
		}
	}
	cb := e.d.Callback()
	for _, err := range []error{
		cb.Query().Before("gorm:query").Register("test:outage", fail),
		cb.Update().Before("gorm:begin_transaction").Register("test:outage", fail),
		cb.Create().Before("gorm:begin_transaction").Register("test:outage", fail),
		cb.Delete().Before("gorm:begin_transaction").Register("test:outage", fail),
		cb.Raw().Before("gorm:raw").Register("test:outage", fail),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	logs := &capture{}
	m := e.managerLogging(t, slog.New(logs))
	mig, err := m.Migrate(t.Context(), "ctl-b", e.model.UUID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.until(t, "QUIESCE is recorded", func() bool { return e.migration(t, mig.ID).Phase == "QUIESCE" })

	// step moves the fake clock a poll on once the follower, the adopter
	// and the fleet job runner all wait for it (a follower that gave up never does).
	tryStep := func(within time.Duration) bool {
		ctx, cancel := context.WithTimeout(t.Context(), within)
		defer cancel()
		if !e.clock.AwaitWaiters(3, ctx.Done()) { // the follower, the adopter, the fleet job runner
			return false
		}
		e.clock.Advance(poll)
		return true
	}
	step := func() {
		t.Helper()
		if !tryStep(3 * time.Second) {
			t.Fatalf("the follower stopped following (logged: %v)", logs.messages())
		}
	}
	outage.Store(true)
	// The cutover happens while the database is away: the source hands
	// the model over and the target hosts it. Long enough for lease
	// renewals (every Lease/3) to fail.
	e.ctls["ctl-a"].set(func(c *fakeController) { c.status = "successful" })
	for range 4 {
		step()
	}
	e.ctls["ctl-a"].set(func(c *fakeController) { c.gone = true })
	e.ctls["ctl-b"].set(func(c *fakeController) { c.hosts[e.model.UUID] = true })
	for range int(Lease/poll) - 4 {
		step()
	}
	if failed.Load() == 0 || !logs.has("cannot renew the lease on a migration") {
		t.Fatalf("the outage did not hit the lease's renewal: the test proves nothing (logged: %v)", logs.messages())
	}
	outage.Store(false)
	for i := 0; e.migration(t, mig.ID).Result == db.MigrationRunning; i++ {
		if i == 100 {
			t.Fatalf("the migration did not end after the database came back (logged: %v)", logs.messages())
		}
		// (A follower that just ended the migration waits no more.)
		if !tryStep(500*time.Millisecond) && e.migration(t, mig.ID).Result == db.MigrationRunning {
			t.Fatalf("the follower stopped following (logged: %v)", logs.messages())
		}
	}
	row := e.migration(t, mig.ID)
	if row.Result != db.MigrationSucceeded || e.routedTo(t) != "ctl-b" {
		t.Fatalf("after the outage: migration %+v, routed to %s; want succeeded, ctl-b", row, e.routedTo(t))
	}
	if logs.has("lost the lease") || logs.has("following a migration another replica left") {
		t.Fatalf("the follower gave the migration up during the outage (logged: %v)", logs.messages())
	}
}

// managerLogging starts a manager like e.manager, logging to log.
func (e *env) managerLogging(t *testing.T, log *slog.Logger) *Manager {
	t.Helper()
	m, err := New(Deps{
		DB: e.d, Routes: e.routes, Registry: registry{e.d}, ReplicaID: "r1", Metrics: prometheus.NewRegistry(), Logger: log, Clock: e.clock,
		Controller: func(_ context.Context, name string) (Controller, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.ctls[name], nil
		},
		Up: func(string) bool { return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Start(t.Context())
	return m
}

// capture is a slog handler that keeps the messages logged.
type capture struct {
	mu   sync.Mutex
	msgs []string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, r.Message)
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func (c *capture) has(msg string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if strings.Contains(m, msg) {
			return true
		}
	}
	return false
}

func (c *capture) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}
