// Package jwtauth verifies the JSON Web Tokens a broker presents when it logs
// in to a development controller on behalf of a user, the way a real Juju
// controller fronted by a broker does.
//
// The token arrives in the "token" field of Admin.Login as a compact JWS
// encoded once more with standard base64. It is signed with one of the keys
// the broker publishes at its JWKS URL; its claims are "sub" (the user tag,
// "user-alice"), "aud" (this controller's UUID), "exp" (required), optional
// "nbf" and "iat", and the private claim "access", an object mapping entity
// tags ("controller-<uuid>", "model-<uuid>", "cloud-<name>") to access
// levels.
//
// A Verifier fetches the key set lazily on first use, caches it, and fetches
// it again when it meets an unknown key id (at most once per cooldown, with
// concurrent callers sharing one fetch). Every verification failure wraps
// ErrInvalidToken, which callers map to "unauthorized access"; error messages
// say what failed and never quote the token or key material.
package jwtauth
