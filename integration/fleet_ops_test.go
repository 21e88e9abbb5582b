package integration

// End-to-end tests of the fleet operations: a controller evacuated for an
// upgrade by two replicas, one killed half-way; a rebalance of an uneven
// fleet; a migration refused by its plan, then run with the advised
// settings. Real processes: jimmd (two replicas), development
// controllers with simulated agents, PostgreSQL, jimmctl.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/api/client/secretbackends"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
	"github.com/jimmbroker/jimm/integration/internal/jujucli"
)

// TestFleetOps runs each scenario on a broker of its own.
func TestFleetOps(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{"Evacuate", testFleetEvacuate},
		{"RebalanceAndPlan", testFleetRebalanceAndPlan},
	})
}

// fleetLimits mirrors restapi.AgentLimits.
type fleetLimits struct {
	RateLimitMax  int    `json:"agent-ratelimit-max" yaml:"agent-ratelimit-max"`
	RateLimitRate string `json:"agent-ratelimit-rate" yaml:"agent-ratelimit-rate"`
	AgentWaitTime string `json:"migration-agent-wait-time" yaml:"migration-agent-wait-time"`
}

// fleetPlan mirrors restapi.MigrationPlan.
type fleetPlan struct {
	ModelUUID       string       `json:"model-uuid" yaml:"model-uuid"`
	Model           string       `json:"model" yaml:"model"`
	Source          string       `json:"source" yaml:"source"`
	Target          string       `json:"target" yaml:"target"`
	Machines        int          `json:"machines" yaml:"machines"`
	Units           int          `json:"units" yaml:"units"`
	Agents          int          `json:"agents" yaml:"agents"`
	Logins          int          `json:"logins" yaml:"logins"`
	Limits          fleetLimits  `json:"limits" yaml:"limits"`
	EstimateSeconds float64      `json:"estimate-seconds" yaml:"estimate-seconds"`
	Fits            bool         `json:"fits" yaml:"fits"`
	Advice          string       `json:"advice,omitempty" yaml:"advice,omitempty"`
	Advised         *fleetLimits `json:"advised,omitempty" yaml:"advised,omitempty"`
	Applied         bool         `json:"applied,omitempty" yaml:"applied,omitempty"`
}

// fleetLoad mirrors restapi.Load.
type fleetLoad struct {
	Models   int `json:"models" yaml:"models"`
	Machines int `json:"machines" yaml:"machines"`
	Units    int `json:"units" yaml:"units"`
	Agents   int `json:"agents" yaml:"agents"`
}

// fleetJob mirrors restapi.FleetJob.
type fleetJob struct {
	ID          int64                `json:"id" yaml:"id"`
	Kind        string               `json:"kind" yaml:"kind"`
	Controller  string               `json:"controller,omitempty" yaml:"controller,omitempty"`
	By          string               `json:"by,omitempty" yaml:"by,omitempty"`
	Parallel    int                  `json:"parallel" yaml:"parallel"`
	State       string               `json:"state" yaml:"state"`
	CreatedAt   time.Time            `json:"created-at" yaml:"created-at"`
	EndedAt     *time.Time           `json:"ended-at,omitempty" yaml:"ended-at,omitempty"`
	Moves       []fleetMove          `json:"moves" yaml:"moves"`
	Unplaced    []fleetUnplaced      `json:"unplaced,omitempty" yaml:"unplaced,omitempty"`
	Before      map[string]fleetLoad `json:"load-before,omitempty" yaml:"load-before,omitempty"`
	After       map[string]fleetLoad `json:"load-after,omitempty" yaml:"load-after,omitempty"`
	RatioBefore float64              `json:"ratio-before,omitempty" yaml:"ratio-before,omitempty"`
	RatioAfter  float64              `json:"ratio-after,omitempty" yaml:"ratio-after,omitempty"`
}

// fleetMove mirrors restapi.Move.
type fleetMove struct {
	ModelUUID       string  `json:"model-uuid" yaml:"model-uuid"`
	Model           string  `json:"model" yaml:"model"`
	Source          string  `json:"source" yaml:"source"`
	Target          string  `json:"target" yaml:"target"`
	Agents          int     `json:"agents" yaml:"agents"`
	EstimateSeconds float64 `json:"estimate-seconds" yaml:"estimate-seconds"`
	State           string  `json:"state" yaml:"state"`
	MigrationID     int64   `json:"migration-id,omitempty" yaml:"migration-id,omitempty"`
	Error           string  `json:"error,omitempty" yaml:"error,omitempty"`
}

// fleetUnplaced mirrors restapi.Unplaced.
type fleetUnplaced struct {
	ModelUUID string `json:"model-uuid" yaml:"model-uuid"`
	Model     string `json:"model" yaml:"model"`
	Reason    string `json:"reason" yaml:"reason"`
}

// TestFleetOpsRESTTypes: the mirrors above are restapi's types, field by
// field.
func TestFleetOpsRESTTypes(t *testing.T) {
	t.Parallel()
	checkMirrors(t, "fleetops.go", map[string]any{
		"AgentLimits": fleetLimits{}, "MigrationPlan": fleetPlan{}, "Load": fleetLoad{},
		"FleetJob": fleetJob{}, "Move": fleetMove{}, "Unplaced": fleetUnplaced{},
	})
}

// fleetGetJob reads a fleet job through the REST API of the broker whose
// token tok is, at addr ("" for the first replica).
func fleetGetJob(t testing.TB, e *brokerEnv, tok string, id int64) fleetJob {
	t.Helper()
	status, body := e.restDo(t, tok, http.MethodGet, "/v1/fleet-jobs/"+strconv.FormatInt(id, 10), nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/fleet-jobs/%d: HTTP %d %s", id, status, body)
	}
	var j fleetJob
	decodeStrictJSON(t, body, &j)
	return j
}

// fleetCreateOn creates models named names in localhost/east on ctl,
// deprecating the other east controllers meanwhile.
func fleetCreateOn(t *testing.T, e *brokerEnv, mm *modelmanager.Client, ctl string, others []string, names ...string) []string {
	t.Helper()
	for _, o := range others {
		e.jimmctl(t, "set-controller-deprecated", o, "true")
	}
	var uuids []string
	for _, name := range names {
		info := createModel(t, e, mm, name, "east")
		uuids = append(uuids, info.UUID)
	}
	for _, o := range others {
		e.jimmctl(t, "set-controller-deprecated", o, "false")
	}
	for _, uuid := range uuids {
		if m := bmShowModel(t, e.ctl, uuid); m.Controller != ctl {
			t.Fatalf("model %s went to %s, want %s", m.Name, m.Controller, ctl)
		}
	}
	return uuids
}

// fleetPopulate gives a model machines machines and units units of two
// applications, spread over them (each with an agent).
func fleetPopulate(t testing.TB, mconn api.Connection, machines, units int) {
	t.Helper()
	if machines == 0 {
		return
	}
	addMachines(t, mconn, machines)
	for i, app := range []string{"postgresql", "redis"} {
		n := units / 2
		if i == 1 {
			n = units - n
		}
		if n == 0 {
			continue
		}
		deploy(t, mconn, app, 0)
		var on []int
		for j := range n {
			on = append(on, (i*n+j)%machines)
		}
		addUnitsOn(t, mconn, app, on)
	}
}

// fleetControllers is list-controllers --format json, by name.
func fleetControllers(t testing.TB, ctl *jimmproc.Ctl) map[string]restController {
	t.Helper()
	res := runCtl(t, ctl, "list-controllers", "--format", "json")
	if res.ExitCode != 0 {
		t.Fatalf("list-controllers: %s", res)
	}
	var list []restController
	decodeStrictJSON(t, res.Stdout, &list)
	out := map[string]restController{}
	for _, c := range list {
		out[c.Name] = c
	}
	return out
}

// testFleetEvacuate: ctl-1 hosts 8 models of different sizes, with
// agents; jimmctl evacuate ctl-1 --to ctl-2,ctl-4 --parallel 3 moves them
// all while a connection to each model, through replica B, calls
// FullStatus throughout and sees no failure. Replica A, which runs the
// evacuation, is killed after the first move; B carries on. ctl-1 ends
// deprecated and empty; list-controllers showed its load before.
func testFleetEvacuate(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins, "--load-interval", "1s")
	bmAddController(t, e, "ctl-4", "east")
	b := e.startReplica(t, true)
	waitSeesUp(t, b.Opts.MetricsListen, "ctl-1", "ctl-2", "ctl-4")
	bCA, err := os.ReadFile(b.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	bctl := *e.ctl
	bctl.URL, bctl.CACert, bctl.ConfigDir = "https://"+b.Addr, b.CACertFile, t.TempDir()

	mm := modelmanager.NewClient(e.open(t, ""))
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprintf("evac-%d", i))
	}
	uuids := fleetCreateOn(t, e, mm, "ctl-1", []string{"ctl-2", "ctl-4"}, names...)
	// Machines and units of each model: 12 machines, 21 units in all.
	sizes := [][2]int{{0, 0}, {1, 1}, {2, 3}, {3, 5}, {0, 0}, {1, 2}, {2, 4}, {3, 6}}
	machines, units := 0, 0
	for i, uuid := range uuids {
		mconn := e.open(t, uuid)
		fleetPopulate(t, mconn, sizes[i][0], sizes[i][1])
		machines, units = machines+sizes[i][0], units+sizes[i][1]
		// Each migration waits in VALIDATION, so that the evacuation is
		// still running when replica A is killed.
		bmModelSet(t, mconn, map[string]any{bmPhaseDelayKey: "VALIDATION:2s"})
	}
	// list-controllers shows the load, as read from the model summaries.
	eventually(t, 20*time.Second, "list-controllers shows ctl-1's load", func() error {
		c := fleetControllers(t, e.ctl)["ctl-1"]
		if c.ModelCount != 8 || c.Machines != machines || c.Units != units || c.Agents != machines+units {
			return fmt.Errorf("ctl-1: %d models, %d machines, %d units, %d agents; want 8, %d, %d, %d",
				c.ModelCount, c.Machines, c.Units, c.Agents, machines, units, machines+units)
		}
		return nil
	})
	table := fleetLines(e.jimmctl(t, "list-controllers"))
	if len(table) < 2 || !strings.Contains(table[0], "AGENTS") || !strings.Contains(table[0], "MACHINES") {
		t.Errorf("list-controllers prints no load columns:\n%s", strings.Join(table, "\n"))
	}

	// A connection to each model through replica B, calling FullStatus
	// every 10ms throughout.
	var probes []*bmProbe
	for _, uuid := range uuids {
		info := e.apiInfo(uuid)
		info.Addrs, info.CACert = []string{b.Addr}, string(bCA)
		conn, err := api.Open(info, dialOpts)
		if err != nil {
			t.Fatalf("login through replica B: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		probes = append(probes, bmStartProbe(t, conn))
	}

	// The plan first: nothing moves.
	dry := runCtl(t, e.ctl, "evacuate", "ctl-1", "--to", "ctl-2,ctl-4", "--dry-run", "--format", "json")
	var plan fleetJob
	if dry.ExitCode != 0 {
		t.Fatalf("evacuate --dry-run: %s", dry)
	}
	decodeStrictJSON(t, dry.Stdout, &plan)
	if plan.ID != 0 || len(plan.Moves) != 8 || len(plan.Unplaced) != 0 || fleetControllers(t, e.ctl)["ctl-1"].Deprecated {
		t.Fatalf("evacuate --dry-run: %+v (and ctl-1 must stay as it was)", plan)
	}

	res := runCtl(t, e.ctl, "evacuate", "ctl-1", "--to", "ctl-2,ctl-4", "--parallel", "3", "--format", "json")
	if res.ExitCode != 0 {
		t.Fatalf("evacuate: %s", res)
	}
	var job fleetJob
	decodeStrictJSON(t, res.Stdout, &job)
	if job.ID == 0 || job.State != "running" || job.Parallel != 3 || len(job.Moves) != 8 {
		t.Fatalf("evacuate started %+v", job)
	}
	// Follow it live through replica B, which outlives A.
	follower := bctl
	follower.Timeout = 4 * time.Minute
	followed := make(chan jimmproc.Result, 1)
	go func() {
		r, err := follower.Run(context.Background(), "fleet-job", strconv.FormatInt(job.ID, 10), "--wait")
		if err != nil {
			r.Stderr += err.Error()
		}
		followed <- r
	}()
	tok := fleetLogin(t, e)
	endedOnA := map[string]bool{} // moves that ended before the kill
	eventually(t, time.Minute, "the first move succeeds", func() error {
		j := fleetGetJob(t, e, tok, job.ID)
		running := 0
		for _, mv := range j.Moves {
			if mv.State == "succeeded" {
				endedOnA[mv.ModelUUID] = true
			}
		}
		if len(endedOnA) > 0 {
			return nil
		}
		for _, mv := range j.Moves {
			if mv.State == "running" {
				running++
			}
		}
		if running > 3 {
			t.Fatalf("%d moves running at once with --parallel 3", running)
		}
		return fmt.Errorf("no move succeeded yet")
	})
	e.replaceBroker(t, func(old *jimmproc.Process) { old.Kill() }, " after SIGKILL mid-evacuation")

	var out jimmproc.Result
	select {
	case out = <-followed:
	case <-time.After(4 * time.Minute):
		t.Fatal("fleet-job --wait did not return within 4 minutes")
	}
	t.Logf("fleet-job --wait printed:\n%s", out.Stdout)
	if out.ExitCode != 0 {
		t.Errorf("fleet-job --wait: %s", out)
	}
	for _, p := range probes {
		p.finish(t, "the evacuation")
	}
	final := fleetGetJob(t, e, fleetLogin(t, e), job.ID)
	if final.State != "done" || final.EndedAt == nil {
		t.Fatalf("the evacuation after the kill: %+v", final)
	}
	for _, mv := range final.Moves {
		if mv.State != "succeeded" || (mv.Target != "ctl-2" && mv.Target != "ctl-4") {
			t.Errorf("move %+v", mv)
		}
	}
	ctls := fleetControllers(t, e.ctl)
	if c := ctls["ctl-1"]; !c.Deprecated || c.ModelCount != 0 {
		t.Errorf("ctl-1 after its evacuation: deprecated %v, %d models; want deprecated and empty", c.Deprecated, c.ModelCount)
	}
	if ctls["ctl-2"].ModelCount+ctls["ctl-4"].ModelCount != 8 || ctls["ctl-2"].ModelCount == 0 || ctls["ctl-4"].ModelCount == 0 {
		t.Errorf("ctl-2 holds %d models, ctl-4 %d; want the 8 shared", ctls["ctl-2"].ModelCount, ctls["ctl-4"].ModelCount)
	}
	// Each move's end is in the audit log, with its model (but those A
	// recorded just before its SIGKILL: the audit writer batches, and a
	// killed process loses its last batch).
	eventually(t, 10*time.Second, "every move's end in the audit log", func() error {
		events := e.auditList(t, "--limit", "500")
		for _, uuid := range uuids {
			if !endedOnA[uuid] && !slices.ContainsFunc(events.Events, func(ev restAuditEvent) bool {
				return ev.has(restAuditEvent{Facade: "Fleet", Model: uuid, Result: "succeeded"}) && strings.HasPrefix(ev.Method, fmt.Sprintf("evacuate job %d move ctl-1 → ", job.ID))
			}) {
				return fmt.Errorf("no Fleet event of the move of %s yet", uuid)
			}
		}
		return nil
	})
	routes := e.modelsByController(t)
	for _, uuid := range uuids {
		if r := routes[uuid]; r != "ctl-2" && r != "ctl-4" {
			t.Errorf("model %s routes to %q", uuid, r)
		}
		bmNotOn(t, e.ctls["ctl-1"], "ctl-1", uuid)
	}
}

// testFleetRebalanceAndPlan: an uneven fleet (12/2/1 models) is
// rebalanced to max/mean ≤ 1.25 in the moves the plan predicted; then a
// 223-agent model's migration to a target allowing 1 login per 10s with a
// 1 minute wait is refused with advice, and succeeds once the advice is
// applied.
func testFleetRebalanceAndPlan(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins, "--load-interval", "1s")
	bmAddController(t, e, "ctl-4", "east")
	// ctl-3 (west) hosts none of these models' region: out of the fleet
	// being balanced.
	e.jimmctl(t, "set-controller-deprecated", "ctl-3", "true")
	mm := modelmanager.NewClient(e.open(t, ""))
	var many []string
	for i := range 12 {
		many = append(many, fmt.Sprintf("busy-%02d", i))
	}
	fleetCreateOn(t, e, mm, "ctl-1", []string{"ctl-2", "ctl-4"}, many...)
	fleetCreateOn(t, e, mm, "ctl-2", []string{"ctl-1", "ctl-4"}, "calm-0", "calm-1")
	fleetCreateOn(t, e, mm, "ctl-4", []string{"ctl-1", "ctl-2"}, "quiet-0")

	res := runCtl(t, e.ctl, "rebalance", "--format", "json")
	if res.ExitCode != 0 {
		t.Fatalf("rebalance (a dry run): %s", res)
	}
	var plan fleetJob
	decodeStrictJSON(t, res.Stdout, &plan)
	if plan.ID != 0 || plan.RatioBefore != 2.4 || plan.RatioAfter > 1.25 || len(plan.Moves) == 0 {
		t.Fatalf("rebalance plan %+v; want max/mean 2.40 → ≤ 1.25", plan)
	}
	if text := runCtl(t, e.ctl, "rebalance"); !strings.Contains(text.Stdout, "--yes") {
		t.Errorf("rebalance without --yes does not say how to start it:\n%s", text.Stdout)
	}
	if c := fleetControllers(t, e.ctl); c["ctl-1"].ModelCount != 12 {
		t.Fatalf("a dry run moved models: %+v", c)
	}
	run := *e.ctl
	run.Timeout = 4 * time.Minute
	res = runCtl(t, &run, "rebalance", "--yes", "--parallel", "3", "--wait")
	if res.ExitCode != 0 {
		t.Fatalf("rebalance --yes --wait: %s", res)
	}
	t.Logf("rebalance --yes --wait printed:\n%s", res.Stdout)
	ctls := fleetControllers(t, e.ctl)
	counts := []int{ctls["ctl-1"].ModelCount, ctls["ctl-2"].ModelCount, ctls["ctl-4"].ModelCount}
	total, most := 0, 0
	for _, n := range counts {
		total += n
		most = max(most, n)
	}
	if ratio := float64(most) / (float64(total) / 3); total != 15 || ratio > 1.25 {
		t.Errorf("after the rebalance ctl-1/ctl-2/ctl-4 hold %v models: max/mean %.2f, want ≤ 1.25", counts, ratio)
	}
	migrated := 0
	for _, m := range bmListMigrations(t, e.ctl) {
		if m.Result != "succeeded" {
			t.Errorf("migration %d of %s: %s (%s)", m.ID, m.ModelName, m.Result, m.Message)
		}
		migrated++
	}
	if migrated != len(plan.Moves) {
		t.Errorf("the rebalance ran %d migrations; its plan predicted %d", migrated, len(plan.Moves))
	}
	t.Logf("rebalance: %v models after %d moves (predicted %d)", counts, migrated, len(plan.Moves))

	t.Run("Plan", func(t *testing.T) { testFleetPlan(t, e) })
	t.Run("SecretBackend", func(t *testing.T) { testFleetSecretBackend(t, e) })
}

// testFleetPlan: the 223-agent model of the migration guide (167 units,
// 56 machines), a target allowing 1 login per 10 s and a source waiting
// 1 minute for the agents: plan-migration says it does not fit and what would; migrate
// refuses with that advice; plan-migration --apply sets it on the target,
// after which the migration succeeds.
func testFleetPlan(t *testing.T, e *brokerEnv) {
	e.jimmctl(t, "set-controller-deprecated", "ctl-3", "false")
	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := fleetCreateOn(t, e, mm, "ctl-1", []string{"ctl-2", "ctl-4"}, "guide")[0]
	fleetPopulate(t, e.open(t, uuid), 56, 167)
	waitAgents(t, e.ctls["ctl-1"], uuid, "every agent connected", time.Minute, func(d devAgents) bool {
		return d.Agents == 223 && d.Connected == 223
	})
	// The target admits 1 agent login per 10 s; the source (whose
	// migration master waits for the agents, as in Juju) waits 1 minute.
	e.jimmctl(t, "controller-config", "ctl-2", "agent-ratelimit-max=1", "agent-ratelimit-rate=10s")
	e.jimmctl(t, "controller-config", "ctl-1", "migration-agent-wait-time=1m")

	res := runCtl(t, e.ctl, "plan-migration", "ctl-2", uuid, "--format", "json")
	var plan fleetPlan
	decodeStrictJSON(t, res.Stdout, &plan)
	if res.ExitCode != 1 || plan.Fits || plan.Agents != 223 || plan.Logins != 446 || plan.Advised == nil ||
		plan.Limits != (fleetLimits{RateLimitMax: 1, RateLimitRate: "10s", AgentWaitTime: "1m0s"}) {
		t.Fatalf("plan-migration of 223 agents at 1 login per 10s, 1m wait: exit %d, %+v", res.ExitCode, plan)
	}
	res = e.run(t, "migrate", "ctl-2", uuid)
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "would not finish VALIDATION") || !strings.Contains(res.Stderr, "agent-ratelimit-rate="+plan.Advised.RateLimitRate) ||
		!strings.Contains(res.Stderr, "--force") {
		t.Fatalf("migrate of a plan that does not fit: %s", res)
	}
	if slices.ContainsFunc(bmListMigrations(t, e.ctl), func(m bmMigration) bool { return m.ModelUUID == uuid }) {
		t.Fatalf("a refused migration was recorded")
	}
	res = runCtl(t, e.ctl, "plan-migration", "ctl-2", uuid, "--apply", "--format", "json")
	var applied fleetPlan
	decodeStrictJSON(t, res.Stdout, &applied)
	if res.ExitCode != 0 || !applied.Applied || !applied.Fits || applied.Limits != *plan.Advised {
		t.Fatalf("plan-migration --apply: exit %d, %+v; want applied %+v and fitting", res.ExitCode, applied, *plan.Advised)
	}
	burst, rate, _ := fleetDirectConfig(t, e, "ctl-2")
	if burst != plan.Advised.RateLimitMax || rate.String() != plan.Advised.RateLimitRate {
		t.Errorf("ctl-2 itself reports %d, %s after --apply; want %+v", burst, rate, *plan.Advised)
	}
	if _, _, wait := fleetDirectConfig(t, e, "ctl-1"); wait != time.Minute {
		t.Errorf("ctl-1's migration-agent-wait-time after --apply: %s, want 1m, untouched", wait)
	}
	run := *e.ctl
	run.Timeout = 3 * time.Minute
	start := time.Now()
	res = runCtl(t, &run, "migrate", "ctl-2", uuid, "--wait", "--timeout", "150s")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "succeeded") {
		t.Fatalf("migrate with the advised settings: %s", res)
	}
	mig := bmShowMigration(t, e.ctl, uuid)
	if mig.Plan == nil || !mig.Plan.Fits || mig.Plan.Agents != 223 {
		t.Errorf("the migration's plan: %+v", mig.Plan)
	}
	t.Logf("223 agents at %+v: estimate %.1fs, migration took %s", *plan.Advised, applied.EstimateSeconds, time.Since(start).Round(100*time.Millisecond))
	waitAgents(t, e.ctls["ctl-2"], uuid, "every agent on the target", time.Minute, func(d devAgents) bool {
		return d.Connected == 223 && d.Hosted.Here == 223
	})
}

// testFleetSecretBackend: a model on ctl-1 uses a vault secret backend
// that ctl-2 lacks. jimmctl migrate refuses it before anything starts,
// naming the backend, its id and the fix; once an operator has added the
// backend on ctl-2 with the stock juju CLI's add-secret-backend
// --import-id, the migration succeeds.
func testFleetSecretBackend(t *testing.T, e *brokerEnv) {
	const vaultToken = "s.fleet-vault-token"
	uuid := fleetCreateOn(t, e, modelmanager.NewClient(e.open(t, "")), "ctl-1", []string{"ctl-2", "ctl-4"}, "secretive")[0]
	src := secretbackends.NewClient(bmDirect(t, e.ctls["ctl-1"], ""))
	err := src.AddSecretBackend(secretbackends.CreateSecretBackend{Name: "myvault", BackendType: "vault",
		Config: map[string]any{"endpoint": "https://vault.example:8200", "token": vaultToken}})
	if err != nil {
		t.Fatalf("add a secret backend on ctl-1: %v", err)
	}
	backends, err := src.ListSecretBackends([]string{"myvault"}, false)
	if err != nil || len(backends) != 1 || backends[0].ID == "" {
		t.Fatalf("ListSecretBackends on ctl-1: %+v, %v", backends, err)
	}
	id := backends[0].ID
	bmModelSet(t, e.open(t, uuid), map[string]any{"secret-backend": "myvault"})

	res := e.run(t, "migrate", "ctl-2", uuid)
	t.Logf("migrate refused: %s", strings.TrimSpace(res.Stderr))
	for _, want := range []string{`secret backend "myvault"`, "id " + id, "--import-id " + id} {
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, want) {
			t.Fatalf("migrate of a model whose secret backend ctl-2 lacks: want a refusal saying %q:\n%s", want, res)
		}
	}
	if slices.ContainsFunc(bmListMigrations(t, e.ctl), func(m bmMigration) bool { return m.ModelUUID == uuid }) {
		t.Fatal("the refused migration was recorded")
	}
	if strings.Contains(res.Stderr, vaultToken) || strings.Contains(e.broker().Output(), vaultToken) {
		t.Error("the backend's token shows in the refusal or the broker's log")
	}

	// The operator's fix, with the stock juju CLI logged in to ctl-2.
	juju, err := jujucli.New(jujuBin(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c2 := e.ctls["ctl-2"]
	err = juju.AddController(jujucli.Controller{
		Name: "ctl-2", UUID: c2.UUID, APIEndpoints: []string{c2.Addr}, CACert: c2.File.CACert,
		Cloud: "localhost", Region: "east", AgentVersion: "3.5.4",
	}, &jujucli.Account{User: "admin", Password: adminPassword, LastKnownAccess: "superuser"})
	if err != nil {
		t.Fatal(err)
	}
	added, err := juju.Run(t.Context(), "", "add-secret-backend", "myvault", "vault",
		"endpoint=https://vault.example:8200", "token="+vaultToken, "--import-id", id)
	if err != nil || added.ExitCode != 0 {
		t.Fatalf("juju add-secret-backend --import-id on ctl-2: %v\n%s", err, added)
	}
	run := *e.ctl
	run.Timeout = 2 * time.Minute
	res = runCtl(t, &run, "migrate", "ctl-2", uuid, "--wait", "--timeout", "90s")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "succeeded") {
		t.Fatalf("migrate once ctl-2 has the backend: %s", res)
	}
	if m := bmShowModel(t, e.ctl, uuid); m.Controller != "ctl-2" {
		t.Errorf("the model is routed to %q after the migration, want ctl-2", m.Controller)
	}
}
