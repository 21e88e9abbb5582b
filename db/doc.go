// Package db is the broker's state: gorm models, versioned schema
// migrations applied once under a lock (so replicas can start together),
// and opening PostgreSQL (production) or SQLite (the embedded demo).
//
// The schema is portable between the two: plain types, no JSON columns,
// arrays or dialect-only operators in shared code paths. Secrets are stored
// sealed (see authz.Cipher); this package never sees them in clear.
package db
