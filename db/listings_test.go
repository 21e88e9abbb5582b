package db_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// TestEachModelFor: one query streams the models subjects relate to (one
// row per relation, a model's rows together), those of administered
// controllers as administrator, or every model with no relation; in
// owner, name order, with the controller's agent version and cloud type;
// and an error from the callback stops it.
func TestEachModelFor(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		a := addController(t, d, "ctl-a", "u-a")
		b := addController(t, d, "ctl-b", "u-b")
		for _, m := range []db.Model{
			{UUID: "m-carol", Name: "z", Owner: "carol", ControllerID: a.ID, Life: db.LifeAlive, MachineCount: 2, CoreCount: 8, UnitCount: 5},
			{UUID: "m-alice-b", Name: "b", Owner: "alice", ControllerID: b.ID, Life: "dying"},
			{UUID: "m-alice-a", Name: "a", Owner: "alice", ControllerID: a.ID, Life: db.LifeAlive, Region: "r1"},
		} {
			m.Cloud = "localhost"
			if err := d.WithContext(ctx).Create(&m).Error; err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range []db.Relation{
			{Subject: "user:dave", Relation: "reader", ObjectKind: "model", ObjectID: "m-carol"},
			{Subject: "group:ops#member", Relation: "writer", ObjectKind: "model", ObjectID: "m-carol"},
			{Subject: "user:dave", Relation: "reader", ObjectKind: "model", ObjectID: "m-alice-a"},
			{Subject: "user:dave", Relation: "reader", ObjectKind: "cloud", ObjectID: "m-alice-b"}, // not a model relation
			{Subject: "user:erin", Relation: "reader", ObjectKind: "model", ObjectID: "m-alice-b"},
		} {
			if err := d.WithContext(ctx).Create(&r).Error; err != nil {
				t.Fatal(err)
			}
		}
		list := func(subjects, controllers []string) []string {
			t.Helper()
			var out []string
			err := d.EachModelFor(ctx, subjects, controllers, func(m *db.ListedModel) error {
				if m.AgentVersion != "3.5.4" || m.CloudType != "lxd" || m.Cloud != "localhost" || m.UpdatedAt.IsZero() {
					t.Errorf("model %s: controller fields %q %q, cloud %q, updated %v", m.UUID, m.AgentVersion, m.CloudType, m.Cloud, m.UpdatedAt)
				}
				if m.UUID == "m-carol" && (m.MachineCount != 2 || m.CoreCount != 8 || m.UnitCount != 5 || m.Owner != "carol" || m.Name != "z" || m.Life != db.LifeAlive) {
					t.Errorf("model m-carol: %+v", m)
				}
				out = append(out, m.UUID+" "+m.Relation)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// A model's rows come together, its relations in no set order.
			for i := 0; i < len(out); {
				j := i + 1
				for j < len(out) && strings.Fields(out[j])[0] == strings.Fields(out[i])[0] {
					j++
				}
				slices.Sort(out[i:j])
				i = j
			}
			return out
		}
		same := func(what string, got []string, want ...string) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("%s: %q, want %q", what, got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s: %q, want %q", what, got, want)
				}
			}
		}
		same("every model", list(nil, nil), "m-alice-a ", "m-alice-b ", "m-carol ")
		same("dave and ops", list([]string{"user:dave", "group:ops#member"}, nil), "m-alice-a reader", "m-carol reader", "m-carol writer")
		same("erin, administrator of ctl-b", list([]string{"user:erin"}, []string{"ctl-b"}), "m-alice-b administrator", "m-alice-b reader")
		same("nobody", list([]string{"user:nobody"}, nil))

		stop := errors.New("stop")
		calls := 0
		err := d.EachModelFor(ctx, nil, nil, func(*db.ListedModel) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("a callback's error: %v after %d calls", err, calls)
		}
		if d.Dialect() == "postgres" {
			// Every model is listed with pgx itself, not database/sql.
			before := db.PgxListings()
			same("every model, again", list(nil, nil), "m-alice-a ", "m-alice-b ", "m-carol ")
			if db.PgxListings() == before {
				t.Fatal("on PostgreSQL, the listing of every model was not read with pgx itself")
			}
		}
	})
}
