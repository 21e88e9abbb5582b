package db_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

func TestModelCreations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		a, b := addController(t, d, "ctl-a", "u-a"), addController(t, d, "ctl-b", "u-b")
		c := &db.ModelCreation{Owner: "alice", Name: "one", Cloud: "localhost", Replica: "r1"}
		if err := d.BeginModelCreation(ctx, c); err != nil {
			t.Fatal(err)
		}
		// A creation under way blocks another of the same owner and name
		// (another replica's too), not another owner's.
		if err := d.BeginModelCreation(ctx, &db.ModelCreation{Owner: "alice", Name: "one", Replica: "r2"}); !errors.Is(err, db.ErrDuplicate) {
			t.Fatalf("a second creation of alice/one: %v, want ErrDuplicate", err)
		}
		if err := d.BeginModelCreation(ctx, &db.ModelCreation{Owner: "bob", Name: "one", Replica: "r2"}); err != nil {
			t.Fatalf("bob/one while alice/one is being created: %v", err)
		}
		for _, ctl := range []string{"ctl-a", "ctl-b", "ctl-a"} {
			if err := d.ModelCreationTrying(ctx, c.ID, ctl); err != nil {
				t.Fatal(err)
			}
		}
		got, err := d.ModelCreationByName(ctx, "alice", "one")
		if err != nil || got.ID != c.ID || !slices.Equal(got.Controllers, []string{"ctl-a", "ctl-b"}) || got.State != db.CreationCreating {
			t.Fatalf("ModelCreationByName: %v %+v; want controllers ctl-a, ctl-b once each", err, got)
		}
		// Recording the model ends the creation, kept as a sweep when asked.
		m := &db.Model{UUID: "m-1", Name: "one", Owner: "alice", ControllerID: b.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive}
		if err := d.FinishModelCreation(ctx, c.ID, m, "user:alice", true); err != nil {
			t.Fatal(err)
		}
		if _, err := d.ModelCreationByName(ctx, "alice", "one"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("the finished creation is still under way: %v", err)
		}
		all, err := d.ModelCreations(ctx)
		if err != nil || len(all) != 2 || all[0].State != db.CreationSweeping || all[0].ModelUUID != "m-1" || all[1].Owner != "bob" {
			t.Fatalf("ModelCreations after a finish with sweep: %v %+v", err, all)
		}
		// Now the name is a model's: a new creation of it is refused.
		if err := d.BeginModelCreation(ctx, &db.ModelCreation{Owner: "alice", Name: "one"}); !errors.Is(err, db.ErrDuplicate) {
			t.Fatalf("creation of an existing model's name: %v, want ErrDuplicate", err)
		}
		// A record is removed only if unchanged since it was read.
		if ok, err := d.RemoveModelCreation(ctx, all[1].ID, all[1].UpdatedAt.Add(-time.Second)); err != nil || ok {
			t.Fatalf("RemoveModelCreation of a record changed since: %v %v, want not removed", ok, err)
		}
		if ok, err := d.RemoveModelCreation(ctx, all[1].ID, all[1].UpdatedAt); err != nil || !ok {
			t.Fatalf("RemoveModelCreation: %v %v", ok, err)
		}
		// Adoption records a found model and ends its creation, once.
		bc := &db.ModelCreation{Owner: "bob", Name: "two", Replica: "r2"}
		if err := d.BeginModelCreation(ctx, bc); err != nil {
			t.Fatal(err)
		}
		found := &db.Model{UUID: "m-2", Name: "two", Owner: "bob", ControllerID: a.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive}
		if err := d.AdoptModel(ctx, found, "user:bob", bc.ID); err != nil {
			t.Fatal(err)
		}
		again := &db.Model{UUID: "m-3", Name: "two", Owner: "bob", ControllerID: b.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive}
		if err := d.AdoptModel(ctx, again, "user:bob", 0); !errors.Is(err, db.ErrDuplicate) {
			t.Fatalf("adopting a second bob/two: %v, want ErrDuplicate", err)
		}
		if r, err := d.ModelByUUID(ctx, "m-2"); err != nil || r.Controller.Name != "ctl-a" {
			t.Fatalf("the adopted model: %v %+v", err, r)
		}
		if err := d.EndModelCreation(ctx, all[0].ID, false); err != nil {
			t.Fatal(err)
		}
		if all, err := d.ModelCreations(ctx); err != nil || len(all) != 0 {
			t.Fatalf("creations left: %v %+v", err, all)
		}
	})
}

func TestLeases(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		take := func(owner string, now time.Time) bool {
			t.Helper()
			ok, err := d.TakeLease(ctx, "l", owner, now, now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !take("a", t0) || !take("a", t0.Add(30*time.Second)) {
			t.Fatal("a cannot take, then renew, a free lease")
		}
		if take("b", t0.Add(80*time.Second)) {
			t.Fatal("b took a's lease while it ran (renewed until t0+90s)")
		}
		if held, err := d.LeaseHeld(ctx, "l", t0.Add(80*time.Second)); err != nil || !held {
			t.Fatalf("LeaseHeld while a holds it: %v %v", held, err)
		}
		if !take("b", t0.Add(91*time.Second)) {
			t.Fatal("b cannot take a lease that ran out")
		}
		if err := d.ReleaseLease(ctx, "l", "a"); err != nil { // not a's any more: no effect
			t.Fatal(err)
		}
		if take("a", t0.Add(92*time.Second)) {
			t.Fatal("a's release took b's lease away")
		}
		if err := d.ReleaseLease(ctx, "l", "b"); err != nil {
			t.Fatal(err)
		}
		if held, err := d.LeaseHeld(ctx, "l", t0.Add(92*time.Second)); err != nil || held {
			t.Fatalf("LeaseHeld after release: %v %v", held, err)
		}
		// Expired leases are forgotten, live ones kept.
		for _, name := range []string{"old", "live"} {
			if _, err := d.TakeLease(ctx, name, "c", t0, t0.Add(map[string]time.Duration{"old": time.Minute, "live": time.Hour}[name])); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := d.RemoveExpiredLeases(ctx, t0.Add(30*time.Minute)); err != nil || n != 1 {
			t.Fatalf("RemoveExpiredLeases: %d %v, want 1 removed", n, err)
		}
		if held, err := d.LeaseHeld(ctx, "live", t0.Add(time.Minute)); err != nil || !held {
			t.Fatalf("the live lease is gone: %v %v", held, err)
		}
	})
}
