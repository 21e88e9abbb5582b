package integration

// CLI cases: item 14. The CLI's
// remove-machine (MachineManager(10).DestroyMachineWithParams), and the
// calls the Terraform provider for Juju makes with the Go client for a
// model's lifecycle (juju_model, juju_machine, juju_access_model,
// juju_user), replayed through the broker: after a migration, reading the
// model gives the same answers as before it, so a Terraform plan stays
// empty.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api/client/machinemanager"
	"github.com/juju/juju/api/client/modelconfig"
	"github.com/juju/juju/api/client/usermanager"
	"github.com/juju/juju/core/constraints"
	"github.com/juju/juju/core/model"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"
)

func init() {
	registerCLI(
		cliCase{"14-machines", "remove-machine", cliRemoveMachine},
		cliCase{"14-terraform", "model-lifecycle-go-client", cliTerraformLifecycle},
	)
}

func cliRemoveMachine(t *testing.T, s *cliSuite) {
	name := s.modelName("machines")
	s.newModel(t, name, "east")
	s.ok(t, nil, "add-machine", "-m", name)
	res := s.ok(t, nil, "remove-machine", "-m", name, "0", "--no-prompt")
	if !strings.Contains(res.Stdout+res.Stderr, "will remove machine 0") {
		t.Errorf("juju remove-machine 0 does not say it removes it:\n%s", res)
	}
	eventually(t, time.Minute, "machine 0 is gone", func() error {
		var st cliMachineList
		s.json(t, nil, &st, "machines", "-m", name)
		if len(st.Machines) != 0 {
			return fmt.Errorf("juju machines still lists %v", keys(st.Machines))
		}
		return nil
	})
}

// tfView is what the provider reads of a model (juju_model's and
// juju_access_model's state): it must not change across a migration.
type tfView struct {
	Info        string // ModelInfo's stable fields
	Config      map[string]any
	Constraints string
	Users       []string // user:access from ModelUserInfo
}

func tfRead(t *testing.T, s *cliSuite, uuid string) tfView {
	t.Helper()
	infos, err := s.mm.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
	if err != nil || len(infos) != 1 || infos[0].Error != nil {
		t.Fatalf("ModelInfo %s: %v %+v", uuid, err, infos)
	}
	mi := infos[0].Result
	var v tfView
	v.Info = fmt.Sprintf("name=%s type=%s uuid=%s controller=%s provider=%s base=%s cloud=%s region=%s credential=%s owner=%s life=%s agent=%v",
		mi.Name, mi.Type, mi.UUID, mi.ControllerUUID, mi.ProviderType, mi.DefaultBase, mi.CloudTag, mi.CloudRegion, mi.CloudCredentialTag, mi.OwnerTag, mi.Life, mi.AgentVersion)
	mconn := s.e.open(t, uuid)
	mc := modelconfig.NewClient(mconn)
	if v.Config, err = mc.ModelGet(); err != nil {
		t.Fatalf("ModelConfig.ModelGet: %v", err)
	}
	cons, err := mc.GetModelConstraints()
	if err != nil {
		t.Fatalf("ModelConfig.GetModelConstraints: %v", err)
	}
	v.Constraints = cons.String()
	users, err := usermanager.NewClient(s.e.open(t, "")).ModelUserInfo(uuid)
	if err != nil {
		t.Fatalf("UserManager.ModelUserInfo: %v", err)
	}
	for _, u := range users {
		v.Users = append(v.Users, fmt.Sprintf("%s:%s", u.UserName, u.Access))
	}
	slices.Sort(v.Users)
	return v
}

func cliTerraformLifecycle(t *testing.T, s *cliSuite) {
	// juju_model: create, then refresh (ModelInfo, ModelGet,
	// GetModelConstraints), then update config and constraints.
	name := s.modelName("tf")
	uuid := bmModelOn(t, s.e, s.mm, name, "ctl-1")
	mconn := s.e.open(t, uuid)
	mc := modelconfig.NewClient(mconn)
	if err := mc.ModelSet(map[string]any{"logging-config": "<root>=WARNING"}); err != nil {
		t.Fatalf("ModelConfig.ModelSet: %v", err)
	}
	if err := mc.SetModelConstraints(constraints.MustParse("cores=2 mem=2G")); err != nil {
		t.Fatalf("ModelConfig.SetModelConstraints: %v", err)
	}
	// juju_machine: add two, destroy one.
	mm := machinemanager.NewClient(mconn)
	added, err := mm.AddMachines([]params.AddMachineParams{{Jobs: []model.MachineJob{model.JobHostUnits}}, {Jobs: []model.MachineJob{model.JobHostUnits}}})
	if err != nil || len(added) != 2 || added[0].Error != nil || added[1].Error != nil {
		t.Fatalf("MachineManager.AddMachines: %v %+v", err, added)
	}
	destroyed, err := mm.DestroyMachinesWithParams(false, false, false, nil, added[1].Machine)
	if err != nil || len(destroyed) != 1 || destroyed[0].Error != nil || destroyed[0].Info == nil || destroyed[0].Info.MachineId != added[1].Machine {
		t.Fatalf("MachineManager.DestroyMachineWithParams %s: %v %+v", added[1].Machine, err, destroyed)
	}
	// juju_access_model: grant, then read back.
	if err := s.mm.GrantModel("bob@example.com", "write", uuid); err != nil {
		t.Fatalf("ModelManager.ModifyModelAccess (grant): %v", err)
	}
	// juju_user: refused, as people come from the identity provider.
	_, _, err = usermanager.NewClient(s.e.open(t, "")).AddUser("tf-user", "", "tf-password-123")
	if err == nil || !strings.Contains(err.Error(), "identity provider") || strings.Contains(err.Error(), "not implemented") {
		t.Errorf("UserManager.AddUser through the broker: %v; want a refusal that names the identity provider", err)
	}

	before := tfRead(t, s, uuid)
	if before.Constraints != "cores=2 mem=2048M" || before.Config["logging-config"] != "<root>=WARNING" || !slices.Contains(before.Users, "bob@example.com:write") {
		t.Errorf("what the provider reads: constraints %q, logging-config %v, users %v", before.Constraints, before.Config["logging-config"], before.Users)
	}
	// The operator moves the model; the provider's next refresh sees the
	// same model.
	s.e.jimmctl(t, "migrate", "ctl-2", uuid)
	if m := bmWaitMigration(t, s.e.ctl, uuid, 2*time.Minute); m.Result != "succeeded" {
		t.Fatalf("migration: %+v", m)
	}
	after := tfRead(t, s, uuid)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("what the provider reads changed across the migration:\nbefore %+v\nafter  %+v", before, after)
	}
}
