package jujuapi

import "net"

// Pipe returns the two ends of one connection held in memory: client is
// the end a [Dial] gives (it masks what it writes, as RFC 6455 asks of a
// client) and server the end an [Upgrade] gives. They exchange real
// WebSocket frames over [net.Pipe], without socket, TLS or HTTP handshake,
// so that code which serves, calls or relays Conns can be tested without a
// network: [Serve] and [NewClient] work on either end as they do on a
// dialled connection.
//
// What works as on a network connection: text frames both ways, with
// opts' frame size limit; ping and pong; close frames and their status
// ([Conn.CloseWith], [CloseCode]); [Conn.Close], after which the peer's
// reads fail with an error [IsClosed] accepts; and deadlines, so the idle
// timeout, the write timeout and [Conn.NextFrameWithin] behave as they do
// on TCP.
//
// What differs:
//   - A pipe holds no bytes: a write returns only once the peer has read
//     it, or fails when opts' WriteTimeout passes. Keep a reader on each
//     end (Serve and Client have one), and remember that reading a ping
//     writes the pong. A frame refused for its size is left unread until
//     the reader's CloseWith drains it (as Serve does); until then its
//     writer waits.
//   - [Conn.Park] reports false, as on any connection that is not a
//     socket: there is nothing to wait on in epoll. The caller goes on
//     reading, and the connection keeps working.
//   - There is no handshake, so nothing that Upgrade or Dial check (the
//     request, its headers, TLS) is exercised; RemoteAddr is "pipe".
func Pipe(opts ConnOptions) (client, server *Conn) {
	c, s := net.Pipe()
	return newConn(c, true, opts), newConn(s, false, opts)
}
