package jujuapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// ErrClientClosed is returned by calls on a Client whose connection has ended.
var ErrClientClosed = errors.New("connection closed")

// Client makes calls over one Conn and matches responses to requests by
// request-id; calls may be made concurrently.
type Client struct {
	conn *Conn

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan *Message
	err     error // why the connection ended, once it has
	done    chan struct{}
}

// NewClient starts reading responses from conn.
func NewClient(conn *Conn) *Client {
	c := &Client{conn: conn, pending: map[uint64]chan *Message{}, done: make(chan struct{})}
	go c.readLoop()
	return c
}

// Call sends a request and decodes the response body into result (which may
// be nil). It returns the server's error as an *Error. The call is abandoned
// when ctx ends; a late response is dropped.
func (c *Client) Call(ctx context.Context, facade string, version int, method string, params, result any) error {
	resp, err := c.CallRaw(ctx, facade, version, method, params)
	if err != nil {
		return err
	}
	if result != nil && len(resp) > 0 {
		if err := json.Unmarshal(resp, result); err != nil {
			return fmt.Errorf("decode response of %s: %w", methodString(facade, version, method), err)
		}
	}
	return nil
}

// CallRaw is Call without decoding the response body.
func (c *Client) CallRaw(ctx context.Context, facade string, version int, method string, params any) (json.RawMessage, error) {
	var body json.RawMessage
	switch p := params.(type) {
	case nil:
		body = emptyObject
	case json.RawMessage:
		body = p
	default:
		b, err := json.Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("encode params of %s: %w", methodString(facade, version, method), err)
		}
		body = b
	}
	ch := make(chan *Message, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()

	frame, err := json.Marshal(&Message{RequestID: id, Type: facade, Version: version, ID: ObjectID(ctx), Request: method, Params: body})
	if err != nil {
		c.forget(id)
		return nil, fmt.Errorf("encode request %s: %w", methodString(facade, version, method), err)
	}
	if err := c.conn.WriteFrame(frame); err != nil {
		c.forget(id)
		if IsClosed(err) {
			err = fmt.Errorf("%w: %w", ErrClientClosed, err)
		}
		return nil, fmt.Errorf("send %s: %w", methodString(facade, version, method), err)
	}
	select {
	case resp := <-ch:
		if resp == nil {
			return nil, c.Err()
		}
		if err := resp.Err(); err != nil {
			return nil, err
		}
		return resp.Response, nil
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("%s: %w", methodString(facade, version, method), ctx.Err())
	}
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *Client) readLoop() {
	var err error
	for {
		var frame *Frame
		frame, err = c.conn.NextFrame()
		if err != nil {
			break
		}
		var msg *Message
		msg, err = DecodeMessage(frame.Bytes())
		frame.Release()
		if err != nil {
			break
		}
		c.mu.Lock()
		ch := c.pending[msg.RequestID]
		delete(c.pending, msg.RequestID)
		c.mu.Unlock()
		if ch != nil {
			ch <- msg
		}
	}
	if IsClosed(err) {
		err = fmt.Errorf("%w: %w", ErrClientClosed, err)
	}
	c.mu.Lock()
	c.err = err
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
	c.conn.Close()
	close(c.done)
}

// Err returns why the connection ended, or nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the connection; pending calls fail.
func (c *Client) Close() error {
	err := c.conn.CloseWith(CloseNormal, "")
	<-c.done
	return err
}

func methodString(facade string, version int, method string) string {
	return fmt.Sprintf("%s(%d).%s", facade, version, method)
}
