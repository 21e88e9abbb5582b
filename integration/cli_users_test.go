package integration

// CLI cases: more of item 12: show-controller without errors
// (Controller(11) ModelConfig, AllModels, MongoVersion — or "not
// supported" —, and ModelStatus), controller-config (the broker's own
// view), and add-user refused with a message that says people come from
// the identity provider.

import (
	"strings"
	"testing"
)

func init() {
	registerCLI(
		cliCase{"12-users", "show-controller-complete", cliShowControllerComplete},
		cliCase{"12-users", "controller-config", cliControllerConfig},
		cliCase{"12-users", "add-user-refused", cliAddUserRefused},
	)
}

func cliShowControllerComplete(t *testing.T, s *cliSuite) {
	name := s.modelName("ctl")
	mi := s.newModel(t, name, "east")
	var out map[string]cliShowController
	res := s.json(t, nil, &out, "show-controller")
	got := out[cliControllerName]
	if len(got.Errors) != 0 {
		t.Errorf("juju show-controller reports errors: %q", got.Errors)
	}
	if got.Details.ControllerModelVersion != "3.5.4" {
		t.Errorf("juju show-controller: controller-model-version %q, want 3.5.4", got.Details.ControllerModelVersion)
	}
	// Juju's show-controller keys models by name alone
	// (cmd/juju/controller/showcontroller.go).
	if m, ok := got.Models[name]; !ok {
		t.Errorf("juju show-controller lists models %v, not %s", keys(got.Models), name)
	} else if mm, _ := m.(map[string]any); mm["uuid"] != mi.UUID {
		t.Errorf("juju show-controller: %s is %v, want uuid %s", name, m, mi.UUID)
	}
	s.e.checkNoLeak(t, "juju show-controller", res.Stdout)
}

func cliControllerConfig(t *testing.T, s *cliSuite) {
	var cfg map[string]any
	res := s.json(t, nil, &cfg, "controller-config")
	if cfg["controller-uuid"] != s.e.broker().UUID {
		t.Errorf("juju controller-config: controller-uuid %v, want the broker's %s", cfg["controller-uuid"], s.e.broker().UUID)
	}
	if ca, _ := cfg["ca-cert"].(string); strings.TrimSpace(ca) != strings.TrimSpace(s.e.caPEM) {
		t.Errorf("juju controller-config: ca-cert is not the broker's CA")
	}
	s.e.checkNoLeak(t, "juju controller-config", res.Stdout)
	one := s.ok(t, nil, "controller-config", "controller-uuid")
	if strings.TrimSpace(one.Stdout) != s.e.broker().UUID {
		t.Errorf("juju controller-config controller-uuid printed %q", one.Stdout)
	}
	tab := s.ok(t, nil, "controller-config")
	wantFields(t, tab, "Attribute", "Attribute", "Value")
	wantFields(t, tab, "controller-uuid", "controller-uuid", s.e.broker().UUID)
}

func cliAddUserRefused(t *testing.T, s *cliSuite) {
	res := s.run(t, nil, "add-user", "carl")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "ERROR ") || !strings.Contains(res.Stderr, "identity provider") || strings.Contains(res.Stderr, "not implemented") {
		t.Errorf("juju add-user through the broker: want exit 1 with an ERROR that says people come from the identity provider:\n%s", res)
	}
	var users []cliUser
	s.json(t, nil, &users, "users")
	for _, u := range users {
		if u.UserName == "carl" {
			t.Errorf("juju users lists carl after add-user was refused")
		}
	}
}
