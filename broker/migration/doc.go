// Package migration moves models between the broker's controllers, as
// Juju does it: the broker checks the rules it can itself, records the
// migration, asks the source controller to migrate the model
// (Controller.InitiateMigration), follows its phases, and flips the
// model's route (through routing) when the model is on the target.
//
// One replica follows a migration at a time, holding a lease on its row
// that it renews; when that replica dies, another adopts the migration
// once the lease has lapsed. A migration that fails leaves the model where
// it was.
//
// It imports routing, controllers and db; nothing of the endpoints (the
// admin API drives it).
package migration
