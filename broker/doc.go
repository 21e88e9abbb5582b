// Package broker is jimm's server, as wiring only: it builds the broker's
// parts from a Config, mounts their routes on one TLS listener, registers
// their metrics on one registry, and runs and drains them.
//
// The parts, each a package of its own (see their docs):
//
//   - facades: /api, the Juju facades the broker answers itself;
//   - proxy: /model/<uuid>/api, one client's model connection relayed to
//     the controller hosting the model;
//   - admin: the /v1 admin REST API and the browser login under /auth;
//   - migration: moving models between controllers;
//   - routing: which controller hosts each model, and the live
//     connections that follow it;
//   - clouds: clouds, users' cloud credentials and model defaults;
//   - identity: logins, sessions, signing keys (served at
//     /.well-known/jwks.json) and access checks;
//   - audit: the audit log.
//
// Arrows point down only: broker imports the endpoints (facades, proxy,
// admin), which import migration, routing, clouds, identity and audit, which
// import controllers, authz, db and jujuapi. Nothing below imports
// broker.
package broker
