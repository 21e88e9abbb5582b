// Package controllers is the broker's view of the Juju controllers it
// fronts, the parts that need no database:
//
//   - [Endpoint] says how to reach a controller (addresses, pinned CA, TLS
//     server name) and dials it.
//   - [Client] is a logged-in controller connection (/api) with the typed
//     calls the broker makes; [Probe] verifies a controller before it is
//     registered.
//   - [Pool] keeps one shared Client per controller and re-dials after a
//     connection dies.
//   - [Health] pings every tracked controller and says which are up.
//   - [Place] orders the controllers eligible for a new model, and
//     [IsControllerFault] tells whether a failure should send the model to
//     the next one.
//
// The registry that stores controllers in the database builds on these.
package controllers
