// Package routing is the broker's routing table: which controller hosts
// each model, and the model connections that follow it.
//
//   - [Table.Route] answers from a memory cache of the database's routes,
//     which every replica's change notifications invalidate.
//   - [Table.Flip] moves a route in one transaction and tells every
//     replica; [Table.Heal] follows a controller's redirect to a model
//     moved behind the broker's back, and [Table.Check] asks a controller
//     whether it still hosts a model.
//   - Cutovers: while a migration hands a model over, [Table.AwaitCutover]
//     holds new connections to it until its route flips.
//   - Live connections register as a [Conn], a small interface the model
//     proxy implements: the table tells them when their model's route
//     changed and when access changed, and never sees more of them.
//
// It imports db, controllers and authz; nothing of the endpoints (proxy,
// facades, admin) nor migration, which drive it.
package routing
