// Package modelhttp serves a model's HTTP endpoints, the ones that are
// not RPC: the debug log stream (/model/<uuid>/log, a WebSocket of log
// records) and the plain HTTP endpoints (local charm uploads on
// /model/<uuid>/charms and /model-<uuid>/charms/<object>, applications'
// resources). Juju authenticates these from the request's basic auth, not
// with an RPC login: the broker authenticates the caller itself (identity),
// checks their access to the model (read, or write for an upload), finds
// the model's controller (routing) and reaches it with the controller's
// own credentials, which the caller never sees.
//
// It imports routing, identity, audit, controllers, db and jujuapi; the
// model connections' RPC relay is package proxy's.
package modelhttp
