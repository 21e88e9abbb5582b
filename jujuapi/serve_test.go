package jujuapi_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

// servedErr waits for the next connection of ts to end and returns what
// Serve returned for it.
func servedErr(t *testing.T, ts *testServer) error {
	t.Helper()
	select {
	case err := <-ts.served:
		return err
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return within 2 s")
		return nil
	}
}

// TestServeConcurrentOutOfOrder: requests of one connection run at the same
// time, and a later request may be answered first.
func TestServeConcurrentOutOfOrder(t *testing.T) {
	const n = 5
	var arrived atomic.Int32
	all := make(chan struct{})
	release := make(chan struct{})
	h := jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(time.Second):
			return nil, errors.New("not all requests arrived: they are not served concurrently")
		}
		if req.RequestID != n {
			<-release
		}
		return map[string]uint64{"id": req.RequestID}, nil
	})
	ts := startServer(t, h, jujuapi.ServerOptions{})
	ws := dialRaw(t, ts)
	for i := 1; i <= n; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(req(i, "Test", 1, "Wait", `{}`))); err != nil {
			t.Fatal(err)
		}
	}
	// Only the last request may finish before release: its answer comes first.
	if got, want := rawRead(t, ws), fmt.Sprintf(`{"request-id":%d,"response":{"id":%d}}`, n, n); got != want {
		close(release)
		t.Fatalf("first response %s, want %s", got, want)
	}
	close(release)
	seen := map[string]bool{}
	for range n - 1 {
		seen[rawRead(t, ws)] = true
	}
	for i := 1; i < n; i++ {
		if want := fmt.Sprintf(`{"request-id":%d,"response":{"id":%d}}`, i, i); !seen[want] {
			t.Errorf("missing response %s; got %v", want, seen)
		}
	}
}

// TestServeMaxConcurrent: no more than MaxConcurrent requests of one
// connection are in flight at once, and every request is answered.
func TestServeMaxConcurrent(t *testing.T) {
	tests := []struct {
		limit   int
		wantMax int32
	}{
		{limit: 1, wantMax: 1},
		{limit: 2, wantMax: 2},
		{limit: 5, wantMax: 5},
		{limit: 0, wantMax: 10}, // the default (32) does not bind here
	}
	const requests = 10
	for _, tt := range tests {
		t.Run(fmt.Sprintf("limit=%d", tt.limit), func(t *testing.T) {
			var inFlight, maxInFlight atomic.Int32
			full := make(chan struct{})
			var fullOnce sync.Once
			h := jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
				cur := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := maxInFlight.Load()
					if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
						break
					}
				}
				if cur >= tt.wantMax {
					fullOnce.Do(func() { close(full) })
				}
				// Wait until the bound is reached once, then stay a while
				// so that a broken bound would show.
				select {
				case <-full:
				case <-time.After(time.Second):
				}
				time.Sleep(10 * time.Millisecond)
				return map[string]uint64{"id": req.RequestID}, nil
			})
			ts := startServer(t, h, jujuapi.ServerOptions{MaxConcurrent: tt.limit})
			cl := dialClient(t, ts)

			var wg sync.WaitGroup
			errs := make(chan error, requests)
			for range requests {
				wg.Go(func() {
					var res map[string]uint64
					if err := cl.Call(t.Context(), "Test", 1, "Slow", nil, &res); err != nil {
						errs <- err
					} else if res["id"] == 0 {
						errs <- fmt.Errorf("bad result %v", res)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got := maxInFlight.Load(); got != tt.wantMax {
				t.Errorf("max in flight = %d, want %d", got, tt.wantMax)
			}
		})
	}
}

// TestServeBadInputKeepsOtherConnections sends what a broken or hostile
// peer might send on connection A and checks what happens to A, while
// connection B on the same server goes on answering.
func TestServeBadInputKeepsOtherConnections(t *testing.T) {
	const limit = 1024
	ts := startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{
		ConnOptions: jujuapi.ConnOptions{MaxFrameSize: limit},
	})
	b := dialClient(t, ts)

	padTo := func(frame string, size int) string {
		// Pads a JSON object with spaces before its closing brace.
		return frame[:len(frame)-1] + strings.Repeat(" ", size-len(frame)) + "}"
	}
	ping1 := req(1, "Pinger", 1, "Ping", `{}`)

	tests := []struct {
		name string
		// send writes to A.
		send func(t *testing.T, a *websocket.Conn)
		// Either A is closed with wantClose (and Serve returns an error
		// matching wantServeErr) ...
		wantClose     int
		wantCloseText string
		wantServeErr  func(error) bool
		// ... or A answers with wantResponse and stays open.
		wantResponse string
		// writeBuf is A's write buffer size: the largest frame it sends.
		writeBuf int
	}{{
		name:          "not JSON",
		send:          sendText("hello"),
		wantClose:     websocket.CloseInvalidFramePayloadData,
		wantCloseText: "malformed message: invalid character 'h' looking for beginning of value",
		wantServeErr:  func(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "malformed message") },
	}, {
		name:          "truncated JSON",
		send:          sendText(`{"request-id":1,"type":"Pinger"`),
		wantClose:     websocket.CloseInvalidFramePayloadData,
		wantCloseText: "malformed message: unexpected end of JSON input",
	}, {
		name:      "JSON array",
		send:      sendText(`[` + ping1 + `]`),
		wantClose: websocket.CloseInvalidFramePayloadData,
	}, {
		name:          "JSON null",
		send:          sendText(`null`),
		wantClose:     websocket.CloseInvalidFramePayloadData,
		wantCloseText: "malformed message: missing request-id",
	}, {
		name:          "no request-id",
		send:          sendText(`{"type":"Pinger","version":1,"request":"Ping"}`),
		wantClose:     websocket.CloseInvalidFramePayloadData,
		wantCloseText: "malformed message: missing request-id",
	}, {
		name:      "negative request-id",
		send:      sendText(`{"request-id":-1,"type":"Pinger","version":1,"request":"Ping"}`),
		wantClose: websocket.CloseInvalidFramePayloadData,
	}, {
		name:      "empty frame",
		send:      sendText(``),
		wantClose: websocket.CloseInvalidFramePayloadData,
	}, {
		name:         "frame over the limit",
		send:         sendText(padTo(ping1, limit+1)),
		wantClose:    websocket.CloseMessageTooBig,
		wantServeErr: func(err error) bool { return errors.Is(err, jujuapi.ErrFrameTooLarge) },
	}, {
		name:         "frame far over the limit",
		send:         sendText(strings.Repeat("x", 64<<10)),
		wantClose:    websocket.CloseMessageTooBig,
		wantServeErr: func(err error) bool { return errors.Is(err, jujuapi.ErrFrameTooLarge) },
	}, {
		name:         "fragmented message over the limit",
		writeBuf:     512, // three 512-byte frames: the first is within the limit
		send:         sendText(padTo(ping1, 3*512)),
		wantClose:    websocket.CloseMessageTooBig,
		wantServeErr: func(err error) bool { return errors.Is(err, jujuapi.ErrFrameTooLarge) },
	}, {
		name:         "frame exactly at the limit",
		send:         sendText(padTo(ping1, limit)),
		wantResponse: `{"request-id":1,"response":{}}`,
	}, {
		name:         "fragmented message within the limit",
		writeBuf:     100,
		send:         sendText(padTo(ping1, limit)),
		wantResponse: `{"request-id":1,"response":{}}`,
	}, {
		name:          "binary frame",
		send:          sendFrame(websocket.BinaryMessage, ping1),
		wantClose:     websocket.CloseUnsupportedData,
		wantCloseText: "binary frame: the Juju API uses text frames",
		wantServeErr:  func(err error) bool { return errors.Is(err, jujuapi.ErrBinaryFrame) },
	}, {
		name:         "not a request",
		send:         sendText(`{"request-id":7}`),
		wantResponse: `{"request-id":7,"error":"message 7 is not a request: it names no type and no request","error-code":"bad request","response":{}}`,
	}, {
		name:         "a response sent to the server",
		send:         sendText(`{"request-id":8,"response":{"x":1}}`),
		wantResponse: `{"request-id":8,"error":"message 8 is not a request: it names no type and no request","error-code":"bad request","response":{}}`,
	}, {
		name:         "handler panics",
		send:         sendText(req(9, "Test", 1, "Panic", `{}`)),
		wantResponse: `{"request-id":9,"error":"internal error serving Test(1).Panic: deliberate","response":{}}`,
	}, {
		name:         "params that do not decode",
		send:         sendText(req(10, "Echo", 1, "Echo", `{"text":[]}`)),
		wantResponse: `{"request-id":10,"error":"cannot decode params: json: cannot unmarshal array into Go struct field echoParams.text of type string","error-code":"bad request","response":{}}`,
	}, {
		// RFC 6455 8.1: a text message that is not UTF-8 fails the
		// connection with 1007.
		name:          "invalid UTF-8 in a string",
		send:          sendText(req(11, "Echo", 1, "Echo", "{\"text\":\"a\xffb\"}")),
		wantClose:     websocket.CloseInvalidFramePayloadData,
		wantCloseText: "text message is not valid UTF-8",
		wantServeErr:  func(err error) bool { return errors.Is(err, jujuapi.ErrInvalidUTF8) },
	}, {
		name:         "unknown facade",
		send:         sendText(req(12, "Foo", 1, "Bar", `{}`)),
		wantResponse: `{"request-id":12,"error":"unknown object type \"Foo\"","error-code":"not implemented","response":{}}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			echo(t, b, "before "+tt.name)
			a, err := dialRawWith(t.Context(), ts, tt.writeBuf)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			// A works before the bad input.
			if got := rawCall(t, a, req(100, "Pinger", 1, "Ping", "")); got != `{"request-id":100,"response":{}}` {
				t.Fatalf("A before: %s", got)
			}
			tt.send(t, a)
			if tt.wantResponse == "" {
				code, text := readClose(t, a)
				if code != tt.wantClose {
					t.Errorf("A closed with code %d (%q), want %d", code, text, tt.wantClose)
				}
				if tt.wantCloseText != "" && text != tt.wantCloseText {
					t.Errorf("A closed with reason %q, want %q", text, tt.wantCloseText)
				}
				err := ts.servedErrOf(t, a)
				if err == nil {
					t.Errorf("Serve of A returned nil, want the error")
				} else if tt.wantServeErr != nil && !tt.wantServeErr(err) {
					t.Errorf("Serve of A returned %T %v", err, err)
				}
			} else {
				if got := rawRead(t, a); got != tt.wantResponse {
					t.Errorf("A answered\n %s\nwant\n %s", got, tt.wantResponse)
				}
				// A keeps serving.
				if got := rawCall(t, a, req(101, "Echo", 1, "Echo", `{"text":"still here"}`)); got != `{"request-id":101,"response":{"text":"still here","version":1}}` {
					t.Errorf("A after: %s", got)
				}
				a.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
				if err := ts.servedErrOf(t, a); err != nil {
					t.Errorf("Serve of A after a normal close returned %v", err)
				}
			}
			echo(t, b, "after "+tt.name)
			// A new connection is served too.
			c := dialRaw(t, ts)
			if got := rawCall(t, c, req(1, "Pinger", 1, "Ping", "")); got != `{"request-id":1,"response":{}}` {
				t.Errorf("new connection: %s", got)
			}
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			if err := ts.servedErrOf(t, c); err != nil {
				t.Errorf("Serve of a new connection returned %v", err)
			}
		})
	}
	if err := b.Err(); err != nil {
		t.Errorf("B ended: %v", err)
	}
}

func sendText(s string) func(*testing.T, *websocket.Conn) {
	return sendFrame(websocket.TextMessage, s)
}

func sendFrame(typ int, s string) func(*testing.T, *websocket.Conn) {
	return func(t *testing.T, ws *websocket.Conn) {
		t.Helper()
		// The server may close before a long frame is all written: what
		// A reads next tells whether that was right.
		if err := ws.WriteMessage(typ, []byte(s)); err != nil {
			t.Logf("write: %v", err)
		}
	}
}

// TestServeIdleTimeout: a connection without traffic is closed after
// IdleTimeout; requests and WebSocket pings keep it open.
func TestServeIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	// Each case has its own server, so that they can run in parallel.
	server := func(t *testing.T, idle time.Duration) *testServer {
		t.Parallel()
		return startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{
			ConnOptions: jujuapi.ConnOptions{IdleTimeout: idle},
		})
	}

	t.Run("no traffic", func(t *testing.T) {
		ts := server(t, idle)
		a := dialRaw(t, ts)
		code, text := readClose(t, a)
		if code != websocket.CloseAbnormalClosure && code != websocket.CloseGoingAway && code != websocket.CloseNormalClosure {
			t.Errorf("closed with %d %q", code, text)
		}
		if err := ts.servedErrOf(t, a); err != nil {
			t.Errorf("Serve after idle timeout returned %v, want nil", err)
		}
	})

	t.Run("ping requests", func(t *testing.T) {
		ts := server(t, idle)
		cl := dialClient(t, ts)
		for start := time.Now(); time.Since(start) < 3*idle; {
			ping(t, cl)
			time.Sleep(idle / 4)
		}
		if err := cl.Err(); err != nil {
			t.Fatalf("connection ended while pinging: %v", err)
		}
		echo(t, cl, "still open")
		// Without traffic the idle timer runs again.
		select {
		case <-cl.Done():
		case <-time.After(idle + waitLong):
			t.Fatal("connection not closed after the pings stopped")
		}
		if !errors.Is(cl.Err(), jujuapi.ErrClientClosed) {
			t.Errorf("Err() = %v, want ErrClientClosed", cl.Err())
		}
		servedErr(t, ts)
	})

	t.Run("websocket pings", func(t *testing.T) {
		ts := server(t, idle)
		a := dialRaw(t, ts)
		var mu sync.Mutex
		var pongs []string
		a.SetPongHandler(func(data string) error {
			mu.Lock()
			pongs = append(pongs, data)
			mu.Unlock()
			return nil
		})
		frames := make(chan string, 10)
		readErr := make(chan error, 1)
		go func() {
			for {
				_, data, err := a.ReadMessage()
				if err != nil {
					readErr <- err
					return
				}
				frames <- string(data)
			}
		}()
		sent := 0
		for start := time.Now(); time.Since(start) < 3*idle; sent++ {
			if err := a.WriteControl(websocket.PingMessage, fmt.Appendf(nil, "p%d", sent), time.Now().Add(time.Second)); err != nil {
				t.Fatalf("ping %d: %v", sent, err)
			}
			select {
			case err := <-readErr:
				t.Fatalf("connection ended after %d pings: %v", sent, err)
			case <-time.After(idle / 4):
			}
		}
		if err := a.WriteMessage(websocket.TextMessage, []byte(req(1, "Pinger", 1, "Ping", ""))); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-frames:
			if got != `{"request-id":1,"response":{}}` {
				t.Errorf("response %s", got)
			}
		case err := <-readErr:
			t.Fatalf("connection ended: %v", err)
		case <-time.After(time.Second):
			t.Fatal("no response")
		}
		mu.Lock()
		defer mu.Unlock()
		// Every ping but possibly the last is answered, in order.
		if len(pongs) < sent-1 {
			t.Errorf("%d pongs for %d pings", len(pongs), sent)
		}
		for i, p := range pongs {
			if want := fmt.Sprintf("p%d", i); p != want {
				t.Errorf("pong %d carries %q, want %q", i, p, want)
			}
		}
	})

	t.Run("disabled", func(t *testing.T) {
		ts := server(t, -1)
		cl := dialClient(t, ts)
		select {
		case <-cl.Done():
			t.Fatalf("connection closed with a negative IdleTimeout: %v", cl.Err())
		case <-time.After(3 * idle):
		}
		ping(t, cl)
	})
}

// TestServeShutdown: cancelling Serve's ctx closes the connection with
// 1001 (going away), cancels the handlers' ctx, and Serve returns only once
// every handler has returned.
func TestServeShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := make(chan struct{}, 10)
	var finished atomic.Int32
	var sawCancel atomic.Bool
	release := make(chan struct{}) // ends the stubborn handler
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	h := jujuapi.HandlerFunc(func(hctx context.Context, req *jujuapi.Message) (any, error) {
		switch req.Request {
		case "Stubborn": // ignores its ctx
			started <- struct{}{}
			<-release
			sawCancel.Store(hctx.Err() != nil)
			finished.Add(1)
		case "Polite": // returns when its ctx ends
			started <- struct{}{}
			<-hctx.Done()
			finished.Add(1)
			return nil, hctx.Err()
		}
		return nil, nil
	})
	ts := startServerCtx(t, ctx, h, jujuapi.ServerOptions{})

	busy := dialRaw(t, ts)
	for i, m := range []string{"Stubborn", "Polite"} {
		if err := busy.WriteMessage(websocket.TextMessage, []byte(req(i+1, "Test", 1, m, ""))); err != nil {
			t.Fatal(err)
		}
		<-started
	}
	idle := dialRaw(t, ts)
	if got := rawCall(t, idle, req(1, "Test", 1, "Quick", "")); got != `{"request-id":1,"response":{}}` {
		t.Fatal(got)
	}
	cl := dialClient(t, ts)
	ping(t, cl)

	cancel()
	for name, ws := range map[string]*websocket.Conn{"busy": busy, "idle": idle} {
		code, text := readClose(t, ws)
		if code != websocket.CloseGoingAway || text != "server shutting down" {
			t.Errorf("%s connection closed with %d %q, want 1001 %q", name, code, text, "server shutting down")
		}
	}
	select {
	case <-cl.Done():
	case <-time.After(time.Second):
		t.Fatal("client still open after shutdown")
	}
	if err := cl.Err(); !errors.Is(err, jujuapi.ErrClientClosed) || !strings.Contains(err.Error(), "1001") {
		t.Errorf("client Err() = %v, want ErrClientClosed with close 1001", err)
	}
	if err := cl.Call(t.Context(), "Pinger", 1, "Ping", nil, nil); !errors.Is(err, jujuapi.ErrClientClosed) {
		t.Errorf("call after shutdown: %v, want ErrClientClosed", err)
	}

	// The Serve calls of the idle connection and of the client return
	// (ts.served has both); the busy one's waits for its stubborn
	// handler, which waits for release.
	for range 2 {
		if err := servedErr(t, ts); err != nil {
			t.Errorf("Serve returned %v after shutdown, want nil", err)
		}
	}
	select {
	case err := <-ts.resultFor(busy.LocalAddr().String()):
		t.Fatalf("Serve returned (%v) while a handler was still running", err)
	default:
	}
	releaseOnce()
	if err := ts.servedErrOf(t, busy); err != nil {
		t.Errorf("Serve returned %v after shutdown, want nil", err)
	}
	if got := finished.Load(); got != 2 {
		t.Errorf("Serve returned with %d of 2 handlers finished", got)
	}
	if !sawCancel.Load() {
		t.Error("the handler's ctx was not cancelled at shutdown")
	}
}

// TestServeHandlerCtxEndsWithConnection: when the peer goes away, the ctx of
// its running handlers ends and Serve returns after them.
func TestServeHandlerCtxEndsWithConnection(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan struct{})
	h := jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
		close(started)
		select {
		case <-ctx.Done():
			close(ended)
		case <-time.After(2 * time.Second):
		}
		return nil, ctx.Err()
	})
	ts := startServer(t, h, jujuapi.ServerOptions{})
	a := dialRaw(t, ts)
	if err := a.WriteMessage(websocket.TextMessage, []byte(req(1, "Test", 1, "Wait", ""))); err != nil {
		t.Fatal(err)
	}
	<-started
	a.Close()
	select {
	case <-ended:
	case <-time.After(time.Second):
		t.Fatal("handler ctx not cancelled after the peer went away")
	}
	if err := servedErr(t, ts); err != nil {
		t.Errorf("Serve returned %v after the peer went away, want nil", err)
	}
}

// panickyResult is a result whose encoding panics.
type panickyResult struct{}

func (panickyResult) MarshalJSON() ([]byte, error) { panic("MarshalJSON blew up") }

// TestServeSurvivesPanicWhileEncoding: a handler's result or error whose
// encoding panics (a MarshalJSON that panics; the classic typed-nil
// *jujuapi.Error returned as an error) must fail that request only, like a
// panic in the handler itself. A crash would take down every connection of
// the process, so the check runs in a child process.
func TestServeSurvivesPanicWhileEncoding(t *testing.T) {
	if os.Getenv("JUJUAPI_ENCODING_PANIC_CHILD") == "1" {
		servePanicWhileEncoding(t)
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestServeSurvivesPanicWhileEncoding$", "-test.v", "-test.count=1")
	// Under -race the child would otherwise wait a second before exiting.
	cmd.Env = append(os.Environ(), "JUJUAPI_ENCODING_PANIC_CHILD=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Fatalf("the server process died (%v); its last lines:\n%s", err, strings.Join(lines[max(0, len(lines)-25):], "\n"))
	}
	if !strings.Contains(string(out), "--- PASS: TestServeSurvivesPanicWhileEncoding") {
		t.Fatalf("child did not pass:\n%s", out)
	}
}

func servePanicWhileEncoding(t *testing.T) {
	h := jujuapi.HandlerFunc(func(_ context.Context, req *jujuapi.Message) (any, error) {
		switch req.Request {
		case "PanickyResult":
			return panickyResult{}, nil
		case "TypedNilError":
			var e *jujuapi.Error // a typed nil: a non-nil error
			return nil, e
		}
		return nil, nil
	})
	ts := startServer(t, h, jujuapi.ServerOptions{})
	b := dialRaw(t, ts)
	a := dialRaw(t, ts)
	for i, method := range []string{"PanickyResult", "TypedNilError"} {
		id := i + 1
		got := rawCall(t, a, req(id, "Test", 1, method, ""))
		m := decodeFrame(t, got)
		if m.RequestID != uint64(id) || m.Error == "" || string(m.Response) != "{}" {
			t.Errorf("%s answered %s, want an error response", method, got)
		}
		if got := rawCall(t, a, req(10+id, "Test", 1, "Ok", "")); got != fmt.Sprintf(`{"request-id":%d,"response":{}}`, 10+id) {
			t.Errorf("A after %s: %s", method, got)
		}
		if got := rawCall(t, b, req(id, "Test", 1, "Ok", "")); got != fmt.Sprintf(`{"request-id":%d,"response":{}}`, id) {
			t.Errorf("B after %s: %s", method, got)
		}
	}
}
