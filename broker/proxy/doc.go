// Package proxy serves one client's model connection
// (/model/<uuid>/api): it answers the login itself, logs in to the
// controller hosting the model with a token the broker signs for the
// caller, and from then on relays frames both ways, reading only their
// envelopes.
//
// Each side's reader parks (no goroutine, see jujuapi.Conn.Park) once its
// peer has been quiet for a second, and a connection idle for a while
// detaches from its controller and stays parked until its client sends
// again; when
// its model moves to another controller, it follows, opening the client's
// AllWatchers again there (the client keeps its watcher ids) and
// replaying the calls the old controller left unanswered.
//
// A connection's calls in flight are bounded in number and bytes: past
// the bounds the relay stops reading from the client (TCP pushes back).
// Every call is answered: a controller the health check sees go down has
// its calls answered "try again" at once (Proxy.ControllerDown), and so
// has a call that outlasts the call timeout (see limits.go).
//
// A model's HTTP endpoints (debug-log, charm uploads) are package
// modelhttp's.
//
// Each connection registers with the routing table as a routing.Conn: the
// table tells it when its model moved or its caller's access changed. It
// imports routing, identity, audit, controllers and jujuapi; nothing of
// the other endpoints (facades, admin).
package proxy
