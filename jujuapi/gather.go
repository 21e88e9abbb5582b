package jujuapi

import (
	"net"
	"sync"
)

// crypto/tls seals what it is given to write in records of at most 16 KB
// and writes each record to the socket with a system call of its own: a
// 572 KB frame is 36 writes, each of which, on loopback, also runs the
// receiver's side of TCP. A gatheringConn sits under the TLS connection
// and, while a frame larger than a record is written (Conn.writeLocked),
// gathers its records into writes of up to gatherSize bytes.

// gatherSize is how much a gathering write holds before it goes to the
// socket: two full TLS records with their headers and tags. Two halve
// the system calls, and cost less CPU than four: relaying the 572 KB
// responses of brokerbench -relay-only -relay-conn-runs 1 -relay-conns 16
// -relay-calls 300, in five rounds of each interleaved, the broker's CPU
// per MB was a median 1.38x HAProxy's with two and 1.50x with four, lower
// with two in every round (one record per write: 1.41x and 1.50x in two
// rounds).
const gatherSize = 2 * (maxRecord + 256)

var gatherBufs = sync.Pool{New: func() any { b := make([]byte, 0, gatherSize); return &b }}

// gatheringConn is a connection under TLS that can gather writes. Its own
// lock makes it safe when crypto/tls writes from another goroutine (an
// alert, as it closes) while a frame is being gathered.
type gatheringConn struct {
	net.Conn
	mu  sync.Mutex
	buf *[]byte // while gathering
}

// Write writes p, or, while gathering, adds it to what goes out next.
func (c *gatheringConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	if len(*c.buf)+len(p) > cap(*c.buf) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(*c.buf) {
			return c.Conn.Write(p)
		}
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

func (c *gatheringConn) flushLocked() error {
	b := *c.buf
	*c.buf = b[:0]
	if len(b) == 0 {
		return nil
	}
	_, err := c.Conn.Write(b)
	return err
}

// gather starts gathering writes.
func (c *gatheringConn) gather() {
	c.mu.Lock()
	if c.buf == nil {
		c.buf = gatherBufs.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// flush writes what was gathered and stops gathering.
func (c *gatheringConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return nil
	}
	err := c.flushLocked()
	gatherBufs.Put(c.buf)
	c.buf = nil
	return err
}

// NetConn is the connection wrapped (parking needs the socket).
func (c *gatheringConn) NetConn() net.Conn { return c.Conn }

// GatheringListener wraps a listener whose connections are then wrapped
// in TLS (tls.NewListener), so that the Conns served on them write a large
// frame's TLS records in few system calls.
func GatheringListener(ln net.Listener) net.Listener { return gatheringListener{ln} }

type gatheringListener struct{ net.Listener }

func (l gatheringListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gatheringConn{Conn: nc}, nil
}

// gathererOf finds the gatheringConn under a connection, if any, through
// TLS and any wrapper that gives the connection it wraps.
func gathererOf(nc net.Conn) (g *gatheringConn) {
	underneath(nc, func(c net.Conn) bool {
		g, _ = c.(*gatheringConn)
		return g != nil
	})
	return g
}

// underneath calls found with nc, then with each connection under it
// that a wrapper gives (NetConn, as tls.Conn gives), outermost first,
// until found reports true.
func underneath(nc net.Conn, found func(net.Conn) bool) {
	for range 8 {
		if found(nc) {
			return
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		nc = w.NetConn()
	}
}
