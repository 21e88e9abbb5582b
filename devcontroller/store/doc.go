// Package store keeps a development controller's state: its identity, users,
// cloud access, models with their machines, applications, units,
// relations, uploaded charms (their metadata; the archives are files of
// the controller's) and migrations, where the models that migrated away
// went (redirects), the secret backends, and the users removed (Juju
// keeps them as permanently deleted).
//
// Reads are served from memory. Every change is applied to a copy of the
// affected document, committed to a bbolt file in one transaction, and only
// then made visible: a crash (even kill -9) at any moment leaves either the
// old or the new document, never a torn one. Documents handed out by the
// store are shared snapshots and must not be modified.
package store
