package jujuapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Handler serves the requests of one connection. ServeRequest is called
// concurrently (up to ServerOptions.MaxConcurrent at once) and returns the
// response body or an error; an *Error keeps its code on the wire. The ctx
// ends when the connection closes.
type Handler interface {
	ServeRequest(ctx context.Context, req *Message) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Message) (any, error)

func (f HandlerFunc) ServeRequest(ctx context.Context, req *Message) (any, error) { return f(ctx, req) }

// DefaultMaxConcurrent bounds the requests of one connection served at once.
const DefaultMaxConcurrent = 32

// ServerOptions configure Serve.
type ServerOptions struct {
	ConnOptions
	// MaxConcurrent bounds the requests of one connection in flight at
	// once; when reached, reading waits. Default DefaultMaxConcurrent.
	MaxConcurrent int
	Logger        *slog.Logger
	// Drain, once closed, asks Serve to hand the connection back: it is
	// closed with CloseServiceRestart and DrainReason as soon as no
	// request is in flight (at once if none is). Requests Waits reports
	// true for (a watcher's Next, which waits for a change) are not
	// waited for. A nil Drain is never closed.
	Drain       <-chan struct{}
	DrainReason string
	Waits       func(*Message) bool
}

// DefaultDrainReason is the close reason of a drained connection.
const DefaultDrainReason = "server shutting down: reconnect"

// Serve reads requests from c and answers them with h until the peer goes
// away, a frame breaks the protocol, or ctx ends. A malformed frame (not a
// JSON object with a request-id) closes the connection with status 1007 and
// a reason; an oversized one with 1009; a binary one with 1003. A
// well-formed frame that is not a request gets a "bad request" error. When
// Serve returns, c is closed and every request it started has finished.
//
// Run Serve on its own goroutine and return from the HTTP handler that
// upgraded the connection: net/http then releases its per-request buffers
// and the handler's stack, about 10 KB per idle connection.

func Serve(ctx context.Context, c *Conn, h Handler, opts ServerOptions) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	limit := opts.MaxConcurrent
	if limit <= 0 {
		limit = DefaultMaxConcurrent
	}
	ctx, cancel := context.WithCancel(context.WithValue(ctx, connKey{}, c))
	stop := context.AfterFunc(ctx, func() { c.CloseWith(CloseGoingAway, "server shutting down") })
	var inflight sync.WaitGroup
	defer func() {
		stop()
		cancel()
		inflight.Wait()
		c.Close()
	}()

	d := newDrainer(c, opts)
	if d != nil {
		go func() {
			select {
			case <-opts.Drain:
				d.start()
			case <-ctx.Done(): // Serve returned
			}
		}()
	}

	sem := make(chan struct{}, limit)
	for {
		frame, err := c.NextFrame()
		if err != nil {
			if IsClosed(err) && !errors.Is(err, ErrFrameTooLarge) {
				return nil
			}
			logger.Info("closing API connection: bad frame", "remote", c.RemoteAddr().String(), "err", err)
			c.CloseWith(CloseFor(err), err.Error())
			return err
		}
		msg, err := DecodeMessage(frame.Bytes())
		frame.Release()
		if err != nil {
			logger.Info("closing API connection: bad frame", "remote", c.RemoteAddr().String(), "err", err)
			c.CloseWith(CloseInvalidPayload, err.Error())
			return err
		}
		if !msg.IsRequest() {
			writeResponse(c, logger, msg.RequestID, nil, Errorf(CodeBadRequest, "message %d is not a request: it names no type and no request", msg.RequestID))
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		inflight.Add(1)
		busy := d.begin(msg)
		go func() {
			defer func() { <-sem; inflight.Done() }()
			result, err := serveOne(ctx, h, msg)
			writeResponse(c, logger, msg.RequestID, result, err)
			if busy {
				d.end()
			}
		}()
	}
}

// drainer closes a connection being drained once its last request that
// does not wait for events has been answered. Its counts are atomic: a
// request costs two atomic adds. end decrements before it reads
// draining, start sets draining before it reads busy, so one of them
// always sees the other and the connection is closed (once).
type drainer struct {
	c      *Conn
	waits  func(*Message) bool
	reason string

	busy     atomic.Int64
	draining atomic.Bool
	once     sync.Once
}

func newDrainer(c *Conn, opts ServerOptions) *drainer {
	if opts.Drain == nil {
		return nil
	}
	d := &drainer{c: c, waits: opts.Waits, reason: opts.DrainReason}
	if d.reason == "" {
		d.reason = DefaultDrainReason
	}
	return d
}

// begin counts a request in flight, unless it waits for events; it
// reports whether it counted it. A nil drainer (no Drain channel) counts
// nothing: its connection is never drained.
func (d *drainer) begin(msg *Message) bool {
	if d == nil || d.waits != nil && d.waits(msg) {
		return false
	}
	d.busy.Add(1)
	return true
}

// end uncounts a request answered, closing the connection if it was the
// last one of a connection being drained.
func (d *drainer) end() {
	if d.busy.Add(-1) == 0 && d.draining.Load() {
		d.close()
	}
}

// start marks the connection drained, closing it now if it is idle.
func (d *drainer) start() {
	d.draining.Store(true)
	if d.busy.Load() == 0 {
		d.close()
	}
}

func (d *drainer) close() {
	d.once.Do(func() { go d.c.CloseWith(CloseServiceRestart, d.reason) })
}

type connKey struct{}

// ConnFrom returns the connection a request served by Serve came on (from
// the ctx Serve gives its handler), or nil. A handler marks its
// connection logged in with ConnFrom(ctx).LoggedIn().
func ConnFrom(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}

// serveOne calls the handler, turning a panic into an error for this
// request only: one bad request never takes down the connection.
func serveOne(ctx context.Context, h Handler, msg *Message) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			result, err = nil, Errorf("", "internal error serving %s: %v", msg.Method(), p)
		}
	}()
	return h.ServeRequest(ctx, msg)
}

func writeResponse(c *Conn, logger *slog.Logger, id uint64, result any, err error) {
	frame, encErr := safeResponse(id, result, err)
	if encErr != nil {
		logger.Error("cannot encode API response", "request-id", id, "err", encErr)
		frame, _ = EncodeResponse(id, nil, fmt.Errorf("internal error: %w", encErr))
	}
	if werr := c.WriteFrame(frame); werr != nil && !IsClosed(werr) {
		logger.Debug("cannot write API response", "remote", c.RemoteAddr().String(), "err", werr)
	}
	if rb, ok := result.(*ResultBuffer); ok && encErr == nil {
		rb.release() // written: the frame was in it
	}
}

// safeResponse encodes a response, turning a panic while encoding (a result
// whose MarshalJSON panics, a typed-nil error) into an error.
func safeResponse(id uint64, result any, err error) (frame []byte, encErr error) {
	defer func() {
		if p := recover(); p != nil {
			frame, encErr = nil, fmt.Errorf("panic encoding response %d: %v", id, p)
		}
	}()
	return EncodeResponse(id, result, err)
}
