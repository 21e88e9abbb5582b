package integration

// End-to-end tests of model migration through the broker: jimmctl migrate
// (and --wait), the broker's prechecks, failures injected in the
// development controller, migrations made behind the broker's back
// (update-migrated-model, and redirects the broker follows), two replicas
// on one database, and a broker killed in the middle of a migration.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/client"
	"github.com/juju/juju/api/client/modelconfig"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/api/client/usermanager"
	jujucontroller "github.com/juju/juju/api/controller/controller"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
)

// The development controller's model config keys that steer a migration
// (devcontroller/migration.go).
const (
	bmFailPhaseKey  = "dev-migration-fail-phase"  // a phase: fail on entering it
	bmPhaseDelayKey = "dev-migration-phase-delay" // "PHASE:duration": wait in that phase
)

// TestBrokerMigration runs the migration scenarios in parallel, each on a
// broker, database and controllers of its own.
func TestBrokerMigration(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{"Move", testBrokerMigrationMove},
		{"Prechecks", testBrokerMigrationPrechecks},
		{"InjectedFailures", testBrokerMigrationInjectedFailures},
		{"OutsideTheBroker", testBrokerMigrationOutsideTheBroker},
		{"TwoReplicas", testBrokerMigrationTwoReplicas},
		{"BrokerKilled", testBrokerMigrationBrokerKilled},
		{"Cutover", testBrokerMigrationCutover},
		{"WatchersClosed", testBrokerMigrationWatchersClosed},
		{"AllWatcherFollows", testBrokerMigrationAllWatcherFollows},
	})
}

// testBrokerMigrationMove: a model with 5 machines, 3 applications and 20
// units, deployed through the broker, moves from ctl-1 to ctl-2 with
// jimmctl migrate --wait. Its status through the broker is the same
// before and after; the route flips once the source has finished (how
// long after is logged); ctl-1 itself now redirects a client that asks it
// for the model; and a model connection opened through the broker before
// the migration keeps working after it.
func testBrokerMigrationMove(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	ctl1, ctl2 := e.ctls["ctl-1"], e.ctls["ctl-2"]
	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := bmModelOn(t, e, mm, "moving", "ctl-1")

	// Opened before the migration; used again after it.
	mconn := e.open(t, uuid)
	populate(t, mconn)
	before := fullStatus(t, mconn)
	units := 0
	for _, a := range before.Applications {
		units += len(a.Units)
	}
	if len(before.Machines) != 5 || len(before.Applications) != 3 || units != 20 {
		t.Fatalf("model before migration: %d machines, %d applications, %d units; want 5, 3, 20",
			len(before.Machines), len(before.Applications), units)
	}
	want := comparableStatus(t, before)
	// Another connection from before makes calls all through the
	// migration.
	probe := bmStartProbe(t, e.open(t, uuid))

	// Watch, while the migration runs, when ctl-1 stops hosting the model
	// (it answers ModelInfo with a redirect: its migration reached DONE)
	// and when jimmctl show-model first names ctl-2.
	direct := bmDirect(t, ctl1, "")
	watch := bmStartWatch(t)
	var (
		sourceDone     time.Time
		routed         time.Time
		sourceErr      error
		showModelError string
	)
	mmDirect := modelmanager.NewClient(direct)
	watch.poll(20*time.Millisecond, func() bool {
		infos, err := mmDirect.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
		switch {
		case err != nil:
			sourceErr = err
			return true
		case len(infos) == 1 && infos[0].Error != nil:
			if !params.IsRedirect(infos[0].Error) {
				sourceErr = infos[0].Error
			}
			sourceDone = time.Now()
			return true
		}
		return false
	})
	watch.poll(50*time.Millisecond, func() bool {
		m, err := bmTryShowModel(e.ctl, uuid)
		if err != nil {
			showModelError = err.Error()
			return true
		}
		if m.Controller == "ctl-2" {
			routed = time.Now()
			return true
		}
		return false
	})

	start := time.Now()
	res := e.run(t, "migrate", "ctl-2", uuid, "--wait")
	waited := time.Since(start)
	returned := time.Now()
	if res.ExitCode != 0 {
		watch.wait(0)
		t.Fatalf("migrate --wait: %s", res)
	}
	// Right after --wait returns, the route names ctl-2.
	if m := bmShowModel(t, e.ctl, uuid); m.Controller != "ctl-2" {
		t.Errorf("show-model right after migrate --wait returned: controller %q, want ctl-2", m.Controller)
	}
	watch.wait(bmWatchGrace)
	if sourceErr != nil || showModelError != "" {
		t.Fatalf("watching the migration: ctl-1's ModelInfo: %v; show-model: %s", sourceErr, showModelError)
	}
	t.Logf("migrate --wait took %s:\n%s", waited.Round(time.Millisecond), res.Stdout)
	probe.finish(t, "the migration")
	// --wait prints the phases its polls (every 500ms) happen to see: the
	// first and the last at least.
	for _, phase := range []string{"INITIATING", "DONE", "succeeded: model moving now lives on ctl-2"} {
		if !strings.Contains(res.Stdout, phase) {
			t.Errorf("migrate --wait output does not show %q:\n%s", phase, res.Stdout)
		}
	}

	mig := bmShowMigration(t, e.ctl, uuid)
	if mig.Result != "succeeded" || mig.Phase != "DONE" || mig.Source != "ctl-1" || mig.Target != "ctl-2" ||
		mig.ModelName != "moving" || mig.Owner != "admin" || mig.EndedAt == nil || mig.ControllerID == "" {
		t.Errorf("show-migration after the move: %+v; want succeeded in DONE, ctl-1 to ctl-2, with an end and the controller's migration id", mig)
	}
	if sourceDone.IsZero() || routed.IsZero() {
		t.Errorf("not seen within %s of migrate --wait returning: ctl-1 finishing the migration (%v) or show-model naming ctl-2 (%v)",
			bmWatchGrace, sourceDone, routed)
	} else {
		t.Logf("route flip seen %s after ctl-1 finished the migration (show-model polled every 50ms)", routed.Sub(sourceDone).Round(time.Millisecond))
	}
	if mig.EndedAt != nil && !routed.IsZero() {
		// (The route may flip before ended-at: a call on a connection
		// that finds the model gone makes the broker follow the redirect.)
		t.Logf("relative to the migration's ended-at: show-model named ctl-2 at %+v, migrate --wait returned at %+v",
			routed.Sub(*mig.EndedAt).Round(time.Millisecond), returned.Sub(*mig.EndedAt).Round(time.Millisecond))
	}
	counts := map[string]int{}
	for _, c := range e.listControllers(t) {
		counts[c.Name] = c.ModelCount
	}
	if counts["ctl-1"] != 0 || counts["ctl-2"] != 1 {
		t.Errorf("list-controllers model counts after the move: %v, want ctl-1 0, ctl-2 1", counts)
	}

	// ctl-1 itself redirects a client to ctl-2.
	_, err := bmTryDirect(ctl1, uuid)
	var redir *api.RedirectError
	if !errors.As(err, &redir) {
		t.Errorf("login to the moved model on ctl-1 itself: %v (%T), want *api.RedirectError", err, err)
	} else if redir.ControllerTag.Id() != ctl2.UUID || redir.CACert != ctl2.File.CACert {
		t.Errorf("ctl-1 redirects to controller %s, want ctl-2 (%s) with its CA", redir.ControllerTag.Id(), ctl2.UUID)
	}

	// The connection opened before the migration works, on ctl-2, with
	// the same status.
	pid, port2 := e.broker().Pid(), portOf(t, ctl2.Addr)
	n2 := bmConns(t, pid, port2)
	sameStatus(t, "FullStatus on the connection opened before the migration", want, comparableStatus(t, fullStatus(t, mconn)))
	if got := bmConns(t, pid, port2); got != n2+1 {
		t.Errorf("the broker holds %d connections to ctl-2 after the old model connection's call, want %d (one more)", got, n2+1)
	}
	// And a new one.
	sameStatus(t, "FullStatus on a new connection after the migration", want, comparableStatus(t, fullStatus(t, e.open(t, uuid))))
	// ctl-2 hosts it, as its admin sees.
	sums, err := modelmanager.NewClient(bmDirect(t, ctl2, "")).ListModelSummaries("admin", true)
	if _, ok := findSummary(sums, uuid); err != nil || !ok {
		t.Errorf("ctl-2's own model list lacks the moved model: %v", err)
	}
}

// testBrokerMigrationPrechecks: each rule the broker checks refuses the
// migration with its own message and changes nothing: the model is still
// routed to ctl-1, no migration is recorded or running, and the other
// controllers do not have it.
func testBrokerMigrationPrechecks(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	conn := e.open(t, "")
	mm := modelmanager.NewClient(conn)
	uuid := bmModelOn(t, e, mm, "stay", "ctl-1")

	refused := func(t *testing.T, target, uuid, msg string) {
		t.Helper()
		res := e.run(t, "migrate", target, uuid)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, msg) {
			t.Errorf("migrate to %s: want a refusal saying %q; got %s", target, msg, res)
		}
	}

	t.Run("UnknownTargetOrModel", func(t *testing.T) {
		refused(t, "ctl-9", uuid, `controller "ctl-9" is not registered`)
		bmUnchanged(t, e, uuid, "ctl-1")
		const nowhere = "00000000-0000-4000-8000-000000000000"
		refused(t, "ctl-2", nowhere, "model "+nowhere+" is not known to the broker")
	})
	t.Run("SameController", func(t *testing.T) {
		refused(t, "ctl-1", uuid, `model "stay" is already on controller "ctl-1"`)
		bmUnchanged(t, e, uuid, "ctl-1")
	})
	t.Run("OtherRegion", func(t *testing.T) {
		refused(t, "ctl-3", uuid, `controller "ctl-3" does not host region "east" of cloud "localhost"`)
		bmUnchanged(t, e, uuid, "ctl-1")
	})
	t.Run("Deprecated", func(t *testing.T) {
		e.jimmctl(t, "set-controller-deprecated", "ctl-2", "true")
		refused(t, "ctl-2", uuid, `controller "ctl-2" is deprecated: it takes no models`)
		e.jimmctl(t, "set-controller-deprecated", "ctl-2", "false")
		bmUnchanged(t, e, uuid, "ctl-1")
	})
	t.Run("SameNameOnTarget", func(t *testing.T) {
		twin := bmModelOn(t, e, mm, "twin", "ctl-1")
		// ctl-2's admin creates a model of the same name and owner on
		// ctl-2 itself, where the broker does not see it.
		other, err := modelmanager.NewClient(bmDirect(t, e.ctls["ctl-2"], "")).CreateModel("twin", "admin", "localhost", "east", names.CloudCredentialTag{}, nil)
		if err != nil {
			t.Fatalf("create model twin directly on ctl-2: %v", err)
		}
		refused(t, "ctl-2", twin, `controller "ctl-2" already has a model "twin" owned by admin`)
		bmUnchanged(t, e, twin, "ctl-1")
		sums, err := modelmanager.NewClient(bmDirect(t, e.ctls["ctl-2"], "")).ListModelSummaries("admin", true)
		if err != nil {
			t.Fatal(err)
		}
		var twins []string
		for _, s := range sums {
			if s.Name == "twin" {
				twins = append(twins, s.UUID)
			}
		}
		if !slices.Equal(twins, []string{other.UUID}) {
			t.Errorf("ctl-2 has models named twin %v, want only its own %s", twins, other.UUID)
		}
	})
	t.Run("UnknownUser", func(t *testing.T) {
		shared := bmModelOn(t, e, mm, "shared", "ctl-1")
		// alice exists only on ctl-1, and may read the model there.
		direct := bmDirect(t, e.ctls["ctl-1"], "")
		if _, _, err := usermanager.NewClient(direct).AddUser("alice", "Alice", "alice-secret"); err != nil {
			t.Fatalf("add user alice on ctl-1: %v", err)
		}
		if err := modelmanager.NewClient(direct).GrantModel("alice", "read", shared); err != nil {
			t.Fatalf("grant alice read on model shared, on ctl-1: %v", err)
		}
		refused(t, "ctl-2", shared, `user "alice" of model "shared" is not known to controller "ctl-2"`)
		bmUnchanged(t, e, shared, "ctl-1")
	})
	t.Run("AlreadyRunning", func(t *testing.T) {
		busy := bmModelOn(t, e, mm, "busy", "ctl-1")
		// The first migration waits in QUIESCE.
		bmModelSet(t, e.open(t, busy), map[string]any{bmPhaseDelayKey: "QUIESCE:3s"})
		first := e.run(t, "migrate", "ctl-2", busy, "--format", "json")
		if first.ExitCode != 0 {
			t.Fatalf("first migrate: %s", first)
		}
		var running bmMigration
		decodeStrictJSON(t, first.Stdout, &running)
		refused(t, "ctl-2", busy, `a migration of model "busy" is already running`)
		// Only the first migration is recorded, and it runs on.
		var ours []bmMigration
		for _, m := range bmListMigrations(t, e.ctl) {
			if m.ModelUUID == busy {
				ours = append(ours, m)
			}
		}
		if len(ours) != 1 || ours[0].ID != running.ID || ours[0].Result != "running" {
			t.Errorf("migrations of model busy after a second migrate: %+v; want only the first (%d), running", ours, running.ID)
		}
		if m := bmShowModel(t, e.ctl, busy); m.Controller != "ctl-1" {
			t.Errorf("show-model while the first migration runs: %q, want ctl-1", m.Controller)
		}
		// The first one ends well.
		done := bmWaitMigration(t, e.ctl, strconv.FormatInt(running.ID, 10), 20*time.Second)
		if done.Result != "succeeded" {
			t.Errorf("the first migration ended %+v, want succeeded", done)
		}
		if m := bmShowModel(t, e.ctl, busy); m.Controller != "ctl-2" {
			t.Errorf("show-model after the first migration: %q, want ctl-2", m.Controller)
		}
	})
	t.Run("TargetDown", func(t *testing.T) {
		e.stopController(t, "ctl-2")
		e.waitStatus(t, "ctl-2", "down", 10*time.Second)
		refused(t, "ctl-2", uuid, `controller "ctl-2" is down`)
		e.startControllerAgain(t, "ctl-2")
		e.waitStatus(t, "ctl-2", "up", 10*time.Second)
		bmUnchanged(t, e, uuid, "ctl-1")
	})
	// After all that, the model is usable through the broker.
	fullStatus(t, e.open(t, uuid))
	// Two more rules, with controllers registered only now so that no
	// model above was placed on them.
	t.Run("OlderTarget", func(t *testing.T) {
		bmAddController(t, e, "ctl-old", "east", "--agent-version", "3.4.0")
		refused(t, "ctl-old", uuid, `controller "ctl-old" runs Juju 3.4.0, older than 3.5.4 on controller "ctl-1": the target must be at least the source's version`)
		bmUnchanged(t, e, uuid, "ctl-1")
	})
	t.Run("OtherSubstrate", func(t *testing.T) {
		bmAddController(t, e, "ctl-maas", "east", "--cloud-type", "maas")
		refused(t, "ctl-maas", uuid, `controller "ctl-maas" hosts cloud "localhost" (maas); model "stay" is on cloud "localhost" (lxd): source and target must share cloud and substrate`)
		bmUnchanged(t, e, uuid, "ctl-1")
	})
}

// bmUnchanged checks that a refused migration changed nothing: the model
// is routed to src, no migration of it is recorded, its controller runs
// none, and no other controller has it.
func bmUnchanged(t *testing.T, e *brokerEnv, uuid, src string) {
	t.Helper()
	if m := bmShowModel(t, e.ctl, uuid); m.Controller != src {
		t.Errorf("show-model after a refused migration: controller %q, want %s", m.Controller, src)
	}
	for _, m := range bmListMigrations(t, e.ctl) {
		if m.ModelUUID == uuid {
			t.Errorf("a refused migration left a migration record: %+v", m)
		}
	}
	info := bmSourceInfo(t, e.ctls[src], uuid)
	if info.Migration != nil || info.Status.Status != "available" {
		t.Errorf("model on %s after a refused migration: status %q, migration %+v; want available, none", src, info.Status.Status, info.Migration)
	}
	for name, c := range e.ctls {
		if name != src {
			bmNotOn(t, c, name, uuid)
		}
	}
}

// testBrokerMigrationInjectedFailures: a migration that fails on the
// controller (in IMPORT, or in VALIDATION after the target imported the
// model) ends failed with the reason, migrate --wait exits non-zero saying
// it, the model stays on ctl-1 and usable through the broker, nothing is
// left on ctl-2, and the model can migrate once the fault is gone.
func testBrokerMigrationInjectedFailures(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	mm := modelmanager.NewClient(e.open(t, ""))
	uuids := map[string]string{}
	for _, phase := range []string{"IMPORT", "VALIDATION"} {
		uuids[phase] = bmModelOn(t, e, mm, "fail-"+strings.ToLower(phase), "ctl-1")
	}
	for _, phase := range []string{"IMPORT", "VALIDATION"} {
		t.Run(phase, func(t *testing.T) {
			t.Parallel()
			uuid := uuids[phase]
			mconn := e.open(t, uuid)
			deploy(t, mconn, "postgresql", 2)
			// The model's status says why the migration failed: compare
			// the rest.
			before := bmWithoutModelStatus(comparableStatus(t, fullStatus(t, mconn)))
			bmModelSet(t, mconn, map[string]any{bmFailPhaseKey: phase})

			reason := "injected failure in phase " + phase
			res := e.run(t, "migrate", "ctl-2", uuid, "--wait")
			if res.ExitCode == 0 || !strings.Contains(res.Stderr, reason) || !strings.Contains(res.Stderr, "failed") {
				t.Errorf("migrate --wait with a failure in %s: want a non-zero exit saying it failed with %q; got %s", phase, reason, res)
			}
			t.Logf("migrate --wait:\n%s%s", res.Stdout, res.Stderr)
			mig := bmShowMigration(t, e.ctl, uuid)
			if mig.Result != "failed" || !strings.Contains(mig.Message, reason) || mig.EndedAt == nil {
				t.Errorf("show-migration: %+v; want failed, ended, with message saying %q", mig, reason)
			}
			if m := bmShowModel(t, e.ctl, uuid); m.Controller != "ctl-1" {
				t.Errorf("show-model after the failed migration: %q, want ctl-1", m.Controller)
			}
			for _, m := range bmListMigrations(t, e.ctl) {
				if m.ModelUUID == uuid && m.Result == "running" {
					t.Errorf("a migration of the model still runs: %+v", m)
				}
			}
			bmNotOn(t, e.ctls["ctl-2"], "ctl-2", uuid)
			info := bmSourceInfo(t, e.ctls["ctl-1"], uuid)
			if info.Status.Status != "available" || info.Migration == nil || !strings.Contains(info.Migration.Status, reason) {
				t.Errorf("the model on ctl-1 after the failure: status %+v, migration %+v; want available, saying %q", info.Status, info.Migration, reason)
			}

			// Usable through the broker: on the connection from before and
			// a new one, reads and writes.
			st := fullStatus(t, mconn)
			if st.Model.ModelStatus.Status != "available" || !strings.Contains(st.Model.ModelStatus.Info, reason) {
				t.Errorf("FullStatus model status after the failed migration: %+v; want available, saying %q", st.Model.ModelStatus, reason)
			}
			sameStatus(t, "FullStatus after the failed migration", before, bmWithoutModelStatus(comparableStatus(t, st)))
			nconn := e.open(t, uuid)
			fullStatus(t, nconn)
			bmModelSet(t, nconn, map[string]any{bmFailPhaseKey: "none"})
			cfg, err := modelconfig.NewClient(nconn).ModelGet()
			if err != nil || cfg[bmFailPhaseKey] != "none" {
				t.Errorf("ModelGet after ModelSet through the broker: %s = %v, %v; want none", bmFailPhaseKey, cfg[bmFailPhaseKey], err)
			}

			// With the fault gone, the same model moves.
			if res := e.run(t, "migrate", "ctl-2", uuid, "--wait"); res.ExitCode != 0 {
				t.Fatalf("migrate --wait once the fault is gone: %s", res)
			}
			if m := bmShowModel(t, e.ctl, uuid); m.Controller != "ctl-2" {
				t.Errorf("show-model after the second migration: %q, want ctl-2", m.Controller)
			}
			sameStatus(t, "FullStatus after the second migration", before, bmWithoutModelStatus(comparableStatus(t, fullStatus(t, mconn))))
		})
	}
}

// testBrokerMigrationOutsideTheBroker: models migrated with the Juju
// client against ctl-1 itself, the broker not told. jimmctl
// update-migrated-model points one at ctl-2; for the other, the first
// client login through the broker gets ctl-1's redirect, which the broker
// follows, healing the route, without the client seeing it.
func testBrokerMigrationOutsideTheBroker(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	metricsAddr := e.metricsAddr()
	ctl1, ctl2 := e.ctls["ctl-1"], e.ctls["ctl-2"]
	mm := modelmanager.NewClient(e.open(t, ""))
	updated := bmModelOn(t, e, mm, "told", "ctl-1")
	healed := bmModelOn(t, e, mm, "untold", "ctl-1")
	for _, uuid := range []string{updated, healed} {
		deploy(t, e.open(t, uuid), "postgresql", 1)
	}
	// A connection to the model the broker is not told about, opened
	// before the migration.
	early := e.open(t, healed)
	fullStatus(t, early)

	direct := bmDirect(t, ctl1, "")
	for _, uuid := range []string{updated, healed} {
		if _, err := jujucontroller.NewClient(direct).InitiateMigration(migrationSpec(uuid, ctl2, "ctl-2")); err != nil {
			t.Fatalf("InitiateMigration on ctl-1 itself: %v", err)
		}
	}
	for _, uuid := range []string{updated, healed} {
		eventually(t, 30*time.Second, "ctl-1 redirects the model", func() error {
			_, err := bmTryDirect(ctl1, uuid)
			var redir *api.RedirectError
			if errors.As(err, &redir) {
				return nil
			}
			return fmt.Errorf("login to the model on ctl-1: %v", err)
		})
	}
	pid, port2 := e.broker().Pid(), portOf(t, ctl2.Addr)

	t.Run("UpdateMigratedModel", func(t *testing.T) {
		if m := bmShowModel(t, e.ctl, updated); m.Controller != "ctl-1" {
			t.Fatalf("show-model before update-migrated-model: %q, want ctl-1 (the broker was not told)", m.Controller)
		}
		// A controller that does not have the model is refused.
		if res := e.run(t, "update-migrated-model", "ctl-3", updated); res.ExitCode == 0 || !strings.Contains(res.Stderr, `controller "ctl-3" does not host model `+updated) {
			t.Errorf("update-migrated-model to ctl-3, which does not have the model: %s", res)
		}
		if m := bmShowModel(t, e.ctl, updated); m.Controller != "ctl-1" {
			t.Fatalf("show-model after a refused update-migrated-model: %q, want ctl-1", m.Controller)
		}
		out := e.jimmctl(t, "update-migrated-model", "ctl-2", updated)
		if !strings.Contains(out, "now routes to ctl-2") {
			t.Errorf("update-migrated-model printed %q", out)
		}
		if m := bmShowModel(t, e.ctl, updated); m.Controller != "ctl-2" {
			t.Errorf("show-model after update-migrated-model: %q, want ctl-2", m.Controller)
		}
		n := bmConns(t, pid, port2)
		conn := e.open(t, updated)
		checkApp(t, fullStatus(t, conn), "postgresql", []string{"postgresql/0"})
		if got := bmConns(t, pid, port2); got != n+1 {
			t.Errorf("the broker holds %d connections to ctl-2 after the login, want %d", got, n+1)
		}
		if got := bmMetric(t, metricsAddr, "jimm_redirects_followed_total"); got != 0 {
			t.Errorf("jimm_redirects_followed_total = %v after update-migrated-model, want 0", got)
		}
	})
	t.Run("RedirectFollowed", func(t *testing.T) {
		if m := bmShowModel(t, e.ctl, healed); m.Controller != "ctl-1" {
			t.Fatalf("show-model before any login: %q, want ctl-1 (the broker was not told)", m.Controller)
		}
		// The connection opened before the migration finds the model gone
		// from ctl-1 at its next call: the broker follows ctl-1's redirect,
		// moves the connection to ctl-2 and replays the call there.
		before := bmMetric(t, metricsAddr, "jimm_redirects_followed_total")
		if _, err := bmStatus(early); err != nil {
			t.Fatalf("a connection opened through the broker before a migration made outside it failed after the move: %v", err)
		}
		if got := bmMetric(t, metricsAddr, "jimm_redirects_followed_total"); got != before+1 {
			t.Errorf("jimm_redirects_followed_total = %v after the old connection's call, want %v", got, before+1)
		}
		if m := bmShowModel(t, e.ctl, healed); m.Controller != "ctl-2" {
			t.Errorf("show-model after the old connection followed the model: %q, want ctl-2", m.Controller)
		}
		n := bmConns(t, pid, port2)
		conn, err := e.tryOpen(healed)
		if err != nil {
			t.Fatalf("login through the broker to a model that moved to ctl-2: %v (%T)", err, err)
		}
		t.Cleanup(func() { conn.Close() })
		checkApp(t, fullStatus(t, conn), "postgresql", []string{"postgresql/0"})
		checkBrokerLogin(t, e, "login after the route healed", conn, healed)
		if got := bmConns(t, pid, port2); got != n+1 {
			t.Errorf("the broker holds %d connections to ctl-2 after the login, want %d", got, n+1)
		}
		// The route is healed: further logins go straight to ctl-2.
		fullStatus(t, e.open(t, healed))
		checkApp(t, fullStatus(t, early), "postgresql", []string{"postgresql/0"})
		if got := bmMetric(t, metricsAddr, "jimm_redirects_followed_total"); got != before+1 {
			t.Errorf("jimm_redirects_followed_total = %v after a second login, want still %v", got, before+1)
		}
	})
}

// testBrokerMigrationTwoReplicas: two jimmd replicas on one database. A
// migration made through replica A reaches replica B (how long after A's
// DONE is logged): B's show-model names ctl-2, B's live connection to the
// model leaves ctl-1, and a new login through B goes straight to ctl-2
// (no redirect needed).
func testBrokerMigrationTwoReplicas(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	ctl1, ctl2 := e.ctls["ctl-1"], e.ctls["ctl-2"]
	b := e.startReplica(t, true)
	bMetrics := b.Opts.MetricsListen
	// B's health checks hold a connection to each controller once they
	// see it up: the counts below start from them.
	waitSeesUp(t, bMetrics, "ctl-1", "ctl-2")
	bCA, err := os.ReadFile(b.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	bctl := *e.ctl
	bctl.URL, bctl.CACert, bctl.ConfigDir = "https://"+b.Addr, b.CACertFile, t.TempDir()
	openB := func(t *testing.T, uuid string) api.Connection {
		t.Helper()
		info := e.apiInfo(uuid)
		info.Addrs, info.CACert = []string{b.Addr}, string(bCA)
		conn, err := api.Open(info, dialOpts)
		if err != nil {
			t.Fatalf("login through replica B (model %q): %v", uuid, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := bmModelOn(t, e, mm, "replicated", "ctl-1")
	deploy(t, e.open(t, uuid), "postgresql", 2)
	// B has routed the model to ctl-1 (and cached that) before.
	bconn := openB(t, uuid)
	want := comparableStatus(t, fullStatus(t, bconn))
	if m := bmShowModel(t, &bctl, uuid); m.Controller != "ctl-1" {
		t.Fatalf("B's show-model before the migration: %q", m.Controller)
	}
	pidB, port1, port2 := b.Pid(), portOf(t, ctl1.Addr), portOf(t, ctl2.Addr)
	n1, n2 := bmConns(t, pidB, port1), bmConns(t, pidB, port2)

	// While A migrates the model, watch B: its show-model, and its
	// connection to ctl-1 for the model, which goes when B reroutes it.
	watch := bmStartWatch(t)
	var (
		bShows, bLeaves     time.Time
		showErr, connsError error
	)
	watch.poll(50*time.Millisecond, func() bool {
		m, err := bmTryShowModel(&bctl, uuid)
		if err != nil {
			showErr = err
			return true
		}
		if m.Controller == "ctl-2" {
			bShows = time.Now()
			return true
		}
		return false
	})
	watch.poll(10*time.Millisecond, func() bool {
		n, err := connsTo(pidB, port1)
		if err != nil {
			connsError = err
			return true
		}
		if n < n1 {
			bLeaves = time.Now()
			return true
		}
		return false
	})
	res := e.run(t, "migrate", "ctl-2", uuid, "--wait")
	watch.wait(bmWatchGrace)
	// A new login through B: it goes straight to ctl-2.
	fresh := openB(t, uuid)
	if got := bmConns(t, pidB, port2); got != n2+1 {
		t.Errorf("B holds %d connections to ctl-2 after a login made after the migration, want %d", got, n2+1)
	}
	if res.ExitCode != 0 {
		t.Fatalf("migrate --wait through replica A: %s", res)
	}
	if showErr != nil || connsError != nil {
		t.Fatalf("watching replica B: show-model: %v; connections: %v", showErr, connsError)
	}
	mig := bmShowMigration(t, &bctl, uuid)
	if mig.Result != "succeeded" || mig.EndedAt == nil {
		t.Fatalf("B's show-migration: %+v, want succeeded", mig)
	}
	for what, at := range map[string]time.Time{"B's show-model named ctl-2": bShows, "B closed its connection to ctl-1": bLeaves} {
		if at.IsZero() {
			t.Errorf("%s: not within %s of migrate --wait returning", what, bmWatchGrace)
		} else {
			t.Logf("%s %s after A's DONE", what, at.Sub(*mig.EndedAt).Round(time.Millisecond))
		}
	}
	sameStatus(t, "FullStatus through B after the migration", want, comparableStatus(t, fullStatus(t, fresh)))
	// B's connection from before the migration follows the model.
	sameStatus(t, "FullStatus on B's connection from before the migration", want, comparableStatus(t, fullStatus(t, bconn)))
	if got := bmConns(t, pidB, port2); got != n2+2 {
		t.Errorf("B holds %d connections to ctl-2 with both model connections in use, want %d", got, n2+2)
	}
	// B knew the route: it needed no redirect.
	if got := bmMetric(t, bMetrics, "jimm_redirects_followed_total"); got != 0 {
		t.Errorf("replica B followed %v redirects, want 0: it should have known the new route", got)
	}
}

// testBrokerMigrationBrokerKilled: jimmd is killed (SIGKILL) while a
// migration waits in VALIDATION and started again; the controllers finish
// the migration meanwhile, and the restarted broker takes the migration
// over once the dead process's lease runs out, records its end and flips
// the route. A jimmctl migrate --wait started before the kill rides it
// out.
func testBrokerMigrationBrokerKilled(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := bmModelOn(t, e, mm, "orphaned", "ctl-1")
	mconn := e.open(t, uuid)
	deploy(t, mconn, "postgresql", 2)
	want := comparableStatus(t, fullStatus(t, mconn))
	bmModelSet(t, mconn, map[string]any{bmPhaseDelayKey: "VALIDATION:4s"})

	waiter := *e.ctl
	waiter.Timeout = bmTakeoverWithin + time.Minute
	type result struct {
		res jimmproc.Result
		err error
	}
	waited := make(chan result, 1)
	go func() {
		res, err := waiter.Run(context.Background(), "migrate", "ctl-2", uuid, "--wait")
		waited <- result{res, err}
	}()
	var mig bmMigration
	eventually(t, 15*time.Second, "the migration reaches VALIDATION", func() error {
		res := e.run(t, "show-migration", uuid, "--format", "json")
		if res.ExitCode != 0 {
			return errors.New(res.String())
		}
		decodeStrictJSON(t, res.Stdout, &mig)
		if mig.Phase != "VALIDATION" {
			return fmt.Errorf("phase %s", mig.Phase)
		}
		return nil
	})

	var killed time.Time
	e.replaceBroker(t, func(old *jimmproc.Process) {
		old.Kill()
		killed = time.Now()
	}, " after SIGKILL")
	t.Logf("jimmd killed in VALIDATION and started again in %s", time.Since(killed).Round(time.Millisecond))

	done := bmWaitMigration(t, e.ctl, strconv.FormatInt(mig.ID, 10), bmTakeoverWithin)
	if done.Result != "succeeded" || done.Phase != "DONE" || done.EndedAt == nil {
		t.Fatalf("the migration after the broker's restart: %+v, want succeeded in DONE", done)
	}
	// With a 15s lease, looked for every 5s, expect about 20s.
	t.Logf("the restarted broker ended the migration %s after the kill", done.EndedAt.Sub(killed).Round(time.Millisecond))
	if m := bmShowModel(t, e.ctl, uuid); m.Controller != "ctl-2" {
		t.Errorf("show-model after the migration: %q, want ctl-2", m.Controller)
	}
	pid, port2 := e.broker().Pid(), portOf(t, e.ctls["ctl-2"].Addr)
	n := bmConns(t, pid, port2)
	sameStatus(t, "FullStatus through the restarted broker", want, comparableStatus(t, fullStatus(t, e.open(t, uuid))))
	if got := bmConns(t, pid, port2); got != n+1 {
		t.Errorf("the restarted broker holds %d connections to ctl-2 after a login, want %d", got, n+1)
	}
	select {
	case r := <-waited:
		if r.err != nil || r.res.ExitCode != 0 {
			t.Errorf("migrate --wait started before the kill: %v %s", r.err, r.res)
		} else if !strings.Contains(r.res.Stdout, "succeeded") {
			t.Errorf("migrate --wait started before the kill printed:\n%s", r.res.Stdout)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("migrate --wait started before the kill has not returned 30s after the migration ended")
	}
}

// testBrokerMigrationCutover: from SUCCESS until the route flips, a new
// model connection through the broker waits rather than fails. With the
// migration held in SUCCESS (for 5 s, under the broker's 10 s bound on
// the wait), a login made then returns only once the route names ctl-2
// (no redirect followed), its FullStatus is answered by ctl-2, and the
// broker counts the wait in jimm_cutover_wait_seconds; the migration
// counts one success and one route flip.
func testBrokerMigrationCutover(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	metrics := e.metricsAddr()
	ctl1, ctl2 := e.ctls["ctl-1"], e.ctls["ctl-2"]
	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := bmModelOn(t, e, mm, "cutover", "ctl-1")
	mconn := e.open(t, uuid)
	deploy(t, mconn, "postgresql", 2)
	want := comparableStatus(t, fullStatus(t, mconn))
	bmModelSet(t, mconn, map[string]any{bmPhaseDelayKey: "SUCCESS:5s"})

	const (
		waitsMetric     = "jimm_cutover_wait_seconds_count"
		waitedMetric    = "jimm_cutover_wait_seconds_sum"
		flipsMetric     = "jimm_route_flips_total"
		succeededMetric = `jimm_migrations_total{result="succeeded"}`
		redirectsMetric = "jimm_redirects_followed_total"
	)
	waits, waited := bmMetric(t, metrics, waitsMetric), bmMetric(t, metrics, waitedMetric)
	flips, redirects := bmMetric(t, metrics, flipsMetric), bmMetric(t, metrics, redirectsMetric)
	succeeded, _ := bmTryMetric(t, metrics, succeededMetric) // no series before the first success

	var started bmMigration
	decodeStrictJSON(t, e.jimmctl(t, "migrate", "ctl-2", uuid, "--format", "json"), &started)
	ref := strconv.FormatInt(started.ID, 10)
	eventually(t, time.Minute, "jimmctl show-migration shows migration "+ref+" in SUCCESS", func() error {
		m := bmShowMigration(t, e.ctl, ref)
		if m.Result != "running" {
			t.Fatalf("migration %s ended before the test saw it in SUCCESS: %+v", ref, m)
		}
		if m.Phase != "SUCCESS" {
			return fmt.Errorf("phase %s", m.Phase)
		}
		return nil
	})
	if m := bmShowModel(t, e.ctl, uuid); m.Controller != "ctl-1" {
		t.Fatalf("show-model in SUCCESS: %q, want ctl-1 (the route flips later)", m.Controller)
	}

	// A new model connection now: held until the route flips, then on
	// ctl-2. No other model connection logs in or calls until the
	// migration ends: a call that reached ctl-1 after it let the model go
	// would make the broker follow ctl-1's redirect, a second route flip.
	// (The Juju client's own pings come every minute.)
	pid, port1, port2 := e.broker().Pid(), portOf(t, ctl1.Addr), portOf(t, ctl2.Addr)
	n2 := bmConns(t, pid, port2)
	start := time.Now()
	conn, err := e.tryOpen(uuid)
	if err != nil {
		t.Fatalf("login through the broker to model cutover in SUCCESS: %v (code %q)", err, errCode(err))
	}
	t.Cleanup(func() { conn.Close() })
	t.Logf("a login made in SUCCESS returned after %s", time.Since(start).Round(time.Millisecond))
	if m := bmShowModel(t, e.ctl, uuid); m.Controller != "ctl-2" {
		t.Errorf("show-model right after a login made during the cutover returned: %q, want ctl-2 (the login waits for the route to flip)", m.Controller)
	}
	n1 := bmConns(t, pid, port1)
	sameStatus(t, "FullStatus on a connection opened during the cutover", want, comparableStatus(t, fullStatus(t, conn)))
	if got1, got2 := bmConns(t, pid, port1), bmConns(t, pid, port2); got1 != n1 || got2 != n2+1 {
		t.Errorf("the broker holds %d connections to ctl-1 and %d to ctl-2 after the call on the connection opened during the cutover; "+
			"want %d and %d (one more to ctl-2: it is served by the target)", got1, got2, n1, n2+1)
	}
	if got := bmMetric(t, metrics, redirectsMetric); got != redirects {
		t.Errorf("%s = %v after the login made during the cutover, want still %v: the login went to ctl-1 and was redirected", redirectsMetric, got, redirects)
	}

	done := bmWaitMigration(t, e.ctl, ref, time.Minute)
	if done.Result != "succeeded" || done.Phase != "DONE" {
		t.Fatalf("the migration: %+v, want succeeded in DONE", done)
	}
	if got := bmMetric(t, metrics, waitsMetric); got != waits+1 {
		t.Errorf("%s = %v after one login during the cutover, want %v", waitsMetric, got, waits+1)
	} else {
		t.Logf("the broker held the login for %.3fs (%s)", bmMetric(t, metrics, waitedMetric)-waited, waitedMetric)
	}
	if got := bmMetric(t, metrics, flipsMetric); got != flips+1 {
		t.Errorf("%s = %v after the migration, want %v", flipsMetric, got, flips+1)
	}
	if got, _ := bmTryMetric(t, metrics, succeededMetric); got != succeeded+1 {
		t.Errorf("%s = %v after the migration, want %v", succeededMetric, got, succeeded+1)
	}
}

// testBrokerMigrationWatchersClosed: when a model moves, the broker closes
// only the model connections holding server-side objects (a request of
// theirs carried an "id", as a watcher's calls do), with close status 1001
// (going away) and a reason telling the client to reconnect. A connection
// holding none stays open and moves to the target at its next call.
func testBrokerMigrationWatchersClosed(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	ctl2 := e.ctls["ctl-2"]
	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := bmModelOn(t, e, mm, "watched", "ctl-1")
	plain := e.open(t, uuid)
	deploy(t, plain, "postgresql", 2)
	want := comparableStatus(t, fullStatus(t, plain))

	// A bare connection that calls AllWatcher.Next on watcher "1": the
	// development controller has no such watcher and says so; what
	// matters is that the broker relayed a request naming an object.
	watcher := e.dialRaw(t, "/model/"+uuid+"/api")
	if resp := watcher.login(brokerAdminPassword); resp.Error != "" {
		t.Fatalf("raw login on model watched: %s (%s)", resp.Error, resp.ErrorCode)
	}
	resp := watcher.callOn("AllWatcher", 1, "1", "Next", struct{}{})
	t.Logf("AllWatcher.Next on watcher 1: error %q (code %q)", resp.Error, resp.ErrorCode)

	if res := e.run(t, "migrate", "ctl-2", uuid, "--wait"); res.ExitCode != 0 {
		t.Fatalf("migrate --wait: %s", res)
	}
	const moved = "the model moved to another controller: reconnect"
	if ce := watcher.awaitClose(30 * time.Second); ce != nil && (ce.Code != websocket.CloseGoingAway || ce.Text != moved) {
		t.Errorf("the connection holding a watcher was closed with status %d (%q), want %d (%q)", ce.Code, ce.Text, websocket.CloseGoingAway, moved)
	}

	// The connection without one goes on, on ctl-2.
	select {
	case <-plain.Broken():
		t.Fatalf("the model connection holding no watcher was closed when the model moved")
	default:
	}
	pid, port2 := e.broker().Pid(), portOf(t, ctl2.Addr)
	n2 := bmConns(t, pid, port2)
	sameStatus(t, "FullStatus on the connection holding no watcher, after the move", want, comparableStatus(t, fullStatus(t, plain)))
	if got := bmConns(t, pid, port2); got != n2+1 {
		t.Errorf("the broker holds %d connections to ctl-2 after the call on the connection holding no watcher, want %d (one more: it moved to the target)", got, n2+1)
	}
}

// testBrokerMigrationAllWatcherFollows: a client's AllWatcher (opened
// with the Juju Go client's Client.WatchAll, as the dashboard opens one)
// survives its model's migration: the Next waiting during the move is
// answered with the model's entities as the target has them, never with
// their removal, on the same connection and watcher; later changes made
// on the target reach it; Stop works.
func testBrokerMigrationAllWatcherFollows(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := bmModelOn(t, e, mm, "watched-live", "ctl-1")
	conn := e.open(t, uuid)
	deploy(t, conn, "postgresql", 2)
	w, err := client.NewClient(conn, testLogger{t}).WatchAll()
	if err != nil {
		t.Fatalf("WatchAll: %v", err)
	}
	defer w.Stop()
	first, err := w.Next()
	if err != nil {
		t.Fatalf("the first Next: %v", err)
	}
	if units := deltaIDs(first, "unit", false); !slices.Equal(units, []string{"postgresql/0", "postgresql/1"}) {
		t.Fatalf("the first Next's units: %v", units)
	}
	type next struct {
		deltas []params.Delta
		err    error
	}
	answers := make(chan next, 4)
	go func() {
		for {
			d, err := w.Next()
			answers <- next{d, err}
			if err != nil {
				return
			}
		}
	}()
	if res := e.run(t, "migrate", "ctl-2", uuid, "--wait"); res.ExitCode != 0 {
		t.Fatalf("migrate --wait: %s", res)
	}
	if host := e.modelsByController(t)[uuid]; host != "ctl-2" {
		t.Fatalf("the model is on %s after the migration", host)
	}
	// Add a unit on the target, through a new connection: the watcher
	// must see it, whatever it answered during the move.
	other := e.open(t, uuid)
	added, err := application.NewClient(other).AddUnits(application.AddUnitsParams{ApplicationName: "postgresql", NumUnits: 1})
	if err != nil || len(added) != 1 {
		t.Fatalf("AddUnits on the target: %v %v", added, err)
	}
	deadline := time.After(30 * time.Second)
	for seen := false; !seen; {
		select {
		case a := <-answers:
			if a.err != nil {
				t.Fatalf("the watcher's Next across the migration: %v", a.err)
			}
			if removed := deltaIDs(a.deltas, "", true); len(removed) > 0 {
				t.Fatalf("the watcher was told of removals during the migration: %v", removed)
			}
			seen = slices.Contains(deltaIDs(a.deltas, "unit", false), added[0])
		case <-deadline:
			t.Fatalf("the watcher did not see unit %s added on the target within 30s", added[0])
		}
	}
	select {
	case <-conn.Broken():
		t.Fatal("the connection holding the watcher was closed by the migration")
	default:
	}
	if err := w.Stop(); err != nil {
		t.Fatalf("Stop after the migration: %v", err)
	}
}

// deltaIDs lists the ids of the entities of kind ("" any) in deltas,
// changed or, with removed, removed; sorted.
func deltaIDs(deltas []params.Delta, kind string, removed bool) []string {
	var out []string
	for _, d := range deltas {
		id := d.Entity.EntityId()
		if (kind == "" || id.Kind == kind) && d.Removed == removed {
			out = append(out, id.Kind+":"+id.Id)
			if kind != "" {
				out[len(out)-1] = id.Id
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestBrokerMigrationRESTType checks that bmMigration has exactly the
// fields and tags of restapi.Migration.
func TestBrokerMigrationRESTType(t *testing.T) {
	t.Parallel()
	checkMirrors(t, "types.go", map[string]any{"Migration": bmMigration{}, "MigrationPlan": fleetPlan{}, "AgentLimits": fleetLimits{}})
}

// bmMigration mirrors restapi.Migration (TestBrokerMigrationRESTType
// keeps it in step).
type bmMigration struct {
	ID             int64      `json:"id" yaml:"id"`
	ModelUUID      string     `json:"model-uuid" yaml:"model-uuid"`
	ModelName      string     `json:"model-name" yaml:"model-name"`
	Owner          string     `json:"owner" yaml:"owner"`
	Source         string     `json:"source" yaml:"source"`
	Target         string     `json:"target" yaml:"target"`
	ControllerID   string     `json:"controller-migration-id,omitempty" yaml:"controller-migration-id,omitempty"`
	Phase          string     `json:"phase" yaml:"phase"`
	Message        string     `json:"message,omitempty" yaml:"message,omitempty"`
	Result         string     `json:"result" yaml:"result"`
	StartedAt      time.Time  `json:"started-at" yaml:"started-at"`
	PhaseChangedAt time.Time  `json:"phase-changed-at" yaml:"phase-changed-at"`
	EndedAt        *time.Time `json:"ended-at,omitempty" yaml:"ended-at,omitempty"`
	// Plan is the broker's estimate before starting (fleet_ops_test.go
	// reads it).
	Plan *fleetPlan `json:"plan,omitempty" yaml:"plan,omitempty"`
}

// bmTryShowModel is jimmctl show-model --format json, decoded, for a
// goroutine: a failure to run, a non-zero exit or undecodable output is
// the error.
func bmTryShowModel(ctl *jimmproc.Ctl, uuid string) (restModel, error) {
	var m restModel
	res, err := ctl.Run(context.Background(), "show-model", uuid, "--format", "json")
	if err == nil && res.ExitCode != 0 {
		err = errors.New(res.String())
	}
	if err == nil {
		err = json.Unmarshal([]byte(res.Stdout), &m)
	}
	return m, err
}

// bmWatchGrace bounds how long a watch's polls may go on after the
// migration they watch has ended: a generous bound on "it happens at all".
const bmWatchGrace = 30 * time.Second

// bmTakeoverWithin bounds how long a restarted broker may take to take
// over a migration whose follower died (its lease is 15s): generous.
const bmTakeoverWithin = 2 * time.Minute

// bmWatch polls conditions in goroutines while a migration runs.
type bmWatch struct {
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// bmStartWatch returns a watch; its polls are stopped when the test ends
// at the latest.
func bmStartWatch(t testing.TB) *bmWatch {
	w := &bmWatch{stop: make(chan struct{})}
	t.Cleanup(func() { w.wait(0) })
	return w
}

// poll calls f, then every interval again, until f returns true (done)
// or the watch is stopped.
func (w *bmWatch) poll(every time.Duration, f func() (done bool)) {
	w.wg.Go(func() {
		for !f() {
			select {
			case <-w.stop:
				return
			case <-time.After(every):
			}
		}
	})
}

// wait gives the polls up to grace to be done, then stops them and waits
// until they returned.
func (w *bmWatch) wait(grace time.Duration) {
	watched := make(chan struct{})
	go func() { w.wg.Wait(); close(watched) }()
	select {
	case <-watched:
	case <-time.After(grace):
	}
	w.stopOnce.Do(func() { close(w.stop) })
	<-watched
}

// bmShowModel is jimmctl show-model --format json, decoded.
func bmShowModel(t testing.TB, ctl *jimmproc.Ctl, uuid string) restModel {
	t.Helper()
	var m restModel
	decodeStrictJSON(t, ctlOutput(t, ctl, "show-model", uuid, "--format", "json"), &m)
	return m
}

// bmShowMigration is jimmctl show-migration --format json, decoded.
func bmShowMigration(t testing.TB, ctl *jimmproc.Ctl, ref string) bmMigration {
	t.Helper()
	var m bmMigration
	decodeStrictJSON(t, ctlOutput(t, ctl, "show-migration", ref, "--format", "json"), &m)
	return m
}

// bmListMigrations is jimmctl migrations --format json, decoded.
func bmListMigrations(t testing.TB, ctl *jimmproc.Ctl) []bmMigration {
	t.Helper()
	var ms []bmMigration
	decodeStrictJSON(t, ctlOutput(t, ctl, "migrations", "--format", "json"), &ms)
	return ms
}

// bmWaitMigration polls show-migration until the migration ends.
func bmWaitMigration(t testing.TB, ctl *jimmproc.Ctl, ref string, within time.Duration) bmMigration {
	t.Helper()
	var m bmMigration
	eventually(t, within, "migration "+ref+" ends", func() error {
		m = bmShowMigration(t, ctl, ref)
		if m.Result == "running" {
			return fmt.Errorf("still running, in phase %s", m.Phase)
		}
		return nil
	})
	return m
}

// bmModelOn creates a model in localhost/east through the broker, placed
// on ctlName: the other controller of the region is deprecated meanwhile.
func bmModelOn(t testing.TB, e *brokerEnv, mm *modelmanager.Client, name, ctlName string) string {
	t.Helper()
	other := map[string]string{"ctl-1": "ctl-2", "ctl-2": "ctl-1"}[ctlName]
	e.jimmctl(t, "set-controller-deprecated", other, "true")
	info := createModel(t, e, mm, name, "east")
	e.jimmctl(t, "set-controller-deprecated", other, "false")
	if m := bmShowModel(t, e.ctl, info.UUID); m.Controller != ctlName {
		t.Fatalf("model %s went to %s, want %s", name, m.Controller, ctlName)
	}
	return info.UUID
}

// bmModelSet sets model config through a model connection.
func bmModelSet(t testing.TB, mconn api.Connection, cfg map[string]any) {
	t.Helper()
	if err := modelconfig.NewClient(mconn).ModelSet(cfg); err != nil {
		t.Fatalf("ModelSet %v: %v", cfg, err)
	}
}

// bmTryDirect logs in to a controller itself as its admin, with the
// address, CA and password from its controller.yaml.
func bmTryDirect(c *controller, modelUUID string) (api.Connection, error) {
	info := &api.Info{
		Addrs: c.File.APIAddresses, CACert: c.File.CACert,
		Tag: names.NewUserTag(c.File.AdminUser), Password: c.File.AdminPassword,
	}
	if modelUUID != "" {
		info.ModelTag = names.NewModelTag(modelUUID)
	}
	return api.Open(info, dialOpts)
}

// bmDirect is bmTryDirect that must succeed; the connection is closed when
// the test ends.
func bmDirect(t testing.TB, c *controller, modelUUID string) api.Connection {
	t.Helper()
	conn, err := bmTryDirect(c, modelUUID)
	if err != nil {
		t.Fatalf("login to controller %s itself (model %q): %v", c.Opts.Name, modelUUID, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// bmSourceInfo is ModelInfo of a model from its controller itself.
func bmSourceInfo(t testing.TB, c *controller, uuid string) params.ModelInfo {
	t.Helper()
	conn, err := bmTryDirect(c, "")
	if err != nil {
		t.Fatalf("login to controller %s itself: %v", c.Opts.Name, err)
	}
	defer conn.Close()
	infos, err := modelmanager.NewClient(conn).ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
	if err != nil || len(infos) != 1 || infos[0].Error != nil {
		t.Fatalf("ModelInfo of %s on controller %s itself: %+v, %v", uuid, c.Opts.Name, infos, err)
	}
	return *infos[0].Result
}

// bmNotOn fails the test if controller c (named name) lists the model,
// as its admin sees every model.
func bmNotOn(t testing.TB, c *controller, name, uuid string) {
	t.Helper()
	conn, err := bmTryDirect(c, "")
	if err != nil {
		t.Fatalf("login to controller %s itself: %v", name, err)
	}
	defer conn.Close()
	sums, err := modelmanager.NewClient(conn).ListModelSummaries("admin", true)
	if err != nil {
		t.Fatalf("ListModelSummaries on %s: %v", name, err)
	}
	if s, ok := findSummary(sums, uuid); ok {
		t.Errorf("controller %s has the model: %+v", name, s)
	}
}

// bmConns is connsTo that must succeed.
func bmConns(t testing.TB, pid, port int) int {
	t.Helper()
	n, err := connsTo(pid, port)
	if err != nil {
		t.Fatalf("connections of pid %d to port %d: %v", pid, port, err)
	}
	return n
}

// bmMetric reads a counter or gauge from a broker's metrics listener:
// the sum of the series that series selects. A bare name selects every
// series of that metric (summed over its labels); name{label="value",...}
// those whose labels include the ones given, e.g.
// jimm_migrations_total{result="succeeded"}. Some series must match.
func bmMetric(t testing.TB, addr, series string) float64 {
	t.Helper()
	v, found := bmTryMetric(t, addr, series)
	if !found {
		t.Fatalf("the broker's metrics at %s have no %s", addr, series)
	}
	return v
}

// bmTryMetric is bmMetric that reports whether any series matched rather
// than failing: a labelled counter has no series until it first counts.
func bmTryMetric(t testing.TB, addr, series string) (float64, bool) {
	t.Helper()
	name, want, err := bmParseSeries(series)
	if err != nil {
		t.Fatalf("metric selector %q: %v", series, err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("read metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("read metrics: %s", resp.Status)
	}
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		// name{labels} value, or name value (no timestamps here).
		head, value := name, strings.TrimPrefix(line, name)
		if strings.HasPrefix(value, "{") {
			end := strings.LastIndexByte(line, '}')
			head, value = line[:end+1], line[end+1:]
		}
		_, labels, err := bmParseSeries(head)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		if !bmLabelsInclude(labels, want) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum, found = sum+v, true
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read metrics: %v", err)
	}
	return sum, found
}

// bmParseSeries splits name{label="value",...} (Prometheus text format,
// values quoted with \\, \" and \n escapes) into the name and labels.
func bmParseSeries(s string) (string, map[string]string, error) {
	name, rest, ok := strings.Cut(s, "{")
	labels := map[string]string{}
	if !ok {
		return name, labels, nil
	}
	rest, ok = strings.CutSuffix(rest, "}")
	if !ok {
		return "", nil, errors.New("no closing }")
	}
	for rest != "" {
		key, after, ok := strings.Cut(rest, `="`)
		if !ok || key == "" {
			return "", nil, fmt.Errorf("want label=\"value\" at %q", rest)
		}
		var val strings.Builder
		i := 0
		for ; i < len(after) && after[i] != '"'; i++ {
			if after[i] == '\\' && i+1 < len(after) {
				i++
				if after[i] == 'n' {
					val.WriteByte('\n')
					continue
				}
			}
			val.WriteByte(after[i])
		}
		if i == len(after) {
			return "", nil, fmt.Errorf("label %s: unterminated value", key)
		}
		labels[strings.TrimSpace(key)] = val.String()
		rest = strings.TrimPrefix(strings.TrimSpace(after[i+1:]), ",")
	}
	return name, labels, nil
}

// bmLabelsInclude reports whether have holds every label of want, with
// the same value.
func bmLabelsInclude(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// bmWithoutModelStatus drops the model's status from a comparableStatus.
func bmWithoutModelStatus(v any) any {
	if m, ok := v.(map[string]any)["model"].(map[string]any); ok {
		delete(m, "model-status")
	}
	return v
}

// bmStatus is FullStatus on a model connection.
func bmStatus(conn api.Connection) (*params.FullStatus, error) {
	return client.NewClient(conn, bmNopLogger{}).Status(nil)
}

type bmNopLogger struct{}

func (bmNopLogger) Errorf(string, ...any) {}

// bmProbe calls FullStatus on a model connection every 10ms until
// finished, recording failures.
type bmProbe struct {
	stop, done chan struct{}
	stopOnce   sync.Once
	calls      int
	errs       []string
}

// bmStartProbe starts a probe; it is stopped when the test ends at the
// latest.
func bmStartProbe(t testing.TB, conn api.Connection) *bmProbe {
	p := &bmProbe{stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { p.halt() })
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			p.calls++
			if _, err := bmStatus(conn); err != nil {
				p.errs = append(p.errs, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
			}
		}
	}()
	return p
}

// finish stops the probe: a connection from before the migration must
// not see a single failed call while the model moves.
func (p *bmProbe) finish(t testing.TB, during string) {
	t.Helper()
	p.halt()
	t.Logf("a connection from before made %d FullStatus calls during %s; %d failed", p.calls, during, len(p.errs))
	if len(p.errs) > 0 {
		t.Errorf("FullStatus on a connection opened through the broker before the migration failed %d times during %s, from %s to %s",
			len(p.errs), during, p.errs[0], p.errs[len(p.errs)-1])
	}
	if p.calls < 5 {
		t.Errorf("the probe made only %d calls during %s", p.calls, during)
	}
}

func (p *bmProbe) halt() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

// bmAddController starts one more controller trusting the broker, with
// extra flags, and registers it with jimmctl add-controller.
func bmAddController(t *testing.T, e *brokerEnv, name, region string, extra ...string) {
	t.Helper()
	// It lives as long as the scenario, not just this subtest.
	c := e.launchController(name, region, extra...)
	e.jimmctl(t, "add-controller", c.FilePath)
	e.waitStatus(t, name, "up", 10*time.Second)
}
