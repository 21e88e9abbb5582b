package jujuapi_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

// A text message that is not UTF-8 fails the connection with 1007 (RFC
// 6455 section 8.1), whether whole or in fragments; a character split
// across fragments is fine.
func TestInvalidUTF8ClosesWith1007(t *testing.T) {
	ts := startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	for _, tc := range []struct {
		name  string
		frags [][]byte
	}{
		{"whole", [][]byte{[]byte(`{"request-id":1,"type":"Echo","version":1,"request":"Echo","params":{"text":"` + "\xff\xfe" + `"}}`)}},
		{"overlong", [][]byte{[]byte(`{"request-id":1,"type":"` + "\xc0\xaf" + `"}`)}},
		{"surrogate", [][]byte{[]byte(`{"request-id":1,"type":"` + "\xed\xa0\x80" + `"}`)}},
		{"fragments", [][]byte{[]byte(`{"request-id":1,"type":"Te`), []byte("\x80"), []byte(`st"}`)}},
		{"truncated at the end", [][]byte{[]byte(`{"request-id":1,"type":"Test"}` + "\xe2\x82")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := dialRaw(t, ts)
			writeFragments(t, ws, tc.frags)
			if code, text := readClose(t, ws); code != jujuapi.CloseInvalidPayload {
				t.Errorf("closed with %d %q, want %d", code, text, jujuapi.CloseInvalidPayload)
			}
		})
	}
	t.Run("a character split across fragments", func(t *testing.T) {
		ws := dialRaw(t, ts)
		// "€" is e2 82 ac: valid once the message is whole.
		writeFragments(t, ws, [][]byte{[]byte(`{"request-id":7,"type":"Echo","version":1,"request":"Echo","params":{"text":"` + "\xe2"), []byte("\x82\xac" + `"}}`)})
		resp := decodeFrame(t, rawRead(t, ws))
		if resp.RequestID != 7 || resp.Error != "" {
			t.Errorf("response %+v, want request 7 answered", resp)
		}
	})
}

// writeFragments sends one text message in the given fragments.
func writeFragments(t *testing.T, ws *websocket.Conn, frags [][]byte) {
	t.Helper()
	if len(frags) == 1 {
		if err := ws.WriteMessage(websocket.TextMessage, frags[0]); err != nil {
			t.Fatal(err)
		}
		return
	}
	// gorilla writes a fragment per flush of its writer's buffer: give it
	// buffers the size of each fragment by writing them as raw frames.
	nc := ws.NetConn()
	for i, f := range frags {
		op := byte(0x0) // continuation
		if i == 0 {
			op = 0x1
		}
		if i == len(frags)-1 {
			op |= 0x80
		}
		hdr := []byte{op, 0x80 | byte(len(f)), 0, 0, 0, 0} // zero mask key
		if len(f) > 125 {
			t.Fatal("fragment too long for this helper")
		}
		if _, err := nc.Write(append(hdr, f...)); err != nil {
			t.Fatal(err)
		}
	}
}

// A connection that must log in is closed with 1008 at its deadline,
// whatever it sends meanwhile: pings and other requests do not extend it.
func TestLoginDeadline(t *testing.T) {
	const deadline = 400 * time.Millisecond
	reg := testRegistry()
	loginServer := func(tb testing.TB) *testServer {
		return connServer(tb, jujuapi.ConnOptions{}, func(c *jujuapi.Conn) error {
			c.RequireLogin(deadline)
			h := jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
				if req.Type == "Admin" && req.Request == "Login" {
					jujuapi.ConnFrom(ctx).LoggedIn()
					return map[string]any{}, nil
				}
				return registryHandler(reg).ServeRequest(ctx, req)
			})
			return jujuapi.Serve(t.Context(), c, h, jujuapi.ServerOptions{Logger: quietLogger})
		})
	}
	ts := loginServer(t)

	t.Run("pings and other calls do not extend it", func(t *testing.T) {
		// The deadline runs from the server's accept, which comes after
		// the dial starts and before it returns: time from the dial.
		start := time.Now()
		ws := dialRaw(t, ts)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second))
				ws.WriteMessage(websocket.TextMessage, []byte(req(i+1, "Echo", 1, "Echo", `{"text":"x"}`)))
			}
		}()
		code, text := readClose(t, ws)
		took := time.Since(start)
		close(stop)
		wg.Wait()
		if code != jujuapi.ClosePolicyViolation {
			t.Errorf("closed with %d %q, want %d", code, text, jujuapi.ClosePolicyViolation)
		}
		if took < deadline || took > deadline+time.Second {
			t.Errorf("closed after %s, want about %s", took, deadline)
		}
	})
	t.Run("a login stops it", func(t *testing.T) {
		ws := dialRaw(t, ts)
		resp := decodeFrame(t, rawCall(t, ws, req(1, "Admin", 3, "Login", `{}`)))
		if resp.Error != "" {
			t.Fatalf("login: %s", resp.Error)
		}
		time.Sleep(2 * deadline)
		resp = decodeFrame(t, rawCall(t, ws, req(2, "Echo", 1, "Echo", `{"text":"still here"}`)))
		if resp.Error != "" {
			t.Errorf("call after the deadline: %s", resp.Error)
		}
	})
	t.Run("a device login extends it", func(t *testing.T) {
		var c *jujuapi.Conn
		got := make(chan *jujuapi.Conn, 1)
		ts := connServer(t, jujuapi.ConnOptions{}, func(c *jujuapi.Conn) error {
			c.RequireLogin(deadline)
			got <- c
			_, err := c.NextFrame()
			return err
		})
		ws := dialRaw(t, ts)
		c = <-got
		c.ExtendLoginUntil(time.Now().Add(3 * deadline))
		if !c.LoginPending() {
			t.Fatal("no login deadline pending after ExtendLoginUntil")
		}
		ws.SetReadDeadline(time.Now().Add(2 * deadline))
		if _, _, err := ws.ReadMessage(); !isTimeout(err) {
			t.Fatalf("closed before the extended deadline: %v", err)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Admission refuses a source address's connection past its cap with 429
// (before the upgrade), and frees its place when one ends.
func TestAdmissionPerAddress(t *testing.T) {
	a := jujuapi.NewAdmission(jujuapi.AdmissionOptions{MaxConnsPerAddress: 2, FDReserve: -1})
	var releases []func()
	for i := range 2 {
		rel, ref := a.Admit("10.0.0.1:" + string(rune('1'+i)))
		if ref != nil {
			t.Fatalf("connection %d refused: %v", i+1, ref)
		}
		releases = append(releases, rel)
	}
	if _, ref := a.Admit("10.0.0.1:9"); ref == nil || ref.Status != http.StatusTooManyRequests {
		t.Fatalf("third connection from one address: refusal %+v, want 429", ref)
	}
	if _, ref := a.Admit("10.0.0.2:9"); ref != nil {
		t.Fatalf("another address refused: %v", ref)
	}
	releases[0]()
	releases[0]() // once only
	if _, ref := a.Admit("10.0.0.1:9"); ref != nil {
		t.Fatalf("refused after one connection ended: %v", ref)
	}
	if _, ref := a.Admit("10.0.0.1:10"); ref == nil {
		t.Fatal("a double release freed two places")
	}
	rec := httptest.NewRecorder()
	_, ref := a.Admit("10.0.0.1:11")
	ref.Write(rec)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Connection") != "close" {
		t.Errorf("refusal answered %d %v", rec.Code, rec.Header())
	}
}

// Near the descriptor limit, WebSocket upgrades are refused with 503 and,
// closer, accepted connections are closed at once; below it, neither.
func TestAdmissionDescriptorReserve(t *testing.T) {
	var mu sync.Mutex
	limit, open := 1000, 100
	usage := func() (int, int) { mu.Lock(); defer mu.Unlock(); return limit, open }
	set := func(n int) { mu.Lock(); open = n; mu.Unlock() }
	a := jujuapi.NewAdmissionWithUsage(jujuapi.AdmissionOptions{Logger: quietLogger}, usage) // reserve: 64 (5% of 1000 is less)
	if _, _, r := a.Descriptors(); r != 64 {
		t.Fatalf("reserve = %d, want 64", r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	al := a.Listener(ln)
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := al.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() (net.Conn, bool) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		select {
		case sc := <-accepted:
			t.Cleanup(func() { sc.Close() })
			return sc, true
		case <-time.After(500 * time.Millisecond):
			return nil, false
		}
	}

	rel, ref := a.Admit("10.0.0.1:1")
	if ref != nil {
		t.Fatalf("with 100 of 1000 open: refused %v", ref)
	}
	rel()
	if _, ok := dial(); !ok {
		t.Fatal("with 100 of 1000 open: a connection was not accepted")
	}
	// 936 open (the connection accepted among them) leave 64: refuse
	// upgrades.
	set(936)
	a.Sample()
	if _, ref := a.Admit("10.0.0.1:2"); ref == nil || ref.Status != http.StatusServiceUnavailable {
		t.Errorf("with 936 of 1000 open and a reserve of 64: refusal %+v, want 503", ref)
	}
	if _, ok := dial(); !ok {
		t.Error("with 936 of 1000 open: a plain connection was not accepted (only upgrades are refused there)")
	}
	// Fewer than 32 left: shed at accept.
	set(970)
	a.Sample()
	if _, ok := dial(); ok {
		t.Error("with 970 of 1000 open: a connection was accepted, want it closed at once")
	}
	if _, _, shed := a.Refused(); shed != 1 {
		t.Errorf("shed = %d, want 1", shed)
	}
	// Back below: accepted again.
	set(100)
	a.Sample()
	if _, ok := dial(); !ok {
		t.Error("with 100 open again: a connection was not accepted")
	}
	if _, ref := a.Admit("10.0.0.1:3"); ref != nil {
		t.Errorf("with 100 open again: refused %v", ref)
	}
	// Descriptors freed (or the limit raised) since the last periodic
	// sample: a connection about to be refused or shed counts afresh
	// first, at most every 100 ms, and goes through.
	set(970)
	a.Sample()
	set(100)
	time.Sleep(150 * time.Millisecond)
	if _, ref := a.Admit("10.0.0.1:4"); ref != nil {
		t.Errorf("with 100 open since the last sample said 970: refused %v, want a fresh count first", ref)
	}
	set(970)
	a.Sample()
	set(100)
	time.Sleep(150 * time.Millisecond)
	if _, ok := dial(); !ok {
		t.Error("with 100 open since the last sample said 970: a connection was shed, want a fresh count first")
	}
}
