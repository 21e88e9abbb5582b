package routing

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
	"github.com/jimmbroker/jimm/jujuapi"
)

// outage makes every query on d fail as a lost connection does (the db
// package classifies it as db.ErrUnavailable) while it is on, and counts
// the queries it failed.
type outage struct {
	on     atomic.Bool
	failed atomic.Int64
}

func injectOutage(t *testing.T, d *db.DB) *outage {
	t.Helper()
	o := &outage{}
	fail := func(tx *gorm.DB) {
		if o.on.Load() {
			o.failed.Add(1)
			tx.AddError(io.ErrUnexpectedEOF)
		}
	}
	for _, err := range []error{
		d.Callback().Query().Before("gorm:query").Register("test:outage", fail),
		d.Callback().Update().Before("gorm:begin_transaction").Register("test:outage", fail),
		d.Callback().Raw().Before("gorm:raw").Register("test:outage", fail),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// newOutageTable is a table on SQLite that waits at most wait for the
// database, and the outage to inflict on it.
func newOutageTable(t *testing.T, wait time.Duration) (*Table, fixture, *outage) {
	t.Helper()
	d := dbtest.SQLite(t)
	f := setUp(t, d)
	rel := authz.NewRelations(d, quiet)
	t.Cleanup(rel.Close)
	tb, err := New(Deps{DB: d, Relations: rel, Logger: quiet, DBWait: wait})
	if err != nil {
		t.Fatal(err)
	}
	return tb, f, injectOutage(t, d)
}

// TestRouteDuringAnOutage: a route lookup while the database is
// unavailable waits for it, at most DBWait, and then answers "try again",
// never "not found" (not even for a model that does not exist).
func TestRouteDuringAnOutage(t *testing.T) {
	tb, f, o := newOutageTable(t, 600*time.Millisecond)
	o.on.Store(true)
	for _, uuid := range []string{f.model.UUID, "5e55c0de-0000-4000-8000-0000000000ff"} {
		start := time.Now()
		_, err := tb.Route(t.Context(), uuid)
		took := time.Since(start)
		if jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain || !errors.Is(err, db.ErrUnavailable) {
			t.Fatalf("route of %s during the outage: %v (code %q); want try again", uuid, err, jujuapi.ErrorCode(err))
		}
		if !strings.Contains(err.Error(), "database unavailable") {
			t.Fatalf("route during the outage: %q does not say database unavailable", err)
		}
		if took < 400*time.Millisecond || took > 5*time.Second {
			t.Fatalf("route during the outage answered after %v; want it to wait about DBWait (600ms)", took)
		}
		if o.failed.Load() < 3 {
			t.Fatalf("the lookup was tried %d times; want it retried", o.failed.Load())
		}
	}
	// The caller's context bounds the wait too.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := tb.Route(ctx, f.model.UUID); jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain {
		t.Fatalf("route with a short context during the outage: %v; want try again", err)
	}
	if took := time.Since(start); took > 400*time.Millisecond {
		t.Fatalf("a lookup with a 100ms context waited %v", took)
	}
	// A model that does not exist is "not found" once the database says so.
	o.on.Store(false)
	if _, err := tb.Route(t.Context(), "5e55c0de-0000-4000-8000-0000000000ff"); jujuapi.ErrorCode(err) != jujuapi.CodeNotFound {
		t.Fatalf("route of a missing model after the outage: %v; want not found", err)
	}
}

// TestRouteWaitsForTheDatabase: a lookup made during a short outage waits
// and succeeds when the database is back.
func TestRouteWaitsForTheDatabase(t *testing.T) {
	tb, f, o := newOutageTable(t, 10*time.Second)
	o.on.Store(true)
	time.AfterFunc(300*time.Millisecond, func() { o.on.Store(false) })
	m, err := tb.Route(t.Context(), f.model.UUID)
	if err != nil || m.Controller.Name != "ctl-a" {
		t.Fatalf("route across a 300ms outage: %v, %+v; want ctl-a", err, m)
	}
	if o.failed.Load() == 0 {
		t.Fatal("the outage never hit the lookup: the test proves nothing")
	}
}

// TestHealDuringAnOutage: a redirect to a registered controller, met while
// the database is unavailable, is "try again: database unavailable",
// never "moved to a controller this broker does not know"; once the
// database is back the same redirect heals the route.
func TestHealDuringAnOutage(t *testing.T) {
	tb, f, o := newOutageTable(t, 500*time.Millisecond)
	m, err := tb.Route(t.Context(), f.model.UUID)
	if err != nil {
		t.Fatal(err)
	}
	redirect := redirectTo(jujuapi.ControllerTag(f.ctlB.UUID).String())
	o.on.Store(true)
	_, err = tb.Heal(t.Context(), m, redirect)
	if jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain || !errors.Is(err, db.ErrUnavailable) || strings.Contains(err.Error(), "does not know") {
		t.Fatalf("heal during the outage: %v; want try again, database unavailable", err)
	}
	// A flip waits too, then says try again.
	if err := tb.Flip(t.Context(), f.model.UUID, f.ctlB, 0); !errors.Is(err, db.ErrUnavailable) || jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain {
		t.Fatalf("flip during the outage: %v; want try again, database unavailable", err)
	}
	o.on.Store(false)
	to, err := tb.Heal(t.Context(), m, redirect)
	if err != nil || to != "ctl-b" {
		t.Fatalf("heal after the outage: %q, %v; want ctl-b", to, err)
	}
}

// TestOnControllerDuringAnOutage: the old controller's "not found" for a
// model whose route cannot be read (the database is unavailable) is
// answered "try again", not passed on as "not found".
func TestOnControllerDuringAnOutage(t *testing.T) {
	tb, f, o := newOutageTable(t, 300*time.Millisecond)
	m, err := tb.Route(t.Context(), f.model.UUID)
	if err != nil {
		t.Fatal(err)
	}
	o.on.Store(true)
	notFound := jujuapi.NotFoundf("model %q", f.model.UUID)
	now, err := tb.whereNow(t.Context(), m, notFound)
	if now != nil || jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain || !errors.Is(err, db.ErrUnavailable) {
		t.Fatalf("a controller's not found during the outage: %v; want try again", err)
	}
	o.on.Store(false)
	now, err = tb.whereNow(t.Context(), m, notFound)
	if now != nil || jujuapi.ErrorCode(err) != jujuapi.CodeNotFound {
		t.Fatalf("a controller's not found for a model still routed there: %v; want not found", err)
	}
}
