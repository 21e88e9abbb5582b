package routing

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

var quiet = slog.New(slog.DiscardHandler)

// replica is one broker replica's routing table on a shared database.
type replica struct {
	*Table
	db *db.DB
}

// newReplica builds and runs a table on d (for PostgreSQL, on a
// connection pool of its own, as another replica would have).
func newReplica(t *testing.T, d *db.DB, c clock.Clock) *replica {
	t.Helper()
	if d.Dialect() == "postgres" {
		var err error
		if d, err = db.Open(t.Context(), d.DSN(), quiet); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
	}
	rel := authz.NewRelations(d, quiet)
	t.Cleanup(rel.Close)
	tb, err := New(Deps{DB: d, Relations: rel, Metrics: prometheus.NewRegistry(), Logger: quiet, Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &replica{Table: tb, db: d}
}

func (r *replica) cached(uuid string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cache[uuid] != nil
}

type fixture struct {
	ctlA, ctlB *db.Controller
	model      *db.Model
}

func setUp(t *testing.T, d *db.DB) fixture {
	t.Helper()
	var f fixture
	for i, name := range []string{"ctl-a", "ctl-b"} {
		c := &db.Controller{Name: name, UUID: "5e55c0de-0000-4000-8000-00000000000" + string(rune('1'+i)), Addresses: []string{"127.0.0.1:1"},
			Cloud: "c", Regions: []string{"r"}, AdminPassword: []byte{0}}
		if err := d.WithContext(t.Context()).Create(c).Error; err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			f.ctlA = c
		} else {
			f.ctlB = c
		}
	}
	f.model = &db.Model{UUID: "5e55c0de-0000-4000-8000-0000000000aa", Name: "m", Owner: "alice", ControllerID: f.ctlA.ID, Cloud: "c", Region: "r", Life: db.LifeAlive}
	if err := d.AddModel(t.Context(), f.model, "user:alice"); err != nil {
		t.Fatal(err)
	}
	return f
}

// eventually waits, up to a generous deadline, for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// fakeConn records what the table tells a live connection.
type fakeConn struct {
	uuid string
	mu   sync.Mutex
	to   []uint
	rech int
}

func (c *fakeConn) ModelUUID() string { return c.uuid }
func (c *fakeConn) RouteChanged(id uint) {
	c.mu.Lock()
	c.to = append(c.to, id)
	c.mu.Unlock()
}
func (c *fakeConn) AccessChanged(context.Context) {
	c.mu.Lock()
	c.rech++
	c.mu.Unlock()
}
func (c *fakeConn) routedTo() []uint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint(nil), c.to...)
}
func (c *fakeConn) rechecks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rech
}

// TestRouteChangesReachOtherReplicas: a replica that drops a route tells
// the others, which drop it from their caches.
func TestRouteChangesReachOtherReplicas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		f := setUp(t, d)
		a, b := newReplica(t, d, nil), newReplica(t, d, nil)
		// Replica b routes the model, and caches the route.
		if m, err := b.Route(ctx, f.model.UUID); err != nil || m.Controller.Name != "ctl-a" {
			t.Fatalf("route: %v %+v", err, m)
		}
		if !b.cached(f.model.UUID) {
			t.Fatal("replica b did not cache the route")
		}
		a.RemoveModel(ctx, f.model.UUID)
		eventually(t, "replica b drops the route replica a removed", func() bool { return !b.cached(f.model.UUID) })
		if _, err := b.Route(ctx, f.model.UUID); jujuapi.ErrorCode(err) != jujuapi.CodeNotFound {
			t.Fatalf("replica b still finds the dropped model: %v", err)
		}
		// Its relations went with it, and the engine knows at once.
		if ok, err := a.rel.Check(ctx, "user:alice", authz.Administrator, "model:"+f.model.UUID); err != nil || ok {
			t.Fatalf("alice still administers the removed model: %v %v", ok, err)
		}
	})
}

// TestFlipReroutesLiveConnections: a flip on one replica reaches the live
// connections to the model on every replica, and only those.
func TestFlipReroutesLiveConnections(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		f := setUp(t, d)
		a, b := newReplica(t, d, nil), newReplica(t, d, nil)
		onB, other := &fakeConn{uuid: f.model.UUID}, &fakeConn{uuid: "5e55c0de-0000-4000-8000-0000000000bb"}
		b.Add(onB)
		b.Add(other)
		if _, err := b.Route(ctx, f.model.UUID); err != nil {
			t.Fatal(err)
		}
		if err := a.Flip(ctx, f.model.UUID, f.ctlB, 0); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the live connection on replica b hears of the flip", func() bool { return len(onB.routedTo()) > 0 })
		if got := onB.routedTo(); got[0] != f.ctlB.ID {
			t.Fatalf("told to go to controller %d, want %d (ctl-b)", got[0], f.ctlB.ID)
		}
		if m, _ := b.Route(ctx, f.model.UUID); m.Controller.Name != "ctl-b" {
			t.Fatalf("replica b routes the model to %s after the flip", m.Controller.Name)
		}
		if n := testutil.ToFloat64(a.routeFlips); n != 1 {
			t.Fatalf("jimm_route_flips_total = %v, want 1", n)
		}
		b.Remove(onB)
		if err := a.Flip(ctx, f.model.UUID, f.ctlA, 0); err != nil {
			t.Fatal(err)
		}
		eventually(t, "replica b routes the model back", func() bool {
			m, err := b.Route(ctx, f.model.UUID)
			return err == nil && m.Controller.Name == "ctl-a"
		})
		if len(onB.routedTo()) != 1 || len(other.routedTo()) != 0 {
			t.Fatalf("reroutes after removal: %v; to the other model: %v", onB.routedTo(), other.routedTo())
		}
	})
}

// TestFlipForgetsAtOnce: the replica that flips a route routes the model
// anew at once, not when the notification comes back (a table that does
// not listen hears none): a call right after a migration ends never
// reaches the old controller.
func TestFlipForgetsAtOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		f := setUp(t, d)
		rel := authz.NewRelations(d, quiet)
		t.Cleanup(rel.Close)
		tb, err := New(Deps{DB: d, Relations: rel, Logger: quiet}) // not Run: deaf to notifications
		if err != nil {
			t.Fatal(err)
		}
		if m, err := tb.Route(ctx, f.model.UUID); err != nil || m.Controller.Name != "ctl-a" {
			t.Fatalf("before the flip: %v %+v", err, m)
		}
		if err := tb.Flip(ctx, f.model.UUID, f.ctlB, 0); err != nil {
			t.Fatal(err)
		}
		if m, err := tb.Route(ctx, f.model.UUID); err != nil || m.Controller.Name != "ctl-b" {
			t.Fatalf("right after the flip: %v %+v", err, m)
		}
	})
}

func cutoverWaits(t *testing.T, tb *Table) uint64 {
	t.Helper()
	var m dto.Metric
	if err := tb.cutoverWait.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestCutoverHoldsNewConnections: once a migration reaches its hand-over
// on any replica, new connections to the model wait until the route
// flips, or CutoverMaxWait at most.
func TestCutoverHoldsNewConnections(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		f := setUp(t, d)
		fake := clock.NewFake(time.Now())
		a, b := newReplica(t, d, nil), newReplica(t, d, fake)
		mig := &db.Migration{ModelUUID: f.model.UUID, ModelName: "m", Owner: "alice", SourceControllerID: f.ctlA.ID, TargetControllerID: f.ctlB.ID,
			Phase: "VALIDATION", Result: db.MigrationRunning, StartedAt: time.Now(), PhaseChangedAt: time.Now()}
		if err := d.AddMigration(ctx, mig); err != nil {
			t.Fatal(err)
		}
		waiting := func() bool {
			b.cutoverMu.Lock()
			defer b.cutoverMu.Unlock()
			return b.cutovers[f.model.UUID] != nil
		}
		// No cutover: no wait.
		b.AwaitCutover(ctx, f.model.UUID)
		if cutoverWaits(t, b.Table) != 0 {
			t.Fatal("a connection waited with no cutover")
		}
		if err := d.SetMigrationPhase(ctx, mig, "SUCCESS", "successful", time.Now(), true); err != nil {
			t.Fatal(err)
		}
		eventually(t, "replica b starts holding connections", waiting)
		done := make(chan struct{})
		go func() { b.AwaitCutover(ctx, f.model.UUID); close(done) }()
		select {
		case <-done:
			t.Fatal("a new connection went on during the cutover")
		case <-time.After(50 * time.Millisecond):
		}
		if err := a.Flip(ctx, f.model.UUID, f.ctlB, mig.ID); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the waiting connection did not go on when the route flipped")
		}
		if n := cutoverWaits(t, b.Table); n != 1 {
			t.Fatalf("jimm_cutover_wait_seconds count = %d, want 1", n)
		}
		// A cutover whose route never flips ends after CutoverMaxWait.
		if err := d.Notify(ctx, db.CutoverChannel, f.model.UUID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "replica b starts holding connections again", waiting)
		fake.AwaitWaiters(1, t.Context().Done())
		fake.Advance(CutoverMaxWait - time.Millisecond)
		if !waiting() {
			t.Fatal("the cutover ended before CutoverMaxWait")
		}
		fake.Advance(time.Millisecond)
		eventually(t, "the cutover ends after CutoverMaxWait", func() bool { return !waiting() })
	})
}

func redirectTo(tag string) error {
	return &jujuapi.Error{Code: jujuapi.CodeRedirect, Message: "redirection required",
		Info: params.RedirectErrorInfo{ControllerTag: tag, ControllerAlias: "elsewhere"}.AsMap()}
}

// TestHeal: a redirect to a controller the broker knows flips the route;
// one it cannot follow is "try again", saying why.
func TestHeal(t *testing.T) {
	d := dbtest.SQLite(t)
	ctx := t.Context()
	f := setUp(t, d)
	r := newReplica(t, d, nil)
	m, err := r.Route(ctx, f.model.UUID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"not a Juju error", errors.New("boom"), `model "m" moved, and its controller did not say where`},
		{"no controller tag", redirectTo(""), `model "m" moved, and its controller did not say where`},
		{"a bad tag", redirectTo("model-123"), `model "m" moved to a controller the broker cannot name`},
		{"an unknown controller", redirectTo(jujuapi.ControllerTag("5e55c0de-0000-4000-8000-0000000000ff").String()),
			`model "m" moved to a controller this broker does not know; an administrator must register it`},
	} {
		_, err := r.Heal(ctx, m, c.err)
		if jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain || err.Error() != c.want {
			t.Errorf("%s: %v; want try again, %q", c.name, err, c.want)
		}
	}
	if testutil.ToFloat64(r.redirects) != 0 {
		t.Fatal("a redirect the broker could not follow was counted as followed")
	}
	to, err := r.Heal(ctx, m, redirectTo(jujuapi.ControllerTag(f.ctlB.UUID).String()))
	if err != nil || to != "ctl-b" {
		t.Fatalf("heal to ctl-b: %q, %v", to, err)
	}
	if m, _ := r.Route(ctx, f.model.UUID); m.Controller.Name != "ctl-b" {
		t.Fatalf("after healing the model routes to %s", m.Controller.Name)
	}
	if testutil.ToFloat64(r.redirects) != 1 || testutil.ToFloat64(r.routeFlips) != 1 {
		t.Fatalf("redirects %v, flips %v; want 1 and 1", testutil.ToFloat64(r.redirects), testutil.ToFloat64(r.routeFlips))
	}
	// The migration that moved it ends with a flip to where the model is
	// already: not a second flip.
	if err := r.Flip(ctx, f.model.UUID, f.ctlB, 0); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(r.routeFlips); n != 1 {
		t.Fatalf("a flip to where the model already is: flips %v; want 1", n)
	}
}

// TestAccessChangedReachesEveryConnection: one signal (or many at once)
// has every live connection recheck.
func TestAccessChangedReachesEveryConnection(t *testing.T) {
	d := dbtest.SQLite(t)
	r := newReplica(t, d, nil)
	conns := []*fakeConn{{uuid: "m1"}, {uuid: "m1"}, {uuid: "m2"}}
	for _, c := range conns {
		r.Add(c)
	}
	r.AccessChanged()
	r.AccessChanged()
	eventually(t, "every connection rechecks", func() bool {
		for _, c := range conns {
			if c.rechecks() == 0 {
				return false
			}
		}
		return true
	})
	for _, c := range conns {
		if n := c.rechecks(); n > 2 {
			t.Fatalf("a connection rechecked %d times for two signals", n)
		}
	}
}
