package devcontroller

import (
	"context"

	"github.com/jimmbroker/jimm/jujuapi"
)

type root = jujuapi.Registry[*session]

// buildRoots returns the facades a connection sees, each at the versions
// a Juju 3.5 controller serves (jujuapi.Juju35): the first on /api, the
// second on /model/<uuid>/api; the third is what an agent sees once
// logged in (on either). Every method of a facade is served at every one
// of its versions.
func buildRoots() (*root, *root, *root) {
	ctl, mdl, agt := &root{}, &root{}, &root{}
	reg := func(r *root, facade, method string, fn jujuapi.Method[*session]) {
		r.Register(facade, jujuapi.Juju35.Versions(facade), method, fn)
	}
	for _, r := range []*root{ctl, mdl, agt} {
		reg(r, "Admin", "Login", jujuapi.Typed((*session).login))
		reg(r, "Admin", "RedirectInfo", jujuapi.NoParams((*session).redirectInfo))
		reg(r, "Pinger", "Ping", jujuapi.NoParams(func(*session, context.Context) (struct{}, error) {
			return struct{}{}, nil
		}))
	}
	for _, r := range []*root{ctl, mdl} {
		reg(r, "ModelConfig", "ModelGet", jujuapi.NoParams((*session).modelGet))
		reg(r, "ModelConfig", "ModelSet", jujuapi.Typed((*session).modelSet))
		reg(r, "ModelConfig", "ModelUnset", jujuapi.Typed((*session).modelUnset))
		reg(r, "ModelConfig", "GetModelConstraints", jujuapi.NoParams((*session).getModelConstraints))
		reg(r, "ModelConfig", "SetModelConstraints", jujuapi.Typed((*session).setModelConstraints))
		reg(r, "ModelConfig", "Sequences", jujuapi.NoParams((*session).sequences))
		reg(r, "Bundle", "ExportBundle", jujuapi.Typed((*session).exportBundle))
	}

	reg(ctl, "ModelManager", "ListModels", jujuapi.Typed((*session).listModels))
	reg(ctl, "ModelManager", "ListModelSummaries", jujuapi.Typed((*session).listModelSummaries))
	reg(ctl, "ModelManager", "ModelInfo", jujuapi.Typed((*session).modelInfo))
	reg(ctl, "ModelManager", "CreateModel", jujuapi.Typed((*session).createModel))
	reg(ctl, "ModelManager", "DestroyModels", jujuapi.Typed((*session).destroyModels))
	reg(ctl, "ModelManager", "ModelStatus", jujuapi.Typed((*session).modelStatus))
	reg(ctl, "ModelManager", "ModifyModelAccess", jujuapi.Typed((*session).modifyModelAccess))
	reg(ctl, "ModelManager", "ModelDefaultsForClouds", jujuapi.Typed((*session).modelDefaultsForClouds))
	reg(ctl, "ModelManager", "SetModelDefaults", jujuapi.Typed((*session).setModelDefaults))
	reg(ctl, "ModelManager", "UnsetModelDefaults", jujuapi.Typed((*session).unsetModelDefaults))
	reg(ctl, "ModelManager", "ChangeModelCredential", jujuapi.Typed((*session).changeModelCredential))
	reg(ctl, "Cloud", "Clouds", jujuapi.NoParams((*session).clouds))
	reg(ctl, "Cloud", "Cloud", jujuapi.Typed((*session).cloud))
	reg(ctl, "Cloud", "CloudInfo", jujuapi.Typed((*session).cloudInfo))
	reg(ctl, "Cloud", "ListCloudInfo", jujuapi.Typed((*session).listCloudInfo))
	reg(ctl, "Cloud", "UserCredentials", jujuapi.Typed((*session).userCredentials))
	reg(ctl, "Cloud", "Credential", jujuapi.Typed((*session).credential))
	reg(ctl, "Cloud", "CredentialContents", jujuapi.Typed((*session).credentialContents))
	reg(ctl, "Cloud", "AddCredentials", jujuapi.Typed((*session).addCredentials))
	reg(ctl, "Cloud", "UpdateCredentialsCheckModels", jujuapi.Typed((*session).updateCredentialsCheckModels))
	reg(ctl, "Cloud", "CheckCredentialsModels", jujuapi.Typed((*session).checkCredentialsModels))
	reg(ctl, "Cloud", "RevokeCredentialsCheckModels", jujuapi.Typed((*session).revokeCredentialsCheckModels))
	reg(ctl, "Controller", "ControllerVersion", jujuapi.NoParams((*session).controllerVersion))
	reg(ctl, "Controller", "GetControllerAccess", jujuapi.Typed((*session).getControllerAccess))
	reg(ctl, "Controller", "IdentityProviderURL", jujuapi.NoParams((*session).identityProviderURL))
	reg(ctl, "Controller", "InitiateMigration", jujuapi.Typed((*session).initiateMigration))
	reg(ctl, "Controller", "ControllerConfig", jujuapi.NoParams((*session).controllerConfig))
	reg(ctl, "Controller", "ConfigSet", jujuapi.Typed((*session).configSet))
	reg(ctl, "Controller", "ModelConfig", jujuapi.NoParams((*session).controllerModelConfig))
	reg(ctl, "Controller", "AllModels", jujuapi.NoParams((*session).allModels))
	reg(ctl, "Controller", "ModelStatus", jujuapi.Typed((*session).controllerModelStatus))
	reg(ctl, "Controller", "MongoVersion", jujuapi.NoParams((*session).mongoVersion))
	reg(ctl, "Controller", "ListBlockedModels", jujuapi.NoParams((*session).listBlockedModels))
	reg(ctl, "Controller", "WatchAllModels", jujuapi.NoParams((*session).watchAllModels))
	reg(ctl, "Controller", "WatchModelSummaries", jujuapi.NoParams((*session).watchModelSummaries))
	reg(ctl, "Controller", "WatchAllModelSummaries", jujuapi.NoParams((*session).watchAllModelSummaries))
	reg(ctl, "AllModelWatcher", "Next", jujuapi.NoParams((*session).allWatcherNext))
	reg(ctl, "AllModelWatcher", "Stop", jujuapi.NoParams((*session).allWatcherStop))
	reg(ctl, "ModelSummaryWatcher", "Next", jujuapi.NoParams((*session).summaryWatcherNext))
	reg(ctl, "ModelSummaryWatcher", "Stop", jujuapi.NoParams((*session).summaryWatcherStop))
	reg(ctl, "ModelUpgrader", "UpgradeModel", jujuapi.Typed((*session).upgradeModel))
	reg(ctl, "ModelUpgrader", "AbortModelUpgrade", jujuapi.Typed((*session).abortModelUpgrade))
	reg(ctl, "MigrationTarget", "Prechecks", jujuapi.Typed((*session).migrationPrechecks))
	reg(ctl, "MigrationTarget", "Import", jujuapi.Typed((*session).migrationImport))
	reg(ctl, "MigrationTarget", "Activate", jujuapi.Typed((*session).migrationActivate))
	reg(ctl, "MigrationTarget", "Abort", jujuapi.Typed((*session).migrationAbort))
	reg(ctl, "MigrationTarget", "LatestLogTime", jujuapi.Typed((*session).migrationLatestLogTime))
	reg(ctl, "MigrationTarget", "AdoptResources", jujuapi.Typed((*session).migrationAdoptResources))
	reg(ctl, "MigrationTarget", "CheckMachines", jujuapi.Typed((*session).migrationCheckMachines))
	reg(ctl, "MigrationTarget", "CACert", jujuapi.NoParams((*session).migrationCACert))
	reg(ctl, "UserManager", "UserInfo", jujuapi.Typed((*session).userInfo))
	reg(ctl, "UserManager", "AddUser", jujuapi.Typed((*session).addUser))
	reg(ctl, "UserManager", "RemoveUser", jujuapi.Typed((*session).removeUser))
	reg(ctl, "UserManager", "SetPassword", jujuapi.Typed((*session).setPassword))
	reg(ctl, "UserManager", "ModelUserInfo", jujuapi.Typed((*session).modelUserInfo))
	reg(ctl, "SecretBackends", "AddSecretBackends", jujuapi.Typed((*session).addSecretBackends))
	reg(ctl, "SecretBackends", "ListSecretBackends", jujuapi.Typed((*session).listSecretBackends))
	reg(ctl, "SecretBackends", "UpdateSecretBackends", jujuapi.Typed((*session).updateSecretBackends))
	reg(ctl, "SecretBackends", "RemoveSecretBackends", jujuapi.Typed((*session).removeSecretBackends))

	reg(mdl, "Client", "FullStatus", jujuapi.Typed((*session).fullStatus))
	reg(mdl, "Client", "WatchAll", jujuapi.NoParams((*session).watchAll))
	reg(mdl, "AllWatcher", "Next", jujuapi.NoParams((*session).allWatcherNext))
	reg(mdl, "AllWatcher", "Stop", jujuapi.NoParams((*session).allWatcherStop))
	reg(mdl, "Application", "Deploy", jujuapi.Typed((*session).deploy))
	reg(mdl, "Application", "AddUnits", jujuapi.Typed((*session).addUnits))
	reg(mdl, "Application", "DestroyApplication", jujuapi.Typed((*session).destroyApplication))
	reg(mdl, "Application", "DestroyUnit", jujuapi.Typed((*session).destroyUnit))
	reg(mdl, "Application", "GetConstraints", jujuapi.Typed((*session).applicationConstraints))
	reg(mdl, "Application", "CharmConfig", jujuapi.Typed((*session).charmConfig))
	reg(mdl, "Application", "Get", jujuapi.Typed((*session).get))
	reg(mdl, "Application", "SetConfigs", jujuapi.Typed((*session).setConfigs))
	reg(mdl, "Application", "UnsetApplicationsConfig", jujuapi.Typed((*session).unsetApplicationsConfig))
	reg(mdl, "Application", "AddRelation", jujuapi.Typed((*session).addRelation))
	reg(mdl, "Application", "DestroyRelation", jujuapi.Typed((*session).destroyRelation))
	reg(mdl, "Application", "Expose", jujuapi.Typed((*session).expose))
	reg(mdl, "Application", "Unexpose", jujuapi.Typed((*session).unexpose))
	reg(mdl, "Application", "CharmRelations", jujuapi.Typed((*session).charmRelations))
	reg(mdl, "Application", "ApplicationsInfo", jujuapi.Typed((*session).applicationsInfo))
	reg(mdl, "Application", "GetCharmURLOrigin", jujuapi.Typed((*session).getCharmURLOrigin))
	// DeployFromRepository came with version 18, unfinished there.
	mdl.Register("Application", []int{18}, "DeployFromRepository", jujuapi.Typed((*session).deployFromRepositoryV18))
	mdl.Register("Application", []int{19, 20}, "DeployFromRepository", jujuapi.Typed((*session).deployFromRepository))
	reg(mdl, "Charms", "CharmInfo", jujuapi.Typed((*session).charmInfo))
	reg(mdl, "Charms", "AddCharm", jujuapi.Typed((*session).addCharm))
	reg(mdl, "Charms", "List", jujuapi.Typed((*session).listCharms))
	reg(mdl, "Charms", "IsMetered", jujuapi.Typed((*session).isMetered))
	reg(mdl, "Charms", "CheckCharmPlacement", jujuapi.Typed((*session).checkCharmPlacement))
	reg(mdl, "Charms", "ListCharmResources", jujuapi.Typed((*session).listCharmResources))
	reg(mdl, "Charms", "ResolveCharms", jujuapi.Typed((*session).resolveCharms))
	reg(mdl, "MachineManager", "AddMachines", jujuapi.Typed((*session).addMachines))
	reg(mdl, "MachineManager", "DestroyMachineWithParams", jujuapi.Typed((*session).destroyMachineWithParams))
	reg(mdl, "Block", "List", jujuapi.NoParams((*session).listBlocks))
	reg(mdl, "Block", "SwitchBlockOn", jujuapi.Typed((*session).switchBlockOn))
	reg(mdl, "Block", "SwitchBlockOff", jujuapi.Typed((*session).switchBlockOff))
	reg(mdl, "Annotations", "Get", jujuapi.Typed((*session).annotationsGet))
	reg(mdl, "Annotations", "Set", jujuapi.Typed((*session).annotationsSet))
	return ctl, mdl, agt
}
