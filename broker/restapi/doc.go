// Package restapi holds the types of the broker's admin REST API under /v1:
// what jimmctl sends and receives. It has no logic and imports nothing from
// the broker, so that clients can depend on it alone.
//
// Every error response is an Error with an HTTP status that fits.
// Authentication is a bearer token (a session token from POST /v1/login)
// or HTTP basic auth with the bootstrap admin's credentials.
package restapi
