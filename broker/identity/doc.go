// Package identity answers "who is calling, and what may they do?" for
// every endpoint of the broker.
//
//   - Logins: the bootstrap admin's password, session tokens (JWTs the
//     broker signs for itself), and the identity provider's flows (device,
//     browser, client credentials). Every attempt, whatever its method and
//     endpoint, goes through one path: it waits its turn when its source
//     keeps failing (the login throttle), is counted, and is handed to the
//     audit log.
//   - Sessions: minted, recorded by hash, revoked on logout.
//   - Signing keys: rotated on a schedule every replica follows, published
//     as the JWKS controllers fetch, and the short-lived tokens the broker
//     signs to log in to a controller on a caller's behalf.
//   - Access: what an [Identity] may do, from the relation tuples
//     (authz.Relations): broker administration, model and cloud access,
//     the models it may see.
//
// It imports authz, db and audit, never a package that serves an endpoint
// (proxy, facades, admin) nor routing or migration: those ask it.
package identity
