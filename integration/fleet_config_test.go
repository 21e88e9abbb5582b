package integration

// End-to-end tests of the fleet operations around a migration: a
// controller's config read and set through the broker (jimmctl
// controller-config, GET and PATCH /v1/controllers/<name>/config), as
// Juju's migration guide has the target prepared, and several models
// moved with one jimmctl migrate --wait.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api/client/modelmanager"
	jujucontroller "github.com/juju/juju/api/controller/controller"
)

// TestFleetConfig runs the scenarios on one broker, database and
// controllers, one after the other.
func TestFleetConfig(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{{"ConfigAndMigrations", testFleetConfig}})
}

func testFleetConfig(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	t.Run("ControllerConfig", func(t *testing.T) { testFleetControllerConfig(t, e) })
	t.Run("MigrateMany", func(t *testing.T) { testFleetMigrateMany(t, e) })
	// Last: it stops ctl-3.
	t.Run("ControllerDown", func(t *testing.T) { testFleetControllerDown(t, e) })
}

// fleetConfig is jimmctl controller-config <name> --format json, decoded.
func fleetConfig(t testing.TB, e *brokerEnv, name string) map[string]any {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal([]byte(e.jimmctl(t, "controller-config", name, "--format", "json")), &cfg); err != nil {
		t.Fatalf("controller-config %s --format json: %v", name, err)
	}
	return cfg
}

// fleetDirectConfig is ctl's config as the controller itself reports it
// to the Juju client.
func fleetDirectConfig(t testing.TB, e *brokerEnv, name string) (burst int, rate, wait time.Duration) {
	t.Helper()
	cfg, err := jujucontroller.NewClient(bmDirect(t, e.ctls[name], "")).ControllerConfig()
	if err != nil {
		t.Fatalf("ControllerConfig of %s itself: %v", name, err)
	}
	return cfg.AgentRateLimitMax(), cfg.AgentRateLimitRate(), cfg.MigrationMinionWaitMax()
}

// fleetLogin logs in to the admin API as the bootstrap admin and returns
// the session token.
func fleetLogin(t testing.TB, e *brokerEnv) string {
	t.Helper()
	status, body := e.restDo(t, "", http.MethodPost, "/v1/login", map[string]string{"user": "admin", "password": brokerAdminPassword})
	var resp struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &resp); status != http.StatusOK || err != nil || resp.Token == "" {
		t.Fatalf("POST /v1/login: HTTP %d %s", status, body)
	}
	return resp.Token
}

// testFleetControllerConfig: jimmctl controller-config reads ctl-2's
// config through the broker, sets the three keys of the migration guide's
// preparation, reads them back; ctl-2 itself reports them, ctl-1 is left
// alone. A value ctl-2 refuses is refused naming it, and changes nothing.
// The audit log has each change with the controller and the key names,
// never a value.
func testFleetControllerConfig(t *testing.T, e *brokerEnv) {
	cfg := fleetConfig(t, e, "ctl-2")
	if cfg["agent-ratelimit-max"] != 10.0 || cfg["agent-ratelimit-rate"] != "250ms" || cfg["migration-agent-wait-time"] != "15m0s" ||
		cfg["controller-name"] != "ctl-2" || cfg["controller-uuid"] != e.ctls["ctl-2"].File.UUID {
		t.Errorf("ctl-2's config through the broker: %v; want its name, UUID and Juju's defaults", cfg)
	}
	table := fleetLines(e.jimmctl(t, "controller-config", "ctl-2"))
	if len(table) < 4 || !slices.Equal(strings.Fields(table[0]), []string{"KEY", "VALUE"}) ||
		!slices.ContainsFunc(table, func(l string) bool { return slices.Equal(strings.Fields(l), []string{"agent-ratelimit-rate", "250ms"}) }) {
		t.Errorf("controller-config ctl-2 printed:\n%s", strings.Join(table, "\n"))
	}

	// Set, as the migration guide prepares a target.
	out := e.jimmctl(t, "controller-config", "ctl-2", "agent-ratelimit-max=50", "agent-ratelimit-rate=100ms", "migration-agent-wait-time=30m")
	want := [][]string{{"KEY", "VALUE"}, {"agent-ratelimit-max", "50"}, {"agent-ratelimit-rate", "100ms"}, {"migration-agent-wait-time", "30m0s"}}
	if got := fleetLines(out); len(got) != len(want) || !slices.EqualFunc(got, want, func(l string, w []string) bool { return slices.Equal(strings.Fields(l), w) }) {
		t.Errorf("controller-config set printed:\n%s\nwant the 3 keys with their new values", out)
	}
	for key, want := range map[string]string{"agent-ratelimit-max": "50\n", "agent-ratelimit-rate": "100ms\n", "migration-agent-wait-time": "30m0s\n"} {
		if got := e.jimmctl(t, "controller-config", "ctl-2", key); got != want {
			t.Errorf("controller-config ctl-2 %s printed %q, want %q", key, got, want)
		}
	}
	if burst, rate, wait := fleetDirectConfig(t, e, "ctl-2"); burst != 50 || rate != 100*time.Millisecond || wait != 30*time.Minute {
		t.Errorf("ctl-2 itself reports agent-ratelimit-max %d, agent-ratelimit-rate %s, migration-agent-wait-time %s; want 50, 100ms, 30m", burst, rate, wait)
	}
	if burst, rate, wait := fleetDirectConfig(t, e, "ctl-1"); burst != 10 || rate != 250*time.Millisecond || wait != 15*time.Minute {
		t.Errorf("ctl-1 itself reports %d, %s, %s; want the defaults, untouched", burst, rate, wait)
	}

	// Refusals, naming the controller; nothing changes.
	const notADuration = "s3cret-not-a-duration"
	res := e.run(t, "controller-config", "ctl-2", "agent-ratelimit-rate=2m")
	wantCtlRefusal(t, "a rate over 1m", res, `set config of controller "ctl-2": controller "ctl-2" refused to set agent-ratelimit-rate: agent-ratelimit-rate must be between 0..1m`)
	res = e.run(t, "controller-config", "ctl-2", "agent-ratelimit-max=5", "agent-ratelimit-rate="+notADuration)
	wantCtlRefusal(t, "a rate that is no duration", res,
		`set config of controller "ctl-2": controller "ctl-2" refused to set agent-ratelimit-max, agent-ratelimit-rate: agent-ratelimit-rate: "`+notADuration+`" is not a duration`)
	res = e.run(t, "controller-config", "ctl-9")
	wantCtlRefusal(t, "an unknown controller", res, `get config of controller "ctl-9": not found: controller "ctl-9" is not registered`)
	if burst, rate, _ := fleetDirectConfig(t, e, "ctl-2"); burst != 50 || rate != 100*time.Millisecond {
		t.Errorf("after the refusals ctl-2 reports %d, %s; want 50, 100ms", burst, rate)
	}

	// The REST API: the same, in its terms.
	tok := fleetLogin(t, e)
	status, body := e.restDo(t, tok, http.MethodGet, "/v1/controllers/ctl-2/config", nil)
	var got struct {
		Controller string         `json:"controller"`
		Config     map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil || got.Controller != "ctl-2" || got.Config["agent-ratelimit-max"] != 50.0 {
		t.Errorf("GET /v1/controllers/ctl-2/config: HTTP %d %s", status, body)
	}
	status, body = e.restDo(t, tok, http.MethodPatch, "/v1/controllers/ctl-2/config", map[string]any{"config": map[string]any{"agent-ratelimit-rate": "2m"}})
	wantRESTRefusal(t, "PATCH a rate over 1m", status, body, http.StatusBadRequest, "not valid",
		`controller "ctl-2" refused to set agent-ratelimit-rate: agent-ratelimit-rate must be between 0..1m`)
	status, body = e.restDo(t, tok, http.MethodPatch, "/v1/controllers/ctl-9/config", map[string]any{"config": map[string]any{"agent-ratelimit-max": 5}})
	wantRESTRefusal(t, "PATCH an unknown controller", status, body, http.StatusNotFound, "not found", `not found: controller "ctl-9" is not registered`)

	// The audit log: the change with ctl-2 and its keys; the refusals with
	// the controller's code; never a value.
	const method = "PATCH /v1/controllers/ctl-2/config"
	wants := []restAuditEvent{
		{Identity: "admin", Facade: "REST", Method: method + " keys=agent-ratelimit-max,agent-ratelimit-rate,migration-agent-wait-time", Result: "ok"},
		{Identity: "admin", Facade: "REST", Method: method + " keys=agent-ratelimit-rate", Result: "not valid"},
		{Identity: "admin", Facade: "REST", Method: "PATCH /v1/controllers/ctl-9/config keys=agent-ratelimit-max", Result: "not found"},
		{Identity: "admin", Method: method + " keys=agent-ratelimit-max,agent-ratelimit-rate", Result: "not valid"},
	}
	// Audit events are written in batches, off the request path: wait
	// until every one expected is there.
	var events restAuditEvents
	eventually(t, 10*time.Second, "the config changes in the audit log", func() error {
		events = e.auditList(t, "--user", "admin", "--limit", "200")
		for _, want := range wants {
			if !slices.ContainsFunc(events.Events, func(ev restAuditEvent) bool { return ev.has(want) }) {
				return fmt.Errorf("no audit event %+v yet", want)
			}
		}
		return nil
	})
	for _, ev := range events.Events {
		if strings.HasPrefix(ev.Method, "GET ") {
			t.Errorf("a read was audited: %+v", ev)
		}
		for _, v := range []string{notADuration, "100ms", "30m"} {
			if strings.Contains(ev.Method, v) || strings.Contains(ev.Error, v) {
				t.Errorf("audit event %+v holds the value %q", ev, v)
			}
		}
		if ev.Method == method+" keys=agent-ratelimit-max,agent-ratelimit-rate" && !strings.Contains(ev.Error, `"[redacted]" is not a duration`) {
			t.Errorf("the refusal of a rate that is no duration was audited as %q; want it with the value redacted", ev.Error)
		}
	}
	if strings.Contains(e.broker().Output(), notADuration) {
		t.Errorf("jimmd's log holds a config value")
	}
}

// testFleetMigrateMany: three models on ctl-1 move to ctl-2 with one
// jimmctl migrate --wait, which reports each start, each phase, and a
// summary; the broker then routes all three to ctl-2, which hosts them.
func testFleetMigrateMany(t *testing.T, e *brokerEnv) {
	mm := modelmanager.NewClient(e.open(t, ""))
	var uuids []string
	for _, name := range []string{"many-1", "many-2", "many-3"} {
		uuids = append(uuids, bmModelOn(t, e, mm, name, "ctl-1"))
	}
	ctl := *e.ctl
	ctl.Timeout = 3 * time.Minute
	res := runCtl(t, &ctl, append([]string{"migrate", "ctl-2"}, append(uuids, "--wait", "--timeout", "2m")...)...)
	if res.ExitCode != 0 {
		t.Fatalf("migrate of 3 models --wait: %s", res)
	}
	out := fleetLines(res.Stdout)
	for _, name := range []string{"many-1", "many-2", "many-3"} {
		if !slices.ContainsFunc(out, func(l string) bool {
			return strings.HasPrefix(l, "started migration ") && strings.Contains(l, " of model "+name+" from ctl-1 to ctl-2: ")
		}) {
			t.Errorf("migrate did not report the start of %s:\n%s", name, res.Stdout)
		}
		if !slices.ContainsFunc(out, func(l string) bool {
			f := strings.Fields(l)
			return len(f) >= 6 && f[0] == name && f[2] == "ctl-1" && f[3] == "ctl-2" && f[4] == "succeeded" && f[5] == "DONE"
		}) {
			t.Errorf("migrate's summary has no succeeded row for %s:\n%s", name, res.Stdout)
		}
	}
	routes := e.modelsByController(t)
	for _, uuid := range uuids {
		if routes[uuid] != "ctl-2" {
			t.Errorf("model %s routes to %q, want ctl-2", uuid, routes[uuid])
		}
		if info := bmSourceInfo(t, e.ctls["ctl-2"], uuid); info.UUID != uuid {
			t.Errorf("ctl-2 answers ModelInfo of %s with %+v", uuid, info)
		}
		bmNotOn(t, e.ctls["ctl-1"], "ctl-1", uuid)
	}
	for _, m := range bmListMigrations(t, e.ctl) {
		if slices.Contains(uuids, m.ModelUUID) && m.Result != "succeeded" {
			t.Errorf("migration %d of %s: %s in phase %s", m.ID, m.ModelUUID, m.Result, m.Phase)
		}
	}
}

// testFleetControllerDown: a controller that is down is answered 503,
// naming it.
func testFleetControllerDown(t *testing.T, e *brokerEnv) {
	e.stopController(t, "ctl-3")
	res := e.run(t, "controller-config", "ctl-3")
	wantCtlRefusal(t, "a controller that is down", res, `get config of controller "ctl-3": controller "ctl-3" is unavailable: `)
	status, body := e.restDo(t, fleetLogin(t, e), http.MethodPatch, "/v1/controllers/ctl-3/config", map[string]any{"config": map[string]any{"agent-ratelimit-max": 5}})
	var got restError
	if err := json.Unmarshal([]byte(body), &got); status != http.StatusServiceUnavailable || err != nil || got.Code != "unavailable" ||
		!strings.HasPrefix(got.Message, `controller "ctl-3" is unavailable: `) {
		t.Errorf("PATCH with ctl-3 down: HTTP %d %s; want 503 saying ctl-3 is unavailable", status, body)
	}
}

// fleetLines splits jimmctl's output into lines.
func fleetLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
