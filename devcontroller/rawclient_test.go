package devcontroller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// rawClient is an API client that can address a server-side object (a
// watcher) by the request's "id", which jujuapi.Client does not send.
type rawClient struct {
	conn *jujuapi.Conn

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan *jujuapi.Message
	done    chan struct{}

	// queued holds, per watcher id, deltas a Next returned that waitDelta
	// has not looked at yet.
	queued map[string][]params.Delta
}

// dialRaw connects to path and logs in as user with password.
func dialRaw(t *testing.T, c *Controller, path, user, password string) *rawClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CACertPEM())
	conn, err := jujuapi.Dial(t.Context(), "wss://"+c.Addr()+path, jujuapi.DialOptions{
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &rawClient{conn: conn, pending: map[uint64]chan *jujuapi.Message{}, done: make(chan struct{}), queued: map[string][]params.Delta{}}
	go r.readLoop()
	t.Cleanup(func() { r.close() })
	if _, err := r.call(t.Context(), "Admin", 3, "", "Login", params.LoginRequest{AuthTag: "user-" + user, Credentials: password}); err != nil {
		t.Fatalf("login as %s on %s: %v", user, path, err)
	}
	return r
}

func (r *rawClient) readLoop() {
	defer close(r.done)
	for {
		f, err := r.conn.NextFrame()
		if err != nil {
			break
		}
		msg, err := jujuapi.DecodeMessage(f.Bytes())
		f.Release()
		if err != nil {
			break
		}
		r.mu.Lock()
		ch := r.pending[msg.RequestID]
		delete(r.pending, msg.RequestID)
		r.mu.Unlock()
		if ch != nil {
			ch <- msg
		}
	}
	r.mu.Lock()
	for id, ch := range r.pending {
		close(ch)
		delete(r.pending, id)
	}
	r.mu.Unlock()
}

// call sends a request to facade(version) object id and returns the
// response body or the server's error.
func (r *rawClient) call(ctx context.Context, facade string, version int, id, method string, args any) (json.RawMessage, error) {
	body := json.RawMessage("{}")
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return nil, err
		}
		body = b
	}
	ch := make(chan *jujuapi.Message, 1)
	r.mu.Lock()
	r.next++
	reqID := r.next
	r.pending[reqID] = ch
	r.mu.Unlock()
	frame, err := json.Marshal(&jujuapi.Message{RequestID: reqID, Type: facade, Version: version, ID: id, Request: method, Params: body})
	if err != nil {
		return nil, err
	}
	if err := r.conn.WriteFrame(frame); err != nil {
		return nil, err
	}
	select {
	case msg, ok := <-ch:
		if !ok {
			return nil, jujuapi.ErrClientClosed
		}
		if err := msg.Err(); err != nil {
			return nil, err
		}
		return msg.Response, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// mustCall is call, decoding the answer into result; it must succeed.
func (r *rawClient) mustCall(t *testing.T, facade string, version int, id, method string, args, result any) {
	t.Helper()
	raw, err := r.call(t.Context(), facade, version, id, method, args)
	if err != nil {
		t.Fatalf("%s(%d).%s id %q: %v", facade, version, method, id, err)
	}
	if result != nil {
		if err := json.Unmarshal(raw, result); err != nil {
			t.Fatalf("%s(%d).%s: decode %s: %v", facade, version, method, raw, err)
		}
	}
}

func (r *rawClient) close() {
	r.conn.CloseWith(jujuapi.CloseNormal, "")
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
	}
}

// watchDeadline bounds how long a test waits for a delta that must come.
const watchDeadline = 30 * time.Second

// nextDeltas calls Next on an AllWatcher (facade AllWatcher or
// AllModelWatcher) and returns its deltas, failing after watchDeadline.
func (r *rawClient) nextDeltas(t *testing.T, facade, id string) []params.Delta {
	t.Helper()
	version := 3
	if facade == "AllModelWatcher" {
		version = 4
	}
	ctx, cancel := context.WithTimeout(t.Context(), watchDeadline)
	defer cancel()
	raw, err := r.call(ctx, facade, version, id, "Next", nil)
	if err != nil {
		t.Fatalf("%s.Next (id %s): %v", facade, id, err)
	}
	var res params.AllWatcherNextResults
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("%s.Next: decode %s: %v", facade, raw, err)
	}
	return res.Deltas
}

// waitDelta looks at the deltas received and not yet matched, calling
// Next for more, until one satisfies match; it returns it and keeps the
// others for the next waitDelta (deltas of one change may come in any
// order). It fails after watchDeadline.
func (r *rawClient) waitDelta(t *testing.T, facade, id, what string, match func(params.Delta) bool) params.Delta {
	t.Helper()
	deadline := time.Now().Add(watchDeadline)
	for {
		for i, d := range r.queued[id] {
			if match(d) {
				r.queued[id] = append(r.queued[id][:i:i], r.queued[id][i+1:]...)
				return d
			}
		}
		if !time.Now().Before(deadline) {
			break
		}
		r.queued[id] = append(r.queued[id], r.nextDeltas(t, facade, id)...)
	}
	t.Fatalf("no delta %s within %v", what, watchDeadline)
	return params.Delta{}
}
