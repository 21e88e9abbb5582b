package jujuapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

// TestClientConcurrentCalls: calls from many goroutines on one Client each
// get their own result.
func TestClientConcurrentCalls(t *testing.T) {
	ts := startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	cl := dialClient(t, ts)
	const goroutines, calls = 50, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				text := fmt.Sprintf("g%d-c%d", g, i)
				version := 1 + (g+i)%2
				var res echoResult
				if err := cl.Call(t.Context(), "Echo", version, "Echo", echoParams{Text: text, Count: g*calls + i}, &res); err != nil {
					errs <- err
					return
				}
				if want := (echoResult{Text: text, Count: g*calls + i, Version: version}); res != want {
					errs <- fmt.Errorf("call %s got %+v, want %+v", text, res, want)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestClientCallContext: a call whose ctx ends returns with the ctx's
// error though the server has not answered; an answer that comes later is
// dropped (it answers no other call), and the connection stays usable.
func TestClientCallContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		// cancel ends the ctx once the server holds the request.
		cancel bool
		// answerLate has the server answer the call after it returned.
		answerLate bool
		wantErr    error
	}{{
		name: "deadline",
		ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 50*time.Millisecond)
		},
		wantErr: context.DeadlineExceeded,
	}, {
		name: "deadline, answered later",
		ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 50*time.Millisecond)
		},
		answerLate: true,
		wantErr:    context.DeadlineExceeded,
	}, {
		name:       "cancelled",
		ctx:        func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) },
		cancel:     true,
		answerLate: true,
		wantErr:    context.Canceled,
	}, {
		name: "already expired",
		ctx: func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		},
		answerLate: true,
		wantErr:    context.DeadlineExceeded,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := make(chan uint64, 1)
			cl := jujuapi.NewClient(dialConn(t, holdServer(t, held), jujuapi.ConnOptions{}))
			defer cl.Close()
			ping(t, cl)

			ctx, cancel := tt.ctx()
			defer cancel()
			var res echoResult
			done := make(chan error, 1)
			go func() { done <- cl.Call(ctx, "Test", 1, "Hold", nil, &res) }()
			if tt.cancel {
				select {
				case <-held:
				case <-time.After(waitLong):
					t.Fatal("the server never got the call")
				}
				cancel()
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(waitLong):
				t.Fatal("the call did not return when its context ended")
			}
			// The server holds the call until Release: only the ctx
			// can have ended it.
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Call = %v, want an error wrapping %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "Test(1).Hold") {
				t.Errorf("error %q does not name the call", err)
			}
			if res != (echoResult{}) {
				t.Errorf("the abandoned call's result was filled in: %+v", res)
			}
			if cl.Err() != nil {
				t.Fatalf("connection ended: %v", cl.Err())
			}
			if tt.answerLate {
				// The server answers what it holds, then Release: the
				// late answer is read first, and must answer nothing.
				var rel releaseResult
				if err := cl.Call(t.Context(), "Test", 1, "Release", nil, &rel); err != nil {
					t.Fatalf("Release: %v", err)
				}
				if rel.Released != 1 {
					t.Fatalf("Release answered %+v, want 1 held call answered", rel)
				}
			}
			for i := range 3 {
				echo(t, cl, fmt.Sprintf("after %s %d", tt.name, i))
			}
			ping(t, cl)
		})
	}
}

type releaseResult struct {
	Released int `json:"released"`
}

// holdServer answers Echo(1).Echo and Pinger(1).Ping at once. It holds each
// Test(1).Hold call, unanswered, and sends its request id on held (if there
// is room); Test(1).Release answers every held call with
// {"text":"late answer"}, then itself with {"released":N}, in that order
// on the wire.
func holdServer(t *testing.T, held chan<- uint64) *testServer {
	return connServer(t, jujuapi.ConnOptions{}, func(c *jujuapi.Conn) error {
		defer c.Close()
		var holding []uint64
		write := func(id uint64, result any) error {
			frame, err := jujuapi.EncodeResponse(id, result, nil)
			if err != nil {
				return err
			}
			return c.WriteFrame(frame)
		}
		for {
			f, err := c.NextFrame()
			if err != nil {
				return nil
			}
			m, err := jujuapi.DecodeMessage(f.Bytes())
			f.Release()
			if err != nil {
				return err
			}
			switch m.Method() {
			case "Test(1).Hold":
				holding = append(holding, m.RequestID)
				select {
				case held <- m.RequestID:
				default:
				}
			case "Test(1).Release":
				for _, id := range holding {
					err = errors.Join(err, write(id, echoResult{Text: "late answer"}))
				}
				err = errors.Join(err, write(m.RequestID, releaseResult{Released: len(holding)}))
				holding = nil
			case "Echo(1).Echo":
				var p echoParams
				json.Unmarshal(m.Params, &p)
				err = write(m.RequestID, echoResult{Text: p.Text})
			case "Pinger(1).Ping":
				err = write(m.RequestID, struct{}{})
			default:
				return fmt.Errorf("holdServer got %s", m.Method())
			}
			if err != nil {
				return err
			}
		}
	})
}

// TestClientServerErrors: errors come back as *jujuapi.Error with their code
// and info.
func TestClientServerErrors(t *testing.T) {
	ts := startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	cl := dialClient(t, ts)
	tests := []failParams{
		{Message: "model \"m\" not found", Code: jujuapi.CodeNotFound},
		{Message: "redirection to alternative server required", Code: jujuapi.CodeRedirect, Info: map[string]any{
			"ca-cert":          "-----BEGIN CERTIFICATE-----\n...",
			"controller-tag":   "controller-7c3b1ad4-8a43-4c7a-8f4e-6d6f3a9b2c11",
			"controller-alias": "dst",
			"servers":          []any{[]any{map[string]any{"value": "10.1.2.3", "type": "ipv4", "scope": "public", "port": float64(17070)}}},
		}},
		{Message: "no code"},
		{Message: "", Code: jujuapi.CodeTryAgain},
	}
	for _, tt := range tests {
		var res any
		err := cl.Call(t.Context(), "Test", 1, "Fail", tt, &res)
		var e *jujuapi.Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %T %v, want *jujuapi.Error", tt.Message, err, err)
			continue
		}
		if e.Message != tt.Message || e.Code != tt.Code || !reflect.DeepEqual(e.Info, tt.Info) {
			t.Errorf("error = %#v, want %#v", e, tt)
		}
		if jujuapi.ErrorCode(err) != tt.Code {
			t.Errorf("ErrorCode = %q, want %q", jujuapi.ErrorCode(err), tt.Code)
		}
	}
	ping(t, cl)
}

// TestClientResultDecoding: Call decodes into result, or reports a result
// that does not fit; a nil result discards the body.
func TestClientResultDecoding(t *testing.T) {
	ts := startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	cl := dialClient(t, ts)
	if err := cl.Call(t.Context(), "Echo", 1, "Echo", echoParams{Text: "x"}, nil); err != nil {
		t.Errorf("nil result: %v", err)
	}
	var wrong struct {
		Text int `json:"text"`
	}
	err := cl.Call(t.Context(), "Echo", 1, "Echo", echoParams{Text: "x"}, &wrong)
	if err == nil || !strings.HasPrefix(err.Error(), "decode response of Echo(1).Echo: ") {
		t.Errorf("result of the wrong type: %v", err)
	}
	var ute *json.UnmarshalTypeError
	if !errors.As(err, &ute) {
		t.Errorf("error %v does not wrap the decoding error", err)
	}
	if err := cl.Call(t.Context(), "Echo", 1, "Echo", map[string]any{"f": func() {}}, nil); err == nil || !strings.HasPrefix(err.Error(), "encode params of Echo(1).Echo: ") {
		t.Errorf("params that do not encode: %v", err)
	}
	// Neither broke the connection.
	echo(t, cl, "ok")
}

// TestClientServerCloses: when the server ends the connection, pending and
// new calls fail with an error wrapping ErrClientClosed.
func TestClientServerCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const pending = 5
	started := make(chan struct{}, pending)
	release := make(chan struct{})
	h := jujuapi.HandlerFunc(func(context.Context, *jujuapi.Message) (any, error) {
		started <- struct{}{}
		<-release // answers only once the connection has gone
		return nil, nil
	})
	ts := startServerCtx(t, ctx, h, jujuapi.ServerOptions{})
	cl := dialClient(t, ts)

	errs := make(chan error, pending)
	for range pending {
		go func() {
			errs <- cl.Call(t.Context(), "Test", 1, "Block", nil, nil)
		}()
	}
	for range pending {
		<-started
	}
	cancel()
	defer close(release)
	for range pending {
		select {
		case err := <-errs:
			if !errors.Is(err, jujuapi.ErrClientClosed) {
				t.Errorf("pending call: %v, want ErrClientClosed", err)
			}
		case <-time.After(time.Second):
			t.Fatal("pending call did not fail after the server closed")
		}
	}
	<-cl.Done()
	if !errors.Is(cl.Err(), jujuapi.ErrClientClosed) {
		t.Errorf("Err() = %v", cl.Err())
	}
	for i := range 3 {
		_, err := cl.CallRaw(t.Context(), "Pinger", 1, "Ping", nil)
		if !errors.Is(err, jujuapi.ErrClientClosed) {
			t.Errorf("new call %d: %v, want ErrClientClosed", i, err)
		}
	}
	// Close after the end is harmless and does not block.
	done := make(chan struct{})
	go func() { cl.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Close blocked")
	}
}

// TestClientCallsDuringServerClose: calls made while the server closes the
// connection all fail with an error wrapping ErrClientClosed, whichever
// moment they hit.
func TestClientCallsDuringServerClose(t *testing.T) {
	for round := range 20 {
		ctx, cancel := context.WithCancel(t.Context())
		ts := startServerCtx(t, ctx, registryHandler(testRegistry()), jujuapi.ServerOptions{})
		cl := dialClient(t, ts)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []error
		// The server closes once every caller has had an answer, so
		// that the close meets calls in every state.
		var answered sync.WaitGroup
		const callers = 8
		answered.Add(callers)
		for range callers {
			wg.Go(func() {
				var first sync.Once
				defer first.Do(answered.Done)
				for {
					err := cl.Call(t.Context(), "Pinger", 1, "Ping", nil, nil)
					first.Do(answered.Done)
					if err == nil {
						continue
					}
					if !errors.Is(err, jujuapi.ErrClientClosed) {
						mu.Lock()
						bad = append(bad, err)
						mu.Unlock()
					}
					return
				}
			})
		}
		answered.Wait()
		cancel()
		wg.Wait()
		for _, err := range bad {
			t.Errorf("round %d: call failed with %q, which does not wrap ErrClientClosed", round, err)
		}
		if len(bad) > 0 {
			return
		}
	}
}

// TestClientClose: closing the client fails its pending calls and ends the
// server's Serve cleanly.
func TestClientClose(t *testing.T) {
	started := make(chan struct{}, 1)
	reg := registryHandler(testRegistry())
	h := jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
		if req.Method() == "Test(1).Block" { // answers only when the connection ends
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return reg.ServeRequest(ctx, req)
	})
	ts := startServer(t, h, jujuapi.ServerOptions{})
	cl := dialClient(t, ts)
	ping(t, cl)
	errc := make(chan error, 1)
	go func() { errc <- cl.Call(t.Context(), "Test", 1, "Block", nil, nil) }()
	select {
	case <-started:
	case <-time.After(waitLong):
		t.Fatal("the server never got the call")
	}
	if err := cl.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, jujuapi.ErrClientClosed) {
			t.Errorf("pending call: %v, want ErrClientClosed", err)
		}
	case <-time.After(waitLong):
		t.Fatal("pending call still waiting after Close")
	}
	if err := cl.Call(t.Context(), "Pinger", 1, "Ping", nil, nil); !errors.Is(err, jujuapi.ErrClientClosed) {
		t.Errorf("call after Close: %v", err)
	}
	if err := servedErr(t, ts); err != nil {
		t.Errorf("Serve after the client closed: %v, want nil", err)
	}
}

// TestClientIgnoresStrayResponses: responses to unknown request ids are
// dropped; they do not answer the next call.
func TestClientIgnoresStrayResponses(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			m, err := jujuapi.DecodeMessage(data)
			if err != nil {
				return
			}
			// A stray answer, a duplicate-to-be, then the real one twice.
			ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"request-id":%d,"response":{"n":-1}}`, m.RequestID+1000))
			ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"request-id":%d,"response":{"n":%d}}`, m.RequestID, m.RequestID))
			ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"request-id":%d,"response":{"n":-2}}`, m.RequestID))
		}
	}))
	defer srv.Close()
	url := "wss://" + strings.TrimPrefix(srv.URL, "https://") + "/api"
	conn, err := jujuapi.Dial(t.Context(), url, jujuapi.DialOptions{TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig})
	if err != nil {
		t.Fatal(err)
	}
	cl := jujuapi.NewClient(conn)
	defer cl.Close()
	for want := 1; want <= 5; want++ {
		var res struct{ N int }
		if err := cl.Call(t.Context(), "X", 1, "Y", nil, &res); err != nil {
			t.Fatal(err)
		}
		if res.N != want {
			t.Errorf("call %d got n=%d", want, res.N)
		}
	}
}

// TestDialErrors: Dial reports what went wrong.
func TestDialErrors(t *testing.T) {
	ts := startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()

	// An untrusted certificate.
	if _, err := jujuapi.Dial(ctx, ts.URL, jujuapi.DialOptions{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Dial without the CA: %v", err)
	}
	// A pool built from the server's certificate.
	pool := x509.NewCertPool()
	pool.AddCert(ts.srv.Certificate())
	conn, err := jujuapi.Dial(ctx, ts.URL, jujuapi.DialOptions{TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatalf("Dial with the server's certificate as CA: %v", err)
	}
	cl := jujuapi.NewClient(conn)
	ping(t, cl)
	cl.Close()
	// The server name Juju clients verify is not in httptest's certificate.
	if _, err := jujuapi.Dial(ctx, ts.URL, jujuapi.DialOptions{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"}}); err == nil || !strings.Contains(err.Error(), "juju-apiserver") {
		t.Errorf("Dial verifying juju-apiserver against a certificate without it: %v", err)
	}
	// Not a WebSocket endpoint.
	plain := httptest.NewTLSServer(http.NotFoundHandler())
	defer plain.Close()
	url := "wss://" + strings.TrimPrefix(plain.URL, "https://") + "/api"
	_, err = jujuapi.Dial(ctx, url, jujuapi.DialOptions{TLSConfig: plain.Client().Transport.(*http.Transport).TLSClientConfig})
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("Dial of a non-WebSocket endpoint: %v", err)
	}
	// A plain HTTP request to the API endpoint is refused by Upgrade.
	resp, err := ts.srv.Client().Get(ts.srv.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET of the API endpoint: %s", resp.Status)
	}
}

// TestClientFrameLimit: a response over the client's frame limit ends the
// connection and fails the call, rather than leaving it waiting.
func TestClientFrameLimit(t *testing.T) {
	h := jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
		return map[string]string{"big": strings.Repeat("x", 4096)}, nil
	})
	ts := startServer(t, h, jujuapi.ServerOptions{})
	cl := jujuapi.NewClient(dialConn(t, ts, jujuapi.ConnOptions{MaxFrameSize: 1024}))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := cl.Call(ctx, "Test", 1, "Big", nil, nil)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v, want the connection's error", err)
	}
	if !errors.Is(err, jujuapi.ErrFrameTooLarge) {
		t.Errorf("Call = %v, want an error wrapping ErrFrameTooLarge", err)
	}
}

// TestClientCloseWithPeerThatStaysOpen: Client.Close returns once the close
// frame is sent and a moment has passed, even if the peer never hangs up
// and the client's reader is reading when Close begins.
func TestClientCloseWithPeerThatStaysOpen(t *testing.T) {
	// The peer sends stray responses (which the client drops) until it
	// reads the close frame; then it neither sends nor closes until the
	// test ends.
	ts := connServer(t, jujuapi.ConnOptions{}, func(c *jujuapi.Conn) error {
		defer c.Close()
		gotClose := make(chan struct{})
		go func() {
			defer close(gotClose)
			for {
				f, err := c.NextFrame()
				if err != nil {
					return
				}
				f.Release()
			}
		}()
		for {
			select {
			case <-gotClose:
				<-t.Context().Done()
				return nil
			default:
			}
			if c.WriteFrame([]byte(`{"request-id":999999,"response":{}}`)) != nil {
				<-t.Context().Done()
				return nil
			}
		}
	})
	for round := range 20 {
		cl := dialClient(t, ts)
		closed := make(chan error, 1)
		go func() { closed <- cl.Close() }()
		select {
		case <-closed:
		case <-time.After(waitLong):
			t.Fatalf("round %d: Client.Close still waiting after %s", round, waitLong)
		}
	}
}
