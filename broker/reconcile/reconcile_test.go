package reconcile

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/devcontroller"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

const ctlPassword = "controller-admin-password"

// env is a reconciler over two real, in-process development controllers
// (ctl-a, ctl-b), on SQLite.
type env struct {
	d    *db.DB
	p    *brokertest.Parts
	pool *controllers.Pool
	reg  *controllers.Registry
	r    *Reconciler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	p := brokertest.New(t)
	e := &env{d: p.DB, p: p}
	e.reg = controllers.NewRegistry(e.d, p.Cipher, brokertest.Quiet)
	e.pool = controllers.NewPool(e.reg.Resolve, jujuapi.ConnOptions{}, brokertest.Quiet)
	t.Cleanup(e.pool.Close)
	for _, name := range []string{"ctl-a", "ctl-b"} {
		c, err := devcontroller.New(ctx, devcontroller.Config{Name: name, Listen: "127.0.0.1:0", DataDir: t.TempDir(),
			Cloud: "localhost", CloudType: "lxd", Regions: []string{"r1"}, AdminPassword: ctlPassword,
			ModelDestroyDelay: 10 * time.Millisecond, Logger: brokertest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Serve(sctx) }()
		t.Cleanup(func() { stop(); <-done })
		if _, err := e.reg.Add(ctx, controllers.AddRequest{Name: name, UUID: c.UUID(), Addresses: []string{c.Addr()}, CACert: string(c.CACertPEM()),
			AdminUser: "admin", AdminPassword: ctlPassword}); err != nil {
			t.Fatal(err)
		}
	}
	routes := p.StartRoutes(t, e.pool)
	var err error
	if e.r, err = New(Deps{DB: e.d, Registry: e.reg, Pool: e.pool, Routes: routes, Relations: p.Rel, ReplicaID: "me",
		CreateGrace: time.Hour, Metrics: prometheus.NewRegistry(), Logger: brokertest.Quiet}); err != nil {
		t.Fatal(err)
	}
	return e
}

// onController creates a model on a controller directly, as if a broker
// replica's creation had reached it; it returns its UUID.
func (e *env) onController(t *testing.T, ctl, owner, name string) string {
	t.Helper()
	c, err := e.pool.Get(t.Context(), ctl)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.CreateModel(t.Context(), params.ModelCreateArgs{Name: name, OwnerTag: jujuapi.UserTag(owner).String(), CloudRegion: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	return info.UUID
}

// creation records a creation of owner/name by replica that asked ctls.
func (e *env) creation(t *testing.T, replica, owner, name string, ctls ...string) *db.ModelCreation {
	t.Helper()
	c := &db.ModelCreation{Owner: owner, Name: name, Replica: replica}
	if err := e.d.BeginModelCreation(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	for _, ctl := range ctls {
		if err := e.d.ModelCreationTrying(t.Context(), c.ID, ctl); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func kinds(ds []Difference) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Kind+" "+d.Model)
	}
	slices.Sort(out)
	return out
}

func actions(rep *Report) []string {
	var out []string
	for _, a := range rep.Actions {
		out = append(out, a.Action+" "+a.Controller+" "+a.Model+" "+a.Error)
	}
	slices.Sort(out)
	return out
}

func (e *env) pass(t *testing.T) *Report {
	t.Helper()
	rep, err := e.r.Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (e *env) hosted(t *testing.T, ctl string) map[string]hosted {
	t.Helper()
	models, err := list(t.Context(), e.pool, ctl)
	if err != nil {
		t.Fatal(err)
	}
	return models
}

func TestCrashedCreations(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if ds, err := e.r.Check(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("Check of a new broker: %v %+v, want no difference", err, ds)
	}
	// A dead replica's creation that reached ctl-b: adopted. Another that
	// asked ctl-a, which faulted and created it late, then ctl-b, which
	// created it too: the later one is adopted, the other destroyed. A
	// third that reached no controller: forgotten.
	adoptUUID := e.onController(t, "ctl-b", "alice", "crashed")
	e.creation(t, "dead", "alice", "crashed", "ctl-b")
	lateUUID := e.onController(t, "ctl-a", "bob", "twice")
	keptUUID := e.onController(t, "ctl-b", "bob", "twice")
	e.creation(t, "dead", "bob", "twice", "ctl-a", "ctl-b")
	e.creation(t, "dead", "carol", "nothing", "ctl-a")
	// A live replica's creation under way is left alone.
	now := time.Now()
	if _, err := e.d.TakeLease(ctx, "replica/alive", "alive", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	busyUUID := e.onController(t, "ctl-a", "dave", "busy")
	e.creation(t, "alive", "dave", "busy", "ctl-a")

	ds, err := e.r.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pending-creation alice/crashed", "pending-creation bob/twice", "pending-creation carol/nothing", "pending-creation dave/busy"}
	if !slices.Equal(kinds(ds), want) {
		t.Fatalf("Check: %q, want %q", kinds(ds), want)
	}
	rep := e.pass(t)
	wantActions := []string{"adopt-model ctl-b alice/crashed ", "adopt-model ctl-b bob/twice ", "destroy-orphan ctl-a bob/twice ", "end-creation  carol/nothing "}
	if got := actions(rep); !slices.Equal(got, wantActions) {
		t.Fatalf("pass: %q, want %q", got, wantActions)
	}
	for uuid, owner := range map[string]string{adoptUUID: "alice", keptUUID: "bob"} {
		m, err := e.d.ModelByUUID(ctx, uuid)
		if err != nil || m.Owner != owner || m.Controller.Name != "ctl-b" || m.Life != db.LifeAlive {
			t.Errorf("adopted model %s: %v %+v", uuid, err, m)
		}
		if ok, err := e.p.Rel.Check(ctx, "user:"+owner, "administrator", "model:"+uuid); err != nil || !ok {
			t.Errorf("%s is not the administrator of the adopted model %s: %v", owner, uuid, err)
		}
	}
	if h := e.hosted(t, "ctl-a")[lateUUID]; h.sum.Life == db.LifeAlive {
		t.Errorf("the late duplicate %s on ctl-a is still alive", lateUUID)
	}
	if _, ok := e.hosted(t, "ctl-a")[busyUUID]; !ok {
		t.Errorf("the pass touched a live replica's creation under way")
	}
	// Only the live replica's creation is left; once its replica is gone
	// (its heartbeat released) the next pass adopts it.
	if ds, err := e.r.Check(ctx); err != nil || !slices.Equal(kinds(ds), []string{"pending-creation dave/busy"}) {
		t.Fatalf("Check after the pass: %v %q", err, kinds(ds))
	}
	if err := e.d.ReleaseLease(ctx, "replica/alive", "alive"); err != nil {
		t.Fatal(err)
	}
	if got := actions(e.pass(t)); !slices.Equal(got, []string{"adopt-model ctl-a dave/busy "}) {
		t.Fatalf("pass after the replica died: %q", got)
	}
	if ds, err := e.r.Check(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("Check at the end: %v %+v", err, ds)
	}
}

func TestSweepKeepsTheRecordedModel(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	// A creation faulted on ctl-a, succeeded on ctl-b (recorded), and ctl-a
	// made the model late: the sweep destroys the late one only.
	late := e.onController(t, "ctl-a", "alice", "m")
	kept := e.onController(t, "ctl-b", "alice", "m")
	c := e.creation(t, "me", "alice", "m", "ctl-a", "ctl-b")
	ctlB, _ := e.reg.Get(ctx, "ctl-b")
	if err := e.d.FinishModelCreation(ctx, c.ID, &db.Model{UUID: kept, Name: "m", Owner: "alice", ControllerID: ctlB.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive},
		"user:alice", true); err != nil {
		t.Fatal(err)
	}
	if got := actions(e.pass(t)); !slices.Equal(got, []string{"destroy-orphan ctl-a alice/m ", "end-creation  alice/m "}) {
		t.Fatalf("pass: %q", got)
	}
	if h, ok := e.hosted(t, "ctl-a")[late]; ok && h.sum.Life == db.LifeAlive {
		t.Errorf("the late model is alive")
	}
	if _, ok := e.hosted(t, "ctl-b")[kept]; !ok {
		t.Errorf("the recorded model was destroyed")
	}
}

func TestDyingUnknownAndImport(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	// A dying record whose model is gone is cleared; an alive one that is
	// gone is reported, not touched.
	ctlA, _ := e.reg.Get(ctx, "ctl-a")
	dying := e.onController(t, "ctl-a", "alice", "dying")
	for _, m := range []*db.Model{
		{UUID: dying, Name: "dying", Owner: "alice", ControllerID: ctlA.ID, Cloud: "localhost", Region: "r1", Life: db.LifeDying},
		{UUID: "gone-uuid", Name: "gone", Owner: "alice", ControllerID: ctlA.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive},
	} {
		if err := e.d.AddModel(ctx, m, "user:alice"); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := e.pool.Get(ctx, "ctl-a")
	if err := c.DestroyModel(ctx, dying, true, nil); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, "the destroyed model gone from ctl-a", func() bool { _, ok := e.hosted(t, "ctl-a")[dying]; return !ok })
	unknown := e.onController(t, "ctl-b", "erin", "behind")
	ds, err := e.r.Check(ctx)
	want := []string{"missing-model alice/dying", "missing-model alice/gone", "unknown-model erin/behind"}
	if err != nil || !slices.Equal(kinds(ds), want) {
		t.Fatalf("Check: %v %q, want %q", err, kinds(ds), want)
	}
	if got := actions(e.pass(t)); !slices.Equal(got, []string{"clear-dying ctl-a alice/dying "}) {
		t.Fatalf("pass: %q", got)
	}
	if _, err := e.d.ModelByUUID(ctx, dying); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("the dying record is still there: %v", err)
	}
	// Import adopts the unknown model, once; the controller model and
	// models the controller does not have are refused.
	m, err := e.r.Import(ctx, "ctl-b", unknown)
	if err != nil || m.Owner != "erin" || m.Controller.Name != "ctl-b" {
		t.Fatalf("Import: %v %+v", err, m)
	}
	if _, err := e.r.Import(ctx, "ctl-b", unknown); jujuapi.ErrorCode(err) != jujuapi.CodeAlreadyExists {
		t.Errorf("Import twice: %v, want already exists", err)
	}
	ctlBClient, _ := e.pool.Get(ctx, "ctl-b")
	if _, err := e.r.Import(ctx, "ctl-b", ctlBClient.UUID()); jujuapi.ErrorCode(err) != jujuapi.CodeNotFound {
		t.Errorf("Import of the controller model: %v, want not found", err)
	}
	if _, err := e.r.Import(ctx, "ctl-a", unknown); jujuapi.ErrorCode(err) != jujuapi.CodeAlreadyExists {
		t.Errorf("Import of a known model from another controller: %v, want already exists", err)
	}
	if ds, err := e.r.Check(ctx); err != nil || !slices.Equal(kinds(ds), []string{"missing-model alice/gone"}) {
		t.Fatalf("Check at the end: %v %q", err, kinds(ds))
	}
}

func TestOnePassAtATime(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	now := time.Now()
	if ok, err := e.d.TakeLease(ctx, leaseName, "other", now, now.Add(time.Minute)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := e.r.Pass(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("Pass while another replica holds the lease: %v, want ErrBusy", err)
	}
	if err := e.d.ReleaseLease(ctx, leaseName, "other"); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	// The lease is released at the end of a pass.
	if held, err := e.d.LeaseHeld(ctx, leaseName, time.Now()); err != nil || held {
		t.Fatalf("lease held after a pass: %v %v", held, err)
	}
}
