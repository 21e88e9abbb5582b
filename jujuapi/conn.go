package jujuapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
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
	// WriteTimeout bounds each frame write. Default DefaultWriteTimeout.
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
type Conn struct {
	ws   *websocket.Conn
	opts ConnOptions
	wmu  sync.Mutex
}

// writeBufferPool shares write buffers between idle connections.
var writeBufferPool = &sync.Pool{}

// readBufferSize is gorilla's per-connection read buffer. Frames are read
// out of crypto/tls's own record buffer, so a small one costs no extra
// system calls, and every idle connection holds it.
const readBufferSize = 1024

var upgrader = websocket.Upgrader{
	ReadBufferSize:  readBufferSize,
	WriteBufferPool: writeBufferPool,
	// Juju clients send Origin http://localhost/; the API is authenticated
	// by its first RPC, not by origin.
	CheckOrigin: func(*http.Request) bool { return true },
}

// Upgrade turns an HTTP request into a Conn.
func Upgrade(w http.ResponseWriter, r *http.Request, opts ConnOptions) (*Conn, error) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, fmt.Errorf("websocket upgrade from %s: %w", r.RemoteAddr, err)
	}
	return newConn(ws, opts), nil
}

// DialOptions say how to reach a server.
type DialOptions struct {
	ConnOptions
	// TLSConfig verifies the server. Juju servers are verified with server
	// name "juju-apiserver" against the controller's CA.
	TLSConfig *tls.Config
	// Header is sent with the upgrade request.
	Header http.Header
}

// Dial opens a Conn to url (wss://host:port/api or /model/<uuid>/api).
func Dial(ctx context.Context, url string, opts DialOptions) (*Conn, error) {
	d := websocket.Dialer{
		TLSClientConfig:  opts.TLSConfig,
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   readBufferSize,
		WriteBufferPool:  writeBufferPool,
	}
	ws, resp, err := d.DialContext(ctx, url, opts.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return newConn(ws, opts.ConnOptions), nil
}

func newConn(ws *websocket.Conn, opts ConnOptions) *Conn {
	c := &Conn{ws: ws, opts: opts.withDefaults()}
	ws.SetReadLimit(c.opts.MaxFrameSize)
	ws.SetPingHandler(func(data string) error {
		c.extendReadDeadline()
		c.wmu.Lock()
		defer c.wmu.Unlock()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.opts.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	return c
}

func (c *Conn) extendReadDeadline() {
	if c.opts.IdleTimeout > 0 {
		c.ws.SetReadDeadline(time.Now().Add(c.opts.IdleTimeout))
	}
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// Errors that end a connection because of what the peer sent.
var (
	ErrFrameTooLarge = errors.New("frame too large")
	ErrBinaryFrame   = errors.New("binary frame: the Juju API uses text frames")
)

// Frame is one frame's bytes, in a buffer borrowed from a pool shared by
// every connection: a connection waiting for its next frame holds none.
type Frame struct{ buf bytes.Buffer }

// Bytes returns the frame's bytes, valid until Release.
func (f *Frame) Bytes() []byte { return f.buf.Bytes() }

// maxPooledFrame is the largest buffer returned to the pool; bigger ones
// (from rare big frames) go to the garbage collector.
const maxPooledFrame = 64 << 10

var framePool = sync.Pool{New: func() any { return new(Frame) }}

// Release returns the frame's buffer to the pool.
func (f *Frame) Release() {
	if f.buf.Cap() > maxPooledFrame {
		return
	}
	f.buf.Reset()
	framePool.Put(f)
}

// NextFrame waits for the next frame, then reads it into a pooled buffer;
// call Release when done with it. It fails with ErrFrameTooLarge for a
// frame over the limit and ErrBinaryFrame for a binary frame; the caller
// should then close with the status CloseFor gives.
func (c *Conn) NextFrame() (*Frame, error) {
	c.extendReadDeadline()
	typ, r, err := c.ws.NextReader()
	if err == nil {
		f := framePool.Get().(*Frame)
		if _, err = f.buf.ReadFrom(r); err == nil {
			if typ != websocket.TextMessage {
				f.Release()
				return nil, ErrBinaryFrame
			}
			return f, nil
		}
		f.Release()
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return nil, fmt.Errorf("%w: over the limit of %d bytes", ErrFrameTooLarge, c.opts.MaxFrameSize)
	}
	return nil, err
}

// WriteFrame writes one text frame. Safe for concurrent use.
func (c *Conn) WriteFrame(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// WebSocket close codes the server uses.
const (
	CloseNormal          = websocket.CloseNormalClosure
	CloseUnsupportedData = websocket.CloseUnsupportedData
	CloseInvalidPayload  = websocket.CloseInvalidFramePayloadData
	CloseTooBig          = websocket.CloseMessageTooBig
	CloseGoingAway       = websocket.CloseGoingAway
	CloseInternalError   = websocket.CloseInternalServerErr
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
	if len(reason) > 120 { // a close frame's payload is at most 125 bytes
		reason = reason[:120]
	}
	reason = strings.ToValidUTF8(reason, "")
	c.wmu.Lock()
	err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.wmu.Unlock()
	// gorilla has already sent its own close frame after an oversized one.
	if err == nil || errors.Is(err, websocket.ErrCloseSent) {
		raw := c.ws.NetConn()
		raw.SetReadDeadline(time.Now().Add(closeDrainTime))
		io.CopyN(io.Discard, raw, closeDrainBytes)
	}
	if err := c.ws.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Close closes the connection without a close frame.
func (c *Conn) Close() error { return c.ws.Close() }

// CloseFor picks the close status that fits a read error.
func CloseFor(err error) int {
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		return CloseTooBig
	case errors.Is(err, ErrBinaryFrame):
		return CloseUnsupportedData
	default:
		return CloseInvalidPayload
	}
}

// IsClosed reports whether err means the peer went away or the
// connection was closed, as opposed to a protocol violation.
func IsClosed(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// CloseCode returns the status of a close frame received from the peer, or 0.
func CloseCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
