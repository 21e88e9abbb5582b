package authz_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

const (
	model1 = "11111111-1111-4111-8111-111111111111"
	model2 = "22222222-2222-4222-8222-222222222222"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func newRelations(t testing.TB, d *db.DB) *authz.Relations {
	r := authz.NewRelations(d, nil)
	t.Cleanup(r.Close)
	return r
}

func check(t *testing.T, r *authz.Relations, subject, relation, object string, want bool) {
	t.Helper()
	got, err := r.Check(t.Context(), subject, relation, object)
	if err != nil {
		t.Fatalf("Check(%s %s %s): %v", subject, relation, object, err)
	}
	if got != want {
		t.Errorf("Check(%s %s %s) = %v, want %v", subject, relation, object, got, want)
	}
}

func access(t *testing.T, r *authz.Relations, subject, model, controller, want string) {
	t.Helper()
	got, err := r.ModelAccess(t.Context(), subject, model, controller)
	if err != nil {
		t.Fatalf("ModelAccess(%s, %s, %s): %v", subject, model, controller, err)
	}
	if got != want {
		t.Errorf("ModelAccess(%s, %s, %s) = %q, want %q", subject, model, controller, got, want)
	}
}

func TestImpliedRelations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		m := "model:" + model1
		must(t, r.Add(ctx, authz.Tuple{"user:admin1", authz.Administrator, m}))
		must(t, r.Add(ctx, authz.Tuple{"user:writer1", authz.Writer, m}))
		must(t, r.Add(ctx, authz.Tuple{"serviceaccount:ci@serviceaccount", authz.Reader, m}))
		must(t, r.Add(ctx, authz.Tuple{"user:writer1", authz.Writer, m})) // idempotent
		for _, c := range []struct {
			subject            string
			admin, write, read bool
			access             string
		}{
			{"user:admin1", true, true, true, authz.AccessAdmin},
			{"user:writer1", false, true, true, authz.AccessWrite},
			{"serviceaccount:ci@serviceaccount", false, false, true, authz.AccessRead},
			{"user:nobody", false, false, false, authz.AccessNone},
		} {
			check(t, r, c.subject, authz.Administrator, m, c.admin)
			check(t, r, c.subject, authz.Writer, m, c.write)
			check(t, r, c.subject, authz.Reader, m, c.read)
			access(t, r, c.subject, model1, "", c.access)
		}
		check(t, r, "user:writer1", authz.Reader, "model:"+model2, false)

		must(t, r.Add(ctx, authz.Tuple{"user:cadmin", authz.Administrator, "cloud:aws"}))
		check(t, r, "user:cadmin", authz.CanAddModel, "cloud:aws", true)
		check(t, r, "user:cadmin", authz.CanAddModel, "cloud:gce", false)
		must(t, r.Add(ctx, authz.Tuple{"user:ctl", authz.Administrator, "controller:c1"}))
		check(t, r, "user:ctl", authz.AuditLogViewer, "controller:c1", true)

		must(t, r.Remove(ctx, authz.Tuple{"user:writer1", authz.Writer, m}))
		check(t, r, "user:writer1", authz.Reader, m, false)
		if err := r.Remove(ctx, authz.Tuple{"user:writer1", authz.Writer, m}); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("remove a missing tuple: %v", err)
		}
	})
}

func TestBrokerAdministrator(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		g := r.Groups()
		addGroup(t, g, "ops")
		must(t, r.Add(ctx, authz.Tuple{"user:root", authz.Administrator, "controller:jimm"}))
		check(t, r, "user:root", authz.Administrator, "controller:c1", true)
		check(t, r, "user:root", authz.AuditLogViewer, "controller:jimm", true)
		check(t, r, "user:root", authz.Administrator, "cloud:aws", true)
		check(t, r, "user:root", authz.CanAddModel, "cloud:aws", true)
		check(t, r, "user:root", authz.Administrator, "model:"+model1, true)
		check(t, r, "user:root", authz.Member, "group:ops", false) // administering is not belonging
		access(t, r, "user:root", model2, "c1", authz.AccessAdmin)
		check(t, r, "user:other", authz.Administrator, "controller:c1", false)
	})
}

func TestControllerAdministratorAdministersItsModels(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		must(t, r.Add(ctx, authz.Tuple{"user:cadmin", authz.Administrator, "controller:c1"}))
		must(t, r.Add(ctx, authz.Tuple{"user:cadmin", authz.Reader, "model:" + model2}))
		access(t, r, "user:cadmin", model1, "c1", authz.AccessAdmin)
		access(t, r, "user:cadmin", model2, "c2", authz.AccessRead)
		access(t, r, "user:cadmin", model1, "", authz.AccessNone)
		check(t, r, "user:cadmin", authz.Administrator, "controller:jimm", false)
		check(t, r, "user:cadmin", authz.Administrator, "controller:c2", false)
	})
}

func TestObjectsListsControllersAndCloudsThroughGroups(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		g := r.Groups()
		get(g.AddGroup(ctx, "ops"))(t)
		must(t, g.AddMember(ctx, "ops", "user:dana"))
		must(t, r.Add(ctx, authz.Tuple{"group:ops#member", authz.Administrator, "controller:c2"}))
		must(t, r.Add(ctx, authz.Tuple{"user:dana", authz.Administrator, "controller:c1"}))
		must(t, r.Add(ctx, authz.Tuple{"user:dana", authz.AuditLogViewer, "controller:c3"}))
		must(t, r.Add(ctx, authz.Tuple{"user:dana", authz.Administrator, "cloud:lxd"}))
		must(t, r.Add(ctx, authz.Tuple{"user:dana", authz.Administrator, "model:" + model1}))
		if got := get(r.Objects(ctx, "user:dana", authz.Administrator, authz.KindController))(t); !slices.Equal(got, []string{"c1", "c2"}) {
			t.Errorf("controllers dana administers: %v", got)
		}
		if got := get(r.Objects(ctx, "user:dana", authz.AuditLogViewer, authz.KindController))(t); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
			t.Errorf("controllers whose audit log dana may read: %v (administrator implies audit_log_viewer)", got)
		}
		if got := get(r.Objects(ctx, "user:dana", authz.CanAddModel, authz.KindCloud))(t); !slices.Equal(got, []string{"lxd"}) {
			t.Errorf("clouds dana may add models to: %v", got)
		}
		if got := get(r.Objects(ctx, "user:erin", authz.Administrator, authz.KindController))(t); len(got) != 0 {
			t.Errorf("controllers erin administers: %v", got)
		}
		if _, err := r.Objects(ctx, "user:dana", authz.Reader, authz.KindModel); !errors.Is(err, authz.ErrInvalidTuple) {
			t.Errorf("Objects of models: %v, want ErrInvalidTuple", err)
		}
	})
}

func TestNestedGroups(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		g := r.Groups()
		for _, n := range []string{"g1", "g2", "g3", "other"} {
			addGroup(t, g, n)
		}
		// alice ∈ g1 ∈ g2 ∈ g3; g3 writes model1.
		must(t, g.AddMember(ctx, "g1", "user:alice"))
		must(t, g.AddMember(ctx, "g2", "group:g1#member"))
		must(t, g.AddMember(ctx, "g3", "group:g2#member"))
		must(t, r.Add(ctx, authz.Tuple{"group:g3#member", authz.Writer, "model:" + model1}))
		must(t, r.Add(ctx, authz.Tuple{"group:other#member", authz.Administrator, "model:" + model1}))
		access(t, r, "user:alice", model1, "", authz.AccessWrite)
		check(t, r, "user:alice", authz.Member, "group:g3", true)
		check(t, r, "group:g1#member", authz.Member, "group:g3", true)
		check(t, r, "group:g3#member", authz.Member, "group:g1", false)
		check(t, r, "user:bob", authz.Reader, "model:"+model1, false)

		subjects := get(r.Subjects(ctx, "user:alice"))(t)
		groups := get(g.ListGroups(ctx))(t)
		uuid := map[string]string{}
		for _, grp := range groups {
			uuid[grp.Name] = grp.UUID
		}
		want := []string{"group:" + uuid["g1"] + "#member", "group:" + uuid["g2"] + "#member", "group:" + uuid["g3"] + "#member"}
		sort.Strings(want)
		want = append([]string{"user:alice"}, want...)
		if !slices.Equal(subjects, want) {
			t.Fatalf("Subjects = %v, want %v", subjects, want)
		}

		// The one-query listing with those subjects finds the group's model.
		must(t, d.Create(&db.Controller{Name: "c1", UUID: "c1-uuid", Addresses: []string{"a:17070"}, AdminPassword: []byte("x"), Regions: []string{}}).Error)
		var c db.Controller
		must(t, d.Where("name = ?", "c1").First(&c).Error)
		must(t, d.Create(&db.Model{UUID: model1, Name: "m1", Owner: "bob", ControllerID: c.ID, Life: "alive"}).Error)
		rows := get(d.ModelsFor(ctx, subjects, nil))(t)
		if len(rows) != 1 || rows[0].UUID != model1 || rows[0].Relation != authz.Writer {
			t.Fatalf("ModelsFor(Subjects): %+v", rows)
		}

		// Leaving g1 loses it all.
		must(t, g.RemoveMember(ctx, "g1", "user:alice"))
		access(t, r, "user:alice", model1, "", authz.AccessNone)
		if s := get(r.Subjects(ctx, "user:alice"))(t); len(s) != 1 {
			t.Fatalf("Subjects after leaving: %v", s)
		}
	})
}

func TestGroupCycleTerminates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		g := r.Groups()
		addGroup(t, g, "a")
		addGroup(t, g, "b")
		must(t, g.AddMember(ctx, "a", "group:b#member"))
		must(t, g.AddMember(ctx, "b", "group:a#member"))
		must(t, g.AddMember(ctx, "a", "user:alice"))
		must(t, r.Add(ctx, authz.Tuple{"group:b#member", authz.Reader, "model:" + model1}))
		done := make(chan struct{})
		go func() {
			defer close(done)
			check(t, r, "user:alice", authz.Reader, "model:"+model1, true)
			check(t, r, "user:alice", authz.Writer, "model:"+model1, false)
			check(t, r, "group:a#member", authz.Member, "group:b", true)
			if s, err := r.Subjects(ctx, "user:alice"); err != nil || len(s) != 3 {
				t.Errorf("Subjects in a cycle: %v, %v", s, err)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a check through a group cycle hangs")
		}
		if err := g.AddMember(ctx, "a", "group:a#member"); !errors.Is(err, authz.ErrInvalidTuple) {
			t.Fatalf("a group in itself: %v", err)
		}
	})
}

func TestInvalidationAcrossInstances(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r1, r2 := newRelations(t, d), newRelations(t, d)
		m := "model:" + model1
		check(t, r1, "user:alice", authz.Reader, m, false)
		check(t, r2, "user:alice", authz.Reader, m, false) // both loaded
		must(t, r1.Add(ctx, authz.Tuple{"user:alice", authz.Reader, m}))
		check(t, r1, "user:alice", authz.Reader, m, true) // own write, at once
		eventually(t, r2, "user:alice", authz.Reader, m, true)

		// Group writes from a Groups of neither instance reach both.
		g := authz.NewGroups(d)
		get(g.AddGroup(ctx, "ops"))(t)
		must(t, g.AddMember(ctx, "ops", "user:bob"))
		must(t, r2.Add(ctx, authz.Tuple{"group:ops#member", authz.Writer, m}))
		eventually(t, r1, "user:bob", authz.Writer, m, true)
		must(t, g.RenameGroup(ctx, "ops", "ops2"))
		eventually(t, r1, "group:ops2#member", authz.Writer, m, true)
		must(t, g.RemoveMember(ctx, "ops2", "user:bob"))
		eventually(t, r2, "user:bob", authz.Writer, m, false)
	})
}

func eventually(t *testing.T, r *authz.Relations, subject, relation, object string, want bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got, err := r.Check(t.Context(), subject, relation, object)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Check(%s %s %s) = %v, %v after 1 s, want %v", subject, relation, object, got, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestValidation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		for _, tu := range []authz.Tuple{
			{"user:alice", authz.Writer, "controller:c1"},
			{"user:alice", authz.Reader, "cloud:aws"},
			{"user:alice", authz.CanAddModel, "model:" + model1},
			{"user:alice", authz.AuditLogViewer, "cloud:aws"},
			{"user:alice", authz.Member, "model:" + model1},
			{"user:alice", authz.Administrator, "group:ops"},
			{"user:alice", "owner", "model:" + model1},
			{"user:", authz.Reader, "model:" + model1},
			{"alice", authz.Reader, "model:" + model1},
			{"user:a b", authz.Reader, "model:" + model1},
			{"group:ops", authz.Reader, "model:" + model1},
			{"group:-bad#member", authz.Reader, "model:" + model1},
			{"identity:alice", authz.Reader, "model:" + model1},
			{"user:alice", authz.Reader, "model:not-a-uuid"},
			{"user:alice", authz.Reader, "model:" + "11111111-1111-4111-8111-11111111111A"},
			{"user:alice", authz.Administrator, "controller:bad name"},
			{"user:alice", authz.Administrator, "cloud:"},
			{"user:alice", authz.Administrator, "application:x"},
		} {
			if err := r.Add(ctx, tu); !errors.Is(err, authz.ErrInvalidTuple) {
				t.Errorf("Add(%s): %v, want ErrInvalidTuple", tu, err)
			}
			if _, err := r.Check(ctx, tu.Subject, tu.Relation, tu.Object); !errors.Is(err, authz.ErrInvalidTuple) {
				t.Errorf("Check(%s): %v, want ErrInvalidTuple", tu, err)
			}
		}
		if n := len(get(r.List(ctx, authz.Filter{}))(t)); n != 0 {
			t.Fatalf("%d invalid tuples stored", n)
		}
		if _, err := r.ModelAccess(ctx, "user:alice", "nope", ""); !errors.Is(err, authz.ErrInvalidTuple) {
			t.Errorf("ModelAccess with a bad UUID: %v", err)
		}
		tu, err := authz.ParseTuple("group:ops#member administrator controller:jimm")
		if err != nil || tu != (authz.Tuple{"group:ops#member", authz.Administrator, "controller:jimm"}) || tu.String() != "group:ops#member administrator controller:jimm" {
			t.Fatalf("ParseTuple: %+v, %v", tu, err)
		}
		if _, err := authz.ParseTuple("user:alice reader"); !errors.Is(err, authz.ErrInvalidTuple) {
			t.Fatalf("ParseTuple of two fields: %v", err)
		}
		// A group that does not exist is named in the error.
		if err := r.Add(ctx, authz.Tuple{"group:ghosts#member", authz.Reader, "model:" + model1}); !errors.Is(err, db.ErrNotFound) || !contains(err, `"ghosts"`) {
			t.Fatalf("Add naming a missing group: %v", err)
		}
	})
}

func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

func TestListPaging(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		for i := range 5 {
			must(t, r.Add(ctx, authz.Tuple{fmt.Sprintf("user:u%d", i), authz.Reader, "model:" + model1}))
		}
		must(t, r.Add(ctx, authz.Tuple{"user:u0", authz.Writer, "model:" + model2}))
		page := get(r.List(ctx, authz.Filter{Object: "model:" + model1, Limit: 2, Offset: 2}))(t)
		if len(page) != 2 || page[0].Subject != "user:u2" || page[1].Subject != "user:u3" {
			t.Fatalf("page: %v", page)
		}
		mine := get(r.List(ctx, authz.Filter{Subject: "user:u0"}))(t)
		if len(mine) != 2 {
			t.Fatalf("by subject: %v", mine)
		}
		both := get(r.List(ctx, authz.Filter{Subject: "user:u0", Object: "model:" + model2}))(t)
		if len(both) != 1 || both[0].Relation != authz.Writer {
			t.Fatalf("by both: %v", both)
		}
	})
}

// seed stores 10,000 tuples directly: 1,000 users each reading 5 of 1,000
// models, groups 3 deep (alice ∈ g1 ∈ g2 ∈ g3, g3 writes the target) and
// 40 more groups with members.
func seed(t testing.TB, d *db.DB) (target string) {
	ctx := context.Background()
	g := authz.NewGroups(d)
	uuid := map[string]string{}
	for i := range 43 {
		grp, err := g.AddGroup(ctx, fmt.Sprintf("g%d", i+1))
		must(t, err)
		uuid[grp.Name] = grp.UUID
	}
	gs := func(name string) string { return "group:" + uuid[name] + "#member" }
	modelUUID := func(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }
	var rows []db.Relation
	rows = append(rows,
		db.Relation{Subject: "user:alice", Relation: authz.Member, ObjectKind: "group", ObjectID: uuid["g1"]},
		db.Relation{Subject: gs("g1"), Relation: authz.Member, ObjectKind: "group", ObjectID: uuid["g2"]},
		db.Relation{Subject: gs("g2"), Relation: authz.Member, ObjectKind: "group", ObjectID: uuid["g3"]},
		db.Relation{Subject: gs("g3"), Relation: authz.Writer, ObjectKind: "model", ObjectID: modelUUID(7)},
	)
	for i := 0; len(rows) < 10_000; i++ {
		user := fmt.Sprintf("user:u%d", i%1000)
		switch {
		case i%10 == 0:
			rows = append(rows, db.Relation{Subject: user, Relation: authz.Member, ObjectKind: "group", ObjectID: uuid[fmt.Sprintf("g%d", 4+(i+i/1000)%40)]})
		case i%10 == 1:
			rows = append(rows, db.Relation{Subject: gs(fmt.Sprintf("g%d", 4+i%40)), Relation: authz.Reader, ObjectKind: "model", ObjectID: modelUUID(1000 + i)})
		default:
			rows = append(rows, db.Relation{Subject: user, Relation: authz.Reader, ObjectKind: "model", ObjectID: modelUUID(i % 997)})
		}
	}
	must(t, d.CreateInBatches(rows, 500).Error)
	return "model:" + modelUUID(7)
}

func BenchmarkCheck(b *testing.B) {
	d := dbtest.SQLite(b)
	target := seed(b, d)
	r := newRelations(b, d)
	ctx := context.Background()
	if ok, err := r.Check(ctx, "user:alice", authz.Reader, target); err != nil || !ok {
		b.Fatalf("setup check: %v, %v", ok, err)
	}
	b.Run("nested-group-hit", func(b *testing.B) {
		for b.Loop() {
			if ok, _ := r.Check(ctx, "user:alice", authz.Reader, target); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		for b.Loop() {
			if ok, _ := r.Check(ctx, "user:u3", authz.Administrator, target); ok {
				b.Fatal("hit")
			}
		}
	})
	b.Run("model-access", func(b *testing.B) {
		for b.Loop() {
			r.ModelAccess(ctx, "user:alice", target[len("model:"):], "c1")
		}
	})
	// latency: half hits through nested groups, half misses by other users;
	// reports the p50 and p99 of one Check.
	b.Run("latency", func(b *testing.B) {
		var times []time.Duration
		for i := 0; b.Loop(); i++ {
			subject := "user:alice"
			if i%2 == 1 {
				subject = fmt.Sprintf("user:u%d", i%1000)
			}
			start := time.Now()
			if _, err := r.Check(ctx, subject, authz.Writer, target); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
	})
}

// TestCheckOverSeededTuples checks the answers of Check over the 10,000
// tuples of BenchmarkCheck, answered from memory. Its latency is measured
// by BenchmarkCheck/latency, which reports p50 and p99.
func TestCheckOverSeededTuples(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		target := seed(t, d)
		r := newRelations(t, d)
		check(t, r, "user:alice", authz.Writer, target, true) // through g1 ∈ g2 ∈ g3
		for i := range 1000 {
			check(t, r, fmt.Sprintf("user:u%d", i), authz.Writer, target, false)
		}
	})
}

// TestAddingAnExistingTupleChangesNothing: an idempotent Add keeps the
// index and calls no OnChange.
func TestAddingAnExistingTupleChangesNothing(t *testing.T) {
	d := dbtest.SQLite(t)
	r := newRelations(t, d)
	changes := 0
	r.OnChange(func() { changes++ })
	tu := authz.Tuple{"user:alice", authz.Reader, "model:" + model1}
	must(t, r.Add(t.Context(), tu))
	check(t, r, "user:alice", authz.Reader, "model:"+model1, true)
	before := changes
	if before == 0 {
		t.Fatal("adding a new tuple called no OnChange")
	}
	must(t, r.Add(t.Context(), tu))
	if changes != before {
		t.Fatalf("adding an existing tuple called OnChange %d times", changes-before)
	}
}

func TestAccessRankAndRelationAccess(t *testing.T) {
	for _, c := range []struct {
		relation, access string
		rank             int
	}{
		{authz.Reader, authz.AccessRead, 1}, {authz.Writer, authz.AccessWrite, 2}, {authz.Administrator, authz.AccessAdmin, 3},
		{authz.Member, authz.AccessNone, 0}, {authz.AuditLogViewer, authz.AccessNone, 0}, {"", authz.AccessNone, 0},
	} {
		if got := authz.RelationAccess(c.relation); got != c.access {
			t.Errorf("RelationAccess(%q) = %q, want %q", c.relation, got, c.access)
		}
		if got := authz.AccessRank(c.access); got != c.rank {
			t.Errorf("AccessRank(%q) = %d, want %d", c.access, got, c.rank)
		}
	}
	if authz.AccessRank("superuser") != 0 {
		t.Error("an unknown access level ranks above none")
	}
}
