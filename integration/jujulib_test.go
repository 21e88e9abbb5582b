package integration

// TestJujulib: the Juju dashboard's client library, @canonical/jujulib
// 9.1.0 (JIMM_JUJULIB_DIR, installed by .ci/tools.sh), drives the broker
// through integration/jujulib/dashboard.mjs as the dashboard does: login,
// clouds, model lists, model creation and info, the controller's config,
// the model summary watchers (seeing a model another client creates
// within 1 s), and on a model connection FullStatus and the AllWatcher
// (seeing a unit the juju CLI adds within 1 s). Each step is a subtest
// asserting on the shape Juju 3.5 gives that call; a table of steps and
// outcomes is logged at the end. Without JIMM_JUJULIB_DIR the test skips;
// under CI it fails.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/jujucli"
)

// jujulibMaxLatency bounds the time from another client's change to the
// watcher's delta reaching the dashboard.
const jujulibMaxLatency = time.Second

// jujulibSuite is what the step checks look at.
type jujulibSuite struct {
	e       *brokerEnv
	cfg     jujulibConfig
	model   string // the UUID of the model of the model connection, "dash"
	created string // the UUID of the model the script created (from its step)
	other   jujulibNotice
	unit    jujulibNotice
	steps   map[string]jujulibLine
}

// jujulibCheck checks the result of one step.
type jujulibCheck struct {
	step, call string
	check      func(t *testing.T, s *jujulibSuite, result json.RawMessage)
}

// jujulibChecks are the steps dashboard.mjs runs, in order.
var jujulibChecks = []jujulibCheck{
	{"login-controller", "Admin.Login", checkJujulibLoginController},
	{"ping-controller", "Pinger.Ping", nil},
	{"clouds", "Cloud.Clouds", checkJujulibClouds},
	{"list-models", "ModelManager.ListModels", checkJujulibListModels},
	{"list-model-summaries", "ModelManager.ListModelSummaries", checkJujulibListModelSummaries},
	{"create-model", "ModelManager.CreateModel", checkJujulibCreateModel},
	{"model-info", "ModelManager.ModelInfo", checkJujulibModelInfo},
	{"controller-config", "Controller.ControllerConfig", checkJujulibControllerConfig},
	{"controller-model-config", "Controller.ModelConfig", checkJujulibControllerModelConfig},
	{"watch-model-summaries", "Controller.WatchModelSummaries", checkJujulibWatcherID},
	{"summaries-next-initial", "ModelSummaryWatcher.Next", func(t *testing.T, s *jujulibSuite, r json.RawMessage) {
		checkJujulibSummaries(t, s, r, s.model, s.created)
	}},
	{"summaries-next-new-model", "ModelSummaryWatcher.Next", checkJujulibNewModel},
	{"summaries-stop", "ModelSummaryWatcher.Stop", nil},
	{"summaries-next-pending-at-stop", "ModelSummaryWatcher.Next", checkJujulibPendingAtStop},
	{"watch-all-model-summaries", "Controller.WatchAllModelSummaries", checkJujulibWatcherID},
	{"all-summaries-next-initial", "ModelSummaryWatcher.Next", func(t *testing.T, s *jujulibSuite, r json.RawMessage) {
		checkJujulibSummaries(t, s, r, s.model, s.created, s.other.UUID)
	}},
	{"all-summaries-stop", "ModelSummaryWatcher.Stop", nil},
	{"all-summaries-next-pending-at-stop", "ModelSummaryWatcher.Next", checkJujulibPendingAtStop},
	{"login-model", "Admin.Login", checkJujulibLoginModel},
	{"ping-model", "Pinger.Ping", nil},
	{"full-status", "Client.FullStatus", checkJujulibFullStatus},
	{"watch-all", "Client.WatchAll", checkJujulibWatcherID},
	{"all-watcher-next-initial", "AllWatcher.Next", checkJujulibAllWatcherInitial},
	{"all-watcher-next-new-unit", "AllWatcher.Next", checkJujulibNewUnit},
	{"all-watcher-stop", "AllWatcher.Stop", nil},
	{"all-watcher-next-pending-at-stop", "AllWatcher.Next", checkJujulibPendingAtStop},
}

func TestJujulib(t *testing.T) {
	t.Parallel()
	dir := toolBin(t, jujulibDirEnv, "the jujulib tests")
	jujuPath := jujuBin(t)
	serverDSN(t) // skips without PostgreSQL
	e := newBrokerEnv(t, buildBrokerBins(t))
	p := e.broker()

	// The model of the model connection: an application with one unit.
	mm := modelmanager.NewClient(e.open(t, ""))
	dash := createModel(t, e, mm, "dash", "east")
	deploy(t, e.open(t, dash.UUID), "app", 1)

	cli, err := jujucli.New(jujuPath, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = cli.AddController(jujucli.Controller{
		Name: "jimm", UUID: p.UUID, APIEndpoints: []string{p.Addr}, CACert: e.caPEM,
		Cloud: "localhost", Region: "east", AgentVersion: "3.5.4",
	}, &jujucli.Account{User: "admin", Password: brokerAdminPassword, LastKnownAccess: "superuser"})
	if err != nil {
		t.Fatal(err)
	}

	s := &jujulibSuite{e: e, model: dash.UUID}
	s.cfg = jujulibConfig{
		ControllerURL: "wss://" + p.Addr + "/api", CACertFile: p.CACertFile,
		Username: "admin", Password: brokerAdminPassword, ClientVersion: "3.0.0",
		CreateModel: jujulibCreateModel{Name: "jujulib-made", Cloud: "localhost", Region: "west"},
		Model:       jujulibModelOfConn{UUID: dash.UUID, Application: "app"},
		TimeoutMs:   10000, Debug: true,
	}
	other := jujulibOther{
		// The Juju Go API client, on a connection of its own.
		model: func() jujulibNotice {
			n := jujulibNotice{Name: "other-client", SentAtMs: time.Now().UnixMilli()}
			info, err := mm.CreateModel(n.Name, "admin", "localhost", "east", names.CloudCredentialTag{}, nil)
			n.AnsweredAtMs = time.Now().UnixMilli()
			if err != nil {
				n.Error = fmt.Sprintf("CreateModel %s with the Juju Go client: %v", n.Name, err)
			}
			n.UUID = info.UUID
			s.other = n
			return n
		},
		// The stock juju CLI.
		unit: func() jujulibNotice {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			n, res := cliAddUnit(ctx, cli, "dash", "app")
			t.Logf("%s: exit %d in %s", res.Command(), res.ExitCode, res.Duration.Round(time.Millisecond))
			if n.Error != "" {
				t.Logf("juju add-unit failed:\n%s", res)
			}
			s.unit = n
			return n
		},
	}
	lines, byStep := runJujulib(t, dir, s.cfg, other)
	s.steps = byStep
	if l, ok := byStep["create-model"]; ok && l.OK {
		var mi params.ModelInfo
		if err := json.Unmarshal(l.Result, &mi); err == nil {
			s.created = mi.UUID
		}
	}

	var table strings.Builder
	for _, c := range jujulibChecks {
		passed := t.Run(c.step, func(t *testing.T) {
			l, ok := byStep[c.step]
			switch {
			case !ok:
				t.Fatalf("dashboard.mjs printed no line for step %s (%s)", c.step, c.call)
			case l.Call != c.call:
				t.Errorf("step %s called %s, want %s", c.step, l.Call, c.call)
			case !l.OK:
				t.Fatalf("%s: %s", c.call, l.Error)
			}
			e.checkNoLeak(t, c.step+"'s result", l.Result)
			if c.check != nil {
				c.check(t, s, l.Result)
			}
		})
		l := byStep[c.step]
		outcome := "PASS"
		switch {
		case !passed && l.Skipped:
			outcome = "NOT RUN " + strings.TrimPrefix(l.Error, "not run: ")
		case !passed && !l.OK:
			outcome = "FAIL " + l.Error
		case !passed:
			outcome = "FAIL (see the subtest)"
		}
		fmt.Fprintf(&table, "  %-36s %-36s %5dms  %s\n", c.step, c.call, l.Ms, outcome)
	}
	known := map[string]bool{}
	for _, c := range jujulibChecks {
		known[c.step] = true
	}
	for _, l := range lines {
		if !known[l.Step] {
			t.Errorf("dashboard.mjs ran step %s (%s), which the test does not check", l.Step, l.Call)
		}
	}
	t.Logf("jujulib 9.1.0 through the broker, %d steps:\n%s", len(jujulibChecks), table.String())
}

// decodeJujulib decodes a step's result into v.
func decodeJujulib(t *testing.T, what string, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s into %T: %v\n%s", what, v, err, raw)
	}
}

// jujulibConnInfo is what dashboard.mjs reports of a connection after
// login: jujulib's conn.info and the facades it made, by name and version.
type jujulibConnInfo struct {
	ControllerTag string              `json:"controllerTag"`
	ServerVersion string              `json:"serverVersion"`
	Servers       [][]params.HostPort `json:"servers"`
	User          params.AuthUserInfo `json:"user"`
	Facades       map[string]int      `json:"facades"`
}

func checkJujulibLogin(t *testing.T, s *jujulibSuite, raw json.RawMessage) jujulibConnInfo {
	t.Helper()
	var info jujulibConnInfo
	decodeJujulib(t, "the login", raw, &info)
	if want := names.NewControllerTag(s.e.broker().UUID).String(); info.ControllerTag != want {
		t.Errorf("controller tag %q, want the broker's %q", info.ControllerTag, want)
	}
	if info.ServerVersion != "3.5.4" {
		t.Errorf("server version %q, want 3.5.4", info.ServerVersion)
	}
	if info.User.Identity != "user-admin" {
		t.Errorf("user-info identity %q, want user-admin", info.User.Identity)
	}
	return info
}

// checkJujulibLoginController: the facades jujulib makes on a controller
// connection from the dashboard's list (plus ModelSummaryWatcher) are
// those it makes against Juju 3.5, whose /api lists Cloud 7, Controller
// 11, ModelManager 9-10 (jujulib picks 9: the last of its list in file
// name order), ModelSummaryWatcher 1 and Pinger 1, and no model facades.
func checkJujulibLoginController(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	info := checkJujulibLogin(t, s, raw)
	want := map[string]int{"Cloud": 7, "Controller": 11, "ModelManager": 9, "ModelSummaryWatcher": 1, "Pinger": 1}
	if !maps.Equal(info.Facades, want) {
		t.Errorf("jujulib made the facades %v on /api, want %v (as against Juju 3.5)", info.Facades, want)
	}
}

// checkJujulibLoginModel: on a model connection jujulib makes Client
// (6 or 7), AllWatcher 3 and Pinger 1, which the dashboard's model pages
// use.
func checkJujulibLoginModel(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	info := checkJujulibLogin(t, s, raw)
	for name, versions := range map[string][]int{"Client": {6, 7}, "AllWatcher": {3}, "Pinger": {1}} {
		if v, ok := info.Facades[name]; !ok || !slices.Contains(versions, v) {
			t.Errorf("jujulib made %s version %d on the model connection, want one of %v (the facades it made: %v)", name, v, versions, info.Facades)
		}
	}
	for _, name := range []string{"Cloud", "Controller", "ModelManager", "ModelSummaryWatcher"} {
		if v, ok := info.Facades[name]; ok {
			t.Errorf("jujulib made the controller facade %s (version %d) on a model connection: the login result lists it, Juju's does not", name, v)
		}
	}
}

func checkJujulibClouds(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var res params.CloudsResult
	decodeJujulib(t, "Clouds", raw, &res)
	c, ok := res.Clouds["cloud-localhost"]
	if !ok {
		t.Fatalf("Clouds lists no cloud-localhost: %s", raw)
	}
	var regions []string
	for _, r := range c.Regions {
		regions = append(regions, r.Name)
	}
	slices.Sort(regions)
	if !slices.Equal(regions, []string{"east", "west"}) || c.Type == "" {
		t.Errorf("cloud-localhost has type %q and regions %v, want a type and [east west]", c.Type, regions)
	}
}

func checkJujulibListModels(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var res params.UserModelList
	decodeJujulib(t, "ListModels", raw, &res)
	for _, m := range res.UserModels {
		if m.UUID == s.model {
			if m.Name != "dash" || m.OwnerTag != "user-admin" || m.Type != "iaas" {
				t.Errorf("ListModels lists model dash as %+v", m.Model)
			}
			return
		}
	}
	t.Errorf("ListModels does not list model dash (%s): %s", s.model, raw)
}

func checkJujulibListModelSummaries(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var res params.ModelSummaryResults
	decodeJujulib(t, "ListModelSummaries", raw, &res)
	for _, r := range res.Results {
		if r.Result != nil && r.Result.UUID == s.model {
			m := r.Result
			if m.Name != "dash" || m.OwnerTag != "user-admin" || m.CloudTag != "cloud-localhost" || m.CloudRegion != "east" ||
				m.ControllerUUID != s.e.broker().UUID {
				t.Errorf("ListModelSummaries gives model dash as %+v", *m)
			}
			return
		}
	}
	t.Errorf("ListModelSummaries does not list model dash (%s): %s", s.model, raw)
}

func checkJujulibCreateModel(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var mi params.ModelInfo
	decodeJujulib(t, "CreateModel", raw, &mi)
	cm := s.cfg.CreateModel
	if mi.Name != cm.Name || mi.UUID == "" || mi.CloudTag != "cloud-"+cm.Cloud || mi.CloudRegion != cm.Region ||
		mi.OwnerTag != "user-admin" || mi.ControllerUUID != s.e.broker().UUID || mi.Life != "alive" {
		t.Errorf("CreateModel %s in %s/%s returned %+v; want it alive, owned by admin, on the broker's controller UUID",
			cm.Name, cm.Cloud, cm.Region, mi)
	}
}

func checkJujulibModelInfo(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var res params.ModelInfoResults
	decodeJujulib(t, "ModelInfo", raw, &res)
	if len(res.Results) != 1 || res.Results[0].Error != nil || res.Results[0].Result == nil {
		t.Fatalf("ModelInfo of the created model: %s", raw)
	}
	if mi := res.Results[0].Result; mi.UUID != s.created || mi.Name != s.cfg.CreateModel.Name {
		t.Errorf("ModelInfo of %s gives model %s (%s)", s.created, mi.Name, mi.UUID)
	}
}

// checkJujulibControllerConfig: the dashboard names the controller from
// controller-name and identifies it by controller-uuid (its
// fetchControllerList, when the controller is not JIMM).
func checkJujulibControllerConfig(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var res params.ControllerConfigResult
	decodeJujulib(t, "ControllerConfig", raw, &res)
	if got := res.Config["controller-uuid"]; got != s.e.broker().UUID {
		t.Errorf("controller-uuid is %v, want the broker's %s", got, s.e.broker().UUID)
	}
	if name, _ := res.Config["controller-name"].(string); name == "" {
		t.Errorf("no controller-name, which the dashboard shows as the controller's name: %s", raw)
	}
}

// checkJujulibControllerModelConfig: every key has a value and a source;
// agent-version is the version the broker reports.
func checkJujulibControllerModelConfig(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var res struct {
		Config map[string]*params.ConfigValue `json:"config"`
	}
	decodeJujulib(t, "Controller.ModelConfig", raw, &res)
	for k, v := range res.Config {
		if v == nil || v.Source == "" {
			t.Errorf("Controller.ModelConfig key %s has no value and source: %v", k, v)
		}
	}
	if v := res.Config["agent-version"]; v == nil || v.Value != "3.5.4" {
		t.Errorf("Controller.ModelConfig agent-version is %v, want 3.5.4", v)
	}
}

func checkJujulibWatcherID(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var id struct {
		WatcherID string `json:"watcher-id"`
	}
	decodeJujulib(t, "the watcher id", raw, &id)
	if id.WatcherID == "" {
		t.Errorf("no watcher-id: %s", raw)
	}
}

// checkJujulibSummaries: the first Next gives a summary of every model
// listed (each with its name, cloud, region and status), dash with
// admin among its admins. A model whose creation failed ("" UUID) is left
// out: the step that made it fails.
func checkJujulibSummaries(t *testing.T, s *jujulibSuite, raw json.RawMessage, uuids ...string) {
	var res params.SummaryWatcherNextResults
	decodeJujulib(t, "ModelSummaryWatcher.Next", raw, &res)
	byUUID := map[string]params.ModelAbstract{}
	for _, m := range res.Models {
		byUUID[m.UUID] = m
	}
	for _, uuid := range uuids {
		m, ok := byUUID[uuid]
		switch {
		case uuid == "":
		case !ok:
			t.Errorf("no summary of model %s among %d: %s", uuid, len(res.Models), raw)
		case m.Removed || m.Name == "" || m.Cloud != "localhost" || m.Region == "" || m.Status != "available":
			t.Errorf("the summary of model %s is %+v; want its name, cloud localhost, its region, status available", uuid, m)
		}
	}
	if m, ok := byUUID[s.model]; ok && (m.Name != "dash" || m.Region != "east" || !slices.Contains(m.Admins, "admin")) {
		t.Errorf("the summary of model dash is %+v; want name dash, region east, admin among its admins", m)
	}
}

// checkJujulibLatency checks a waiting step's timing: the delta came
// within jujulibMaxLatency of the other client's answer.
func checkJujulibLatency(t *testing.T, what string, f jujulibFound) {
	t.Helper()
	t.Logf("%s: the delta came %d ms after the other client's answer (%d ms after its request), after %d Next answers",
		what, f.LatencyMs, f.SinceRequestMs, len(f.Answers))
	if f.Notice.AnsweredAtMs == 0 || f.DeliveredAtMs == 0 {
		t.Errorf("%s: no times in %+v", what, f)
	}
	if time.Duration(f.LatencyMs)*time.Millisecond > jujulibMaxLatency {
		t.Errorf("%s: the delta came %d ms after the other client's answer, want at most %s", what, f.LatencyMs, jujulibMaxLatency)
	}
}

// checkJujulibNewModel: the model summary watcher delivers the model the
// Juju Go client created, with its name, within 1 s.
func checkJujulibNewModel(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var f jujulibFound
	decodeJujulib(t, "the wait for the new model", raw, &f)
	var m params.ModelAbstract
	decodeJujulib(t, "the new model's summary", f.Found, &m)
	if m.UUID != s.other.UUID || m.Name != s.other.Name || m.Removed || m.Cloud != "localhost" || m.Region != "east" {
		t.Errorf("the new model's summary is %+v; want %s (%s) in localhost/east", m, s.other.Name, s.other.UUID)
	}
	checkJujulibLatency(t, "model "+s.other.Name, f)
}

// checkJujulibPendingAtStop: the Next in flight when Stop was called
// ended (a Juju controller answers it with an error) instead of hanging.
func checkJujulibPendingAtStop(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var res struct {
		InFlight bool            `json:"inFlight"`
		Error    string          `json:"error"`
		Changes  json.RawMessage `json:"changes"`
	}
	decodeJujulib(t, "the pending Next", raw, &res)
	t.Logf("the Next pending at Stop: %s", raw)
	if !res.InFlight {
		t.Errorf("no Next was in flight at Stop, so the step shows nothing: %s", raw)
	}
}

func checkJujulibFullStatus(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var st params.FullStatus
	decodeJujulib(t, "FullStatus", raw, &st)
	if st.Model.Name != "dash" || st.Model.CloudTag != "cloud-localhost" || st.Model.CloudRegion != "east" {
		t.Errorf("FullStatus model is %+v, want dash in localhost/east", st.Model)
	}
	app, ok := st.Applications["app"]
	if !ok {
		t.Fatalf("FullStatus has no application app: %s", raw)
	}
	if _, ok := app.Units["app/0"]; !ok || len(app.Units) != 1 {
		t.Errorf("FullStatus gives application app the units %v, want app/0", slices.Collect(maps.Keys(app.Units)))
	}
}

// checkJujulibAllWatcherInitial: the first Next gives the model, the
// application and its unit, in Juju's delta form [kind, "change", entity].
func checkJujulibAllWatcherInitial(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var res params.AllWatcherNextResults
	decodeJujulib(t, "AllWatcher.Next", raw, &res)
	var model, app, unit bool
	for _, d := range res.Deltas {
		if d.Removed {
			t.Errorf("the first Next removes %+v", d.Entity.EntityId())
		}
		switch e := d.Entity.(type) {
		case *params.ModelUpdate:
			model = model || (e.ModelUUID == s.model && e.Name == "dash" && e.Life == "alive")
		case *params.ApplicationInfo:
			app = app || (e.ModelUUID == s.model && e.Name == "app")
		case *params.UnitInfo:
			unit = unit || (e.ModelUUID == s.model && e.Name == "app/0" && e.Application == "app")
		}
	}
	if !model || !app || !unit {
		t.Errorf("the first Next has model dash: %t, application app: %t, unit app/0: %t; want all: %s", model, app, unit, raw)
	}
}

// checkJujulibNewUnit: the AllWatcher delivers the unit the juju CLI
// added as ["unit","change",{...}] within 1 s.
func checkJujulibNewUnit(t *testing.T, s *jujulibSuite, raw json.RawMessage) {
	var f jujulibFound
	decodeJujulib(t, "the wait for the new unit", raw, &f)
	var d params.Delta
	decodeJujulib(t, "the new unit's delta", f.Found, &d)
	u, ok := d.Entity.(*params.UnitInfo)
	if !ok || d.Removed || u.Name != s.unit.Unit || u.Application != "app" || u.ModelUUID != s.model {
		t.Errorf("the new unit's delta is %s; want [\"unit\",\"change\",{name %s, application app, model-uuid %s}]", f.Found, s.unit.Unit, s.model)
	}
	checkJujulibLatency(t, "unit "+s.unit.Unit, f)
}
