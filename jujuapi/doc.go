// Package jujuapi speaks the Juju API wire protocol: JSON-RPC messages, one per
// WebSocket text frame, over TLS.
//
// It holds no business logic. It provides the message envelope ([Message]),
// a connection that reads and writes frames with a size limit and an idle
// deadline ([Conn]), over its own RFC 6455 WebSocket framing (text
// messages, ping, pong and close; no extensions), built so that an idle
// connection holds no buffer and, once parked ([Conn.Park]), no
// goroutine; a connected pair of Conns in memory, for tests ([Pipe]); a
// server that dispatches requests of one connection concurrently with a
// bound ([Serve], [Registry]), a client that matches responses to requests
// by id ([Client]), the protocol's error codes ([Error]) and entity tags
// ([Tag]), and the facade versions a Juju 3.5 controller serves
// ([Juju35]). Typed params and results live in the params subpackage.
package jujuapi
