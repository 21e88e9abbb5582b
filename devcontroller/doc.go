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
// A controller is created with New from a Config, serves with Serve, and
// writes controller.yaml (what `jimmctl add-controller` reads) into its data
// directory.
package devcontroller
