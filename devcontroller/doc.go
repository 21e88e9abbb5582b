// Package devcontroller is a Juju-compatible controller for development,
// demos, tests and benchmarks. Real Juju controllers need a cloud and
// MongoDB; this one keeps its state in a local file and simulates machines,
// which start the moment they are added. Where a client can see it — the
// wire protocol, facade versions, error codes and texts, access rules — it
// behaves as a Juju 3.5 controller does.
//
// Models migrate between development controllers as between Juju
// controllers: Controller.InitiateMigration on the source (migration.go),
// the MigrationTarget facade on the target (migrationtarget.go), a model
// export format of our own (migrationexport.go), and redirects for the
// models that left (redirect.go).
//
// Every machine and unit has an agent, simulated inside the controller
// that hosts its model but holding two real API connections (agents.go);
// agent logins are admitted by a token bucket (ratelimit.go) set by the
// controller config agent-ratelimit-max and agent-ratelimit-rate
// (controllerconfig.go), and in a migration's VALIDATION the agents move
// to the target and must all report within migration-agent-wait-time.
// GET /dev/agents (devagents.go) counts a model's connected agents.
//
// Secret backends (secretbackends.go) are Juju's SecretBackends facade on
// /api: superusers add vault and kubernetes backends (config kept as
// given, never contacted; an id of their own or the one given with
// `juju add-secret-backend --import-id`), update and remove them; anyone
// lists them, with the built-in "internal". Model config secret-backend
// is "auto", "internal" or a backend's name. A migrating model that uses
// a backend needs one with the same id on the target, and a model whose
// owner or users were removed on the target is refused there: Juju keeps
// removed users as "permanently deleted" (store.DeletedUser).
//
// The facades are registered in roots.go, each in its own file: the
// Cloud facade and credentials (cloud.go, credtag.go, modelcredential.go),
// model defaults (modeldefaults.go), constraints (constraints.go), blocks
// (block.go), bundles and what diff-bundle reads (bundle.go,
// annotations.go), model upgrades (upgrader.go), machines
// (machinemanager.go) and users (usermanager.go).
//
// Each model has a log (package modellog): its agents' lines, its events
// (modelevents.go) and its migrations' phases, served on
// /model/<uuid>/log as Juju's debug-log is (debuglog.go) and carried to a
// migration's target (logtransfer.go).
//
// Local charms are uploaded over the model's charms endpoints
// (charmshttp.go), read by package charm and kept with their archives
// (charmstore.go); the Charms facade describes them (charmsfacade.go), and
// a Charmhub charm gets Charmhub's own error (charmhub.go). Applications
// are deployed, configured (appconfig.go), related (relations.go),
// exposed (expose.go) and removed (application.go, units.go); their units
// run simulated hooks (hooks.go). The watchers (watchers.go) follow a
// multiwatcher store (package multiwatcher) that the watch feed keeps in
// step with the models' changes (watchfeed.go).
//
// A controller is created with New from a Config, serves with Serve, and
// writes controller.yaml (what `jimmctl add-controller` reads) into its data
// directory.
package devcontroller
