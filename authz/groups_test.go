package authz_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

func TestGroupsLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		g := r.Groups()
		ops := get(g.AddGroup(ctx, "ops"))(t)
		if ops.UUID == "" || ops.Name != "ops" {
			t.Fatalf("AddGroup: %+v", ops)
		}
		if _, err := g.AddGroup(ctx, "ops"); !errors.Is(err, db.ErrDuplicate) || !strings.Contains(err.Error(), `"ops"`) {
			t.Fatalf("duplicate group: %v", err)
		}
		for _, bad := range []string{"", "-x", "a b", strings.Repeat("x", 65), "a#b", "a:b"} {
			if _, err := g.AddGroup(ctx, bad); err == nil {
				t.Errorf("AddGroup(%q) accepted", bad)
			}
		}
		must(t, g.AddMember(ctx, "ops", "user:alice"))
		must(t, g.AddMember(ctx, "ops", "user:alice")) // idempotent
		must(t, g.AddMember(ctx, "ops", "serviceaccount:ci@serviceaccount"))
		must(t, r.Add(ctx, authz.Tuple{"group:ops#member", authz.Writer, "model:" + model1}))
		if got := get(r.ModelAccess(ctx, "user:alice", model1, ""))(t); got != authz.AccessWrite {
			t.Fatalf("alice through ops: %q", got)
		}

		// Renaming keeps access and rewrites no tuple.
		must(t, g.RenameGroup(ctx, "ops", "operators"))
		if got := get(r.ModelAccess(ctx, "user:alice", model1, ""))(t); got != authz.AccessWrite {
			t.Fatalf("alice after rename: %q", got)
		}
		if ok := get(r.Check(ctx, "group:operators#member", authz.Reader, "model:"+model1))(t); !ok {
			t.Fatal("renamed group lost reader")
		}
		if _, err := r.Check(ctx, "group:ops#member", authz.Reader, "model:"+model1); !errors.Is(err, db.ErrNotFound) || !strings.Contains(err.Error(), `"ops"`) {
			t.Fatalf("old name: %v", err)
		}
		tuples := get(r.List(ctx, authz.Filter{Object: "model:" + model1}))(t)
		if len(tuples) != 1 || tuples[0].Subject != "group:operators#member" {
			t.Fatalf("List after rename: %v", tuples)
		}
		var stored []db.Relation
		must(t, d.Where("object_id = ?", model1).Find(&stored).Error)
		if len(stored) != 1 || stored[0].Subject != "group:"+ops.UUID+"#member" {
			t.Fatalf("stored tuples: %+v", stored)
		}
		addGroup(t, g, "dev")
		if err := g.RenameGroup(ctx, "operators", "dev"); !errors.Is(err, db.ErrDuplicate) {
			t.Fatalf("rename onto an existing group: %v", err)
		}
		if err := g.RenameGroup(ctx, "nope", "other"); !errors.Is(err, db.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("rename missing: %v", err)
		}
		list := get(g.ListGroups(ctx))(t)
		if len(list) != 2 || list[0].Name != "dev" || list[1].Name != "operators" {
			t.Fatalf("ListGroups: %+v", list)
		}

		must(t, g.RemoveMember(ctx, "operators", "serviceaccount:ci@serviceaccount"))
		if err := g.RemoveMember(ctx, "operators", "serviceaccount:ci@serviceaccount"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("remove a non-member: %v", err)
		}
		if err := g.AddMember(ctx, "nope", "user:bob"); !errors.Is(err, db.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("add to a missing group: %v", err)
		}
	})
}

func TestRemoveGroupRemovesItsTuples(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := newRelations(t, d)
		g := r.Groups()
		addGroup(t, g, "ops")
		addGroup(t, g, "all")
		must(t, g.AddMember(ctx, "ops", "user:alice"))
		must(t, g.AddMember(ctx, "all", "group:ops#member"))
		must(t, r.Add(ctx, authz.Tuple{"group:ops#member", authz.Administrator, "cloud:aws"}))
		must(t, r.Add(ctx, authz.Tuple{"user:bob", authz.Reader, "model:" + model1}))
		if n := len(get(r.List(ctx, authz.Filter{}))(t)); n != 4 {
			t.Fatalf("%d tuples before", n)
		}
		must(t, g.RemoveGroup(ctx, "ops"))
		left := get(r.List(ctx, authz.Filter{}))(t)
		if len(left) != 1 || left[0] != (authz.Tuple{"user:bob", authz.Reader, "model:" + model1}) {
			t.Fatalf("tuples left: %v", left)
		}
		if ok := get(r.Check(ctx, "user:alice", authz.Administrator, "cloud:aws"))(t); ok {
			t.Fatal("alice still administers aws")
		}
		if err := g.RemoveGroup(ctx, "ops"); !errors.Is(err, db.ErrNotFound) || !strings.Contains(err.Error(), `"ops"`) {
			t.Fatalf("remove again: %v", err)
		}
	})
}

func addGroup(t *testing.T, g *authz.Groups, name string) {
	t.Helper()
	if _, err := g.AddGroup(t.Context(), name); err != nil {
		t.Fatal(err)
	}
}
