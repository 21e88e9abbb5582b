package devcontroller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/testcharms"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// deployLocal deploys an uploaded charm with n units.
func deployLocal(t *testing.T, mc *jujuapi.Client, app, url string, n int) {
	t.Helper()
	var res params.ErrorResults
	if err := mc.Call(t.Context(), "Application", 20, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{{
		ApplicationName: app, CharmURL: url, CharmOrigin: localOrigin(), NumUnits: n,
	}}}, &res); err != nil || res.OneError() != nil {
		t.Fatalf("deploy %s (%s): %v %v", app, url, err, res.OneError())
	}
}

// isEntity matches a change (or removal) of the entity of kind and id.
func isEntity(kind, id string, removed bool) func(params.Delta) bool {
	return func(d params.Delta) bool {
		e := d.Entity.EntityId()
		return e.Kind == kind && e.Id == id && d.Removed == removed
	}
}

// kinds lists the kinds and ids of deltas, for messages.
func kinds(ds []params.Delta) []string {
	var out []string
	for _, d := range ds {
		op := "change"
		if d.Removed {
			op = "remove"
		}
		out = append(out, d.Entity.EntityId().Kind+":"+d.Entity.EntityId().Id+":"+op)
	}
	sort.Strings(out)
	return out
}

// TestAllWatcher: Client.WatchAll's AllWatcher sees every kind of change
// to its model, and only its model's, as Juju's does.
func TestAllWatcher(t *testing.T) {
	c := startController(t, t.TempDir(), func(cfg *Config) { cfg.HookDuration = time.Hour })
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "watched", "admin")
	other := createModel(t, admin, "other", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	url := uploadCharm(t, c, m.UUID, "series=jammy", testcharms.Demo)

	w := dialRaw(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	var id params.AllWatcherId
	w.mustCall(t, "Client", 7, "", "WatchAll", nil, &id)
	if id.AllWatcherId != "1" {
		t.Errorf("first watcher id %q, want 1", id.AllWatcherId)
	}
	first := w.nextDeltas(t, "AllWatcher", id.AllWatcherId)
	if got, want := kinds(first), []string{"charm:" + url + ":change", "model:" + m.UUID + ":change"}; !slices.Equal(got, want) {
		t.Errorf("first Next: %v, want %v", got, want)
	}

	deployLocal(t, mc, "web", url, 1)
	w.waitDelta(t, "AllWatcher", id.AllWatcherId, "web deployed", isEntity("application", "web", false))
	deployLocal(t, mc, "api", url, 1)

	// Deltas of another model never reach this watcher.
	omc := mustLogin(t, c, "/model/"+other.UUID+"/api", "admin", "secret")
	var added params.AddMachinesResults
	call(t, omc, "MachineManager", 10, "AddMachines", params.AddMachines{MachineParams: []params.AddMachineParams{{}}}, &added)

	var units params.AddApplicationUnitsResults
	call(t, mc, "Application", 20, "AddUnits", params.AddApplicationUnits{ApplicationName: "web", NumUnits: 1}, &units)
	d := w.waitDelta(t, "AllWatcher", id.AllWatcherId, "unit web/1 added", func(d params.Delta) bool {
		if d.Entity.EntityId().ModelUUID != m.UUID {
			t.Errorf("delta of another model: %v", kinds([]params.Delta{d}))
		}
		return isEntity("unit", "web/1", false)(d)
	})
	if u := d.Entity.(*params.UnitInfo); u.Application != "web" || u.CharmURL != url || u.MachineId == "" || u.AgentStatus.Current != "idle" ||
		u.WorkloadStatus.Current != "active" || u.Base != "ubuntu@22.04" || u.AgentStatus.Version != "3.5.4" {
		t.Errorf("unit delta %+v", u)
	}

	// A relation, and its units' hooks: agent status executing.
	var rel params.AddRelationResults
	call(t, mc, "Application", 20, "AddRelation", params.AddRelation{Endpoints: []string{"web:backend", "api:website"}}, &rel)
	d = w.waitDelta(t, "AllWatcher", id.AllWatcherId, "relation added", isEntity("relation", "web:backend api:website", false))
	if r := d.Entity.(*params.RelationInfo); len(r.Endpoints) != 2 || r.Endpoints[0].Relation.Interface != "http" {
		t.Errorf("relation delta %+v", r)
	}
	d = w.waitDelta(t, "AllWatcher", id.AllWatcherId, "unit api/0 running its relation hook", func(d params.Delta) bool {
		u, ok := d.Entity.(*params.UnitInfo)
		return ok && u.Name == "api/0" && u.AgentStatus.Current == "executing"
	})
	if msg := d.Entity.(*params.UnitInfo).AgentStatus.Message; msg != "running website-relation-joined hook" {
		t.Errorf("executing message %q", msg)
	}

	// Config, expose, annotations, blocks, model config.
	var cres params.ErrorResults
	call(t, mc, "Application", 20, "SetConfigs", params.ConfigSetArgs{Args: []params.ConfigSet{{ApplicationName: "web", Config: map[string]string{"port": "9000"}}}}, &cres)
	w.waitDelta(t, "AllWatcher", id.AllWatcherId, "web's config", func(d params.Delta) bool {
		a, ok := d.Entity.(*params.ApplicationInfo)
		return ok && a.Name == "web" && fmt.Sprint(a.Config["port"]) == "9000"
	})
	call(t, mc, "Application", 20, "Expose", params.ApplicationExpose{ApplicationName: "web"}, nil)
	w.waitDelta(t, "AllWatcher", id.AllWatcherId, "web exposed", func(d params.Delta) bool {
		a, ok := d.Entity.(*params.ApplicationInfo)
		return ok && a.Name == "web" && a.Exposed
	})
	var ares params.ErrorResults
	call(t, mc, "Annotations", 2, "Set", params.AnnotationsSet{Annotations: []params.EntityAnnotations{{EntityTag: "application-web", Annotations: map[string]string{"gui-x": "1"}}}}, &ares)
	w.waitDelta(t, "AllWatcher", id.AllWatcherId, "annotation", isEntity("annotation", "application-web", false))
	call(t, mc, "Block", 2, "SwitchBlockOn", params.BlockSwitchParams{Type: params.BlockDestroy, Message: "keep"}, nil)
	w.waitDelta(t, "AllWatcher", id.AllWatcherId, "block", func(d params.Delta) bool {
		b, ok := d.Entity.(*params.BlockInfo)
		return ok && b.Type == params.BlockDestroy && b.Message == "keep" && b.Tag == "model-"+m.UUID
	})
	call(t, mc, "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"logging-config": "<root>=DEBUG"}}, nil)
	w.waitDelta(t, "AllWatcher", id.AllWatcherId, "model config", func(d params.Delta) bool {
		mu, ok := d.Entity.(*params.ModelUpdate)
		return ok && mu.Config["logging-config"] == "<root>=DEBUG"
	})

	// Removals.
	call(t, mc, "Application", 20, "DestroyRelation", params.DestroyRelation{Endpoints: []string{"web", "api"}}, nil)
	w.waitDelta(t, "AllWatcher", id.AllWatcherId, "relation removed", isEntity("relation", "web:backend api:website", true))
	var dres params.DestroyUnitResults
	call(t, mc, "Application", 20, "DestroyUnit", params.DestroyUnitsParams{Units: []params.DestroyUnitParams{{UnitTag: "unit-web-1"}}}, &dres)
	w.waitDelta(t, "AllWatcher", id.AllWatcherId, "unit web/1 removed", isEntity("unit", "web/1", true))
	var dapp params.DestroyApplicationResults
	call(t, mc, "Application", 20, "DestroyApplication", params.DestroyApplicationsParams{Applications: []params.DestroyApplicationParams{{ApplicationTag: "application-api"}}}, &dapp)
	w.waitDelta(t, "AllWatcher", id.AllWatcherId, "api removed", isEntity("application", "api", true))

	// A second watcher starts with everything there is now.
	var id2 params.AllWatcherId
	w.mustCall(t, "Client", 7, "", "WatchAll", nil, &id2)
	if id2.AllWatcherId != "2" {
		t.Errorf("second watcher id %q, want 2", id2.AllWatcherId)
	}
	all := kinds(w.nextDeltas(t, "AllWatcher", id2.AllWatcherId))
	for _, want := range []string{"application:web:change", "unit:web/0:change", "model:" + m.UUID + ":change", "annotation:application-web:change"} {
		if !slices.Contains(all, want) {
			t.Errorf("second watcher's first Next lacks %s: %v", want, all)
		}
	}
	for _, gone := range []string{"application:api", "unit:web/1", "relation:"} {
		for _, k := range all {
			if strings.HasPrefix(k, gone) {
				t.Errorf("second watcher's first Next has %s", k)
			}
		}
	}
}

// TestAllWatcherDeltaShapes: the deltas' JSON is Juju 3.5's, key for key.
func TestAllWatcherDeltaShapes(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "shapes", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	url := uploadCharm(t, c, m.UUID, "series=jammy", testcharms.Demo)
	deployLocal(t, mc, "web", url, 1)
	deployLocal(t, mc, "api", url, 1)
	call(t, mc, "Application", 20, "AddRelation", params.AddRelation{Endpoints: []string{"web:backend", "api:website"}}, nil)

	w := dialRaw(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	var id params.AllWatcherId
	w.mustCall(t, "Client", 7, "", "WatchAll", nil, &id)
	raw, err := w.call(t.Context(), "AllWatcher", 3, id.AllWatcherId, "Next", nil)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Deltas [][3]json.RawMessage `json:"deltas"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("deltas are not [kind, op, entity]: %v: %s", err, raw)
	}
	status := []string{"current", "message", "since", "version"}
	want := map[string][]string{
		"model": {"model-uuid", "name", "life", "owner", "controller-uuid", "is-controller", "config", "status", "constraints", "sla", "type", "cloud", "cloud-region", "version"},
		"machine": {"model-uuid", "id", "instance-id", "agent-status", "instance-status", "life", "base", "container-type", "supported-containers",
			"supported-containers-known", "hardware-characteristics", "jobs", "addresses", "has-vote", "wants-vote", "hostname"},
		"application": {"model-uuid", "name", "exposed", "charm-url", "owner-tag", "life", "min-units", "constraints", "subordinate", "status", "workload-version"},
		"unit": {"model-uuid", "name", "application", "base", "charm-url", "life", "public-address", "private-address", "machine-id", "ports", "port-ranges",
			"principal", "subordinate", "workload-status", "agent-status"},
		"relation": {"model-uuid", "key", "id", "endpoints"},
		"charm":    {"model-uuid", "charm-url", "charm-version", "life", "profile", "config"},
	}
	seen := map[string]bool{}
	for _, d := range res.Deltas {
		var kind, op string
		json.Unmarshal(d[0], &kind)
		json.Unmarshal(d[1], &op)
		if op != "change" {
			t.Errorf("first Next has a %q delta", op)
		}
		var entity map[string]json.RawMessage
		if err := json.Unmarshal(d[2], &entity); err != nil {
			t.Fatalf("%s entity: %v", kind, err)
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range entity {
				if !yield(k) {
					return
				}
			}
		})
		w := slices.Clone(want[kind])
		sort.Strings(w)
		if !slices.Equal(keys, w) {
			t.Errorf("%s entity keys %v, want %v", kind, keys, w)
		}
		seen[kind] = true
		for _, sk := range []string{"status", "agent-status", "workload-status", "instance-status"} {
			if rawStatus, ok := entity[sk]; ok {
				var st map[string]any
				json.Unmarshal(rawStatus, &st)
				for _, k := range status {
					if _, ok := st[k]; !ok {
						t.Errorf("%s %s lacks %q: %s", kind, sk, k, rawStatus)
					}
				}
			}
		}
	}
	for kind := range want {
		if !seen[kind] {
			t.Errorf("no %s delta in the first Next", kind)
		}
	}
}

// TestWatcherStop: Stop ends a Next that waits, with Juju's errors, and
// forgets the id.
func TestWatcherStop(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "m", "admin")
	for _, tc := range []struct {
		name, path, start, facade string
		version                   int
		stoppedCode, stoppedMsg   string
		unknownMsg                func(id string) string
	}{
		{"AllWatcher", "/model/" + m.UUID + "/api", "Client", "AllWatcher", 3, "", "watcher was stopped",
			func(string) string { return "unknown watcher id" }},
		{"AllModelWatcher", "/api", "Controller", "AllModelWatcher", 4, "", "watcher was stopped",
			func(string) string { return "unknown watcher id" }},
		{"ModelSummaryWatcher", "/api", "Controller", "ModelSummaryWatcher", 1, codeStopped, "watcher has been stopped",
			func(id string) string { return "watcher id: " + id + ": unknown watcher id" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dialRaw(t, c, tc.path, "admin", "secret")
			method := map[string]string{"AllWatcher": "WatchAll", "AllModelWatcher": "WatchAllModels", "ModelSummaryWatcher": "WatchModelSummaries"}[tc.name]
			version := map[string]int{"Client": 7, "Controller": 11}[tc.start]
			var id struct {
				ID string `json:"watcher-id"`
			}
			w.mustCall(t, tc.start, version, "", method, nil, &id)
			w.mustCall(t, tc.facade, tc.version, id.ID, "Next", nil, nil) // the initial state
			waiting := c.feed.mw.Waiting()
			errc := make(chan error, 1)
			go func() {
				_, err := w.call(t.Context(), tc.facade, tc.version, id.ID, "Next", nil)
				errc <- err
			}()
			// The Next waits (nothing changes); Stop ends it.
			waitFor(t, "Next waiting", func() bool { return c.feed.mw.Waiting() == waiting+1 })
			w.mustCall(t, tc.facade, tc.version, id.ID, "Stop", nil, nil)
			select {
			case err := <-errc:
				wantCode(t, err, tc.stoppedCode, tc.stoppedMsg)
			case <-time.After(watchDeadline):
				t.Fatal("Next still waiting after Stop")
			}
			_, err := w.call(t.Context(), tc.facade, tc.version, id.ID, "Next", nil)
			wantCode(t, err, jujuapi.CodeNotFound, tc.unknownMsg(id.ID))
			_, err = w.call(t.Context(), tc.facade, tc.version, id.ID, "Stop", nil)
			wantCode(t, err, jujuapi.CodeNotFound, tc.unknownMsg(id.ID))
			_, err = w.call(t.Context(), tc.facade, tc.version, "42", "Next", nil)
			wantCode(t, err, jujuapi.CodeNotFound, tc.unknownMsg("42"))
		})
	}
	// A watcher of one kind is unknown to another facade.
	w := dialRaw(t, c, "/api", "admin", "secret")
	var id params.AllWatcherId
	w.mustCall(t, "Controller", 11, "", "WatchAllModels", nil, &id)
	_, err := w.call(t.Context(), "ModelSummaryWatcher", 1, id.AllWatcherId, "Next", nil)
	wantCode(t, err, jujuapi.CodeNotFound, "watcher id: "+id.AllWatcherId+": unknown watcher id")
}

// TestWatchersEndWithConnection: a connection's watchers stop when it
// closes, and a Next waiting returns.
func TestWatchersEndWithConnection(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "m", "admin")
	before := c.feed.mw.Watchers()
	w := dialRaw(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	var id params.AllWatcherId
	w.mustCall(t, "Client", 7, "", "WatchAll", nil, &id)
	w.mustCall(t, "Client", 7, "", "WatchAll", nil, nil)
	w.nextDeltas(t, "AllWatcher", id.AllWatcherId)
	errc := make(chan error, 1)
	go func() {
		_, err := w.call(context.Background(), "AllWatcher", 3, id.AllWatcherId, "Next", nil)
		errc <- err
	}()
	waitFor(t, "two watchers open", func() bool { return c.feed.mw.Watchers() == before+2 })
	w.close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Next answered after its connection closed")
		}
	case <-time.After(watchDeadline):
		t.Fatal("Next still waiting after its connection closed")
	}
	waitFor(t, "the connection's watchers stopped", func() bool { return c.feed.mw.Watchers() == before })
}

// TestAllModelWatcher: Controller.WatchAllModels sees every model's
// changes; superusers only.
func TestAllModelWatcher(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")
	bob := dialRaw(t, c, "/api", "bob", "bobpw")
	_, err := bob.call(t.Context(), "Controller", 11, "", "WatchAllModels", nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	m := createModel(t, admin, "first", "admin")
	w := dialRaw(t, c, "/api", "admin", "secret")
	var id params.AllWatcherId
	w.mustCall(t, "Controller", 11, "", "WatchAllModels", nil, &id)
	first := kinds(w.nextDeltas(t, "AllModelWatcher", id.AllWatcherId))
	for _, want := range []string{"model:" + c.UUID() + ":change", "model:" + m.UUID + ":change", "machine:0:change"} {
		if !slices.Contains(first, want) {
			t.Errorf("first Next lacks %s: %v", want, first)
		}
	}
	// A model created on another connection, and a machine in it.
	second := createModel(t, admin, "second", "admin")
	w.waitDelta(t, "AllModelWatcher", id.AllWatcherId, "model second", isEntity("model", second.UUID, false))
	mc := mustLogin(t, c, "/model/"+second.UUID+"/api", "admin", "secret")
	call(t, mc, "MachineManager", 10, "AddMachines", params.AddMachines{MachineParams: []params.AddMachineParams{{}}}, nil)
	w.waitDelta(t, "AllModelWatcher", id.AllWatcherId, "machine of model second", func(d params.Delta) bool {
		e := d.Entity.EntityId()
		return e.Kind == "machine" && e.ModelUUID == second.UUID
	})
	// A destroyed model goes.
	var res params.ErrorResults
	call(t, admin, "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + second.UUID}}}, &res)
	w.waitDelta(t, "AllModelWatcher", id.AllWatcherId, "model second dying", func(d params.Delta) bool {
		mu, ok := d.Entity.(*params.ModelUpdate)
		return ok && mu.ModelUUID == second.UUID && mu.Life == "dying"
	})
	w.waitDelta(t, "AllModelWatcher", id.AllWatcherId, "model second removed", isEntity("model", second.UUID, true))
}

// summaries calls ModelSummaryWatcher.Next.
func (r *rawClient) summaries(t *testing.T, id string) []params.ModelAbstract {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), watchDeadline)
	defer cancel()
	raw, err := r.call(ctx, "ModelSummaryWatcher", 1, id, "Next", nil)
	if err != nil {
		t.Fatalf("ModelSummaryWatcher.Next: %v", err)
	}
	var res params.SummaryWatcherNextResults
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if res.Models == nil {
		t.Fatalf("Next gave no models list: %s", raw)
	}
	return res.Models
}

// waitSummary calls Next until a summary satisfies match.
func (r *rawClient) waitSummary(t *testing.T, id, what string, match func(params.ModelAbstract) bool) params.ModelAbstract {
	t.Helper()
	deadline := time.Now().Add(watchDeadline)
	for time.Now().Before(deadline) {
		for _, s := range r.summaries(t, id) {
			if match(s) {
				return s
			}
		}
	}
	t.Fatalf("no summary %s within %v", what, watchDeadline)
	return params.ModelAbstract{}
}

// TestModelSummaryWatcher: WatchModelSummaries sees the models its user
// has access to, live: one created by another connection, its contents,
// access granted and revoked, its removal.
func TestModelSummaryWatcher(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")

	w := dialRaw(t, c, "/api", "admin", "secret")
	var id params.SummaryWatcherID
	w.mustCall(t, "Controller", 11, "", "WatchModelSummaries", nil, &id)
	first := w.summaries(t, id.WatcherID)
	if len(first) != 1 || first[0].UUID != c.UUID() || first[0].Name != "controller" || first[0].Controller != "ctl-test" ||
		first[0].Status != "green" || first[0].Size.Machines != 1 || !slices.Equal(first[0].Admins, []string{"admin"}) {
		t.Errorf("first Next: %+v", first)
	}

	// Another connection creates a model.
	other := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, other, "fresh", "admin")
	s := w.waitSummary(t, id.WatcherID, "of the new model", func(s params.ModelAbstract) bool { return s.UUID == m.UUID })
	if s.Name != "fresh" || s.Cloud != "localhost" || s.Region == "" || s.Credential != "localhost/admin/default" || s.Removed {
		t.Errorf("new model's summary %+v", s)
	}
	// Its contents are counted.
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	url := uploadCharm(t, c, m.UUID, "series=jammy", testcharms.Demo)
	deployLocal(t, mc, "web", url, 2)
	w.waitSummary(t, id.WatcherID, "counting web's units", func(s params.ModelAbstract) bool {
		return s.UUID == m.UUID && s.Size == params.ModelSummarySize{Machines: 2, Applications: 1, Units: 2}
	})

	// bob sees only what he is granted, and loses it when revoked.
	bw := dialRaw(t, c, "/api", "bob", "bobpw")
	var bid params.SummaryWatcherID
	bw.mustCall(t, "Controller", 11, "", "WatchModelSummaries", nil, &bid)
	if got := bw.summaries(t, bid.WatcherID); len(got) != 0 {
		t.Errorf("bob's first Next: %+v", got)
	}
	grantModel(t, admin, "bob", "read", m.UUID)
	bw.waitSummary(t, bid.WatcherID, "of the model bob may read", func(s params.ModelAbstract) bool { return s.UUID == m.UUID && !s.Removed })
	var res params.ErrorResults
	call(t, admin, "ModelManager", 10, "ModifyModelAccess", params.ModifyModelAccessRequest{Changes: []params.ModifyModelAccess{{
		UserTag: "user-bob", Action: "revoke", Access: "read", ModelTag: "model-" + m.UUID}}}, &res)
	bw.waitSummary(t, bid.WatcherID, "removing the model bob lost", func(s params.ModelAbstract) bool { return s.UUID == m.UUID && s.Removed })
	_, err := bw.call(t.Context(), "Controller", 11, "", "WatchAllModelSummaries", nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	// WatchAllModelSummaries: every model, for a superuser.
	var all params.SummaryWatcherID
	w.mustCall(t, "Controller", 11, "", "WatchAllModelSummaries", nil, &all)
	if got := w.summaries(t, all.WatcherID); len(got) != 2 {
		t.Errorf("WatchAllModelSummaries first Next: %+v", got)
	}

	// A destroyed model is removed.
	call(t, admin, "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + m.UUID}}}, &res)
	w.waitSummary(t, id.WatcherID, "removing the destroyed model", func(s params.ModelAbstract) bool { return s.UUID == m.UUID && s.Removed })
}

// TestSlowWatcherIsBounded: a watcher that does not read while its model
// changes a great deal costs the store nothing more, and then gets each
// entity once, in its latest state; entities added and removed meanwhile
// leave nothing behind.
func TestSlowWatcherIsBounded(t *testing.T) {
	c := startController(t, t.TempDir(), func(cfg *Config) { cfg.HookDuration = time.Hour })
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "busy", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	url := uploadCharm(t, c, m.UUID, "series=jammy", testcharms.Demo)
	deployLocal(t, mc, "web", url, 2)

	w := dialRaw(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	var id params.AllWatcherId
	w.mustCall(t, "Client", 7, "", "WatchAll", nil, &id)
	w.nextDeltas(t, "AllWatcher", id.AllWatcherId)
	// The feed has recorded the deployment: the store's size now.
	waitFor(t, "web's units fed", func() bool {
		return c.feed.mw.Get(params.EntityId{Kind: "unit", ModelUUID: m.UUID, Id: "web/1"}) != nil
	})
	base := c.feed.mw.Size()

	const changes = 200
	for i := range changes {
		var res params.ErrorResults
		call(t, mc, "Application", 20, "SetConfigs", params.ConfigSetArgs{Args: []params.ConfigSet{{
			ApplicationName: "web", Config: map[string]string{"greeting": fmt.Sprintf("hello %d", i)}}}}, &res)
		if err := res.Combine(); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			// Units come and go while the watcher does not read.
			var added params.AddApplicationUnitsResults
			call(t, mc, "Application", 20, "AddUnits", params.AddApplicationUnits{ApplicationName: "web", NumUnits: 1}, &added)
			var dres params.DestroyUnitResults
			call(t, mc, "Application", 20, "DestroyUnit", params.DestroyUnitsParams{Units: []params.DestroyUnitParams{{UnitTag: jujuapi.UnitTag(added.Units[0]).String()}}}, &dres)
		}
		if size := c.feed.mw.Size(); size > base+2 {
			t.Fatalf("after %d changes the store holds %d entries, %d before", i+1, size, base)
		}
	}
	last := fmt.Sprintf("hello %d", changes-1)
	waitFor(t, "the last change fed", func() bool {
		a, _ := c.feed.mw.Get(params.EntityId{Kind: "application", ModelUUID: m.UUID, Id: "web"}).(*params.ApplicationInfo)
		return a != nil && a.Config["greeting"] == last
	})
	deltas := w.nextDeltas(t, "AllWatcher", id.AllWatcherId)
	count := map[string]int{}
	for _, d := range deltas {
		count[d.Entity.EntityId().Kind+":"+d.Entity.EntityId().Id]++
		if u, ok := d.Entity.(*params.UnitInfo); ok && u.Name != "web/0" && u.Name != "web/1" {
			t.Errorf("delta of unit %s, added and removed while the watcher did not read", u.Name)
		}
		if a, ok := d.Entity.(*params.ApplicationInfo); ok && a.Config["greeting"] != last {
			t.Errorf("web's delta has greeting %v, want the latest %q", a.Config["greeting"], last)
		}
	}
	for k, n := range count {
		if n > 1 {
			t.Errorf("%d deltas for %s, want one", n, k)
		}
	}
	if count["application:web"] != 1 {
		t.Errorf("deltas %v lack web's latest state", kinds(deltas))
	}
	if size := c.feed.mw.Size(); size > base+2 {
		t.Errorf("the store holds %d entries after the watcher read, %d before", size, base)
	}
}

// TestWatcherSeesMigrationPhases: the model's status changes as a
// migration goes through its phases, and the model's entities go once it
// has moved.
func TestWatcherSeesMigrationPhases(t *testing.T) {
	src, _ := runController(t, t.TempDir(), named("src"))
	dst, _ := runController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	m := createModel(t, admin, "moving", "admin")
	w := dialRaw(t, src, "/api", "admin", "secret")
	var id params.AllWatcherId
	w.mustCall(t, "Controller", 11, "", "WatchAllModels", nil, &id)
	w.nextDeltas(t, "AllModelWatcher", id.AllWatcherId)
	if _, perr := initiate(t, admin, m.UUID, targetInfo(dst)); perr != nil {
		t.Fatal(perr)
	}
	d := w.waitDelta(t, "AllModelWatcher", id.AllWatcherId, "the model migrating", func(d params.Delta) bool {
		mu, ok := d.Entity.(*params.ModelUpdate)
		return ok && mu.ModelUUID == m.UUID && mu.Status.Current == "busy"
	})
	if msg := d.Entity.(*params.ModelUpdate).Status.Message; !strings.HasPrefix(msg, "migrating: ") {
		t.Errorf("status message %q", msg)
	}
	w.waitDelta(t, "AllModelWatcher", id.AllWatcherId, "the model gone to the target", isEntity("model", m.UUID, true))
	// The target's watchers see it arrive.
	tw := dialRaw(t, dst, "/api", "admin", "secret")
	tw.mustCall(t, "Controller", 11, "", "WatchAllModels", nil, &id)
	tw.waitDelta(t, "AllModelWatcher", id.AllWatcherId, "the model on the target", isEntity("model", m.UUID, false))
}
