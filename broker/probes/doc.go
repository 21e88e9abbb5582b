// Package probes answers whether a broker replica is alive and whether it
// is ready for traffic: /healthz (the process serves HTTP) and /readyz
// (its database answers, the schema is the one it was built for, its
// signing keys are loaded, its listeners are up and it is not shutting
// down). A load balancer or Kubernetes sends connections only to ready
// replicas, and restarts a replica that stops being alive.
//
// Readiness runs its checks at most once a second, whatever the number of
// callers (the API listener answers anyone), each check bounded by a
// timeout, and reports every check by name with what failed.
package probes
