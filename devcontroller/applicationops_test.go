package devcontroller

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/testcharms"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// appModel is a model with the demo charm uploaded, and a connection to it.
type appModel struct {
	c     *Controller
	admin *jujuapi.Client
	mc    *jujuapi.Client
	uuid  string
	url   string
}

func newAppModel(t *testing.T, mod ...func(*Config)) *appModel {
	t.Helper()
	c := startController(t, t.TempDir(), mod...)
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "apps", "admin")
	return &appModel{c: c, admin: admin, mc: mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret"), uuid: m.UUID,
		url: uploadCharm(t, c, m.UUID, "series=jammy&revision=0", testcharms.Demo)}
}

func (a *appModel) status(t *testing.T) params.FullStatus { return fullStatusOf(t, a.mc) }

// deployErr deploys and returns the deployment's error.
func (a *appModel) deployErr(t *testing.T, d params.ApplicationDeploy) error {
	t.Helper()
	var res params.ErrorResults
	if err := a.mc.Call(t.Context(), "Application", 20, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{d}}, &res); err != nil {
		return err
	}
	if e := res.Results[0].Error; e != nil {
		return e
	}
	return nil
}

// TestDeployLocalCharm: a deployed local charm shows in status with the
// fields the CLI reads.
func TestDeployLocalCharm(t *testing.T) {
	a := newAppModel(t)
	if err := a.deployErr(t, params.ApplicationDeploy{ApplicationName: "web", CharmURL: a.url, CharmOrigin: localOrigin(), NumUnits: 2,
		Config: map[string]string{"greeting": "hi", "trust": "true"}, ConfigYAML: "web:\n  port: 9000\n  verbose: true\n"}); err != nil {
		t.Fatal(err)
	}
	st := a.status(t)
	app, ok := st.Applications["web"]
	if !ok {
		t.Fatalf("no web in status: %+v", st.Applications)
	}
	if app.Charm != a.url || app.Base != (params.Base{Name: "ubuntu", Channel: "22.04"}) || app.CharmChannel != "" || app.Exposed ||
		app.Status.Status != "active" || len(app.Units) != 2 {
		t.Errorf("application status %+v", app)
	}
	if want := map[string]string{"": "alpha", "website": "alpha", "backend": "alpha"}; !reflect.DeepEqual(app.EndpointBindings, want) {
		t.Errorf("endpoint bindings %v, want %v", app.EndpointBindings, want)
	}
	for name, u := range app.Units {
		mc, ok := st.Machines[u.Machine]
		if !ok || u.AgentStatus.Status != "idle" || u.AgentStatus.Version != "3.5.4" || u.WorkloadStatus.Status != "active" ||
			u.PublicAddress != mc.DNSName || mc.AgentStatus.Status != "started" || mc.AgentStatus.Version != "3.5.4" {
			t.Errorf("unit %s %+v on machine %+v", name, u, mc)
		}
	}
	if !app.Units["web/0"].Leader || app.Units["web/1"].Leader {
		t.Errorf("leader: %+v", app.Units)
	}
	var get params.ApplicationGetResults
	call(t, a.mc, "Application", 20, "Get", params.ApplicationGet{ApplicationName: "web"}, &get)
	for k, want := range map[string]any{"greeting": "hi", "port": float64(9000), "verbose": true} {
		if info := get.CharmConfig[k].(map[string]any); info["value"] != want || info["source"] != "user" {
			t.Errorf("%s: %v, want %v set by the user", k, info, want)
		}
	}
	if trust := get.ApplicationConfig["trust"].(map[string]any); trust["value"] != true {
		t.Errorf("trust: %v", trust)
	}
}

// TestDeployRefusals: Juju's refusals for Deploy.
func TestDeployRefusals(t *testing.T) {
	a := newAppModel(t)
	if err := a.deployErr(t, params.ApplicationDeploy{ApplicationName: "web", CharmURL: a.url, CharmOrigin: localOrigin(), NumUnits: 1}); err != nil {
		t.Fatal(err)
	}
	ok := params.ApplicationDeploy{ApplicationName: "api", CharmURL: a.url, CharmOrigin: localOrigin(), NumUnits: 1}
	with := func(f func(*params.ApplicationDeploy)) params.ApplicationDeploy {
		d := ok
		f(&d)
		return d
	}
	for _, tc := range []struct {
		name      string
		d         params.ApplicationDeploy
		code, msg string
	}{
		{"no origin", with(func(d *params.ApplicationDeploy) { d.CharmOrigin = nil }), jujuapi.CodeBadRequest, "charm origin source required"},
		{"unknown origin source", with(func(d *params.ApplicationDeploy) { d.CharmOrigin = &params.CharmOrigin{Source: "store"} }), jujuapi.CodeBadRequest, `"store" not a valid charm origin source`},
		{"no revision", with(func(d *params.ApplicationDeploy) { d.CharmURL = "local:jammy/demo" }), "", "charm url must include revision"},
		{"charm not uploaded", with(func(d *params.ApplicationDeploy) { d.CharmURL = "local:jammy/other-0" }), jujuapi.CodeNotFound, `charm "local:jammy/other-0" not found`},
		{"invalid name", with(func(d *params.ApplicationDeploy) { d.ApplicationName = "Api" }), "", `cannot add application "Api": invalid name`},
		{"already exists", with(func(d *params.ApplicationDeploy) { d.ApplicationName = "web" }), jujuapi.CodeAlreadyExists, `cannot add application "web": application already exists`},
		{"option of the wrong type", with(func(d *params.ApplicationDeploy) { d.Config = map[string]string{"port": "eighty"} }), "", `option "port" expected int, got "eighty"`},
		{"unknown option", with(func(d *params.ApplicationDeploy) { d.Config = map[string]string{"colour": "red"} }), "", `unknown option "colour"`},
		{"YAML for another application", with(func(d *params.ApplicationDeploy) { d.ConfigYAML = "web:\n  port: 1\n" }), "", `no settings found for "api"`},
		{"binding to an unknown space", with(func(d *params.ApplicationDeploy) { d.EndpointBindings = map[string]string{"website": "dmz"} }), jujuapi.CodeNotFound, "space not found"},
		{"placement on a missing machine", with(func(d *params.ApplicationDeploy) { d.Placement = []*params.Placement{{Scope: "#", Directive: "42"}} }), jujuapi.CodeNotFound, `cannot deploy "api" to machine 42: machine 42 not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.deployErr(t, tc.d)
			wantCode(t, err, tc.code, tc.msg)
		})
	}
	// A reader may not deploy.
	addUser(t, a.admin, "reader", "secret")
	grantModel(t, a.admin, "reader", "read", a.uuid)
	rc := mustLogin(t, a.c, "/model/"+a.uuid+"/api", "reader", "secret")
	err := rc.Call(t.Context(), "Application", 20, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{ok}}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")
	if _, there := a.status(t).Applications["api"]; there {
		t.Error("a refused deployment left an application")
	}
}

// TestUnits: add-unit and remove-unit, with the machine of a unit that was
// alone on it removed too, as Juju does.
func TestUnits(t *testing.T) {
	a := newAppModel(t)
	if err := a.deployErr(t, params.ApplicationDeploy{ApplicationName: "web", CharmURL: a.url, CharmOrigin: localOrigin(), NumUnits: 1}); err != nil {
		t.Fatal(err)
	}
	var added params.AddApplicationUnitsResults
	call(t, a.mc, "Application", 20, "AddUnits", params.AddApplicationUnits{ApplicationName: "web", NumUnits: 2}, &added)
	call(t, a.mc, "Application", 20, "AddUnits", params.AddApplicationUnits{ApplicationName: "web", NumUnits: 1, Placement: []*params.Placement{{Scope: "#", Directive: "0"}}}, &added)
	st := a.status(t)
	if len(st.Applications["web"].Units) != 4 || len(st.Machines) != 3 || st.Applications["web"].Units["web/3"].Machine != "0" {
		t.Fatalf("after add-unit: %d units, %d machines", len(st.Applications["web"].Units), len(st.Machines))
	}
	destroy := func(tags ...string) params.DestroyUnitResults {
		var res params.DestroyUnitResults
		p := params.DestroyUnitsParams{}
		for _, tag := range tags {
			p.Units = append(p.Units, params.DestroyUnitParams{UnitTag: tag})
		}
		call(t, a.mc, "Application", 20, "DestroyUnit", p, &res)
		return res
	}
	// web/1 was alone on machine 1: both go. web/3 shares machine 0.
	res := destroy("unit-web-1", "unit-web-3", "unit-web-9", "machine-0")
	if res.Results[0].Error != nil || res.Results[1].Error != nil {
		t.Fatalf("destroy: %+v", res)
	}
	wantItemError(t, "unknown unit", res.Results[2].Error, "", `unit "web/9" does not exist`)
	wantItemError(t, "not a unit tag", res.Results[3].Error, "", `"machine-0" is not a valid unit tag`)
	st = a.status(t)
	if _, ok := st.Machines["1"]; ok {
		t.Error("machine 1 stayed after its only unit went")
	}
	if _, ok := st.Machines["0"]; !ok {
		t.Error("machine 0 went though web/0 is still on it")
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range st.Applications["web"].Units {
			yield(k)
		}
	}); !slices.Equal(got, []string{"web/0", "web/2"}) {
		t.Errorf("units left %v", got)
	}
	// Removals are refused while blocked.
	call(t, a.mc, "Block", 2, "SwitchBlockOn", params.BlockSwitchParams{Type: params.BlockRemove, Message: "not now"}, nil)
	err := a.mc.Call(t.Context(), "Application", 20, "DestroyUnit", params.DestroyUnitsParams{Units: []params.DestroyUnitParams{{UnitTag: "unit-web-0"}}}, nil)
	wantCode(t, err, jujuapi.CodeOperationBlocked, "not now")
}

// TestRelations: integrate and remove-relation, with Juju's endpoint
// resolution and errors.
func TestRelations(t *testing.T) {
	a := newAppModel(t, func(cfg *Config) { cfg.HookDuration = 20 * time.Millisecond })
	for _, app := range []string{"web", "api", "db"} {
		if err := a.deployErr(t, params.ApplicationDeploy{ApplicationName: app, CharmURL: a.url, CharmOrigin: localOrigin(), NumUnits: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.deployErr(t, params.ApplicationDeploy{ApplicationName: "pg", CharmURL: "ch:amd64/jammy/postgresql-12", CharmOrigin: chOrigin(), NumUnits: 1}); err != nil {
		t.Fatal(err)
	}
	relate := func(eps ...string) (params.AddRelationResults, error) {
		var res params.AddRelationResults
		err := a.mc.Call(t.Context(), "Application", 20, "AddRelation", params.AddRelation{Endpoints: eps}, &res)
		return res, err
	}
	res, err := relate("web:backend", "api")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]params.CharmRelation{
		"web": {Name: "backend", Role: "requirer", Interface: "http", Optional: true, Limit: 1, Scope: "global"},
		"api": {Name: "website", Role: "provider", Interface: "http", Scope: "global"},
	}; !reflect.DeepEqual(res.Endpoints, want) {
		t.Errorf("AddRelation endpoints %+v", res.Endpoints)
	}
	for _, tc := range []struct {
		name      string
		eps       []string
		code, msg string
	}{
		{"ambiguous", []string{"api", "db"}, "", `ambiguous relation: "api db" could refer to "api:backend db:website"; "db:backend api:website"`},
		{"two providers", []string{"api:website", "db:website"}, "", "no relations found"},
		{"incompatible interfaces", []string{"api:backend", "pg"}, "", "no relations found"},
		{"unknown endpoint", []string{"api:db", "db"}, "", `application "api" has no "db" relation`},
		{"unknown application", []string{"api", "nope"}, jujuapi.CodeNotFound, `application "nope" not found`},
		{"invalid endpoint", []string{":website", "db"}, "", `invalid endpoint ":website"`},
		{"three endpoints", []string{"api", "db", "web"}, "", "cannot relate 3 endpoints"},
		{"no peers", []string{"api"}, "", "no relations found"},
		{"already there", []string{"api:website", "web:backend"}, jujuapi.CodeAlreadyExists, `cannot add relation "web:backend api:website": relation web:backend api:website`},
		{"over the limit", []string{"web:backend", "db:website"}, codeQuotaLimitExceeded, `cannot add relation "web:backend db:website": establishing a new relation for web:backend would exceed its maximum relation limit of 1`},
		{"via subnets", []string{"db:backend", "api:website"}, jujuapi.CodeNotSupported, "integration via subnets for non cross model relations not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.name == "via subnets" {
				err = a.mc.Call(t.Context(), "Application", 20, "AddRelation", params.AddRelation{Endpoints: tc.eps, ViaCIDRs: []string{"10.0.0.0/8"}}, nil)
			} else {
				_, err = relate(tc.eps...)
			}
			wantCode(t, err, tc.code, tc.msg)
		})
	}
	// Juju-info relates any charm to a requirer of juju-info only; an
	// explicit pair resolves the ambiguity.
	if _, err := relate("db:backend", "api:website"); err != nil {
		t.Fatal(err)
	}
	st := a.status(t)
	if len(st.Relations) != 2 {
		t.Fatalf("status relations %+v", st.Relations)
	}
	r := st.Relations[0]
	if r.Key != "web:backend api:website" || r.Interface != "http" || r.Scope != "global" || len(r.Endpoints) != 2 ||
		r.Endpoints[0] != (params.EndpointStatus{ApplicationName: "web", Name: "backend", Role: "requirer"}) {
		t.Errorf("relation status %+v", r)
	}
	if got := st.Applications["api"].Relations["website"]; !slices.Equal(got, []string{"db", "web"}) {
		t.Errorf("api's website relations %v", got)
	}
	// The units run their relation hooks, then the relation is joined.
	waitFor(t, "relation hooks run", func() bool {
		st := a.status(t)
		for _, app := range []string{"web", "api"} {
			for _, u := range st.Applications[app].Units {
				if u.AgentStatus.Status != "idle" {
					return false
				}
			}
		}
		return st.Relations[0].Status.Status == "joined"
	})

	// remove-relation, by endpoints and by id.
	destroy := func(p params.DestroyRelation) error {
		return a.mc.Call(t.Context(), "Application", 20, "DestroyRelation", p, nil)
	}
	wantCode(t, destroy(params.DestroyRelation{Endpoints: []string{"api"}}), "",
		`ambiguous relation: "api" could refer to "web:backend api:website"; "db:backend api:website"`)
	wantCode(t, destroy(params.DestroyRelation{Endpoints: []string{"web", "db"}}), jujuapi.CodeNotFound, `relation matching "web db" not found`)
	wantCode(t, destroy(params.DestroyRelation{RelationId: 42}), jujuapi.CodeNotFound, "relation 42 not found")
	if err := destroy(params.DestroyRelation{Endpoints: []string{"web", "api"}}); err != nil {
		t.Fatal(err)
	}
	if err := destroy(params.DestroyRelation{RelationId: st.Relations[1].Id}); err != nil {
		t.Fatal(err)
	}
	if st := a.status(t); len(st.Relations) != 0 || len(st.Applications["api"].Relations) != 0 {
		t.Errorf("relations left: %+v", st.Relations)
	}
}

// TestExpose: expose and unexpose, with their settings in status.
func TestExpose(t *testing.T) {
	a := newAppModel(t)
	if err := a.deployErr(t, params.ApplicationDeploy{ApplicationName: "web", CharmURL: a.url, CharmOrigin: localOrigin(), NumUnits: 1}); err != nil {
		t.Fatal(err)
	}
	expose := func(eps map[string]params.ExposedEndpoint) error {
		return a.mc.Call(t.Context(), "Application", 20, "Expose", params.ApplicationExpose{ApplicationName: "web", ExposedEndpoints: eps}, nil)
	}
	unexpose := func(eps ...string) error {
		return a.mc.Call(t.Context(), "Application", 20, "Unexpose", params.ApplicationUnexpose{ApplicationName: "web", ExposedEndpoints: eps}, nil)
	}
	exposed := func() (bool, map[string]params.ExposedEndpoint) {
		app := a.status(t).Applications["web"]
		return app.Exposed, app.ExposedEndpoints
	}
	if err := expose(nil); err != nil {
		t.Fatal(err)
	}
	if on, eps := exposed(); !on || !reflect.DeepEqual(eps, map[string]params.ExposedEndpoint{"": {ExposeToCIDRs: []string{"0.0.0.0/0", "::/0"}}}) {
		t.Errorf("exposed %v %+v", on, eps)
	}
	if err := expose(map[string]params.ExposedEndpoint{"website": {ExposeToSpaces: []string{"alpha"}, ExposeToCIDRs: []string{"10.0.0.0/8"}}}); err != nil {
		t.Fatal(err)
	}
	if _, eps := exposed(); len(eps) != 2 || !reflect.DeepEqual(eps["website"], params.ExposedEndpoint{ExposeToSpaces: []string{"alpha"}, ExposeToCIDRs: []string{"10.0.0.0/8"}}) {
		t.Errorf("exposed endpoints %+v", eps)
	}
	for _, tc := range []struct {
		name      string
		err       error
		code, msg string
	}{
		{"unknown endpoint", expose(map[string]params.ExposedEndpoint{"nope": {}}), jujuapi.CodeNotFound, `endpoint "nope" not found`},
		{"unknown space", expose(map[string]params.ExposedEndpoint{"website": {ExposeToSpaces: []string{"dmz"}}}), jujuapi.CodeNotFound, `space "dmz" not found`},
		{"bad CIDR", expose(map[string]params.ExposedEndpoint{"website": {ExposeToCIDRs: []string{"10.0.0.0/99"}}}), "", `unable to parse "10.0.0.0/99" as a CIDR: invalid CIDR address: 10.0.0.0/99`},
		{"endpoint not exposed", unexpose("backend"), jujuapi.CodeBadRequest, `endpoint "backend" is not exposed`},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.err, tc.code, tc.msg) })
	}
	if err := unexpose("website"); err != nil {
		t.Fatal(err)
	}
	if on, eps := exposed(); !on || len(eps) != 1 {
		t.Errorf("after unexposing website: %v %+v", on, eps)
	}
	if err := unexpose(); err != nil {
		t.Fatal(err)
	}
	if on, eps := exposed(); on || eps != nil {
		t.Errorf("after unexpose: %v %+v", on, eps)
	}
}

// TestApplicationConfig: config get, set (strings and YAML), reset, with
// Juju's descriptions and errors, and the units' config-changed hook.
func TestApplicationConfig(t *testing.T) {
	a := newAppModel(t, func(cfg *Config) { cfg.HookDuration = 20 * time.Millisecond })
	if err := a.deployErr(t, params.ApplicationDeploy{ApplicationName: "web", CharmURL: a.url, CharmOrigin: localOrigin(), NumUnits: 1}); err != nil {
		t.Fatal(err)
	}
	get := func() map[string]any {
		var res params.ApplicationGetResults
		call(t, a.mc, "Application", 20, "Get", params.ApplicationGet{ApplicationName: "web"}, &res)
		if res.Charm != "demo" || res.Application != "web" {
			t.Errorf("Get: %+v", res)
		}
		return res.CharmConfig
	}
	wantOpt := func(cfg map[string]any, k string, value any, source string) {
		t.Helper()
		info, _ := cfg[k].(map[string]any)
		if fmt.Sprint(info["value"]) != fmt.Sprint(value) || info["source"] != source || info["type"] == nil || info["description"] == nil {
			t.Errorf("%s: %v, want value %v from %s", k, info, value, source)
		}
	}
	cfg := get()
	wantOpt(cfg, "greeting", "hello", "default")
	wantOpt(cfg, "port", 8080, "default")
	set := func(strs map[string]string, yaml string) error {
		var res params.ErrorResults
		if err := a.mc.Call(t.Context(), "Application", 20, "SetConfigs", params.ConfigSetArgs{Args: []params.ConfigSet{{
			ApplicationName: "web", Config: strs, ConfigYAML: yaml}}}, &res); err != nil {
			return err
		}
		if e := res.Results[0].Error; e != nil {
			return e
		}
		return nil
	}
	if err := set(map[string]string{"port": "9000", "verbose": "true"}, ""); err != nil {
		t.Fatal(err)
	}
	if st := a.status(t); st.Applications["web"].Units["web/0"].AgentStatus.Status != "executing" ||
		st.Applications["web"].Units["web/0"].AgentStatus.Info != "running config-changed hook" {
		// The hook may already have ended on a slow machine; then it is idle.
		if s := st.Applications["web"].Units["web/0"].AgentStatus.Status; s != "idle" {
			t.Errorf("agent status after a config change: %+v", st.Applications["web"].Units["web/0"].AgentStatus)
		}
	}
	cfg = get()
	wantOpt(cfg, "port", 9000, "user")
	wantOpt(cfg, "verbose", true, "user")
	if err := set(map[string]string{"greeting": ""}, "web:\n  port: 7000\n"); err != nil {
		t.Fatal(err)
	}
	cfg = get()
	wantOpt(cfg, "port", 7000, "user")
	wantOpt(cfg, "greeting", "hello", "default")
	for _, tc := range []struct {
		name     string
		strs     map[string]string
		yaml     string
		code     string
		msg      string
		resetOpt string
	}{
		{name: "wrong type", strs: map[string]string{"port": "high"}, msg: `parsing settings for application: option "port" expected int, got "high"`},
		{name: "unknown option", strs: map[string]string{"colour": "red"}, msg: `parsing settings for application: unknown option "colour"`},
		{name: "YAML of another application", yaml: "api:\n  port: 1\n", msg: `parsing settings for application: no settings found for "web"`},
		{name: "YAML of the wrong type", yaml: "web:\n  verbose: 3\n", msg: `parsing settings for application: option "verbose" expected boolean, got 3`},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, set(tc.strs, tc.yaml), tc.code, tc.msg) })
	}
	var res params.ErrorResults
	call(t, a.mc, "Application", 20, "UnsetApplicationsConfig", params.ApplicationConfigUnsetArgs{Args: []params.ApplicationUnset{
		{ApplicationName: "web", Options: []string{"port"}}, {ApplicationName: "web", Options: []string{"colour"}}, {ApplicationName: "nope", Options: []string{"port"}},
	}}, &res)
	if res.Results[0].Error != nil {
		t.Fatal(res.Results[0].Error)
	}
	wantItemError(t, "reset of an unknown option", res.Results[1].Error, "", `updating application charm settings: unknown option "colour"`)
	wantItemError(t, "reset on an unknown application", res.Results[2].Error, jujuapi.CodeNotFound, `application "nope" not found`)
	wantOpt(get(), "port", 8080, "default")
	var cc params.ApplicationGetConfigResults
	call(t, a.mc, "Application", 20, "CharmConfig", params.ApplicationGetArgs{Args: []params.ApplicationGet{{ApplicationName: "web"}}}, &cc)
	wantOpt(cc.Results[0].Config, "verbose", true, "user")
	waitFor(t, "the config-changed hooks run", func() bool {
		return a.status(t).Applications["web"].Units["web/0"].AgentStatus.Status == "idle"
	})
}

// TestRemoveApplication: the application's units, the machines they were
// alone on and its relations go.
func TestRemoveApplication(t *testing.T) {
	a := newAppModel(t, func(cfg *Config) { cfg.HookDuration = time.Hour })
	for _, app := range []string{"web", "api"} {
		if err := a.deployErr(t, params.ApplicationDeploy{ApplicationName: app, CharmURL: a.url, CharmOrigin: localOrigin(), NumUnits: 1}); err != nil {
			t.Fatal(err)
		}
	}
	call(t, a.mc, "Application", 20, "AddRelation", params.AddRelation{Endpoints: []string{"web:backend", "api:website"}}, nil)
	var res params.DestroyApplicationResults
	call(t, a.mc, "Application", 20, "DestroyApplication", params.DestroyApplicationsParams{Applications: []params.DestroyApplicationParams{
		{ApplicationTag: "application-api"}, {ApplicationTag: "application-nope"}}}, &res)
	if info := res.Results[0].Info; res.Results[0].Error != nil || info == nil || len(info.DestroyedUnits) != 1 || info.DestroyedUnits[0].Tag != "unit-api-0" {
		t.Fatalf("destroy api: %+v", res.Results[0])
	}
	wantItemError(t, "unknown application", res.Results[1].Error, jujuapi.CodeNotFound, `application "nope" not found`)
	st := a.status(t)
	if _, ok := st.Applications["api"]; ok || len(st.Machines) != 1 || len(st.Relations) != 0 || len(st.Applications["web"].Relations) != 0 {
		t.Errorf("after removing api: apps %v, %d machines, relations %+v", slices.Collect(func(y func(string) bool) {
			for k := range st.Applications {
				y(k)
			}
		}), len(st.Machines), st.Relations)
	}
	if u := st.Applications["web"].Units["web/0"]; u.AgentStatus.Info != "running backend-relation-departed hook" {
		t.Errorf("web/0 after its relation went: %+v", u.AgentStatus)
	}
}

// TestCharmhubUnreachable: deploying from Charmhub fails as Juju does
// when it cannot reach Charmhub.
func TestCharmhubUnreachable(t *testing.T) {
	a := newAppModel(t)
	call(t, a.mc, "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"charmhub-url": "https://127.0.0.1:1"}}, nil)
	const want = `resolving with preferred channel: Post "https://127.0.0.1:1/v2/charms/refresh": dial tcp 127.0.0.1:1: connect: connection refused`
	var res params.DeployFromRepositoryResults
	call(t, a.mc, "Application", 20, "DeployFromRepository", params.DeployFromRepositoryArgs{Args: []params.DeployFromRepositoryArg{{CharmName: "postgresql"}}}, &res)
	if len(res.Results) != 1 || len(res.Results[0].Errors) != 1 {
		t.Fatalf("DeployFromRepository: %+v", res)
	}
	wantItemError(t, "DeployFromRepository", res.Results[0].Errors[0], "", want)
	err := a.mc.Call(t.Context(), "Application", 18, "DeployFromRepository", params.DeployFromRepositoryArgs{}, nil)
	wantCode(t, err, jujuapi.CodeNotImplemented, "this facade method is under development not implemented")
	err = a.mc.Call(t.Context(), "Application", 17, "DeployFromRepository", params.DeployFromRepositoryArgs{}, nil)
	wantCode(t, err, jujuapi.CodeNotImplemented, "")
	var resolved params.ResolveCharmWithChannelResults
	call(t, a.mc, "Charms", 7, "ResolveCharms", params.ResolveCharmsWithChannel{Resolve: []params.ResolveCharmWithChannel{
		{Reference: "ch:postgresql", Origin: params.CharmOrigin{Source: "charm-hub"}}, {Reference: "local:demo-0"}}}, &resolved)
	wantItemError(t, "ResolveCharms", resolved.Results[0].Error, "", want)
	wantItemError(t, "ResolveCharms of a local charm", resolved.Results[1].Error, "", `unknown schema for charm URL "local:demo-0"`)
	if st := a.status(t); len(st.Applications) != 0 {
		t.Errorf("applications after failed deployments: %+v", st.Applications)
	}
	if !strings.HasPrefix(defaultCharmhubURL, "https://") {
		t.Errorf("default charmhub-url %q", defaultCharmhubURL)
	}
}
