package devcontroller

import (
	"testing"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func TestUpgradeModel(t *testing.T) {
	c := startController(t, t.TempDir(), func(cfg *Config) {
		cfg.AgentVersion = "3.5.5"
		cfg.AgentVersions = []string{"3.5.4"}
	})
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "reader", "pw")
	m := createModel(t, admin, "old", "admin")
	grantModel(t, admin, "reader", "read", m.UUID)
	// The model runs an older version, as one migrated from an older
	// controller does.
	if _, err := c.store.UpdateModel(t.Context(), m.UUID, func(m *store.Model) error { m.AgentVersion = "3.5.2"; return nil }); err != nil {
		t.Fatal(err)
	}
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	if st := fullStatusOf(t, mc); st.Model.Version != "3.5.2" || st.Model.AvailableVersion != "3.5.5" {
		t.Fatalf("status before: version %q, available %q", st.Model.Version, st.Model.AvailableVersion)
	}
	reader := mustLogin(t, c, "/api", "reader", "pw")
	upgrade := func(cl *jujuapi.Client, target string, dryRun bool) (params.UpgradeModelResult, error) {
		var res params.UpgradeModelResult
		err := cl.Call(t.Context(), "ModelUpgrader", 1, "UpgradeModel", params.UpgradeModelParams{ModelTag: "model-" + m.UUID, TargetVersion: target, DryRun: dryRun}, &res)
		return res, err
	}
	tests := []struct {
		name      string
		cl        *jujuapi.Client
		target    string
		chosen    string
		code, msg string
		callErr   bool
	}{
		{name: "reader", cl: reader, target: "0.0.0", callErr: true, code: jujuapi.CodeUnauthorized, msg: "permission denied"},
		{name: "best", cl: admin, target: "0.0.0", chosen: "3.5.5"},
		{name: "one it has", cl: admin, target: "3.5.4", chosen: "3.5.4"},
		{name: "one it lacks", cl: admin, target: "3.5.3", code: jujuapi.CodeNotFound, msg: "cannot find agents from simple streams: no matching agent binaries available"},
		{name: "above the controller", cl: admin, target: "3.5.6", callErr: true, msg: `cannot upgrade to a version "3.5.6" greater than that of the controller "3.5.5"`},
		{name: "not newer", cl: admin, target: "3.5.2", code: jujuapi.CodeAlreadyExists, msg: "no upgrades available"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := upgrade(tc.cl, tc.target, true)
			if tc.callErr {
				wantCode(t, err, tc.code, tc.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.msg != "" {
				wantItemError(t, tc.name, res.Error, tc.code, tc.msg)
				return
			}
			if res.Error != nil || res.ChosenVersion != tc.chosen {
				t.Fatalf("chose %q (%v), want %q", res.ChosenVersion, res.Error, tc.chosen)
			}
		})
	}
	// A dry run changed nothing; a real upgrade does, at once.
	if v := modelConfigOf(t, mc)["agent-version"].Value; v != "3.5.2" {
		t.Fatalf("agent-version after dry runs: %v", v)
	}
	if res, err := upgrade(admin, "3.5.4", false); err != nil || res.ChosenVersion != "3.5.4" {
		t.Fatalf("upgrade to 3.5.4: %v %+v", err, res)
	}
	if v := modelConfigOf(t, mc)["agent-version"].Value; v != "3.5.4" {
		t.Fatalf("agent-version after upgrade: %v", v)
	}
	var abort struct{}
	call(t, admin, "ModelUpgrader", 1, "AbortModelUpgrade", params.ModelParam{ModelTag: "model-" + m.UUID}, &abort)

	// Controller.ModelConfig is the controller model's, for superusers.
	var cfg params.ModelConfigResults
	call(t, admin, "Controller", 11, "ModelConfig", nil, &cfg)
	if v := cfg.Config["uuid"]; v.Value != c.UUID() || v.Source != "" {
		t.Fatalf("controller model config uuid: %+v", v)
	}
	err := reader.Call(t.Context(), "Controller", 11, "ModelConfig", nil, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")
}
