// Package reconcile keeps the broker's record of models and its
// controllers' in agreement.
//
// Check compares the two and lists each difference (jimmctl check). The
// Reconciler runs a pass on start and every interval, one replica at a
// time under a lease: it finishes or undoes the model creations a replica
// began and did not end (a crash, a timeout, a database outage), clears
// the records of dying models their controller no longer has, and reports
// the models the broker never knew, which an administrator may adopt with
// Import (jimmctl import-model). It never creates a model, so it can never
// make a second one with an owner and name that exist.
//
// A creation counts as abandoned when its replica's heartbeat lease has
// run out (the replica died) or it made no progress for CreateGrace. After
// a crash the broker therefore converges within the heartbeat lease
// (HeartbeatTTL) plus one interval plus a pass.
//
// What each pass did is counted in jimm_reconcile_* metrics and written to
// the audit log as the identity "jimm-reconciler".
package reconcile
