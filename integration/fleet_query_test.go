package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/modelmanager"
	apicharm "github.com/juju/juju/api/common/charm"
	corebase "github.com/juju/juju/core/base"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

// restQueryModelsResult mirrors restapi.QueryModelsResult (not checked
// by checkMirrors, which cannot compare ModelQueryResult's []any:
// jimmctl's output is decoded strictly instead, which fails on a field
// the mirrors lack).
type restQueryModelsResult struct {
	Models    map[string]restModelQueryResult `json:"models" yaml:"models"`
	Omitted   int                             `json:"omitted,omitempty" yaml:"omitted,omitempty"`
	Truncated bool                            `json:"truncated,omitempty" yaml:"truncated,omitempty"`
}

// restModelQueryResult mirrors restapi.ModelQueryResult, its outputs
// left encoded.
type restModelQueryResult struct {
	Name       string            `json:"name"`
	Owner      string            `json:"owner"`
	Controller string            `json:"controller,omitempty"`
	Outputs    []json.RawMessage `json:"outputs"`
	Error      string            `json:"error,omitempty"`
}

// deployCharm deploys charmURL (a Charmhub URL with its revision) as app,
// with one unit, on a model connection.
func deployCharm(t testing.TB, conn api.Connection, app, charmURL string) {
	t.Helper()
	err := application.NewClient(conn).Deploy(application.DeployArgs{
		CharmID: application.CharmID{URL: charmURL},
		CharmOrigin: apicharm.Origin{
			Source: apicharm.OriginCharmHub, Risk: "stable", Architecture: "amd64",
			Base: corebase.MustParseBaseFromString("ubuntu@22.04"),
		},
		ApplicationName: app,
		NumUnits:        1,
	})
	if err != nil {
		t.Fatalf("deploy %s as %s: %v", charmURL, app, err)
	}
}

// TestFleetQuery: jimmctl query-models runs a jq expression over the
// status of 20 models on three controllers and prints exactly what each
// gives; a service account that reads some of the models queries those
// only, and learns nothing of their controllers; a controller that is
// down fails its models only; an expression that is not jq is refused.
func TestFleetQuery(t *testing.T) {
	t.Parallel()
	serverDSN(t)
	bins := buildBrokerBins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	idp := startExample(t, ctx)
	e := newOIDCBrokerEnv(t, bins, idp.Issuer, "web", "secret", "")
	e.addControllers(t, threeControllers)

	// 20 models, ctl-1 and ctl-2 in east, ctl-3 in west; their
	// applications (name → charm URL) vary in charm, revision and name.
	mm := modelmanager.NewClient(e.open(t, ""))
	type model struct {
		name, uuid string
		apps       map[string]string
	}
	var models []model
	for i := range 20 {
		region := "east"
		if i%3 == 2 {
			region = "west"
		}
		m := model{name: fmt.Sprintf("fq-%02d", i), apps: map[string]string{}}
		switch i % 4 {
		case 0:
			m.apps["db"] = "ch:amd64/jammy/postgresql-12"
		case 1:
			m.apps["pg"] = "ch:amd64/jammy/postgresql-14"
			m.apps["web"] = "ch:amd64/jammy/nginx-3"
		case 2:
			m.apps["cache"] = "ch:amd64/jammy/redis-7"
		}
		if i == 5 {
			m.apps["db-replica"] = "ch:amd64/jammy/postgresql-12"
		}
		m.uuid = createModel(t, e, mm, m.name, region).UUID
		if len(m.apps) > 0 {
			conn, err := e.tryOpen(m.uuid)
			if err != nil {
				t.Fatalf("open model %s through the broker: %v", m.name, err)
			}
			for _, app := range keys(m.apps) {
				deployCharm(t, conn, app, m.apps[app])
			}
			conn.Close()
		}
		models = append(models, m)
	}
	where := e.modelsByController(t)
	perCtl := map[string]int{}
	for _, m := range models {
		perCtl[where[m.uuid]]++
	}
	if perCtl["ctl-3"] != 6 || perCtl["ctl-1"]+perCtl["ctl-2"] != 14 {
		t.Fatalf("the models are placed %v; want 6 on ctl-3 (west), 14 on ctl-1 and ctl-2 (east)", perCtl)
	}

	// want gives what the expressions below print for a model: the
	// names of its postgresql applications, their charm URLs at
	// revision 12.
	postgres := func(m model) []string {
		var out []string
		for _, app := range keys(m.apps) {
			if strings.Contains(m.apps[app], "postgresql") {
				out = append(out, fmt.Sprintf("%q", app))
			}
		}
		return out
	}
	revision12 := func(m model) []string {
		var out []string
		for _, app := range keys(m.apps) {
			if strings.HasSuffix(m.apps[app], "postgresql-12") {
				out = append(out, fmt.Sprintf("%q", m.apps[app]))
			}
		}
		return out
	}
	const byName = `.applications | to_entries[] | select(.value.charm | contains("postgresql")) | .key`
	const byRevision = `.applications[] | select(.charm | test("postgresql-12$")) | .charm`

	// query runs jimmctl query-models --format json with ctl, and checks
	// that it covers exactly the models of want, each with its outputs and
	// its controller shown or not.
	query := func(t *testing.T, ctl *jimmproc.Ctl, expr string, want []model, wantOutputs func(model) []string, admin bool) restQueryModelsResult {
		t.Helper()
		var res restQueryModelsResult
		decodeStrictJSON(t, ctlOutput(t, ctl, "query-models", "--format", "json", expr), &res)
		if res.Omitted != 0 || res.Truncated {
			t.Errorf("%s: omitted %d, truncated %v; want neither", expr, res.Omitted, res.Truncated)
		}
		var wantUUIDs []string
		for _, m := range want {
			wantUUIDs = append(wantUUIDs, m.uuid)
			got, ok := res.Models[m.uuid]
			if !ok {
				continue
			}
			var outs []string
			for _, o := range got.Outputs {
				outs = append(outs, string(o))
			}
			wantCtl := ""
			if admin {
				wantCtl = where[m.uuid]
			}
			if got.Name != m.name || got.Owner != "admin" || got.Controller != wantCtl || got.Error != "" ||
				!slices.Equal(outs, wantOutputs(m)) {
				t.Errorf("%s: model %s (%s) gave %+v (outputs %q); want outputs %q, controller %q, no error",
					expr, m.name, m.uuid, got, outs, wantOutputs(m), wantCtl)
			}
		}
		slices.Sort(wantUUIDs)
		if got := slices.Sorted(maps.Keys(res.Models)); !slices.Equal(got, wantUUIDs) {
			t.Errorf("%s: queried models %v; want %v", expr, got, wantUUIDs)
		}
		return res
	}

	t.Run("admin", func(t *testing.T) {
		query(t, e.ctl, byName, models, postgres, true)
		query(t, e.ctl, byRevision, models, revision12, true)

		// The default output: each model with output, by name.
		res := runCtl(t, e.ctl, "query-models", byName)
		if res.ExitCode != 0 || res.Stderr != "" {
			t.Fatalf("%s", res)
		}
		var want strings.Builder
		for _, m := range models { // in name order
			if outs := postgres(m); len(outs) > 0 {
				fmt.Fprintf(&want, "%s (%s):\n  %s\n", m.name, m.uuid, strings.Join(outs, "\n  "))
			}
		}
		if res.Stdout != want.String() {
			t.Errorf("jimmctl query-models printed:\n%s\nwant:\n%s", res.Stdout, want.String())
		}
	})

	t.Run("invalid expression", func(t *testing.T) {
		wantCtlRefusal(t, "query-models with an unfinished expression", runCtl(t, e.ctl, "query-models", ".applications["),
			"query models: bad jq expression: unexpected EOF")
		wantCtlRefusal(t, "query-models with an unknown function", runCtl(t, e.ctl, "query-models", "nosuchfn"),
			"query models: bad jq expression: function not defined: nosuchfn/0")
	})

	t.Run("reader", func(t *testing.T) {
		const id, secret = oidcproc.ExampleServiceClientID, oidcproc.ExampleServiceClientSecret
		var readable []model
		for _, i := range []int{0, 1, 2, 5, 7, 14} {
			readable = append(readable, models[i])
			e.jimmctl(t, "auth", "relation", "add", "serviceaccount:"+id, "reader", "model:"+models[i].uuid)
		}
		ctl := e.personCtl(t)
		secretFile := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ctlOutput(t, ctl, "login", "--client-id", id, "--client-secret-file", secretFile)
		query(t, ctl, byName, readable, postgres, false)
		query(t, ctl, byRevision, readable, revision12, false)
		// The model's identity is in the input.
		query(t, ctl, `.model | "\(.name) \(.owner) \(.uuid)"`, readable, func(m model) []string {
			return []string{fmt.Sprintf("%q", m.name+" admin "+m.uuid)}
		}, false)
	})

	t.Run("controller down", func(t *testing.T) {
		e.stopController(t, "ctl-3")
		var res restQueryModelsResult
		decodeStrictJSON(t, ctlOutput(t, e.ctl, "query-models", "--format", "json", byName), &res)
		for _, m := range models {
			got := res.Models[m.uuid]
			if where[m.uuid] == "ctl-3" {
				if len(got.Outputs) != 0 || !strings.HasPrefix(got.Error, "controller ctl-3 cannot be reached") {
					t.Errorf("model %s on the stopped ctl-3: %+v; want no output and an error saying ctl-3 cannot be reached", m.name, got)
				}
				continue
			}
			var outs []string
			for _, o := range got.Outputs {
				outs = append(outs, string(o))
			}
			if got.Error != "" || !slices.Equal(outs, postgres(m)) {
				t.Errorf("model %s on %s while ctl-3 is down: %+v; want outputs %q", m.name, where[m.uuid], got, postgres(m))
			}
		}
		out := runCtl(t, e.ctl, "query-models", byName)
		if out.ExitCode != 0 || !strings.Contains(out.Stderr, "WARNING 6 of 20 models could not be queried") {
			t.Errorf("jimmctl query-models with ctl-3 down: %s", out)
		}
	})
}
