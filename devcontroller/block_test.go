package devcontroller

import (
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func switchBlock(t *testing.T, cl *jujuapi.Client, method, typ, msg string) *params.Error {
	t.Helper()
	var res params.ErrorResult
	call(t, cl, "Block", 2, method, params.BlockSwitchParams{Type: typ, Message: msg}, &res)
	return res.Error
}

func TestBlocks(t *testing.T) {
	dir := t.TempDir()
	c, stop := runController(t, dir)
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "reader", "pw")
	m := createModel(t, admin, "guarded", "admin")
	grantModel(t, admin, "reader", "read", m.UUID)
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	rc := mustLogin(t, c, "/model/"+m.UUID+"/api", "reader", "pw")
	deployApp(t, mc, "pg", 1)

	// A reader lists blocks but may not switch them.
	if e := switchBlock(t, rc, "SwitchBlockOn", params.BlockDestroy, ""); e == nil || e.Message != "permission denied" {
		t.Fatalf("reader switching a block on: %v", e)
	}
	wantItemError(t, "unknown type", switchBlock(t, mc, "SwitchBlockOn", "BlockAll", ""), jujuapi.CodeNotValid,
		`unknown block type "BlockAll" (BlockDestroy, BlockRemove or BlockChange)`)

	destroy := func() *params.Error {
		var res params.ErrorResults
		call(t, admin, "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + m.UUID}}}, &res)
		return res.Results[0].Error
	}
	removeMachine := func() error {
		return mc.Call(t.Context(), "MachineManager", 10, "DestroyMachineWithParams", params.DestroyMachinesParams{MachineTags: []string{"machine-0"}, DryRun: true}, nil)
	}
	removeApp := func() error {
		return mc.Call(t.Context(), "Application", 19, "DestroyApplication", params.DestroyApplicationsParams{Applications: []params.DestroyApplicationParams{{ApplicationTag: "application-pg", DryRun: true}}}, nil)
	}
	change := func() error {
		return mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"ftp-proxy": "x"}}, nil)
	}
	addMachine := func() error {
		return mc.Call(t.Context(), "MachineManager", 10, "AddMachines", params.AddMachines{MachineParams: []params.AddMachineParams{{}}}, nil)
	}

	const blocked = jujuapi.CodeOperationBlocked
	steps := []struct {
		block, msg string
		// what each kind of operation gets: "" for allowed, else the
		// refusal's message.
		destroy, remove, change string
	}{
		{params.BlockDestroy, "keep it", "keep it", "", ""},
		{params.BlockRemove, "", "the operation has been blocked", "the operation has been blocked", ""},
		{params.BlockChange, "frozen", "frozen", "frozen", "frozen"},
	}
	for _, st := range steps {
		t.Run(st.block, func(t *testing.T) {
			if e := switchBlock(t, mc, "SwitchBlockOn", st.block, st.msg); e != nil {
				t.Fatal(e)
			}
			var list params.BlockResults
			call(t, rc, "Block", 2, "List", nil, &list)
			if len(list.Results) != 1 || list.Results[0].Result.Type != st.block || list.Results[0].Result.Message != st.msg ||
				list.Results[0].Result.Tag != "model-"+m.UUID || list.Results[0].Result.Id == "" {
				t.Fatalf("blocks listed: %+v", list)
			}
			check := func(what string, err error, want string) {
				t.Helper()
				if want == "" {
					if err != nil {
						t.Fatalf("%s under %s: %v", what, st.block, err)
					}
					return
				}
				wantCode(t, err, blocked, want)
			}
			if e := destroy(); st.destroy == "" {
				t.Fatal("no block refused destroy")
			} else {
				wantItemError(t, "destroy-model", e, blocked, st.destroy)
			}
			check("remove-machine", removeMachine(), st.remove)
			check("remove-application", removeApp(), st.remove)
			check("model-config", change(), st.change)
			check("add-machine", addMachine(), st.change)
			if e := switchBlock(t, mc, "SwitchBlockOff", st.block, ""); e != nil {
				t.Fatal(e)
			}
		})
	}

	// Blocks survive a restart.
	if e := switchBlock(t, mc, "SwitchBlockOn", params.BlockDestroy, "still here"); e != nil {
		t.Fatal(e)
	}
	stop()
	c = startController(t, dir)
	admin = mustLogin(t, c, "/api", "admin", "secret")
	wantItemError(t, "destroy-model after restart", destroy(), blocked, "still here")
}

// What show-controller and disabled-commands --all read on /api.
func TestControllerListings(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")
	bob := mustLogin(t, c, "/api", "bob", "bobpw")
	m := createModel(t, admin, "listed", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	if e := switchBlock(t, mc, "SwitchBlockOn", params.BlockRemove, ""); e != nil {
		t.Fatal(e)
	}
	var blocked params.ModelBlockInfoList
	call(t, admin, "Controller", 11, "ListBlockedModels", nil, &blocked)
	if len(blocked.Models) != 1 || blocked.Models[0].UUID != m.UUID || len(blocked.Models[0].Blocks) != 1 || blocked.Models[0].Blocks[0] != params.BlockRemove {
		t.Fatalf("blocked models: %+v", blocked)
	}
	var all params.UserModelList
	call(t, admin, "Controller", 11, "AllModels", nil, &all)
	if len(all.UserModels) != 2 {
		t.Fatalf("all models: %+v", all)
	}
	var ms params.ModelStatusResults
	call(t, admin, "Controller", 11, "ModelStatus", params.Entities{Entities: []params.Entity{{Tag: "model-" + m.UUID}}}, &ms)
	if ms.Results[0].Life != "alive" {
		t.Fatalf("model status: %+v", ms)
	}
	err := admin.Call(t.Context(), "Controller", 11, "MongoVersion", nil, nil)
	wantCode(t, err, jujuapi.CodeNotSupported, "the development controller keeps its state without MongoDB")
	for _, method := range []string{"AllModels", "ListBlockedModels", "MongoVersion"} {
		err := bob.Call(t.Context(), "Controller", 11, method, nil, nil)
		wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")
	}
	// The lxd cloud has an endpoint, as a Juju controller's does.
	var clouds params.CloudsResult
	call(t, admin, "Cloud", 7, "Clouds", nil, &clouds)
	if ep := clouds.Clouds["cloud-localhost"].Endpoint; ep != DefaultLXDEndpoint {
		t.Fatalf("cloud endpoint %q", ep)
	}
}
