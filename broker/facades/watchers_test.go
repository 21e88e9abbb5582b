package facades

import (
	"context"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// next calls ModelSummaryWatcher.Next on watcher id, failing the test if
// it has not answered in 10s.
func (c *client) next(id string) ([]params.ModelAbstract, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(jujuapi.WithObjectID(c.t.Context(), id), 10*time.Second)
	defer cancel()
	var res params.SummaryWatcherNextResults
	err := c.Call(ctx, "ModelSummaryWatcher", 1, "Next", nil, &res)
	return res.Models, err
}

// TestModelSummaryWatchers: Controller.WatchModelSummaries answers a
// watcher whose first Next lists the caller's models, with the broker as
// their controller, and whose later Nexts answer a model placed by
// another client; Stop ends a waiting Next with Juju's "stopped" error
// and forgets the id; WatchAllModelSummaries is for administrators.
func TestModelSummaryWatchers(t *testing.T) {
	e := newEnv(t, "ctl-1:east")
	admin := e.as(t, identity.AdminName)
	alice := e.as(t, "alice@example.com")
	if err := e.rel.Add(t.Context(), authz.Tuple{Subject: "user:alice@example.com", Relation: authz.CanAddModel, Object: "cloud:localhost"}); err != nil {
		t.Fatal(err)
	}
	e.createModel(t, admin, "admins", "east", nil, "")

	var w params.SummaryWatcherID
	alice.must("Controller", "WatchModelSummaries", nil, &w)
	first, err := alice.next(w.WatcherID)
	if err != nil || len(first) != 0 {
		t.Fatalf("alice's first Next: %v %+v", err, first)
	}
	// Another client (a connection of alice's own) adds a model.
	other := e.as(t, "alice@example.com")
	var info params.ModelInfo
	other.must("ModelManager", "CreateModel", params.ModelCreateArgs{Name: "mine", OwnerTag: "user-alice@example.com", CloudTag: "cloud-localhost", CloudRegion: "east"}, &info)
	got, err := alice.next(w.WatcherID)
	if err != nil || len(got) != 1 {
		t.Fatalf("alice's Next after her model was created: %v %+v", err, got)
	}
	if m := got[0]; m.UUID != info.UUID || m.Name != "mine" || m.Controller != "jimm" || m.Cloud != "localhost" || m.Region != "east" ||
		len(m.Admins) != 1 || m.Admins[0] != "alice@example.com" || m.Status != "available" {
		t.Fatalf("the new model's summary: %+v", m)
	}

	// The administrator's all-models watcher sees both models.
	var all params.SummaryWatcherID
	admin.must("Controller", "WatchAllModelSummaries", nil, &all)
	if got, err := admin.next(all.WatcherID); err != nil || len(got) != 2 {
		t.Fatalf("the administrator's first Next: %v %+v", err, got)
	}
	wantCode(t, "alice's WatchAllModelSummaries", alice.call("Controller", "WatchAllModelSummaries", nil, nil), jujuapi.CodeUnauthorized, "permission denied")

	// Stop: the waiting Next answers "stopped"; the id is then unknown.
	errc := make(chan error, 1)
	go func() { _, err := alice.next(w.WatcherID); errc <- err }()
	for deadline := time.Now().Add(10 * time.Second); e.summaries.Waiting() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Next never waited")
		}
	}
	ctx := jujuapi.WithObjectID(t.Context(), w.WatcherID)
	if err := alice.Call(ctx, "ModelSummaryWatcher", 1, "Stop", nil, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "the Next waiting when the watcher stopped", <-errc, "stopped", "watcher has been stopped")
	_, err = alice.next(w.WatcherID)
	wantCode(t, "Next on a stopped watcher", err, jujuapi.CodeNotFound, "watcher id: "+w.WatcherID+": unknown watcher id")
	// The dashboard's client library names the watcher in the params.
	var w2 params.SummaryWatcherID
	alice.must("Controller", "WatchModelSummaries", nil, &w2)
	var viaParams params.SummaryWatcherNextResults
	alice.must("ModelSummaryWatcher", "Next", map[string]string{"id": w2.WatcherID}, &viaParams)
	if len(viaParams.Models) != 1 || viaParams.Models[0].Name != "mine" {
		t.Fatalf("Next naming the watcher in its params: %+v", viaParams)
	}
	alice.must("ModelSummaryWatcher", "Stop", map[string]string{"id": w2.WatcherID}, nil)
	_, err = alice.next("no-such-id")
	wantCode(t, "Next on an unknown watcher", err, jujuapi.CodeNotFound, "watcher id: no-such-id: unknown watcher id")

	// A connection may hold a bounded number of watchers.
	for range maxWatchers {
		alice.must("Controller", "WatchModelSummaries", nil, nil)
	}
	err = alice.call("Controller", "WatchModelSummaries", nil, nil)
	if err == nil || err.Error() != "too many watchers on this connection (64): stop some first" {
		t.Fatalf("one watcher too many: %v", err)
	}
}
