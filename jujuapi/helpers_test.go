package jujuapi_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

// testServer is a TLS WebSocket server on loopback that serves every
// connection with jujuapi.Serve.
type testServer struct {
	srv *httptest.Server
	// URL is the wss:// URL of the API endpoint.
	URL string
	// TLS verifies the server's certificate.
	TLS *tls.Config
	// served receives what Serve returned, once per connection.
	served chan error

	mu sync.Mutex
	// byAddr receives what Serve returned for the latest connection from
	// a client address (ports are reused over many connections).
	byAddr map[string]chan error
}

// newResult makes the channel for a new connection from addr.
func (ts *testServer) newResult(addr string) chan error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ch := make(chan error, 1)
	ts.byAddr[addr] = ch
	return ch
}

func (ts *testServer) resultFor(addr string) chan error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.byAddr[addr]
}

// servedErrOf waits for Serve to return for the connection of ws and
// returns what it returned.
func (ts *testServer) servedErrOf(tb testing.TB, ws *websocket.Conn) error {
	tb.Helper()
	select {
	case err := <-ts.resultFor(ws.LocalAddr().String()): // nil (blocks) if unknown
		return err
	case <-time.After(2 * time.Second):
		tb.Fatal("Serve did not return within 2 s")
		return nil
	}
}

var quietLogger = slog.New(slog.DiscardHandler)

// startServer serves h until the test ends.
func startServer(tb testing.TB, h jujuapi.Handler, opts jujuapi.ServerOptions) *testServer {
	tb.Helper()
	return startServerCtx(tb, tb.Context(), h, opts)
}

// startServerCtx serves h with ctx as the ctx given to Serve.
func startServerCtx(tb testing.TB, ctx context.Context, h jujuapi.Handler, opts jujuapi.ServerOptions) *testServer {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	return connServer(tb, opts.ConnOptions, func(c *jujuapi.Conn) error { return jujuapi.Serve(ctx, c, h, opts) })
}

// connServer is a TLS server that upgrades every request with
// jujuapi.Upgrade and runs script on the Conn; what script returns is the
// connection's result.
func connServer(tb testing.TB, opts jujuapi.ConnOptions, script func(c *jujuapi.Conn) error) *testServer {
	tb.Helper()
	ts := &testServer{served: make(chan error, 4096), byAddr: map[string]chan error{}}
	var wg sync.WaitGroup
	ts.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Added before the hijack so that httptest's Close orders it
		// before our Wait.
		wg.Add(1)
		defer wg.Done()
		// Before the upgrade, so that it is there when Dial returns.
		result := ts.newResult(r.RemoteAddr)
		c, err := jujuapi.Upgrade(w, r, opts)
		if err != nil {
			return
		}
		err = script(c)
		result <- err
		select {
		case ts.served <- err:
		default:
		}
	}))
	// Failed handshakes (tests that dial without the CA) are expected.
	ts.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	// As the broker serves: a large frame's TLS records gathered.
	ts.srv.Listener = jujuapi.GatheringListener(ts.srv.Listener)
	ts.srv.StartTLS()
	ts.URL = "wss://" + strings.TrimPrefix(ts.srv.URL, "https://") + "/api"
	ts.TLS = ts.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tb.Cleanup(func() {
		ts.srv.Close()
		wg.Wait()
	})
	return ts
}

// dialConn opens a jujuapi.Conn to ts.
func dialConn(tb testing.TB, ts *testServer, opts jujuapi.ConnOptions) *jujuapi.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 5*time.Second)
	defer cancel()
	c, err := jujuapi.Dial(ctx, ts.URL, jujuapi.DialOptions{ConnOptions: opts, TLSConfig: ts.TLS})
	if err != nil {
		tb.Fatalf("Dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// dialClient opens a jujuapi.Client to ts.
func dialClient(tb testing.TB, ts *testServer) *jujuapi.Client {
	tb.Helper()
	cl := jujuapi.NewClient(dialConn(tb, ts, jujuapi.ConnOptions{}))
	tb.Cleanup(func() { cl.Close() })
	return cl
}

// dialRaw opens a plain gorilla connection to ts, for traffic a Client
// would never send.
func dialRaw(tb testing.TB, ts *testServer) *websocket.Conn {
	tb.Helper()
	ws, err := dialRawErr(tb.Context(), ts)
	if err != nil {
		tb.Fatalf("dial raw: %v", err)
	}
	tb.Cleanup(func() { ws.Close() })
	return ws
}

func dialRawErr(ctx context.Context, ts *testServer) (*websocket.Conn, error) {
	return dialRawWith(ctx, ts, 0)
}

// dialRawWith dials with a write buffer of writeBuf bytes (0: the
// default): a message longer than that is sent in several frames.
func dialRawWith(ctx context.Context, ts *testServer, writeBuf int) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := websocket.Dialer{TLSClientConfig: ts.TLS, HandshakeTimeout: 5 * time.Second, WriteBufferSize: writeBuf}
	ws, resp, err := d.DialContext(ctx, ts.URL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return ws, err
}

// rawCall writes frame on ws and returns the next frame read, within 2 s.
func rawCall(tb testing.TB, ws *websocket.Conn, frame string) string {
	tb.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		tb.Fatalf("write %s: %v", frame, err)
	}
	return rawRead(tb, ws)
}

func rawRead(tb testing.TB, ws *websocket.Conn) string {
	tb.Helper()
	ws.SetReadDeadline(time.Now().Add(2 * time.Second))
	typ, data, err := ws.ReadMessage()
	if err != nil {
		tb.Fatalf("read response: %v", err)
	}
	if typ != websocket.TextMessage {
		tb.Fatalf("response is frame type %d, want text", typ)
	}
	return string(data)
}

// peerCloseCode is the status of the close frame a gorilla peer received,
// or 0.
func peerCloseCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// readClose reads from ws until the server closes it and returns the close
// code (or -1 if the connection ended without a close frame).
func readClose(tb testing.TB, ws *websocket.Conn) (code int, text string) {
	tb.Helper()
	ws.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err == nil {
			tb.Logf("frame before close: %s", data)
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			tb.Fatalf("connection still open after 2 s: %v", err)
		}
		return -1, err.Error()
	}
}

// session is the per-connection state of the test registry.
type session struct{ calls int }

type echoParams struct {
	Text  string `json:"text"`
	Count int    `json:"count,omitempty"`
}

type echoResult struct {
	Text    string `json:"text"`
	Count   int    `json:"count,omitempty"`
	Version int    `json:"version,omitempty"`
}

type failParams struct {
	Message string         `json:"message"`
	Code    string         `json:"code"`
	Info    map[string]any `json:"info,omitempty"`
}

type sleepParams struct {
	MS int `json:"ms"`
}

// testRegistry is what the servers in these tests answer.
func testRegistry() *jujuapi.Registry[*session] {
	r := quickRegistry()
	r.Register("Test", []int{1}, "Sleep", jujuapi.Typed(func(_ *session, ctx context.Context, p sleepParams) (any, error) {
		select {
		case <-time.After(time.Duration(p.MS) * time.Millisecond):
			return map[string]int{"slept": p.MS}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}))
	return r
}

// quickRegistry has only methods that answer at once, whatever their params.
func quickRegistry() *jujuapi.Registry[*session] {
	var r jujuapi.Registry[*session]
	r.Register("Pinger", []int{1}, "Ping", jujuapi.NoParams(func(*session, context.Context) (any, error) {
		return nil, nil
	}))
	for _, v := range []int{1, 2} {
		r.Register("Echo", []int{v}, "Echo", jujuapi.Typed(func(_ *session, _ context.Context, p echoParams) (echoResult, error) {
			return echoResult{Text: p.Text, Count: p.Count, Version: v}, nil
		}))
	}
	r.Register("Echo", []int{1, 2}, "Zero", jujuapi.Typed(func(_ *session, _ context.Context, p echoParams) (echoParams, error) {
		// Returns what it got: shows what absent/null params decode to.
		return p, nil
	}))
	r.Register("Watcher", []int{1}, "Next", jujuapi.NoParams(func(_ *session, ctx context.Context) (map[string]string, error) {
		return map[string]string{"id": jujuapi.ObjectID(ctx)}, nil
	}))
	r.Register("Test", []int{1}, "Fail", jujuapi.Typed(func(_ *session, _ context.Context, p failParams) (any, error) {
		return nil, &jujuapi.Error{Message: p.Message, Code: p.Code, Info: p.Info}
	}))
	r.Register("Test", []int{1}, "Panic", jujuapi.NoParams(func(*session, context.Context) (any, error) {
		panic("deliberate")
	}))
	return &r
}

// registryHandler serves each request of a connection from reg.
func registryHandler(reg *jujuapi.Registry[*session]) jujuapi.Handler {
	s := &session{}
	return jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
		return reg.Serve(ctx, s, req)
	})
}

// ping makes a Pinger(1).Ping call and fails the test if it does not answer.
func ping(tb testing.TB, cl *jujuapi.Client) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 2*time.Second)
	defer cancel()
	if err := cl.Call(ctx, "Pinger", 1, "Ping", nil, nil); err != nil {
		tb.Fatalf("Pinger(1).Ping: %v", err)
	}
}

// echo makes an Echo(1).Echo call and checks the answer.
func echo(tb testing.TB, cl *jujuapi.Client, text string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 2*time.Second)
	defer cancel()
	var res echoResult
	if err := cl.Call(ctx, "Echo", 1, "Echo", echoParams{Text: text}, &res); err != nil {
		tb.Fatalf("Echo(1).Echo: %v", err)
	}
	if res.Text != text {
		tb.Fatalf("Echo(1).Echo(%q) = %q", text, res.Text)
	}
}

// decodeFrame decodes a frame the server sent, failing the test otherwise.
func decodeFrame(tb testing.TB, frame string) *jujuapi.Message {
	tb.Helper()
	m, err := jujuapi.DecodeMessage([]byte(frame))
	if err != nil {
		tb.Fatalf("server sent a frame that does not decode: %s: %v", frame, err)
	}
	return m
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func req(id int, facade string, version int, method string, params string) string {
	s := fmt.Sprintf(`{"request-id":%d,"type":%q,"version":%d,"request":%q`, id, facade, version, method)
	if params != "" {
		s += `,"params":` + params
	}
	return s + "}"
}
