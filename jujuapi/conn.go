package jujuapi

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// Defaults for connection options.
const (
	DefaultMaxFrameSize = 4 << 20
	DefaultIdleTimeout  = 3 * time.Minute // the Juju client pings every minute
	DefaultWriteTimeout = 30 * time.Second
)

// ConnOptions bound what one connection may do.
type ConnOptions struct {
	// MaxFrameSize is the largest frame accepted; a larger one closes the
	// connection with status 1009. Default DefaultMaxFrameSize.
	MaxFrameSize int64
	// IdleTimeout is how long a read may wait for the next frame; every
	// frame (and WebSocket ping) received pushes the deadline out.
	// Default DefaultIdleTimeout; negative disables.
	IdleTimeout time.Duration
	// WriteTimeout bounds each frame write: a peer that does not take a
	// frame within it (it stopped reading) has its connection closed, so
	// that what cannot be delivered does not pile up. Default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
}

func (o ConnOptions) withDefaults() ConnOptions {
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = DefaultMaxFrameSize
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	return o
}

// Conn is one WebSocket connection carrying Juju API frames. Reads must come
// from one goroutine; writes may come from many.
//
// An idle connection holds no buffer: a frame is read straight from the
// TLS connection into a pooled [Frame], and written from a pooled buffer.
type Conn struct {
	nc     net.Conn
	opts   ConnOptions
	client bool // masks what it writes; expects unmasked frames

	// The reader's state.
	pre  []byte    // bytes read before they were wanted (handshake, park probe)
	peek [1]byte   // the park probe's byte
	hdr  [8]byte   // a frame header's extended length
	rerr error     // a read error that ends reading for good
	got  int       // bytes read since the current message began
	soft bool      // the read deadline is NextFrameWithin's, not the idle one
	hard time.Time // the idle deadline (zero: none)
	rdl  time.Time // the socket's read deadline, as last set (setReadDeadline)
	// untrimmed: a message larger than a TLS record was read, and the TLS
	// read buffers it grew are not yet released (see next).
	untrimmed bool

	wmu       sync.Mutex
	closeSent bool           // under wmu
	wdl       time.Time      // under wmu: the socket's write deadline, as last set
	gatherer  *gatheringConn // under TLS, if any: gathers a large frame's records

	// dmu guards ended and done: whether the connection was closed, and
	// the channel Done gives (made on first use: most connections never
	// need it).
	dmu   sync.Mutex
	ended bool
	done  chan struct{}

	park parkState
}

func newConn(nc net.Conn, client bool, opts ConnOptions) *Conn {
	// The TLS handshake is over, and its messages need not be kept.
	trimTLS(nc)
	return &Conn{nc: nc, client: client, opts: opts.withDefaults(), gatherer: gathererOf(nc)}
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Errors that end a connection because of what the peer sent.
var (
	ErrFrameTooLarge = errors.New("frame too large")
	ErrBinaryFrame   = errors.New("binary frame: the Juju API uses text frames")
)

// ErrIdle is NextFrameWithin's report that no frame began in time. The
// connection is intact.
var ErrIdle = errors.New("no frame began in time")

// Frame is one frame's bytes, in a buffer borrowed from a pool shared by
// every connection: a connection waiting for its next frame holds none.
type Frame struct{ b []byte }

// Bytes returns the frame's bytes, valid until Release.
func (f *Frame) Bytes() []byte { return f.b }

// Size is the memory the frame holds: its buffer's capacity, which may be
// more than its bytes (pooled buffers keep the size of the largest frame
// they held).
func (f *Frame) Size() int { return cap(f.b) }

// trimSlack is how much larger than its bytes a frame's buffer may be
// before Trim gives it a buffer of its own size.
const trimSlack = 512

// Trim makes the frame hold no more memory than its bytes need, for a
// frame kept a while (a request awaiting its response): a pooled buffer
// much larger than the frame goes back to the pool, and the frame gets a
// copy of its bytes. Bytes returned before are then stale.
func (f *Frame) Trim() {
	if cap(f.b)-len(f.b) <= trimSlack {
		return
	}
	b := make([]byte, len(f.b))
	copy(b, f.b)
	old := &Frame{b: f.b}
	old.Release()
	f.b = b
}

// maxPooledFrame is the largest buffer kept with a pooled Frame; larger
// ones go to the pools of large buffers (largePools). Pooled Frames keep
// buffers of a power of two bytes, minPooledFrame or more: a buffer Trim
// made to its frame's size is not kept, so that a frame read into a
// pooled buffer seldom needs a larger one.
const (
	minPooledFrame = 1 << 10
	maxPooledFrame = 64 << 10
)

var framePool = sync.Pool{New: func() any { return new(Frame) }}

// Release returns the frame's buffer to its pool.
func (f *Frame) Release() {
	if cap(f.b) > maxPooledFrame {
		if c, ok := slices.BinarySearch(largeSizes[:], cap(f.b)); ok {
			f.b = f.b[:0]
			largePools[c].Put(f)
		}
		return
	}
	if c := cap(f.b); c < minPooledFrame || c&(c-1) != 0 {
		return // a buffer of its own size (Trim's): a pooled Frame always has one of the pool's
	}
	f.b = f.b[:0]
	framePool.Put(f)
}

// Large frames (a FullStatus of a big model is hundreds of KB) are read
// into buffers from pools by size class, shared by every connection: a
// connection keeps none between frames, and relaying a large frame does
// not allocate, and zero, a buffer of its size each time. The classes go
// by quarters of a doubling (80, 96, 112, 128, 160 KB...), so that a
// frame's buffer is at most 25% larger than it needs; sync.Pool lets the
// garbage collector take buffers not used for a while.
const (
	largeClassesPerDoubling = 4
	largeClasses            = 8 * largeClassesPerDoubling // up to 64 KB << 8 = 16 MB; larger frames get a buffer of their own
)

// largeSizes are the sizes of the classes, ascending.
var largeSizes = func() (s [largeClasses]int) {
	for i := range s {
		step := maxPooledFrame << (i / largeClassesPerDoubling)
		s[i] = step + step*(i%largeClassesPerDoubling+1)/largeClassesPerDoubling
	}
	return s
}()

// largePools hold Frames whose buffers' capacity is largeSizes[i].
var largePools [largeClasses]sync.Pool

// grow returns a frame holding f's first n bytes with room for need
// bytes in all, its length need; the bytes after n are not cleared (the
// caller fills them). f is released if the bytes moved to another frame.
func (f *Frame) grow(n, need int) *Frame {
	if need <= cap(f.b) {
		f.b = f.b[:need]
		return f
	}
	if need <= maxPooledFrame {
		b := make([]byte, need, max(minPooledFrame, 1<<bits.Len(uint(need-1))))
		copy(b, f.b[:n])
		f.b = b
		return f
	}
	var g *Frame
	c, _ := slices.BinarySearch(largeSizes[:], need)
	switch {
	case c == largeClasses:
		g = &Frame{b: make([]byte, 0, need)}
	default:
		if x := largePools[c].Get(); x != nil {
			g = x.(*Frame)
		} else {
			g = &Frame{b: make([]byte, 0, largeSizes[c])}
		}
	}
	g.b = append(g.b[:0], f.b[:n]...)[:need]
	f.Release()
	return g
}

// NextFrame waits for the next frame, then reads it into a pooled buffer;
// call Release when done with it. It fails with ErrFrameTooLarge for a
// frame over the limit, ErrBinaryFrame for a binary frame and ErrProtocol
// for a protocol violation; the caller should then close with the status
// CloseFor gives. Pings are answered and pongs dropped on the way.
func (c *Conn) NextFrame() (*Frame, error) { return c.next(0) }

// NextFrameWithin is NextFrame, except that when no frame has begun
// within wait it gives up with ErrIdle, leaving the connection as it was.
// A frame that has begun is read to its end.
func (c *Conn) NextFrameWithin(wait time.Duration) (*Frame, error) { return c.next(wait) }

func (c *Conn) next(wait time.Duration) (*Frame, error) {
	if c.rerr != nil {
		return nil, c.rerr
	}
	if c.park.expired {
		c.rerr = fmt.Errorf("no frame for %s: %w", c.opts.IdleTimeout, os.ErrDeadlineExceeded)
		return nil, c.rerr
	}
	// The TLS read buffers grow to about two records for a message larger
	// than one, and crypto/tls would keep them for the connection's life:
	// a controller connection that relayed one large response would hold
	// some 34 KB while it waits for its next. They are released before
	// waiting, once nothing read ahead is in them; the next large message
	// grows them again, at a cost small beside its own.
	if c.untrimmed && trimTLS(c.nc) {
		c.untrimmed = false
	}
	now := time.Now()
	c.hard = time.Time{}
	if c.opts.IdleTimeout > 0 {
		c.hard = now.Add(c.opts.IdleTimeout)
	}
	c.soft = wait > 0 && (c.hard.IsZero() || now.Add(wait).Before(c.hard))
	if c.soft {
		c.setReadDeadline(now.Add(wait), wait)
	} else {
		c.setReadDeadline(c.hard, c.opts.IdleTimeout)
	}
	c.got = 0
	f, err := c.readMessage()
	if err != nil {
		if f != nil {
			f.Release()
		}
		if err != ErrIdle {
			c.rerr = err
			c.failRead(err)
		}
		return nil, err
	}
	return f, nil
}

// readMessage reads frames until a whole text message is in.
func (c *Conn) readMessage() (*Frame, error) {
	var f *Frame
	var op byte
	var h frameHeader
	for {
		if err := c.readHeader(&h); err != nil {
			return f, err
		}
		if h.op >= opClose {
			if err := c.control(&h); err != nil {
				return f, err
			}
			if f == nil {
				c.got = 0 // between messages again
			}
			continue
		}
		switch {
		case h.op == opContinuation && f == nil:
			return f, protocolError("continuation frame with no message begun")
		case h.op != opContinuation && f != nil:
			return f, protocolError("new message before the last one ended")
		case f == nil:
			f = framePool.Get().(*Frame)
			op = h.op
		}
		n := int64(len(f.b))
		if n+h.length > c.opts.MaxFrameSize {
			return f, fmt.Errorf("%w: over the limit of %d bytes", ErrFrameTooLarge, c.opts.MaxFrameSize)
		}
		f = f.grow(int(n), int(n+h.length))
		p := f.b[n:]
		if err := c.readFull(p); err != nil {
			return f, err
		}
		if h.masked {
			maskBytes(h.key, 0, p)
		}
		if h.fin {
			if op != opText {
				return f, ErrBinaryFrame
			}
			c.untrimmed = c.untrimmed || len(f.b) > maxRecord
			return f, checkText(f.b) // RFC 6455: a text message is UTF-8 (else 1007)
		}
	}
}

// readHeader reads and checks one frame header.
func (c *Conn) readHeader(h *frameHeader) error {
	b := c.hdr[:2]
	if err := c.readFull(b); err != nil {
		return err
	}
	b0, b1 := b[0], b[1]
	h.fin, h.op, h.masked = b0&0x80 != 0, b0&0x0f, b1&0x80 != 0
	h.length = int64(b1 & 0x7f)
	switch h.length {
	case 126:
		if err := c.readFull(c.hdr[:2]); err != nil {
			return err
		}
		h.length = int64(c.hdr[0])<<8 | int64(c.hdr[1])
	case 127:
		if err := c.readFull(c.hdr[:8]); err != nil {
			return err
		}
		if c.hdr[0]&0x80 != 0 {
			return protocolError("frame length over 2^63")
		}
		h.length = 0
		for _, x := range c.hdr[:8] {
			h.length = h.length<<8 | int64(x)
		}
	}
	if h.masked {
		if err := c.readFull(h.key[:]); err != nil {
			return err
		}
	}
	return checkHeader(h, b0, c.client)
}

// control handles a ping, pong or close frame.
func (c *Conn) control(h *frameHeader) error {
	p := make([]byte, h.length)
	if err := c.readFull(p); err != nil {
		return err
	}
	if h.masked {
		maskBytes(h.key, 0, p)
	}
	switch h.op {
	case opPing:
		if !c.hard.IsZero() {
			c.hard = time.Now().Add(c.opts.IdleTimeout)
			if !c.soft {
				c.setReadDeadline(c.hard, c.opts.IdleTimeout)
			}
		}
		if err := c.writeControl(opPong, p); err != nil && err != errCloseSent {
			return err
		}
	case opClose:
		ce, err := parseClose(p)
		if err != nil {
			return err
		}
		// Echo the status, as RFC 6455 asks.
		echo := closePayload(ce.Code, "")
		if ce.Code == CloseNoStatus {
			echo = nil
		}
		c.writeControl(opClose, echo)
		return ce
	}
	return nil
}

// readFull fills p, honouring NextFrameWithin's wait: if it runs out
// before the message has begun, ErrIdle; once it has begun, the idle
// deadline applies.
func (c *Conn) readFull(p []byte) error {
	for len(p) > 0 {
		if len(c.pre) > 0 {
			n := copy(p, c.pre)
			c.pre, p = c.pre[n:], p[n:]
			c.got += n
			continue
		}
		n, err := c.nc.Read(p)
		p = p[n:]
		c.got += n
		if err == nil {
			continue
		}
		if c.soft && isTimeout(err) {
			c.soft = false
			if c.got == 0 && (c.hard.IsZero() || time.Now().Before(c.hard)) {
				return ErrIdle
			}
			c.setReadDeadline(c.hard, c.opts.IdleTimeout)
			if c.hard.IsZero() || time.Now().Before(c.hard) {
				continue
			}
		}
		if len(p) > 0 && err == io.EOF && c.got > 0 {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// Deadlines are moved as each frame is read and written. Setting one
// costs a timer update in the runtime, a few percent of relaying a small
// call; so a deadline is set a little later than asked (by deadlineSlack
// of its wait), and left where it is while that is still no earlier than
// asked and at most the slack later. A busy connection then sets its
// deadlines about once a second, not at every frame.
func deadlineSlack(wait time.Duration) time.Duration { return min(wait/8, time.Second) }

// setReadDeadline sets the socket's read deadline to d, a wait from now,
// or to a little later (see deadlineSlack). Only the reader calls it.
func (c *Conn) setReadDeadline(d time.Time, wait time.Duration) {
	if d, move := moveDeadline(c.rdl, d, wait); move {
		c.nc.SetReadDeadline(d)
		c.rdl = d
	}
}

// setWriteDeadline is setReadDeadline for writes, under wmu.
func (c *Conn) setWriteDeadline(wait time.Duration) {
	if d, move := moveDeadline(c.wdl, time.Now().Add(wait), wait); move {
		c.nc.SetWriteDeadline(d)
		c.wdl = d
	}
}

// moveDeadline reports whether a deadline set to last must move for d, a
// wait from now (zero: none), and where to.
func moveDeadline(last, d time.Time, wait time.Duration) (time.Time, bool) {
	switch slack := deadlineSlack(wait); {
	case d.IsZero():
		return d, !last.IsZero()
	case !last.IsZero() && !last.Before(d) && last.Sub(d) <= slack:
		return last, false
	default:
		return d.Add(slack), true
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// failRead sends the close frame a read error calls for, if any: the
// peer broke the protocol, or sent what the Juju API does not take.
func (c *Conn) failRead(err error) {
	switch {
	case errors.Is(err, ErrProtocol), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrBinaryFrame):
		c.writeControl(opClose, closePayload(CloseFor(err), err.Error()))
	}
}

// WriteFrame writes one text frame. Safe for concurrent use.
func (c *Conn) WriteFrame(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	return c.writeLocked(opText, data, c.opts.WriteTimeout)
}

// writeControl writes a ping, pong or close frame.
func (c *Conn) writeControl(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	if op == opClose {
		c.closeSent = true
	}
	return c.writeLocked(op, payload, c.opts.WriteTimeout)
}

// maxRecord is the most a TLS record carries (crypto/tls cuts what it is
// given to write into records of at most this many bytes).
const maxRecord = 16 << 10

// writeBufs hold the start of frames being written: a frame's header with
// as much of its payload as fills one TLS record, masked for a client.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, maxFrameHeader+maxRecord); return &b }}

// writeLocked writes a frame. A frame that fits in one TLS record goes in
// one write, header and payload copied together. A larger one is written
// as its header with the payload's first bytes, up to one record, then,
// unmasked (a server's), the rest straight from data, which crypto/tls
// seals record by record without another copy; masked (a client's), the
// rest a record at a time through the same small buffer, since the
// caller's bytes must not be changed. Under TLS, such a frame's records go
// to the socket a few at a time (gatheringConn), where the connection has
// a gatherer.
func (c *Conn) writeLocked(op byte, data []byte, timeout time.Duration) error {
	bp := writeBufs.Get().(*[]byte)
	var key [4]byte
	if c.client {
		key = newMaskKey()
	}
	b := appendHeader((*bp)[:0], op, len(data), c.client, key)
	first := min(len(data), maxRecord-len(b))
	start := len(b)
	b = append(b, data[:first]...)
	pos := 0
	if c.client {
		pos = maskBytes(key, 0, b[start:])
	}
	c.setWriteDeadline(timeout)
	g := c.gatherer
	if first == len(data) {
		g = nil // one record: one write anyway
	}
	if g != nil {
		g.gather()
	}
	_, err := c.nc.Write(b)
	for rest := data[first:]; err == nil && len(rest) > 0; {
		if !c.client {
			_, err = c.nc.Write(rest)
			break
		}
		n := min(len(rest), maxRecord)
		b = append(b[:0], rest[:n]...)
		pos = maskBytes(key, pos, b)
		rest = rest[n:]
		_, err = c.nc.Write(b)
	}
	if g != nil {
		if ferr := g.flush(); err == nil {
			err = ferr
		}
	}
	*bp = b[:0]
	writeBufs.Put(bp)
	if err != nil {
		// A frame not taken within the write timeout (the peer stopped
		// reading), or not written at all: the stream is broken, maybe
		// mid-frame. The connection ends now, so that what its peer
		// will never read is not kept, and its reader (even one that
		// paused reading, see Done) finds it closed.
		c.abort()
		if isTimeout(err) {
			err = fmt.Errorf("%w: the peer took no frame for %s: %w", ErrWriteTimeout, c.opts.WriteTimeout, err)
		}
	}
	return err
}

// ErrWriteTimeout is a write's report that the peer did not take a frame
// within the write timeout; the connection is then closed. IsClosed
// accepts it.
var ErrWriteTimeout = errors.New("write timed out")

// abort closes the connection at once after a failed write: the socket
// under TLS, so that no close_notify alert waits on a peer that is not
// reading.
func (c *Conn) abort() {
	nc := c.nc
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	nc.Close()
	c.Close()
}

// Done is closed once the connection is closed, by Close, CloseWith, or a
// write that failed (see ConnOptions.WriteTimeout). It lets a reader
// that paused reading (waiting for room before it takes its peer's next
// frame) learn that the connection ended.
func (c *Conn) Done() <-chan struct{} {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.ended {
			close(c.done)
		}
	}
	return c.done
}

// markEnded marks the connection closed, closing Done's channel.
func (c *Conn) markEnded() {
	c.dmu.Lock()
	if !c.ended {
		c.ended = true
		if c.done != nil {
			close(c.done)
		}
	}
	c.dmu.Unlock()
}

// WebSocket close codes.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseUnsupportedData = 1003
	CloseNoStatus        = 1005
	CloseAbnormal        = 1006
	CloseInvalidPayload  = 1007
	CloseTooBig          = 1009
	CloseInternalError   = 1011
	// CloseServiceRestart tells a client that the server is going away
	// for now and that it may reconnect (at once: another server, or the
	// same one restarted, takes the connection).
	CloseServiceRestart = 1012
)

// closeDrain bounds how long CloseWith waits for the peer to finish
// sending after the close frame.
const (
	closeDrainTime  = 250 * time.Millisecond
	closeDrainBytes = 1 << 20
)

// CloseWith sends a close frame with a status and reason, then closes. It
// first reads (and drops) what the peer is still sending, for a moment, so
// that closing with unread bytes does not reset the TCP connection before
// the close frame is read.
func (c *Conn) CloseWith(code int, reason string) error {
	c.wmu.Lock()
	sent := c.closeSent
	var err error
	if !sent {
		c.closeSent = true
		err = c.writeLocked(opClose, closePayload(code, reason), time.Second)
	}
	c.wmu.Unlock()
	if err == nil {
		// The read deadline alone does not bound the drain: a reader on
		// another goroutine (a Client's) sets its own as it reads.
		// Closing does.
		stop := time.AfterFunc(closeDrainTime, func() { c.nc.Close() })
		c.nc.SetReadDeadline(time.Now().Add(closeDrainTime))
		io.CopyN(io.Discard, c.nc, closeDrainBytes)
		stop.Stop()
	}
	return c.Close()
}

// Close closes the connection without a close frame. A parked reader is
// resumed, to find the connection closed.
func (c *Conn) Close() error {
	c.markEnded()
	c.unparkToClose()
	if err := c.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// CloseFor picks the close status that fits a read error.
func CloseFor(err error) int {
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		return CloseTooBig
	case errors.Is(err, ErrBinaryFrame):
		return CloseUnsupportedData
	case errors.Is(err, ErrProtocol):
		return CloseProtocolError
	default:
		return CloseInvalidPayload
	}
}

// IsClosed reports whether err means the peer went away or the
// connection was closed, as opposed to a protocol violation.
func IsClosed(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errCloseSent) ||
		errors.Is(err, ErrWriteTimeout) ||
		errors.Is(err, io.ErrClosedPipe) { // a Pipe's end, closed
		return true
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// CloseCode returns the status of a close frame received from the peer;
// 1006 (abnormal closure) if the peer went without one; otherwise 0.
func CloseCode(err error) int {
	var ce *CloseError
	switch {
	case errors.As(err, &ce):
		return ce.Code
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return CloseAbnormal
	}
	return 0
}
