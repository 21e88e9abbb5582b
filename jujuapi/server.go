package jujuapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
}

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
		go func() {
			defer func() { <-sem; inflight.Done() }()
			result, err := serveOne(ctx, h, msg)
			writeResponse(c, logger, msg.RequestID, result, err)
		}()
	}
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
