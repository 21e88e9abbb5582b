package integration

// CLI cases: item 8,
// upgrade-model. The CLI calls ModelConfig(3).ModelGet on the model,
// Controller(11).ModelConfig on /api (the controller model's config,
// with agent-version and uuid) and ModelUpgrader(1).UpgradeModel. The
// development controller is told which agent versions it has
// (--agent-versions); as in Juju a model goes no higher than its
// controller. So the case moves a model from a 3.5.4 controller to a
// 3.5.5 one (as an operator would after upgrading a controller), then
// upgrades it. Expectations follow Juju 3.5's apiserver
// (facades/client/modelupgrader) and cmd/juju/commands/upgrademodel.go.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func init() {
	registerCLI(
		cliCase{"08-upgrade-model", "up-to-date", cliUpgradeUpToDate},
		cliCase{"08-upgrade-model", "dry-run-and-agent-version", cliUpgradeModel},
	)
}

func cliUpgradeUpToDate(t *testing.T, s *cliSuite) {
	name := s.modelName("upgrade")
	s.newModel(t, name, "east")
	// Juju 3.5 offers a model its controller's version even when it is
	// at it (the controller picks its own version for a hosted model
	// before any up-to-date check); naming the model's own version is
	// "no upgrades available".
	res := s.ok(t, nil, "upgrade-model", "-m", name, "--dry-run")
	if !strings.Contains(res.Stderr, "best version:\n    3.5.4") {
		t.Errorf("juju upgrade-model --dry-run of a model at its controller's version:\n%s", res)
	}
	res = s.ok(t, nil, "upgrade-model", "-m", name, "--agent-version", "3.5.4")
	if !strings.Contains(res.Stderr, "no upgrades available") {
		t.Errorf("juju upgrade-model --agent-version of the model's own version:\n%s", res)
	}
}

func cliUpgradeModel(t *testing.T, s *cliSuite) {
	// Region north: ctl-n1 runs 3.5.4, ctl-n2 3.5.5 with agents of both.
	bmAddController(t, s.e, "ctl-n1", "north")
	bmAddController(t, s.e, "ctl-n2", "north", "--agent-version", "3.5.5", "--agent-versions", "3.5.4,3.5.5")
	name := s.modelName("upgrade")
	s.e.jimmctl(t, "set-controller-deprecated", "ctl-n2", "true")
	mi := s.newModel(t, name, "north")
	s.e.jimmctl(t, "set-controller-deprecated", "ctl-n2", "false")
	if got := s.e.modelsByController(t)[mi.UUID]; got != "ctl-n1" {
		t.Fatalf("model %s went to %s, want ctl-n1", name, got)
	}
	s.e.jimmctl(t, "migrate", "ctl-n2", mi.UUID)
	if m := bmWaitMigration(t, s.e.ctl, mi.UUID, 2*time.Minute); m.Result != "succeeded" {
		t.Fatalf("migration to ctl-n2: %+v", m)
	}
	var st cliStatus
	s.json(t, nil, &st, "status", "-m", name)
	if st.Model.Version != "3.5.4" || st.Model.UpgradeAvailable != "3.5.5" {
		t.Errorf("juju status of a 3.5.4 model on a 3.5.5 controller: version %q, upgrade-available %q; want 3.5.4, 3.5.5", st.Model.Version, st.Model.UpgradeAvailable)
	}

	res := s.ok(t, nil, "upgrade-model", "-m", name, "--dry-run")
	if !strings.Contains(res.Stderr, "best version:\n    3.5.5") || !strings.Contains(res.Stderr, "upgrade to this version by running\n    juju upgrade-model") {
		t.Errorf("juju upgrade-model --dry-run does not offer 3.5.5:\n%s", res)
	}
	wantConfig(t, cliConfig(t, s, name), "agent-version", "3.5.4", "model")
	s.refused(t, nil, `cannot upgrade to a version "3.5.6" greater than that of the controller "3.5.5"`, "upgrade-model", "-m", name, "--agent-version", "3.5.6")

	res = s.ok(t, nil, "upgrade-model", "-m", name, "--agent-version", "3.5.5")
	if !strings.Contains(res.Stdout, "started upgrade to 3.5.5") {
		t.Errorf("juju upgrade-model --agent-version 3.5.5:\n%s", res)
	}
	eventually(t, time.Minute, "the model reports agent version 3.5.5", func() error {
		var out map[string]cliModelInfo
		s.json(t, nil, &out, "show-model", name)
		if v := out[name].AgentVersion; v != "3.5.5" {
			return fmt.Errorf("show-model says agent-version %s", v)
		}
		return nil
	})
	st = cliStatus{} // decoding keeps what the JSON omits: upgrade-available is omitted when empty
	s.json(t, nil, &st, "status", "-m", name)
	if st.Model.Version != "3.5.5" || st.Model.UpgradeAvailable != "" {
		t.Errorf("juju status after the upgrade: version %q, upgrade-available %q", st.Model.Version, st.Model.UpgradeAvailable)
	}
	if res := s.ok(t, nil, "upgrade-model", "-m", name, "--dry-run"); !strings.Contains(res.Stderr, "best version:\n    3.5.5") {
		t.Errorf("juju upgrade-model --dry-run after the upgrade:\n%s", res)
	}
}
