package fleetquery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/devcontroller"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

const devAdminPassword = "dev-admin-password"

// startDevController runs an in-process development controller until the
// test ends and returns how to reach it.
func startDevController(t *testing.T, name string) controllers.Endpoint {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := devcontroller.New(ctx, devcontroller.Config{
		Name: name, Listen: "127.0.0.1:0", DataDir: t.TempDir(), Cloud: "localhost", CloudType: "lxd", Regions: []string{"r1"},
		AdminPassword: devAdminPassword, ModelDestroyDelay: time.Minute, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		cancel()
		t.Fatalf("start controller %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller %s: %v", name, err)
		}
	})
	return controllers.Endpoint{Name: name, UUID: c.UUID(), Addresses: []string{c.Addr()}, CACert: string(c.CACertPEM())}
}

// addModel creates a model on the controller and deploys apps (name →
// charm URL) in it.
func addModel(t *testing.T, ep controllers.Endpoint, name string, apps map[string]string) Model {
	t.Helper()
	ctx := t.Context()
	creds := controllers.Credentials{User: "admin", Password: devAdminPassword}
	c, err := controllers.Connect(ctx, ep, creds, jujuapi.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.CreateModel(ctx, params.ModelCreateArgs{Name: name, OwnerTag: "user-admin", CloudTag: "cloud-localhost", CloudRegion: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := controllers.ConnectModel(ctx, ep, info.UUID, creds, jujuapi.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	for app, charm := range apps {
		var res params.ErrorResults
		if err := mc.Call(ctx, "Application", 19, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{{
			ApplicationName: app, CharmURL: charm, NumUnits: 1,
			CharmOrigin: &params.CharmOrigin{Source: "charm-hub", Type: "charm", Risk: "stable", Architecture: "amd64",
				Base: params.Base{Name: "ubuntu", Channel: "22.04/stable"}},
		}}}, &res); err != nil || len(res.Results) != 1 || res.Results[0].Error != nil {
			t.Fatalf("deploy %s in %s: %v %+v", app, name, err, res)
		}
	}
	return Model{UUID: info.UUID, Name: name, Owner: "admin", Controller: ep.Name}
}

// TestStatusFetcher queries real (in-process) controllers: each model's
// status comes from its controller; a model its controller does not have
// fails alone; a controller that cannot be reached fails its models.
func TestStatusFetcher(t *testing.T) {
	t.Parallel()
	a, b := startDevController(t, "ctl-a"), startDevController(t, "ctl-b")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := controllers.Endpoint{Name: "ctl-dead", UUID: "dead", Addresses: []string{l.Addr().String()}, CACert: a.CACert}
	l.Close()
	endpoints := map[string]controllers.Endpoint{"ctl-a": a, "ctl-b": b, "ctl-dead": dead}
	resolve := func(_ context.Context, name string) (controllers.Endpoint, controllers.Credentials, error) {
		ep, ok := endpoints[name]
		if !ok {
			return controllers.Endpoint{}, controllers.Credentials{}, fmt.Errorf("controller %q is not registered", name)
		}
		return ep, controllers.Credentials{User: "admin", Password: devAdminPassword}, nil
	}
	models := []Model{
		addModel(t, a, "pg12", map[string]string{"db": "ch:amd64/jammy/postgresql-12", "web": "ch:amd64/jammy/nginx-3"}),
		addModel(t, a, "empty", nil),
		{UUID: "00000000-0000-4000-8000-00000000000a", Name: "gone", Owner: "admin", Controller: "ctl-a"},
		addModel(t, b, "pg14", map[string]string{"pg": "ch:amd64/jammy/postgresql-14"}),
		{UUID: "00000000-0000-4000-8000-00000000000b", Name: "lost", Owner: "admin", Controller: "ctl-dead"},
	}
	r := NewRunner(StatusFetcher(resolve), Limits{PerController: 1}, nil)
	res, err := r.Run(t.Context(), mustCompile(t, `.model.name + ": " + ([.applications | to_entries[] | select(.value.charm | contains("postgresql")) | .key] | join(","))`), models)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`"pg12: db"`, `"empty: "`, "", `"pg14: pg"`, ""}
	for i, m := range res.Models {
		if got := strings.Join(outputs(m), " "); got != want[i] {
			t.Errorf("%s: outputs %q (error %v), want %q", m.Model.Name, got, m.Err, want[i])
		}
	}
	for _, i := range []int{0, 1, 3} {
		if res.Models[i].Err != nil {
			t.Errorf("%s: %v", res.Models[i].Model.Name, res.Models[i].Err)
		}
	}
	gone := res.Models[2].Err
	var ce *ControllerError
	if gone == nil || errors.As(gone, &ce) || jujuapi.ErrorCode(gone) != jujuapi.CodeModelNotFound ||
		!strings.HasPrefix(gone.Error(), `controller "ctl-a": log in to model 00000000-0000-4000-8000-00000000000a: `) {
		t.Errorf("gone: %v (code %q), want the model's own not found, not the controller's failure", gone, jujuapi.ErrorCode(gone))
	}
	if got := Message(gone, false); got != "the controller hosting this model refused its status (model not found)" {
		t.Errorf("gone, redacted: %q", got)
	}
	lost := res.Models[4].Err
	if !errors.As(lost, &ce) || ce.Controller != "ctl-dead" || ce.Timeout != 0 || !strings.HasPrefix(lost.Error(), "controller ctl-dead cannot be reached: ") {
		t.Errorf("lost: %v, want ctl-dead cannot be reached", lost)
	}

	// The status is Juju's FullStatus, whole: machines and units too.
	res, err = r.Run(t.Context(), mustCompile(t, `[(.machines | length), (.applications.db.units | keys[]), .applications.db.charm]`), models[:1])
	if err != nil {
		t.Fatal(err)
	}
	if got := outputs(res.Models[0]); !slices.Equal(got, []string{`[2,"db/0","ch:amd64/jammy/postgresql-12"]`}) {
		t.Errorf("pg12's machines and db units: %q (error %v)", got, res.Models[0].Err)
	}
}
