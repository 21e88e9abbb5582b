package devcontroller

import (
	"context"

	"github.com/jimmbroker/jimm/jujuapi"
)

type root = jujuapi.Registry[*session]

// buildRoots returns the facades a connection sees, with the versions a Juju
// 3.5 controller serves: the first on /api, the second on /model/<uuid>/api;
// the third is what an agent sees once logged in (on either).
func buildRoots() (*root, *root, *root) {
	ctl, mdl, agt := &root{}, &root{}, &root{}
	for _, r := range []*root{ctl, mdl, agt} {
		r.Register("Admin", []int{3}, "Login", jujuapi.Typed((*session).login))
		r.Register("Admin", []int{3}, "RedirectInfo", jujuapi.NoParams((*session).redirectInfo))
		r.Register("Pinger", []int{1}, "Ping", jujuapi.NoParams(func(*session, context.Context) (struct{}, error) {
			return struct{}{}, nil
		}))
	}
	for _, r := range []*root{ctl, mdl} {
		r.Register("ModelConfig", []int{3}, "ModelGet", jujuapi.NoParams((*session).modelGet))
		r.Register("ModelConfig", []int{3}, "ModelSet", jujuapi.Typed((*session).modelSet))
		r.Register("ModelConfig", []int{3}, "ModelUnset", jujuapi.Typed((*session).modelUnset))
	}

	mm := []int{9, 10}
	ctl.Register("ModelManager", mm, "ListModels", jujuapi.Typed((*session).listModels))
	ctl.Register("ModelManager", mm, "ListModelSummaries", jujuapi.Typed((*session).listModelSummaries))
	ctl.Register("ModelManager", mm, "ModelInfo", jujuapi.Typed((*session).modelInfo))
	ctl.Register("ModelManager", mm, "CreateModel", jujuapi.Typed((*session).createModel))
	ctl.Register("ModelManager", mm, "DestroyModels", jujuapi.Typed((*session).destroyModels))
	ctl.Register("ModelManager", mm, "ModelStatus", jujuapi.Typed((*session).modelStatus))
	ctl.Register("ModelManager", mm, "ModifyModelAccess", jujuapi.Typed((*session).modifyModelAccess))
	ctl.Register("Cloud", []int{7}, "Clouds", jujuapi.NoParams((*session).clouds))
	ctl.Register("Cloud", []int{7}, "Cloud", jujuapi.Typed((*session).cloud))
	ctl.Register("Controller", []int{11}, "ControllerVersion", jujuapi.NoParams((*session).controllerVersion))
	ctl.Register("Controller", []int{11}, "GetControllerAccess", jujuapi.Typed((*session).getControllerAccess))
	ctl.Register("Controller", []int{11}, "IdentityProviderURL", jujuapi.NoParams((*session).identityProviderURL))
	ctl.Register("Controller", []int{11}, "InitiateMigration", jujuapi.Typed((*session).initiateMigration))
	ctl.Register("Controller", []int{11}, "ControllerConfig", jujuapi.NoParams((*session).controllerConfig))
	ctl.Register("Controller", []int{11}, "ConfigSet", jujuapi.Typed((*session).configSet))
	mt := []int{1, 2, 3}
	ctl.Register("MigrationTarget", mt, "Prechecks", jujuapi.Typed((*session).migrationPrechecks))
	ctl.Register("MigrationTarget", mt, "Import", jujuapi.Typed((*session).migrationImport))
	ctl.Register("MigrationTarget", mt, "Activate", jujuapi.Typed((*session).migrationActivate))
	ctl.Register("MigrationTarget", mt, "Abort", jujuapi.Typed((*session).migrationAbort))
	ctl.Register("MigrationTarget", mt, "LatestLogTime", jujuapi.Typed((*session).migrationLatestLogTime))
	ctl.Register("MigrationTarget", mt, "AdoptResources", jujuapi.Typed((*session).migrationAdoptResources))
	ctl.Register("MigrationTarget", mt, "CheckMachines", jujuapi.Typed((*session).migrationCheckMachines))
	ctl.Register("MigrationTarget", mt, "CACert", jujuapi.NoParams((*session).migrationCACert))
	ctl.Register("UserManager", []int{3}, "UserInfo", jujuapi.Typed((*session).userInfo))
	ctl.Register("UserManager", []int{3}, "AddUser", jujuapi.Typed((*session).addUser))

	mdl.Register("Client", []int{6, 7}, "FullStatus", jujuapi.Typed((*session).fullStatus))
	app := []int{15, 16, 17, 18, 19, 20}
	mdl.Register("Application", app, "Deploy", jujuapi.Typed((*session).deploy))
	mdl.Register("Application", app, "AddUnits", jujuapi.Typed((*session).addUnits))
	mdl.Register("Application", app, "DestroyApplication", jujuapi.Typed((*session).destroyApplication))
	mdl.Register("MachineManager", []int{9, 10}, "AddMachines", jujuapi.Typed((*session).addMachines))
	return ctl, mdl, agt
}
