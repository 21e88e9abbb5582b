package integration

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/machinemanager"
	"github.com/juju/juju/api/client/modelmanager"
	jujucontroller "github.com/juju/juju/api/controller/controller"
	"github.com/juju/juju/core/instance"
	"github.com/juju/juju/core/model"
	"github.com/juju/juju/core/network"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"
)

// migrationSpec is what `juju migrate` sends for a model going to c: the
// target's addresses, CA, UUID and admin credentials from its
// controller.yaml, under the alias alias.
func migrationSpec(uuid string, c *controller, alias string) jujucontroller.MigrationSpec {
	return jujucontroller.MigrationSpec{
		ModelUUID: uuid, TargetControllerUUID: c.File.UUID, TargetControllerAlias: alias,
		TargetAddrs: c.File.APIAddresses, TargetCACert: c.File.CACert,
		TargetUser: c.File.AdminUser, TargetPassword: c.File.AdminPassword,
	}
}

// sameStatus fails the test if got differs from want (each a
// comparableStatus); what names got.
func sameStatus(t testing.TB, what string, want, got any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s differs:\nbefore %s\nafter  %s", what, statusJSON(want), statusJSON(got))
	}
}

func statusJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// addMachines adds n machines to a model.
func addMachines(t testing.TB, mconn api.Connection, n int) {
	t.Helper()
	machines, err := machinemanager.NewClient(mconn).AddMachines(slices.Repeat([]params.AddMachineParams{{
		Jobs: []model.MachineJob{model.JobHostUnits}, Base: &params.Base{Name: "ubuntu", Channel: "22.04"},
	}}, n))
	if err != nil || len(machines) != n {
		t.Fatalf("AddMachines: %+v, %v", machines, err)
	}
	for _, m := range machines {
		if m.Error != nil {
			t.Fatalf("AddMachines: %v", m.Error)
		}
	}
}

// addUnitsOn adds units of app to a model, one on each of the machines.
func addUnitsOn(t testing.TB, mconn api.Connection, app string, machines []int) {
	t.Helper()
	var placement []*instance.Placement
	for _, m := range machines {
		placement = append(placement, &instance.Placement{Scope: instance.MachineScope, Directive: strconv.Itoa(m)})
	}
	n := len(machines)
	added, err := application.NewClient(mconn).AddUnits(application.AddUnitsParams{ApplicationName: app, NumUnits: n, Placement: placement})
	if err != nil || len(added) != n {
		t.Fatalf("AddUnits %s: %v, %v", app, added, err)
	}
}

// populate gives a model 5 machines and 3 applications with 20 units
// spread over them, and returns the number of units.
func populate(t testing.TB, mconn api.Connection) int {
	t.Helper()
	addMachines(t, mconn, 5)
	units := 0
	for i, app := range []string{"postgresql", "redis", "web"} {
		deploy(t, mconn, app, 0)
		var machines []int
		for j := range []int{7, 7, 6}[i] {
			machines = append(machines, (units+j)%5)
		}
		addUnitsOn(t, mconn, app, machines)
		units += len(machines)
	}
	return units
}

// waitMigrated follows ModelInfo.migration of a model on its source until
// the source answers with a redirect, and returns the migration statuses
// seen, in turn. It fails the test if ModelInfo answers another error, or
// the migration ends without moving the model.
func waitMigrated(t testing.TB, mm *modelmanager.Client, uuid string, within time.Duration) []string {
	t.Helper()
	var statuses []string
	eventually(t, within, "migration done", func() error {
		infos, err := mm.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
		switch {
		case err != nil:
			return err
		case infos[0].Error != nil && params.IsRedirect(infos[0].Error):
			return nil
		case infos[0].Error != nil:
			t.Fatalf("ModelInfo during migration: %v", infos[0].Error)
		}
		if mig := infos[0].Result.Migration; mig != nil {
			if len(statuses) == 0 || statuses[len(statuses)-1] != mig.Status {
				statuses = append(statuses, mig.Status)
			}
			if mig.End != nil {
				t.Fatalf("migration ended without moving the model: %q", mig.Status)
			}
		}
		return errors.New("still migrating")
	})
	return statuses
}

// comparableStatus renders a FullStatus without its timestamps.
func comparableStatus(t testing.TB, st *params.FullStatus) any {
	t.Helper()
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var strip func(v any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "since")
			delete(x, "controller-timestamp")
			for _, e := range x {
				strip(e)
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	return v
}

// TestMigration moves a model with 5 machines, 3 applications and 20 units
// from ctl-a to ctl-b with the real Juju client: a target that is too old
// refuses it first; then the model arrives whole on ctl-b, and ctl-a
// redirects clients there.
func TestMigration(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	b := startController(t, "ctl-b")
	old := startController(t, "ctl-c", "--agent-version", "3.4.0")

	conn := a.admin(t, "")
	mm := modelmanager.NewClient(conn)
	info, err := mm.CreateModel("moving", "admin", "localhost", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	uuid := info.UUID
	mconn := a.admin(t, uuid)
	units := populate(t, mconn)
	before := fullStatus(t, mconn)
	if len(before.Machines) != 5 || len(before.Applications) != 3 {
		t.Fatalf("model before migration: %d machines, %d applications", len(before.Machines), len(before.Applications))
	}
	ctl := jujucontroller.NewClient(conn)

	// A target older than the model refuses it, and nothing changes.
	_, err = ctl.InitiateMigration(migrationSpec(uuid, old, "ctl-b"))
	const tooOld = "target prechecks failed: target controller version 3.4.0 is older than the model's 3.5.4"
	if err == nil || err.Error() != tooOld {
		t.Errorf("migration to ctl-c (3.4.0): %v, want %q", err, tooOld)
	}
	infos, err := mm.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
	if err != nil || infos[0].Error != nil || infos[0].Result.Migration != nil || infos[0].Result.Status.Status != "available" {
		t.Errorf("ModelInfo after a refused migration: %+v, %v", infos, err)
	}

	start := time.Now()
	id, err := ctl.InitiateMigration(migrationSpec(uuid, b, "ctl-b"))
	if err != nil {
		t.Fatalf("InitiateMigration: %v", err)
	}
	if id != uuid+":0" {
		t.Errorf("migration id %q, want %s:0", id, uuid)
	}
	statuses := waitMigrated(t, mm, uuid, 30*time.Second)
	t.Logf("migration of %d machines, %d units took %v; statuses seen: %q", len(before.Machines), units, time.Since(start), statuses)

	// On ctl-b: the same model, machines, applications, units, statuses.
	bconn := b.admin(t, uuid)
	after := fullStatus(t, bconn)
	sameStatus(t, "FullStatus on ctl-b, from ctl-a's before the migration,", comparableStatus(t, before), comparableStatus(t, after))
	checkApp(t, after, "postgresql", []string{"postgresql/0", "postgresql/1", "postgresql/2", "postgresql/3", "postgresql/4", "postgresql/5", "postgresql/6"})
	bmm := modelmanager.NewClient(b.admin(t, ""))
	if m, ok := findModel(listModels(t, bmm, "admin"), uuid); !ok || m.Name != "moving" {
		t.Errorf("ctl-b does not list the model: %+v", m)
	}

	// ctl-a redirects a login to the model, as Juju does.
	_, err = a.tryOpen("admin", adminPassword, uuid)
	var redir *api.RedirectError
	if !errors.As(err, &redir) {
		t.Fatalf("login to the migrated model on ctl-a: %v (%T), want *api.RedirectError", err, err)
	}
	endpoints := network.CollapseToHostPorts(redir.Servers).Strings()
	if redir.CACert != b.File.CACert || redir.ControllerTag.Id() != b.UUID || redir.ControllerAlias != "ctl-b" ||
		!slices.Equal(endpoints, b.File.APIAddresses) || redir.FollowRedirect {
		t.Errorf("redirect: ca matches %v, controller %s, alias %q, servers %v, follow %v; want ctl-b (%s) at %v",
			redir.CACert == b.File.CACert, redir.ControllerTag.Id(), redir.ControllerAlias, endpoints, redir.FollowRedirect, b.UUID, b.File.APIAddresses)
	}
	if _, ok := findModel(listModels(t, mm, "admin"), uuid); ok {
		t.Error("ctl-a still lists the migrated model")
	}
}
