// Package broker is jimm's server: it looks like one Juju controller to
// every client while it fronts many.
//
// It answers /api itself (logins, model lists from its own database,
// model creation with placement, clouds aggregated over its controllers),
// relays /model/<uuid>/api frame by frame to the controller hosting that
// model after authenticating the caller and logging in there with a
// short-lived token it signs, serves the admin REST API under /v1 and its
// public keys at /.well-known/jwks.json, and exports Prometheus metrics on
// a separate listener.
package broker
