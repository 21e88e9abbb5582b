package devcontroller

import (
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func TestDestroyMachineWithParams(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "reader", "pw")
	m := createModel(t, admin, "machines", "admin")
	grantModel(t, admin, "reader", "read", m.UUID)
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	deployApp(t, mc, "pg", 2) // machines 0 and 1
	var added params.AddMachinesResults
	call(t, mc, "MachineManager", 10, "AddMachines", params.AddMachines{MachineParams: []params.AddMachineParams{{}}}, &added) // machine 2

	destroy := func(cl *jujuapi.Client, p params.DestroyMachinesParams) (params.DestroyMachineResults, error) {
		var res params.DestroyMachineResults
		err := cl.Call(t.Context(), "MachineManager", 10, "DestroyMachineWithParams", p, &res)
		return res, err
	}
	rc := mustLogin(t, c, "/model/"+m.UUID+"/api", "reader", "pw")
	_, err := destroy(rc, params.DestroyMachinesParams{MachineTags: []string{"machine-2"}})
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	res, err := destroy(mc, params.DestroyMachinesParams{MachineTags: []string{"machine-0", "machine-9", "nonsense"}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if info := res.Results[0].Info; info == nil || info.MachineId != "0" || len(info.DestroyedUnits) != 1 || info.DestroyedUnits[0].Tag != "unit-pg-0" {
		t.Fatalf("dry run: %+v", res.Results[0])
	}
	wantItemError(t, "unknown machine", res.Results[1].Error, jujuapi.CodeNotFound, "machine 9 not found")
	wantItemError(t, "bad tag", res.Results[2].Error, jujuapi.CodeNotValid, `"nonsense" is not a valid machine tag`)
	if len(fullStatusOf(t, mc).Machines) != 3 {
		t.Fatal("dry run removed something")
	}

	res, _ = destroy(mc, params.DestroyMachinesParams{MachineTags: []string{"machine-0", "machine-2"}})
	wantItemError(t, "machine with a unit", res.Results[0].Error, "machine has assigned units", `machine 0 has unit "pg/0" assigned`)
	if res.Results[1].Error != nil || res.Results[1].Info.MachineId != "2" {
		t.Fatalf("removing an empty machine: %+v", res.Results[1])
	}
	res, _ = destroy(mc, params.DestroyMachinesParams{MachineTags: []string{"machine-0"}, Force: true, Keep: true})
	if res.Results[0].Error != nil || len(res.Results[0].Info.DestroyedUnits) != 1 {
		t.Fatalf("forced removal: %+v", res.Results[0])
	}
	st := fullStatusOf(t, mc)
	if _, ok := st.Machines["0"]; ok || len(st.Machines) != 1 || len(st.Applications["pg"].Units) != 1 {
		t.Fatalf("after removals: machines %d, pg units %d", len(st.Machines), len(st.Applications["pg"].Units))
	}

	// The controller machine stays.
	cc := mustLogin(t, c, "/model/"+c.UUID()+"/api", "admin", "secret")
	res, _ = destroy(cc, params.DestroyMachinesParams{MachineTags: []string{"machine-0"}, Force: true})
	wantItemError(t, "controller machine", res.Results[0].Error, "", "controller 0 is the only controller")
}
