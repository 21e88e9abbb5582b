package controllers

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// plainSealer seals nothing: the registry's tests are not about secrets.
type plainSealer struct{}

func (plainSealer) Seal(p []byte, _ string) ([]byte, error) { return p, nil }
func (plainSealer) Open(s []byte, _ string) ([]byte, error) { return s, nil }

func addRequest(tc *testController) AddRequest {
	ep := tc.endpoint()
	return AddRequest{Name: tc.name(), UUID: ep.UUID, Addresses: ep.Addresses, CACert: ep.CACert,
		AdminUser: "admin", AdminPassword: adminPassword}
}

// notes records the payloads of one notification channel.
type notes struct {
	mu  sync.Mutex
	got []string
}

func listen(t *testing.T, d *db.DB, channel string) *notes {
	t.Helper()
	n := &notes{}
	if err := d.Listen(t.Context(), channel, func(p string) {
		n.mu.Lock()
		n.got = append(n.got, p)
		n.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *notes) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// TestRegistryNotifiesEveryChange: adding, deprecating, undeprecating and
// removing a controller each notify db.ControllersChannel with its name;
// a change refused notifies nothing.
func TestRegistryNotifiesEveryChange(t *testing.T) {
	ctl := startController(t, "ctl-n")
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := NewRegistry(d, plainSealer{}, testLogger())
		n := listen(t, d, db.ControllersChannel)
		want := []string{}
		step := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			want = append(want, ctl.name())
			eventually(t, 5*time.Second, what+" notified", func() bool { return len(n.list()) >= len(want) })
		}
		_, err := r.Add(ctx, addRequest(ctl))
		step("add", err)
		if _, err := r.Add(ctx, addRequest(ctl)); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("adding it again: %v, want ErrAlreadyExists", err)
		}
		_, err = r.SetDeprecated(ctx, ctl.name(), true)
		step("deprecate", err)
		c, err := r.SetDeprecated(ctx, ctl.name(), false)
		if err == nil && c.Deprecated {
			t.Fatal("SetDeprecated(false) returned a deprecated controller")
		}
		step("undeprecate", err)
		if _, err := r.SetDeprecated(ctx, "nope", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deprecate an unknown controller: %v, want ErrNotFound", err)
		}
		step("remove", r.Remove(ctx, ctl.name(), false))
		// The refusals and failures above may not have notified: give a
		// stray notification time to arrive.
		time.Sleep(200 * time.Millisecond)
		if got := n.list(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("notifications %q, want %q", got, want)
		}
	})
}

// TestRegistryRemoveKeepsMigrationHistory: a controller that took part in
// migrations can be removed once none is running; its ended migrations
// stay, naming it.
func TestRegistryRemoveKeepsMigrationHistory(t *testing.T) {
	ctlA, ctlB := startController(t, "ctl-a"), startController(t, "ctl-b")
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := NewRegistry(d, plainSealer{}, testLogger())
		a, err := r.Add(ctx, addRequest(ctlA))
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.Add(ctx, addRequest(ctlB))
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().UTC().Truncate(time.Second)
		ended := &db.Migration{ModelUUID: "5e55c0de-0000-4000-8000-000000000001", ModelName: "moved", Owner: "alice",
			SourceControllerID: a.ID, TargetControllerID: b.ID, SourceController: a.Name, TargetController: b.Name,
			Phase: "DONE", Result: db.MigrationSucceeded, StartedAt: at, PhaseChangedAt: at, EndedAt: &at}
		// A migration recorded before the names were: only the ids.
		old := &db.Migration{ModelUUID: "5e55c0de-0000-4000-8000-000000000002", ModelName: "old", Owner: "alice",
			SourceControllerID: b.ID, TargetControllerID: a.ID,
			Phase: "ABORTDONE", Result: db.MigrationFailed, StartedAt: at, PhaseChangedAt: at, EndedAt: &at}
		running := &db.Migration{ModelUUID: "5e55c0de-0000-4000-8000-000000000003", ModelName: "moving", Owner: "bob",
			SourceControllerID: b.ID, TargetControllerID: a.ID, SourceController: b.Name, TargetController: a.Name,
			Phase: "IMPORT", Result: db.MigrationRunning, StartedAt: at, PhaseChangedAt: at}
		for _, m := range []*db.Migration{ended, old, running} {
			if err := d.WithContext(ctx).Create(m).Error; err != nil {
				t.Fatal(err)
			}
		}

		// A migration toward ctl-a is running: refused, nothing changed.
		err = r.Remove(ctx, a.Name, true)
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "moving") {
			t.Fatalf("removing a controller a running migration targets: %v, want ErrInUse naming the model", err)
		}
		if _, err := r.Get(ctx, a.Name); err != nil {
			t.Fatalf("the refused removal removed the controller: %v", err)
		}

		// Once it ended, ctl-a goes, with no --force (it hosts no model).
		if err := d.WithContext(ctx).Model(running).Updates(map[string]any{"result": db.MigrationSucceeded, "phase": "DONE", "ended_at": at}).Error; err != nil {
			t.Fatal(err)
		}
		if err := r.Remove(ctx, a.Name, false); err != nil {
			t.Fatalf("remove a controller with migration history: %v", err)
		}
		if _, err := r.Get(ctx, a.Name); !errors.Is(err, ErrNotFound) {
			t.Fatalf("removed controller still registered: %v", err)
		}
		// A controller registered later (which may get the same id on
		// SQLite) does not take the history over.
		if _, err := r.Add(ctx, addRequest(ctlA)); err != nil {
			t.Fatalf("register ctl-a again: %v", err)
		}
		if err := r.Remove(ctx, a.Name, false); err != nil {
			t.Fatal(err)
		}
		var got []db.Migration
		if err := d.WithContext(ctx).Preload("Source").Preload("Target").Order("model_uuid").Find(&got).Error; err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%d migrations left, want 3 (the history is kept)", len(got))
		}
		for i, want := range [][2]string{{"ctl-a", "ctl-b"}, {"ctl-b", "ctl-a"}, {"ctl-b", "ctl-a"}} {
			if src, dst := got[i].SourceName(), got[i].TargetName(); src != want[0] || dst != want[1] {
				t.Errorf("migration of %q: %s → %s, want %s → %s", got[i].ModelName, src, dst, want[0], want[1])
			}
		}
	})
}

// TestRegistryRemoveForceDropsModels: a forced removal drops the models'
// routes and relations, and tells every replica's routing table.
func TestRegistryRemoveForceDropsModels(t *testing.T) {
	ctl := startController(t, "ctl-f")
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		r := NewRegistry(d, plainSealer{}, testLogger())
		c, err := r.Add(ctx, addRequest(ctl))
		if err != nil {
			t.Fatal(err)
		}
		m := &db.Model{UUID: "5e55c0de-0000-4000-8000-0000000000f1", Name: "m", Owner: "alice", ControllerID: c.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive}
		if err := d.AddModel(ctx, m, "user:alice"); err != nil {
			t.Fatal(err)
		}
		loads, err := d.ControllerLoads(ctx)
		if err != nil || loads[c.Name].Models != 1 {
			t.Fatalf("ControllerLoads = %v, %v; want %s: 1 model", loads, err, c.Name)
		}
		routes := listen(t, d, db.RoutesChannel)
		if err := r.Remove(ctx, c.Name, false); !errors.Is(err, ErrHasModels) {
			t.Fatalf("remove without --force: %v, want ErrHasModels", err)
		}
		if err := r.Remove(ctx, c.Name, true); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "routes notified", func() bool { return len(routes.list()) > 0 })
		if _, err := d.ModelByUUID(ctx, m.UUID); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("model of the removed controller: %v, want not found", err)
		}
		var rels int64
		if err := d.WithContext(ctx).Model(&db.Relation{}).Where("object_id = ?", m.UUID).Count(&rels).Error; err != nil || rels != 0 {
			t.Fatalf("%d relations to the dropped model left (%v)", rels, err)
		}
		if loads, err := d.ControllerLoads(ctx); err != nil || len(loads) != 0 {
			t.Fatalf("ControllerLoads after removal = %v, %v; want empty", loads, err)
		}
	})
}

// TestRegistryRefusesSelf: the broker is never registered as one of its
// own controllers, whether the controller file gives its UUID, one of its
// addresses (however written), or an address behind which it answers.
func TestRegistryRefusesSelf(t *testing.T) {
	ctl, other := startController(t, "ctl-s"), startController(t, "ctl-o")
	_, port, _ := net.SplitHostPort(ctl.addr())
	d := dbtest.SQLite(t)
	for _, tt := range []struct {
		name string
		self Self
		req  func(AddRequest) AddRequest
		want string
	}{{
		name: "its UUID",
		self: Self{UUID: ctl.uuid()},
		req:  func(r AddRequest) AddRequest { r.Addresses = []string{other.addr()}; return r },
		want: "UUID " + ctl.uuid() + " is the broker's own",
	}, {
		name: "its listen address",
		self: Self{UUID: "5e55c0de-0000-4000-8000-00000000beef", Addresses: []string{ctl.addr()}},
		want: "address " + ctl.addr() + " is the broker's own",
	}, {
		name: "localhost for 127.0.0.1",
		self: Self{UUID: "5e55c0de-0000-4000-8000-00000000beef", Addresses: []string{ctl.addr()}},
		req: func(r AddRequest) AddRequest {
			r.Addresses = []string{other.addr(), "localhost:" + port}
			return r
		},
		want: "address localhost:" + port + " is the broker's own",
	}, {
		name: "listening on every address",
		self: Self{UUID: "5e55c0de-0000-4000-8000-00000000beef", Addresses: []string{"[::]:" + port}},
		want: "is the broker's own ([::]:" + port + ")",
	}, {
		name: "its public address",
		self: Self{UUID: "5e55c0de-0000-4000-8000-00000000beef", Addresses: []string{"0.0.0.0:1", "LocalHost:" + port}},
		want: "is the broker's own (LocalHost:" + port + ")",
	}, {
		// The broker behind an alias: the file's UUID is not the
		// broker's, but the login answers with it.
		name: "its UUID in the login",
		self: Self{UUID: ctl.uuid(), Addresses: []string{"127.0.0.1:1"}},
		req: func(r AddRequest) AddRequest {
			r.UUID = "5e55c0de-0000-4000-8000-00000000cafe"
			return r
		},
		want: "answers with the broker's own UUID",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry(d, plainSealer{}, testLogger())
			r.SetSelf(tt.self)
			req := addRequest(ctl)
			if tt.req != nil {
				req = tt.req(req)
			}
			_, err := r.Add(t.Context(), req)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "refusing to register the broker itself as a controller") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Add = %v; want ErrInvalid refusing the broker itself, saying %q", err, tt.want)
			}
			if ctls, err := r.List(t.Context()); err != nil || len(ctls) != 0 {
				t.Fatalf("after the refusal: %d controllers stored (%v), want none", len(ctls), err)
			}
		})
	}
	// Another controller on the same host is not the broker.
	r := NewRegistry(d, plainSealer{}, testLogger())
	r.SetSelf(Self{UUID: "5e55c0de-0000-4000-8000-00000000beef", Addresses: []string{ctl.addr(), "[::]:" + port, "localhost:" + port}})
	if _, err := r.Add(t.Context(), addRequest(other)); err != nil {
		t.Fatalf("add a controller on another port of the broker's host: %v", err)
	}
}

func TestIsSelfAddress(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		addr string
		own  []string
		want bool
	}{
		{"127.0.0.1:17070", []string{"127.0.0.1:17070"}, true},
		{"127.0.0.2:17070", []string{"localhost:17070"}, true},
		{"[::1]:17070", []string{"localhost:17070"}, true},
		{"localhost:17070", []string{"[::]:17070"}, true},
		{"127.0.0.1:17070", []string{":17070"}, true},
		{"broker.example.com:443", []string{"BROKER.example.com.:443"}, true},
		{"127.0.0.1:17071", []string{"127.0.0.1:17070", "[::]:17070"}, false},
		{"192.0.2.7:17070", []string{"0.0.0.0:17070"}, false},
		{"192.0.2.7:17070", []string{"192.0.2.8:17070"}, false},
		{"127.0.0.1:0", []string{"127.0.0.1:0"}, false},
		{"not-an-address", []string{"127.0.0.1:17070"}, false},
	} {
		if _, got := isSelfAddress(ctx, tt.addr, tt.own); got != tt.want {
			t.Errorf("isSelfAddress(%q, %q) = %v, want %v", tt.addr, tt.own, got, tt.want)
		}
	}
}
