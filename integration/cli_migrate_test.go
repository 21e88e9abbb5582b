package integration

// CLI cases: item 13, juju
// migrate <model> <controller>. The CLI asks the model's controller (the
// broker) for ModelInfo, the target controller itself (from the client's
// own store) for UserManager.UserInfo, then the broker for
// Controller(11).InitiateMigration naming the target by UUID and alias.
// When the target is registered with the broker, the broker runs the same
// migration as jimmctl migrate (prechecks, flip: clients are never
// redirected); otherwise it refuses, clearly.

import (
	"strings"
	"testing"
	"time"
)

func init() {
	registerCLI(
		cliCase{"13-migrate", "registered-controller", cliMigrateRegistered},
		cliCase{"13-migrate", "unregistered-controller-refused", cliMigrateUnregistered},
	)
}

func cliMigrateRegistered(t *testing.T, s *cliSuite) {
	name := s.modelName("migrate")
	uuid := bmModelOn(t, s.e, s.mm, name, "ctl-1")
	c := s.newCLI(t, &cliAdminAccount)
	s.addDirectController(t, c, "ctl-2")
	res := s.ok(t, c, "migrate", name, "ctl-2")
	if !strings.Contains(res.Stderr, "Migration started with ID") {
		t.Errorf("juju migrate does not say it started:\n%s", res)
	}
	m := bmWaitMigration(t, s.e.ctl, uuid, 2*time.Minute)
	if m.Result != "succeeded" || m.Source != "ctl-1" || m.Target != "ctl-2" {
		t.Fatalf("the broker's migration of %s after juju migrate: %+v; want ctl-1 → ctl-2, succeeded", name, m)
	}
	if got := s.e.modelsByController(t)[uuid]; got != "ctl-2" {
		t.Errorf("after juju migrate the broker routes %s to %s, want ctl-2", name, got)
	}
	// Through the broker nothing changed for the client: same name, same
	// controller (the broker), no redirect.
	var st cliStatus
	s.json(t, c, &st, "status", "-m", name)
	if st.Model.Name != name || st.Model.Controller != cliControllerName || st.Model.Status.Current != "available" {
		t.Errorf("juju status after juju migrate: %+v", st.Model)
	}
	var out map[string]cliModelInfo
	s.json(t, c, &out, "show-model", name)
	if got := out[name]; got.UUID != uuid || got.ControllerUUID != s.e.broker().UUID {
		t.Errorf("juju show-model after juju migrate: %+v", got)
	}
}

// cliMigrateUnregistered: a target the broker does not know is refused;
// the model stays, usable.
func cliMigrateUnregistered(t *testing.T, s *cliSuite) {
	name := s.modelName("migrate")
	uuid := bmModelOn(t, s.e, s.mm, name, "ctl-1")
	other := startController(t, "other", "--cloud", "localhost", "--region", "east")
	c := s.newCLI(t, &cliAdminAccount)
	f := other.File
	s.addDirectControllerFile(t, c, "other", f.UUID, f.APIAddresses, f.CACert, f.AdminUser, f.AdminPassword)
	res := s.run(t, c, "migrate", name, "other")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "ERROR ") ||
		!(strings.Contains(res.Stderr, "other") || strings.Contains(res.Stderr, f.UUID)) || strings.Contains(res.Stderr, "not implemented") {
		t.Errorf("juju migrate to a controller the broker does not know: want exit 1 with an ERROR naming it:\n%s", res)
	}
	for _, m := range bmListMigrations(t, s.e.ctl) {
		if m.ModelUUID == uuid {
			t.Errorf("the refused juju migrate recorded a migration: %+v", m)
		}
	}
	if got := s.e.modelsByController(t)[uuid]; got != "ctl-1" {
		t.Errorf("after the refused juju migrate the broker routes %s to %s, want ctl-1", name, got)
	}
	s.ok(t, c, "status", "-m", name)
}
