package summaries

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

var quiet = brokertest.Quiet

type env struct {
	d      *db.DB
	rel    *authz.Relations
	routes *routing.Table
	hub    *Hub
	ctls   []*db.Controller
	n      int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	parts := brokertest.New(t)
	e := &env{d: parts.DB, rel: parts.Rel, ctls: parts.AddControllers(t, "ctl-a", "ctl-b")}
	e.routes = parts.StartRoutes(t, nil)
	ids := parts.IDs
	var err error
	if e.hub, err = New(Deps{DB: e.d, Routes: e.routes, Identity: ids, ControllerName: "jimm", Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	e.routes.OnChange(e.hub.ModelChanged)
	e.rel.OnChange(e.hub.AccessChanged)
	return e
}

// addModel places a model owned by owner on the first controller.
func (e *env) addModel(t *testing.T, owner, name string) string {
	t.Helper()
	e.n++
	uuid := fmt.Sprintf("5e55c0de-0000-4000-8000-0000000000%02d", e.n)
	m := &db.Model{UUID: uuid, Name: name, Owner: owner, ControllerID: e.ctls[0].ID, Cloud: "c", Region: "r", Life: db.LifeAlive,
		Credential: "c/" + owner + "/cred", MachineCount: 2, UnitCount: 3}
	if err := e.d.AddModel(t.Context(), m, identity.SubjectOf(owner)); err != nil {
		t.Fatal(err)
	}
	return uuid
}

// next calls w.Next, failing the test if it has not answered in 10s.
func next(t *testing.T, w *Watcher) []params.ModelAbstract {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return out
}

// names lists deltas as "name" or "-uuid" for a removal, sorted.
func names(ms []params.ModelAbstract) []string {
	var out []string
	for _, m := range ms {
		if m.Removed {
			out = append(out, "-"+m.UUID)
		} else {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

func watch(t *testing.T, e *env, name string, all bool) *Watcher {
	t.Helper()
	w, err := e.hub.Watch(&identity.Identity{Name: name, Admin: name == "admin"}, all)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// TestFirstNextListsWhatTheCallerSees: the first Next answers every model
// the caller may see, rendered with the broker as controller and the
// model's administrators; the administrator's all-models watcher sees all.
func TestFirstNextListsWhatTheCallerSees(t *testing.T) {
	e := newEnv(t)
	a1 := e.addModel(t, "alice@example.com", "a1")
	e.addModel(t, "bob@example.com", "b1")
	alice := watch(t, e, "alice@example.com", false)
	got := next(t, alice)
	want := params.ModelAbstract{UUID: a1, Controller: "jimm", Name: "a1", Admins: []string{"alice@example.com"}, Cloud: "c", Region: "r",
		Credential: "c/alice@example.com/cred", Size: params.ModelSummarySize{Machines: 2, Units: 3}, Status: "available"}
	if len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Fatalf("alice's first Next: %+v\nwant %+v", got, want)
	}
	if got := names(next(t, watch(t, e, "admin", true))); !slices.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("the administrator's first Next: %v", got)
	}
	if got := next(t, watch(t, e, "carol@example.com", false)); got == nil || len(got) != 0 {
		t.Fatalf("carol sees no model: %#v, want an empty list", got)
	}
	if _, err := e.hub.Watch(&identity.Identity{Name: "alice@example.com"}, true); jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
		t.Fatalf("a non-administrator watching all models: %v, want permission denied", err)
	}
}

// TestLaterNextsAnswerChanges: after the first Next, each answers what
// changed: a model placed, its life, its route moving, its removal;
// changes to models the caller cannot see are not answered.
func TestLaterNextsAnswerChanges(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	alice := watch(t, e, "alice@example.com", false)
	if got := next(t, alice); len(got) != 0 {
		t.Fatalf("first Next: %v", got)
	}
	e.addModel(t, "bob@example.com", "bob's") // not hers: no answer for it
	a1 := e.addModel(t, "alice@example.com", "a1")
	if got := names(next(t, alice)); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("after placing a1: %v", got)
	}
	if err := e.d.SetModelLife(ctx, a1, db.LifeDying); err != nil {
		t.Fatal(err)
	}
	if got := next(t, alice); len(got) != 1 || got[0].Status != "destroying" {
		t.Fatalf("after a1 began dying: %+v", got)
	}
	if err := e.routes.Flip(ctx, a1, e.ctls[1], 0); err != nil {
		t.Fatal(err)
	}
	if got := next(t, alice); len(got) != 1 || got[0].UUID != a1 || got[0].Controller != "jimm" {
		t.Fatalf("after a1 moved: %+v", got)
	}
	if _, err := e.d.RemoveModel(ctx, a1); err != nil {
		t.Fatal(err)
	}
	if got := names(next(t, alice)); !slices.Equal(got, []string{"-" + a1}) {
		t.Fatalf("after a1 was removed: %v", got)
	}
}

// TestAccessChanges: a model shared with the caller appears in its next
// Next; once unshared, it is answered as removed.
func TestAccessChanges(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	b1 := e.addModel(t, "bob@example.com", "b1")
	alice := watch(t, e, "alice@example.com", false)
	next(t, alice)
	tuple := authz.Tuple{Subject: "user:alice@example.com", Relation: authz.Reader, Object: "model:" + b1}
	if err := e.rel.Add(ctx, tuple); err != nil {
		t.Fatal(err)
	}
	if got := names(next(t, alice)); !slices.Equal(got, []string{"b1"}) {
		t.Fatalf("after b1 was shared with alice: %v", got)
	}
	// Relations changing elsewhere (carol's new model) make the watcher
	// check, but answer only what changed for alice: not b1 again.
	e.addModel(t, "carol@example.com", "c1")
	e.addModel(t, "alice@example.com", "a2")
	if got := names(next(t, alice)); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("after carol's and alice's new models: %v", got)
	}
	// Notifications that may have been missed: every model is answered.
	e.hub.ModelChanged("")
	if got := names(next(t, alice)); !slices.Equal(got, []string{"a2", "b1"}) {
		t.Fatalf("after a resync: %v", got)
	}
	if err := e.rel.Remove(ctx, tuple); err != nil {
		t.Fatal(err)
	}
	if got := names(next(t, alice)); !slices.Equal(got, []string{"-" + b1}) {
		t.Fatalf("after b1 was unshared: %v", got)
	}
}

// TestChangesCoalesce: many changes to a model between two Nexts are one
// delta, with the model as it is now.
func TestChangesCoalesce(t *testing.T) {
	e := newEnv(t)
	w := watch(t, e, "admin", true)
	next(t, w)
	uuid := e.addModel(t, "alice@example.com", "a1")
	for range 5 {
		e.hub.ModelChanged(uuid)
	}
	if err := e.d.SetModelLife(t.Context(), uuid, db.LifeDying); err != nil {
		t.Fatal(err)
	}
	// The notifications reach the watcher asynchronously: wait until the
	// last has, then one Next answers them all.
	brokertest.Eventually(t, "the model shows as dying", func() bool {
		m, err := e.routes.Route(t.Context(), uuid)
		return err == nil && m.Life == db.LifeDying
	})
	got := next(t, w)
	if len(got) != 1 || got[0].Status != "destroying" {
		t.Fatalf("coalesced changes: %+v", got)
	}
}

// TestStopAndCancel: Stop ends a waiting Next and every later one with
// Juju's "stopped" error; a Next whose context ends returns its error and
// keeps the changes for the next.
func TestStopAndCancel(t *testing.T) {
	e := newEnv(t)
	w := watch(t, e, "admin", true)
	next(t, w)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := w.Next(ctx); errc <- err }()
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Next with its context cancelled: %v", err)
	}
	e.addModel(t, "alice@example.com", "a1")
	if got := names(next(t, w)); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("after a cancelled Next: %v", got)
	}
	go func() { _, err := w.Next(t.Context()); errc <- err }()
	w.Stop()
	select {
	case err := <-errc:
		if jujuapi.ErrorCode(err) != "stopped" || err.Error() != "watcher has been stopped" {
			t.Fatalf("a waiting Next after Stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting Next did not return after Stop")
	}
	if _, err := w.Next(t.Context()); jujuapi.ErrorCode(err) != "stopped" {
		t.Fatalf("Next after Stop: %v", err)
	}
	if n := e.hub.Watchers(); n != 0 {
		t.Fatalf("%d watchers left after Stop", n)
	}
}
