// Package authz is the broker's answer to "who are you, and what may you
// do?": identities, sessions, and the keys and short-lived tokens the broker
// mints so that controllers accept the connections it relays.
//
// This part of the package holds no state of its own and needs no database:
//
//   - [SigningKey] and [KeySet]: the broker's token signing keys, and the
//     JSON Web Key Set that controllers fetch from [JWKSPath] to verify the
//     tokens (KeySet is an http.Handler for that URL).
//   - [KeySet.Mint]: the short-lived JWT the broker presents in Admin.Login
//     when it dials a controller on a client's behalf (audience = controller
//     UUID, claims = the caller's access to the model, its controller and
//     its cloud).
//   - [Cipher]: AES-256-GCM encryption at rest of secrets the broker stores
//     (controller admin passwords, signing keys), bound to the object each
//     secret belongs to.
//   - [KeySet.MintSession] and [KeySet.VerifySession]: the session tokens
//     clients hold after logging in, JWTs whose audience is the broker
//     itself; the broker stores only their hash ([HashSessionToken]), so
//     that logging out revokes one.
//   - [PasswordCheck]: the bootstrap admin's password, kept only as a salted
//     hash and compared in constant time.
//
// Nothing here logs or formats secrets, tokens or key material into errors.
package authz
