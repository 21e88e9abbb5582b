// Package params defines the request and response bodies of the Juju API
// calls this project sends and answers.
//
// The Go types are our own, but every JSON key, every omitempty choice and
// every wire type (string, number, object, RFC 3339 time) is chosen to match
// what a Juju 3.5 controller and its Go client put on the wire, so that
// values encoded here decode into Juju's rpc/params types and vice versa.
// Only the standard library is used: macaroons and other opaque blobs are
// carried as json.RawMessage, and Juju's named string types (life values,
// status values, access levels, versions) become Go strings or small string
// types declared here.
//
// Files are grouped by facade: admin.go (Admin), modelmanager.go
// (ModelManager), cloud.go (Cloud), controller.go (Controller),
// usermanager.go (UserManager), modelconfig.go (ModelConfig), status.go
// (Client.FullStatus), application.go (Application), machinemanager.go
// (MachineManager), migration.go (MigrationTarget), block.go (Block),
// bundle.go (Bundle), modelupgrader.go (ModelUpgrader) and annotations.go
// (Annotations); logs.go holds the records of the debug-log and logsink
// streams. Shapes shared by several facades live in common.go.
package params
