package jimmctl

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// runFleet runs jimmctl in-process as run does, with fleet jobs polled
// every millisecond and the clock stopped at fakeTime.
func runFleet(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{format: FormatTabular, getenv: os.Getenv, fleetPoll: time.Millisecond, now: func() time.Time { return fakeTime }}
	cmd := newRootCommand(&out, &errb, a)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetArgs(args)
	err = cmd.Execute()
	// Warnings may come first; the error is the last line.
	if ls := lines(errb.String()); err != nil && (len(ls) == 0 || !strings.HasPrefix(ls[len(ls)-1], "ERROR ")) {
		t.Errorf("jimmctl %s failed with %v but stderr %q does not end with an ERROR line", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String(), err
}

// fleetBroker is a fake broker with three controllers, all up: ctl-a
// hosting alice/prod (m-1, 220 agents), bob/dev (m-2, 10), carol/stage
// (m-3, 5) and dave/huge (m-4, 3000 agents, which fit no controller at
// Juju's default agent settings), ctl-b hosting erin/web (m-5, 20), and
// ctl-c, empty.
func fleetBroker(t *testing.T) *fakeBroker {
	t.Helper()
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	for i, name := range []string{"ctl-a", "ctl-b", "ctl-c"} {
		f.putController(restapi.Controller{Name: name, UUID: strings.Repeat(string(rune('a'+i)), 8) + "-0000-4000-8000-000000000001",
			Status: restapi.StatusUp, AgentVersion: "3.5.4", Cloud: "aws", CloudType: "ec2", Regions: []string{"eu-west-1"},
			Addresses: []string{"10.0.0." + string(rune('5'+i)) + ":17070"}, AddedAt: fakeTime})
	}
	for _, m := range []struct {
		uuid, name, owner, ctl string
		machines, units        int
	}{
		{"m-1", "prod", "alice", "ctl-a", 20, 200},
		{"m-2", "dev", "bob", "ctl-a", 2, 8},
		{"m-3", "stage", "carol", "ctl-a", 1, 4},
		{"m-4", "huge", "dave", "ctl-a", 600, 2400},
		{"m-5", "web", "erin", "ctl-b", 5, 15},
	} {
		f.addModel(restapi.Model{UUID: m.uuid, Name: m.name, Owner: m.owner, Controller: m.ctl, Cloud: "aws", Region: "eu-west-1", Life: "alive", CreatedAt: fakeTime})
		f.setSize(m.uuid, m.machines, m.units)
	}
	f.setNextScript(successScript)
	fastPolling(t)
	return f
}

// addDying puts frank/old (m-6, 3 agents), a dying model, on ctl-a.
func addDying(f *fakeBroker) {
	f.addModel(restapi.Model{UUID: "m-6", Name: "old", Owner: "frank", Controller: "ctl-a", Cloud: "aws", Region: "eu-west-1", Life: "dying", CreatedAt: fakeTime})
	f.setSize("m-6", 1, 2)
}

// at is fakeTime as the follow lines print it.
func at() string { return fakeTime.Local().Format(time.TimeOnly) }

// fields splits each line of out into its fields, for comparing tables
// without their padding.
func fields(out string) [][]string {
	var rows [][]string
	for _, l := range lines(out) {
		var f []string // nil for a blank line
		f = append(f, strings.Fields(l)...)
		rows = append(rows, f)
	}
	return rows
}

func (f *fakeBroker) fleetState() fakeFleet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fleet
}

func (f *fakeBroker) setFailing(uuid, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fleet.failing == nil {
		f.fleet.failing = map[string]string{}
	}
	f.fleet.failing[uuid] = msg
}

// planKV reads plan-migration's tabular output as key → value.
func planKV(t *testing.T, out string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	for _, l := range lines(out) {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("plan line %q is not `key: value`", l)
		}
		kv[k] = strings.TrimSpace(v)
	}
	return kv
}

func TestPlanMigration(t *testing.T) {
	t.Run("fits", func(t *testing.T) {
		f := fleetBroker(t)
		stdout, stderr, err := runFleet(t, "plan-migration", "ctl-b", "m-1")
		if err != nil {
			t.Fatalf("plan-migration of a model that fits: %v\n%s", err, stderr)
		}
		want := map[string]string{
			"model": "alice/prod (m-1)", "source": "ctl-a", "target": "ctl-b",
			"machines": "20", "units": "200", "agents": "220", "logins": "440",
			"agent-ratelimit-max (target)": "10", "agent-ratelimit-rate (target)": "250ms", "migration-agent-wait-time (source)": "15m0s",
			// 1s + (440-10)×250ms + 440×2ms = 109.38s
			"estimate": "1m49s", "fits": "yes",
		}
		if got := planKV(t, stdout); !reflect.DeepEqual(got, want) {
			t.Errorf("plan-migration printed:\n%s\nwant %v", stdout, want)
		}
		if stderr != "" {
			t.Errorf("stderr = %q", stderr)
		}
		if got := f.fleetState().plans; len(got) != 1 || got[0] != (restapi.PlanMigrationRequest{ModelUUID: "m-1", Controller: "ctl-b"}) {
			t.Errorf("the broker got %+v", got)
		}
	})

	t.Run("does not fit", func(t *testing.T) {
		fleetBroker(t)
		stdout, stderr, err := runFleet(t, "plan-migration", "ctl-b", "m-4")
		if err == nil {
			t.Fatal("plan-migration of a model that does not fit exited 0")
		}
		kv := planKV(t, stdout)
		for k, v := range map[string]string{
			"agents": "3000", "logins": "6000", "estimate": "25m11s", "fits": "no",
			"agent-ratelimit-rate (target)": "250ms → advised 118ms", "agent-ratelimit-max (target)": "10", "migration-agent-wait-time (source)": "15m0s",
		} {
			if kv[k] != v {
				t.Errorf("%s: %q, want %q\n%s", k, kv[k], v, stdout)
			}
		}
		if !strings.HasPrefix(kv["advice"], "3000 agents (6000 logins) need about 25m11s to reconnect") {
			t.Errorf("advice %q is not the broker's", kv["advice"])
		}
		want := "ERROR moving model dave/huge to controller ctl-b does not fit the migration-agent-wait-time of ctl-a: " +
			"set the advised settings with `jimmctl plan-migration ctl-b m-4 --apply` (or with `jimmctl controller-config ctl-b`), " +
			"or migrate anyway with `jimmctl migrate ctl-b m-4 --force`\n"
		if stderr != want {
			t.Errorf("stderr:\n%q\nwant\n%q", stderr, want)
		}
	})

	t.Run("apply", func(t *testing.T) {
		f := fleetBroker(t)
		stdout, stderr, err := runFleet(t, "plan-migration", "ctl-b", "m-4", "--apply")
		if err != nil {
			t.Fatalf("plan-migration --apply: %v\n%s", err, stderr)
		}
		kv := planKV(t, stdout)
		for k, v := range map[string]string{
			"agent-ratelimit-rate (target)": "118ms", "estimate": "12m0s", "fits": "yes",
			"applied": "yes: the advised settings are now set on ctl-b; the figures above are against them",
		} {
			if kv[k] != v {
				t.Errorf("%s: %q, want %q\n%s", k, kv[k], v, stdout)
			}
		}
		if got := f.fleetState().plans; len(got) != 1 || !got[0].Apply {
			t.Errorf("the broker got %+v, want apply", got)
		}
		f.mu.Lock()
		rate := f.config.configs["ctl-b"]["agent-ratelimit-rate"]
		f.mu.Unlock()
		if rate != "118ms" {
			t.Errorf("ctl-b's agent-ratelimit-rate is %v, want the advised 118ms", rate)
		}

		// Applied already: nothing to change.
		stdout, _, err = runFleet(t, "plan-migration", "ctl-b", "m-4", "--apply")
		if err != nil || planKV(t, stdout)["applied"] != "no: nothing to change" {
			t.Errorf("second --apply: %v\n%s", err, stdout)
		}
	})

	t.Run("json", func(t *testing.T) {
		fleetBroker(t)
		stdout, stderr, err := runFleet(t, "plan-migration", "ctl-b", "m-4", "--format", "json")
		if err == nil || !strings.HasPrefix(stderr, "ERROR moving model dave/huge to controller ctl-b does not fit") {
			t.Errorf("plan-migration --format json of a model that does not fit: %v, stderr %q", err, stderr)
		}
		var p restapi.MigrationPlan
		if err := json.Unmarshal([]byte(stdout), &p); err != nil {
			t.Fatalf("parse json: %v\n%s", err, stdout)
		}
		if p.Fits || p.Agents != 3000 || p.Advised == nil || p.Advised.RateLimitRate != "118ms" || p.Advice == "" {
			t.Errorf("plan = %+v", p)
		}
		if !strings.Contains(stdout, `"estimate-seconds"`) || !strings.Contains(stdout, `"agent-ratelimit-rate": "250ms"`) {
			t.Errorf("json lacks the restapi names:\n%s", stdout)
		}
	})

	t.Run("errors", func(t *testing.T) {
		f := fleetBroker(t)
		for _, tt := range []struct {
			args    []string
			wantErr string
		}{
			{[]string{"plan-migration", "ctl-b"}, "ERROR plan-migration takes <controller> <model-uuid>, got 1 argument(s)"},
			{[]string{"plan-migration", "ctl-b", "m-404"}, `ERROR plan migration of model "m-404" to controller "ctl-b": model "m-404" not found`},
			{[]string{"plan-migration", "ctl-z", "m-1", "--apply"}, `ERROR plan migration of model "m-1" to controller "ctl-z" and apply the advised settings: controller "ctl-z" not found`},
		} {
			_, stderr, err := runFleet(t, tt.args...)
			if err == nil || !strings.HasPrefix(stderr, tt.wantErr) {
				t.Errorf("%v: %v, stderr %q, want %q", tt.args, err, stderr, tt.wantErr)
			}
		}
		if n := len(f.fleetState().plans); n != 2 {
			t.Errorf("the broker got %d plan requests, want 2", n)
		}
	})
}

func TestMigrateWithPlan(t *testing.T) {
	t.Run("estimate on the start line", func(t *testing.T) {
		fleetBroker(t)
		stdout, stderr, err := runFleet(t, "migrate", "ctl-b", "m-1")
		if err != nil {
			t.Fatalf("migrate: %v\n%s", err, stderr)
		}
		want := "started migration 1 of model prod from ctl-a to ctl-b: phase INITIATING (estimate: 1m49s for 220 agents)\n" +
			"follow it with `jimmctl show-migration 1`\n"
		if stdout != want {
			t.Errorf("migrate printed %q, want %q", stdout, want)
		}
		stdout, _, err = runFleet(t, "show-migration", "1")
		if err != nil || !strings.Contains(stdout, "\nplan:                     estimate: 1m49s for 220 agents\n") {
			t.Errorf("show-migration: %v\n%s", err, stdout)
		}
	})

	t.Run("estimate before the phases", func(t *testing.T) {
		fleetBroker(t)
		stdout, stderr, err := runFleet(t, "migrate", "ctl-b", "m-1", "--wait")
		if err != nil {
			t.Fatalf("migrate --wait: %v\n%s", err, stderr)
		}
		want := append([]string{"migration 1 of model prod from ctl-a to ctl-b, estimate: 1m49s for 220 agents"}, phaseLines(successScript)...)
		want = append(want, "migration 1 succeeded: model prod now lives on ctl-b")
		if got := lines(stdout); !reflect.DeepEqual(got, want) {
			t.Errorf("migrate --wait printed:\n%s\nwant:\n%s", stdout, strings.Join(want, "\n"))
		}
	})

	t.Run("refused, --force overrides", func(t *testing.T) {
		f := fleetBroker(t)
		stdout, stderr, err := runFleet(t, "migrate", "ctl-b", "m-4")
		if err == nil {
			t.Fatal("migrate of a model whose plan does not fit started")
		}
		want := `ERROR migrate model "m-4" to controller "ctl-b": model "huge" would not finish VALIDATION on controller "ctl-b": ` +
			"3000 agents (6000 logins) need about 25m11s to reconnect at agent-ratelimit-max 10 and agent-ratelimit-rate 250ms, " +
			"more than 80% of migration-agent-wait-time 15m0s: set agent-ratelimit-rate=118ms on the target " +
			"(pass --force to start the migration anyway)\n"
		if stderr != want || stdout != "" {
			t.Errorf("stdout %q, stderr:\n%q\nwant\n%q", stdout, stderr, want)
		}
		if n := f.migrationCount(); n != 0 {
			t.Fatalf("the broker started %d migrations", n)
		}

		stdout, stderr, err = runFleet(t, "migrate", "ctl-b", "m-4", "--force")
		if err != nil {
			t.Fatalf("migrate --force: %v\n%s", err, stderr)
		}
		if want := "started migration 1 of model huge from ctl-a to ctl-b: phase INITIATING " +
			"(estimate: 25m11s for 3000 agents, over what migration-agent-wait-time 15m0s allows: forced)\n"; !strings.HasPrefix(stdout, want) {
			t.Errorf("migrate --force printed %q, want prefix %q", stdout, want)
		}
	})

	t.Run("the broker already says force", func(t *testing.T) {
		f := fleetBroker(t)
		f.mu.Lock()
		f.fleet.forceInMessage = true
		f.mu.Unlock()
		_, stderr, err := runFleet(t, "migrate", "ctl-b", "m-4")
		if err == nil || !strings.HasSuffix(stderr, "set agent-ratelimit-rate=118ms on the target (--force starts it anyway)\n") {
			t.Errorf("%v: stderr %q, want the broker's message as is", err, stderr)
		}
	})

	t.Run("another conflict gets no --force hint", func(t *testing.T) {
		// A conflict that is not the plan's: --force would not help.
		err := &APIError{StatusCode: 409, Err: &restapi.Error{Code: restapi.CodeConflict, Message: `a model named "prod" already exists on controller "ctl-b"`}}
		if hint := forceHint(err, false); hint != "" {
			t.Errorf("forceHint = %q, want none", hint)
		}
		err.Err.Message = "300 agents ... more than 80% of migration-agent-wait-time 15m0s"
		if hint := forceHint(err, false); hint == "" {
			t.Error("no hint for a plan refusal")
		}
		if hint := forceHint(err, true); hint != "" {
			t.Errorf("forceHint with --force given = %q", hint)
		}
	})

	t.Run("several models", func(t *testing.T) {
		fleetBroker(t)
		stdout, _, err := runFleet(t, "migrate", "ctl-c", "m-2", "m-4")
		if err == nil {
			t.Fatal("migrate with a refused model succeeded")
		}
		got := lines(stdout)
		if len(got) != 3 ||
			got[0] != "started migration 1 of model dev from ctl-a to ctl-c: phase INITIATING (estimate: 3.5s for 10 agents)" ||
			!strings.HasPrefix(got[1], `refused migration of model m-4 to ctl-c: model "huge" would not finish VALIDATION on controller "ctl-c": 3000 agents`) ||
			!strings.HasSuffix(got[1], "(pass --force to start the migration anyway)") {
			t.Errorf("migrate printed:\n%s", stdout)
		}
	})
}

func TestEvacuateDryRun(t *testing.T) {
	f := fleetBroker(t)
	addDying(f)
	stdout, stderr, err := runFleet(t, "evacuate", "ctl-a", "--dry-run")
	if err == nil {
		t.Fatal("a dry run that leaves a model unplaced exited 0")
	}
	want := [][]string{
		strings.Fields("evacuation of ctl-a: plan only, nothing started, 1 at a time"),
		nil,
		strings.Fields("MODEL UUID SOURCE TARGET AGENTS ESTIMATE"),
		strings.Fields("dave/huge m-4 ctl-a ctl-c 3000 25m11s"),
		strings.Fields("alice/prod m-1 ctl-a ctl-b 220 1m49s"),
		strings.Fields("bob/dev m-2 ctl-a ctl-b 10 3.5s"),
		strings.Fields("carol/stage m-3 ctl-a ctl-b 5 1s"),
		nil,
		strings.Fields("UNPLACED UUID REASON"),
		strings.Fields("frank/old m-6 the model is dying"),
		nil,
		strings.Fields("CONTROLLER MODELS MACHINES UNITS AGENTS"),
		strings.Fields("ctl-a 5 → 1 624 → 1 2614 → 2 3238 → 3"),
		strings.Fields("ctl-b 1 → 4 5 → 28 15 → 227 20 → 255"),
		strings.Fields("ctl-c 0 → 1 0 → 600 0 → 2400 0 → 3000"),
		nil,
		strings.Fields("run again without --dry-run to start these 4 moves"),
	}
	if got := fields(stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("evacuate --dry-run printed:\n%s", stdout)
	}
	if want := "ERROR the plan of the evacuation of ctl-a: 1 model(s) would be left unplaced (frank/old)\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if c, _ := f.controller("ctl-a"); c.Deprecated {
		t.Error("a dry run deprecated ctl-a")
	}
	st := f.fleetState()
	if len(st.jobs) != 0 || len(st.evacuations) != 1 || !st.evacuations[0].DryRun || st.evacuations[0].Controller != "ctl-a" {
		t.Errorf("the broker got %+v and stored %d jobs", st.evacuations, len(st.jobs))
	}

	// --to limits the targets; the flags reach the broker.
	stdout, _, err = runFleet(t, "evacuate", "ctl-a", "--dry-run", "--to", "ctl-c", "--force", "--parallel", "3")
	if err == nil {
		t.Error("a dry run that leaves a model unplaced exited 0")
	}
	got := fields(stdout)
	if len(got) < 7 || !strings.Contains(stdout, ", 3 at a time\n") || !strings.HasSuffix(stdout, "\nrun again without --dry-run to start these 4 moves\n") {
		t.Fatalf("evacuate --dry-run --to ctl-c printed:\n%s", stdout)
	}
	for _, move := range got[3:7] {
		if move[3] != "ctl-c" {
			t.Errorf("move %v is not to ctl-c", move)
		}
	}
	got2 := f.fleetState().evacuations[1]
	if want := (restapi.EvacuateRequest{Controller: "ctl-a", To: []string{"ctl-c"}, Parallel: 3, DryRun: true, Force: true}); !reflect.DeepEqual(got2, want) {
		t.Errorf("the broker got %+v, want %+v", got2, want)
	}
}

// evacuationFollowLines are what evacuate --wait prints while its job runs
// one move at a time: dave/huge's refused (its plan does not fit and the
// job is not forced), bob/dev's failing.
func evacuationFollowLines() []string {
	refusal := `model "huge" would not finish VALIDATION on controller "ctl-c": 3000 agents (6000 logins) need about 25m11s to reconnect ` +
		"at agent-ratelimit-max 10 and agent-ratelimit-rate 250ms, more than 80% of migration-agent-wait-time 15m0s: set agent-ratelimit-rate=118ms on the target"
	return []string{
		"",
		at() + " dave/huge   ctl-a → ctl-c failed: " + refusal,
		at() + " alice/prod  ctl-a → ctl-b running   migration 101",
		at() + " 0/4 moved, 1 running, 1 failed",
		at() + " alice/prod  ctl-a → ctl-b succeeded migration 101",
		at() + " bob/dev     ctl-a → ctl-b running   migration 102",
		at() + " 1/4 moved, 1 running, 1 failed",
		at() + " bob/dev     ctl-a → ctl-b failed    migration 102: import failed: target refused the model",
		at() + " carol/stage ctl-a → ctl-b running   migration 103",
		at() + " 1/4 moved, 1 running, 2 failed",
		at() + " carol/stage ctl-a → ctl-b succeeded migration 103",
		at() + " 2/4 moved, 0 running, 2 failed",
		"",
		"evacuation of ctl-a (fleet job 1) done: 2 of 4 models moved, 2 failed, 1 unplaced",
		"failed:",
		"  dave/huge ctl-a → ctl-c: " + refusal,
		"  bob/dev ctl-a → ctl-b (migration 102): import failed: target refused the model",
		"unplaced:",
		"  frank/old (m-6): the model is dying",
	}
}

func TestEvacuateWait(t *testing.T) {
	f := fleetBroker(t)
	addDying(f)
	f.setFailing("m-2", "import failed: target refused the model")
	stdout, stderr, err := runFleet(t, "evacuate", "ctl-a", "--wait")
	if err == nil {
		t.Fatal("an evacuation with failed moves exited 0")
	}
	const wantErr = "ERROR evacuation of ctl-a (fleet job 1): 2 of 4 moves failed; 1 model(s) are left unplaced (frank/old)\n"
	if stderr != wantErr {
		t.Errorf("stderr %q, want %q", stderr, wantErr)
	}
	got := lines(stdout)
	if len(got) == 0 || got[0] != "evacuation of ctl-a: fleet job 1, running, created "+formatTime(fakeTime)+", 1 at a time" {
		t.Fatalf("evacuate --wait printed:\n%s", stdout)
	}
	// The plan as started: every move pending.
	if !reflect.DeepEqual(fields(strings.Join(got[2:4], "\n")), [][]string{
		strings.Fields("MODEL UUID SOURCE TARGET AGENTS ESTIMATE STATE MIGRATION ERROR"),
		strings.Fields("dave/huge m-4 ctl-a ctl-c 3000 25m11s pending - -"),
	}) {
		t.Errorf("the plan's first lines:\n%s", strings.Join(got[:4], "\n"))
	}
	follow := evacuationFollowLines()
	if len(got) < len(follow) || !reflect.DeepEqual(got[len(got)-len(follow):], follow) {
		t.Errorf("evacuate --wait printed:\n%s\nwant it to end with:\n%s", stdout, strings.Join(follow, "\n"))
	}
	if st := f.fleetState(); st.jobGets != 4 {
		t.Errorf("the job was polled %d times, want 4 (one per step)", st.jobGets)
	}
	for uuid, want := range map[string]string{"m-1": "ctl-b", "m-2": "ctl-a", "m-3": "ctl-b", "m-4": "ctl-a", "m-6": "ctl-a"} {
		if m, _ := f.model(uuid); m.Controller != want {
			t.Errorf("after the evacuation %s is on %s, want %s", uuid, m.Controller, want)
		}
	}
	if c, _ := f.controller("ctl-a"); !c.Deprecated {
		t.Error("the evacuation did not deprecate ctl-a")
	}

	// fleet-jobs lists it, fleet-job shows it.
	stdout, _, err = runFleet(t, "fleet-jobs")
	wantList := [][]string{
		{"ID", "KIND", "CONTROLLER/BY", "STATE", "MOVES", "FAILED", "CREATED"},
		append([]string{"1", "evacuate", "ctl-a", "done", "4/4", "2"}, strings.Fields(formatTime(fakeTime))...),
	}
	if err != nil || !reflect.DeepEqual(fields(stdout), wantList) {
		t.Errorf("fleet-jobs: %v\n%s", err, stdout)
	}
	stdout, _, err = runFleet(t, "fleet-job", "1")
	if err != nil || !strings.Contains(stdout, "evacuation of ctl-a: fleet job 1, done, created ") ||
		!strings.Contains(stdout, "import failed: target refused the model") || !strings.Contains(stdout, "the model is dying") {
		t.Errorf("fleet-job 1 (no --wait exits 0): %v\n%s", err, stdout)
	}
	// With --wait, a job already done ends at once, with its summary and status.
	before := f.fleetState().jobGets
	stdout, stderr, err = runFleet(t, "fleet-job", "1", "--wait")
	if err == nil || stderr != wantErr || !strings.HasSuffix(stdout, "\n\n"+strings.Join(follow[len(follow)-6:], "\n")+"\n") {
		t.Errorf("fleet-job 1 --wait: %v, stderr %q\n%s", err, stderr, stdout)
	}
	if n := f.fleetState().jobGets - before; n != 1 {
		t.Errorf("fleet-job --wait of a done job polled %d times, want only the first GET", n)
	}
}

func TestEvacuateThenFollow(t *testing.T) {
	f := fleetBroker(t)
	f.setFailing("m-2", "import failed: target refused the model")
	stdout, stderr, err := runFleet(t, "evacuate", "ctl-a", "--force", "--parallel", "2")
	if err != nil {
		t.Fatalf("evacuate without --wait: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(stdout, "evacuation of ctl-a: fleet job 1, running, created "+formatTime(fakeTime)+", 2 at a time\n") ||
		!strings.HasSuffix(stdout, "\n\nfollow it with `jimmctl fleet-job 1 --wait`\n") {
		t.Errorf("evacuate printed:\n%s", stdout)
	}
	if n := f.fleetState().jobGets; n != 0 {
		t.Errorf("evacuate without --wait polled the job %d times", n)
	}
	if got := f.fleetState().evacuations; len(got) != 1 || got[0].Parallel != 2 || !got[0].Force || got[0].DryRun {
		t.Errorf("the broker got %+v", got)
	}

	// fleet-job --wait follows it, two moves at a time, through a broker
	// that fails twice in a row (warned about once).
	f.mu.Lock()
	f.fleet.failJobGets = map[int]int{2: http.StatusServiceUnavailable, 3: http.StatusServiceUnavailable}
	f.mu.Unlock()
	stdout, stderr, err = runFleet(t, "fleet-job", "1", "--wait")
	if err == nil {
		t.Fatal("fleet-job --wait of a job with a failed move exited 0")
	}
	wantErr := "WARNING get fleet job 1: database unavailable; still trying\n" +
		"ERROR evacuation of ctl-a (fleet job 1): 1 of 4 moves failed\n"
	if stderr != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, wantErr)
	}
	follow := []string{
		"",
		at() + " dave/huge   ctl-a → ctl-c succeeded migration 101",
		at() + " alice/prod  ctl-a → ctl-b succeeded migration 102",
		at() + " bob/dev     ctl-a → ctl-b running   migration 103",
		at() + " carol/stage ctl-a → ctl-b running   migration 104",
		at() + " 2/4 moved, 2 running, 0 failed",
		at() + " bob/dev     ctl-a → ctl-b failed    migration 103: import failed: target refused the model",
		at() + " carol/stage ctl-a → ctl-b succeeded migration 104",
		at() + " 3/4 moved, 0 running, 1 failed",
		"",
		"evacuation of ctl-a (fleet job 1) done: 3 of 4 models moved, 1 failed, 0 unplaced",
		"failed:",
		"  bob/dev ctl-a → ctl-b (migration 103): import failed: target refused the model",
	}
	got := lines(stdout)
	if len(got) < len(follow) || !reflect.DeepEqual(got[len(got)-len(follow):], follow) {
		t.Errorf("fleet-job --wait printed:\n%s\nwant it to end with:\n%s", stdout, strings.Join(follow, "\n"))
	}
	// It showed the job as it first got it: two moves running.
	if !strings.Contains(stdout, "evacuation of ctl-a: fleet job 1, running, created ") ||
		!reflect.DeepEqual(strings.Fields(got[3]), strings.Fields("dave/huge m-4 ctl-a ctl-c 3000 25m11s running 101 -")) {
		t.Errorf("fleet-job --wait began with:\n%s", strings.Join(got[:min(len(got), 8)], "\n"))
	}
}

func TestEvacuateWaitJSONAndYAML(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			f := fleetBroker(t)
			f.setFailing("m-3", "validation failed: 2 agents did not report")
			stdout, stderr, err := runFleet(t, "evacuate", "ctl-a", "--force", "--wait", "--parallel", "4", "--format", format)
			if err == nil || stderr != "ERROR evacuation of ctl-a (fleet job 1): 1 of 4 moves failed\n" {
				t.Errorf("%v, stderr %q", err, stderr)
			}
			// Only the job once done: one JSON value, or one YAML document.
			var job restapi.FleetJob
			if format == "json" {
				dec := json.NewDecoder(strings.NewReader(stdout))
				if err := dec.Decode(&job); err != nil {
					t.Fatalf("parse json: %v\n%s", err, stdout)
				}
				if dec.More() {
					t.Errorf("more than one JSON value:\n%s", stdout)
				}
			} else {
				if strings.Contains(stdout, "\n---") {
					t.Errorf("more than one YAML document:\n%s", stdout)
				}
				if err := yaml.Unmarshal([]byte(stdout), &job); err != nil {
					t.Fatalf("parse yaml: %v\n%s", err, stdout)
				}
			}
			if job.ID != 1 || job.State != restapi.JobDone || job.EndedAt == nil || len(job.Moves) != 4 || job.Parallel != 4 {
				t.Fatalf("job = %+v", job)
			}
			for _, m := range job.Moves {
				want := restapi.MoveSucceeded
				if m.ModelUUID == "m-3" {
					want = restapi.MoveFailed
				}
				if m.State != want {
					t.Errorf("move of %s is %s, want %s", m.Model, m.State, want)
				}
			}
			if job.Before["ctl-a"].Agents != 3235 || job.After["ctl-a"].Agents != 0 {
				t.Errorf("loads before %+v after %+v", job.Before, job.After)
			}
		})
	}
}

func TestRebalance(t *testing.T) {
	t.Run("dry run", func(t *testing.T) {
		f := fleetBroker(t)
		stdout, stderr, err := runFleet(t, "rebalance")
		if err != nil {
			t.Fatalf("rebalance: %v\n%s", err, stderr)
		}
		want := [][]string{
			strings.Fields("rebalance by models: plan only, nothing started, 1 at a time"),
			nil,
			strings.Fields("MODEL UUID SOURCE TARGET AGENTS ESTIMATE"),
			strings.Fields("bob/dev m-2 ctl-a ctl-c 10 3.5s"),
			strings.Fields("alice/prod m-1 ctl-a ctl-b 220 1m49s"),
			nil,
			strings.Fields("CONTROLLER MODELS MACHINES UNITS AGENTS"),
			strings.Fields("ctl-a 4 → 2 623 → 601 2612 → 2404 3235 → 3005"),
			strings.Fields("ctl-b 1 → 2 5 → 25 15 → 215 20 → 240"),
			strings.Fields("ctl-c 0 → 1 0 → 2 0 → 8 0 → 10"),
			nil,
			strings.Fields("balance by models: max/mean 2.40 → 1.20"),
			nil,
			strings.Fields("run again with --yes to start these 2 moves"),
		}
		if got := fields(stdout); !reflect.DeepEqual(got, want) {
			t.Errorf("rebalance printed:\n%s", stdout)
		}
		st := f.fleetState()
		if len(st.jobs) != 0 || len(st.rebalances) != 1 ||
			st.rebalances[0] != (restapi.RebalanceRequest{By: restapi.ByModels, DryRun: true}) {
			t.Errorf("the broker got %+v and stored %d jobs", st.rebalances, len(st.jobs))
		}
		if m, _ := f.model("m-2"); m.Controller != "ctl-a" {
			t.Error("a dry run moved a model")
		}

		// --dry-run says what is the default anyway.
		stdout2, _, err := runFleet(t, "rebalance", "--dry-run")
		if err != nil || stdout2 != stdout {
			t.Errorf("rebalance --dry-run: %v\n%s", err, stdout2)
		}
	})

	t.Run("by agents", func(t *testing.T) {
		f := fleetBroker(t)
		stdout, stderr, err := runFleet(t, "rebalance", "--by", "agents", "--max-moves", "1", "--force")
		if err != nil {
			t.Fatalf("rebalance --by agents: %v\n%s", err, stderr)
		}
		if !strings.HasPrefix(stdout, "rebalance by agents: plan only") || !strings.Contains(stdout, "\nbalance by agents: max/mean ") ||
			!strings.HasSuffix(stdout, "run again with --yes to start these 1 moves\n") {
			t.Errorf("rebalance --by agents printed:\n%s", stdout)
		}
		if got := f.fleetState().rebalances; len(got) != 1 ||
			got[0] != (restapi.RebalanceRequest{By: restapi.ByAgents, MaxMoves: 1, DryRun: true, Force: true}) {
			t.Errorf("the broker got %+v", got)
		}
	})

	t.Run("yes and wait", func(t *testing.T) {
		f := fleetBroker(t)
		stdout, stderr, err := runFleet(t, "rebalance", "--yes", "--wait", "--parallel", "2")
		if err != nil {
			t.Fatalf("rebalance --yes --wait: %v\n%s", err, stderr)
		}
		want := []string{
			"",
			at() + " bob/dev    ctl-a → ctl-c running   migration 101",
			at() + " alice/prod ctl-a → ctl-b running   migration 102",
			at() + " 0/2 moved, 2 running, 0 failed",
			at() + " bob/dev    ctl-a → ctl-c succeeded migration 101",
			at() + " alice/prod ctl-a → ctl-b succeeded migration 102",
			at() + " 2/2 moved, 0 running, 0 failed",
			"",
			"rebalance by models (fleet job 1) done: 2 of 2 models moved, 0 failed, 0 unplaced",
		}
		got := lines(stdout)
		if !strings.HasPrefix(stdout, "rebalance by models: fleet job 1, running, created ") ||
			len(got) < len(want) || !reflect.DeepEqual(got[len(got)-len(want):], want) {
			t.Errorf("rebalance --yes --wait printed:\n%s\nwant it to end with:\n%s", stdout, strings.Join(want, "\n"))
		}
		if stderr != "" {
			t.Errorf("stderr %q", stderr)
		}
		if got := f.fleetState().rebalances; len(got) != 1 || got[0].DryRun || got[0].Parallel != 2 {
			t.Errorf("the broker got %+v", got)
		}
		if m, _ := f.model("m-1"); m.Controller != "ctl-b" {
			t.Errorf("after the rebalance m-1 is on %s, want ctl-b", m.Controller)
		}

		// Balanced now: nothing to move.
		stdout, _, err = runFleet(t, "rebalance")
		if err != nil || !strings.HasSuffix(stdout, "\nnothing to move\n") || !strings.Contains(stdout, "\nno moves\n") {
			t.Errorf("rebalance of a balanced fleet: %v\n%s", err, stdout)
		}
	})

	t.Run("yes without wait", func(t *testing.T) {
		f := fleetBroker(t)
		stdout, _, err := runFleet(t, "rebalance", "--yes")
		if err != nil || !strings.HasSuffix(stdout, "\n\nfollow it with `jimmctl fleet-job 1 --wait`\n") {
			t.Errorf("rebalance --yes: %v\n%s", err, stdout)
		}
		if n := f.fleetState().jobGets; n != 0 {
			t.Errorf("rebalance --yes without --wait polled %d times", n)
		}
		stdout, _, err = runFleet(t, "fleet-jobs")
		if got := fields(stdout); err != nil || len(got) != 2 || !reflect.DeepEqual(got[1][:6], []string{"1", "rebalance", "models", "running", "0/2", "0"}) {
			t.Errorf("fleet-jobs: %v\n%s", err, stdout)
		}
	})
}

func TestFleetFlagErrors(t *testing.T) {
	f := fleetBroker(t)
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"evacuate"}, "ERROR evacuate takes <controller>, got 0 argument(s)"},
		{[]string{"evacuate", "ctl-a", "--parallel", "0"}, "ERROR --parallel must be at least 1, got 0\n"},
		{[]string{"evacuate", "ctl-a", "--parallel", "-2"}, "ERROR --parallel must be at least 1, got -2\n"},
		{[]string{"evacuate", "ctl-a", "--dry-run", "--wait"}, "ERROR --wait does not apply to --dry-run: a dry run starts nothing\n"},
		{[]string{"evacuate", "ctl-a", "--to", "ctl-b,ctl-a"}, "ERROR --to names ctl-a, the controller being evacuated\n"},
		{[]string{"evacuate", "ctl-a", "--to", "ctl-b,"}, "ERROR --to has an empty controller name\n"},
		{[]string{"rebalance", "--dry-run", "--yes"}, "ERROR --dry-run and --yes exclude each other: without --yes, rebalance only plans\n"},
		{[]string{"rebalance", "--by", "cpu"}, "ERROR unknown --by \"cpu\": valid measures are models, machines, units, agents\n"},
		{[]string{"rebalance", "--max-moves", "0"}, "ERROR --max-moves must be at least 1, got 0\n"},
		{[]string{"rebalance", "--yes", "--parallel", "0"}, "ERROR --parallel must be at least 1, got 0\n"},
		{[]string{"rebalance", "--wait"}, "ERROR --wait applies only with --yes: without it, rebalance only plans\n"},
		{[]string{"rebalance", "ctl-a"}, "ERROR rebalance takes no arguments"},
		{[]string{"fleet-job", "abc"}, "ERROR fleet-job: want a job id (a positive number, as listed by `jimmctl fleet-jobs`), got \"abc\"\n"},
		{[]string{"fleet-job", "0"}, "ERROR fleet-job: want a job id"},
		{[]string{"fleet-jobs", "--format", "xml"}, "valid formats are tabular, yaml, json"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			before := f.authCount()
			stdout, stderr, err := runFleet(t, tt.args...)
			if err == nil || !strings.HasPrefix(stderr, "ERROR ") || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("%v: stderr %q, want %q", err, stderr, tt.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if f.authCount() != before {
				t.Error("the request reached the broker")
			}
		})
	}
}

func TestFleetBrokerErrors(t *testing.T) {
	f := fleetBroker(t)
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"evacuate", "ctl-z"}, `ERROR evacuate controller "ctl-z": controller "ctl-z" not found` + "\n"},
		{[]string{"evacuate", "ctl-a", "--dry-run", "--to", "ctl-y"}, `ERROR plan the evacuation of controller "ctl-a": target controller "ctl-y" is not registered` + "\n"},
		{[]string{"fleet-job", "99"}, "ERROR get fleet job 99: fleet job 99 not found\n"},
	} {
		_, stderr, err := runFleet(t, tt.args...)
		if err == nil || stderr != tt.wantErr {
			t.Errorf("%v: %v, stderr %q, want %q", tt.args, err, stderr, tt.wantErr)
		}
	}

	// No jobs yet: said on stderr.
	stdout, stderr, err := runFleet(t, "fleet-jobs")
	if err != nil || stdout != "" || stderr != "No fleet jobs.\n" {
		t.Errorf("fleet-jobs with none: %v, %q, %q", err, stdout, stderr)
	}
	stdout, _, err = runFleet(t, "fleet-jobs", "--format", "json")
	if err != nil || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("fleet-jobs --format json with none: %v, %q", err, stdout)
	}

	// A refusal while following stops --wait, saying how to carry on.
	if _, _, err := runFleet(t, "evacuate", "ctl-a", "--force"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.fleet.failJobGets = map[int]int{2: http.StatusForbidden}
	f.mu.Unlock()
	stdout, stderr, err = runFleet(t, "fleet-job", "1", "--wait")
	want := "ERROR follow fleet job 1: get fleet job 1: forbidden: fleet jobs are for broker administrators " +
		"(it goes on on the broker: follow it with `jimmctl fleet-job 1 --wait`)\n"
	if err == nil || stderr != want || !strings.Contains(stdout, "fleet job 1, running") {
		t.Errorf("fleet-job --wait refused while following: %v, stderr %q, want %q\n%s", err, stderr, want, stdout)
	}
}
