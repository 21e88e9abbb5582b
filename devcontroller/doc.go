// Package devcontroller is a Juju-compatible controller for development,
// demos, tests and benchmarks. Real Juju controllers need a cloud and
// MongoDB; this one keeps its state in a local file and simulates machines,
// which start the moment they are added. Where a client can see it — the
// wire protocol, facade versions, error codes and texts, access rules — it
// behaves as a Juju 3.5 controller does.
//
// A controller is created with New from a Config, serves with Serve, and
// writes controller.yaml (what `jimmctl add-controller` reads) into its data
// directory.
package devcontroller
