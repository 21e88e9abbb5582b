package jujuapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

// TestServeDrain: once Drain is closed, an idle connection is closed at
// once with 1012 and the reason; a busy one answers its calls first
// (a watcher's Next, which Waits names, does not hold it), then closes
// the same way; the server's ctx is not involved.
func TestServeDrain(t *testing.T) {
	drain := make(chan struct{})
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	started := make(chan string, 4)
	h := jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
		switch req.Request {
		case "Slow":
			started <- "Slow"
			<-release
		case "Next": // a watcher's: waits for a change that never comes
			started <- "Next"
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return map[string]string{"did": req.Request}, nil
	})
	ts := startServer(t, h, jujuapi.ServerOptions{
		Drain: drain, DrainReason: "going: reconnect",
		Waits: func(m *jujuapi.Message) bool { return m.ID != "" && m.Request == "Next" },
	})

	idle := dialRaw(t, ts)
	if got := rawCall(t, idle, req(1, "Test", 1, "Quick", "")); got != `{"request-id":1,"response":{"did":"Quick"}}` {
		t.Fatal(got)
	}
	watching := dialRaw(t, ts)
	if err := watching.WriteMessage(websocket.TextMessage, []byte(`{"request-id":1,"type":"Watcher","version":1,"id":"w1","request":"Next","params":{}}`)); err != nil {
		t.Fatal(err)
	}
	busy := dialRaw(t, ts)
	for _, frame := range []string{req(1, "Test", 1, "Slow", ""), `{"request-id":2,"type":"Watcher","version":1,"id":"w2","request":"Next","params":{}}`} {
		if err := busy.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		select {
		case <-started:
		case <-time.After(2 * time.Second):
			t.Fatal("the handlers did not start")
		}
	}

	close(drain)
	for name, ws := range map[string]*websocket.Conn{"idle": idle, "watching": watching} {
		code, text := readClose(t, ws)
		if code != jujuapi.CloseServiceRestart || text != "going: reconnect" {
			t.Errorf("%s connection closed with %d %q, want 1012 %q", name, code, text, "going: reconnect")
		}
	}
	// The busy connection is still open: its slow call has no answer yet.
	busy.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, msg, err := busy.ReadMessage(); err == nil {
		t.Fatalf("busy connection got %s before its slow call ended", msg)
	} else if ne, ok := err.(interface{ Timeout() bool }); !ok || !ne.Timeout() {
		t.Fatalf("busy connection ended before its slow call was answered: %v", err)
	}
	releaseOnce()
	// gorilla cannot read after a timeout: dial state is gone. Check what
	// the server did instead: it answered, then closed.
	if err := ts.servedErrOf(t, busy); err != nil {
		t.Errorf("Serve of the busy connection returned %v, want nil", err)
	}
}

// TestServeDrainAnswersBeforeClosing: a call in flight when the drain
// starts is answered on the wire before the close frame.
func TestServeDrainAnswersBeforeClosing(t *testing.T) {
	drain := make(chan struct{})
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	started := make(chan struct{}, 1)
	h := jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
		started <- struct{}{}
		<-release
		return map[string]int{"n": 7}, nil
	})
	ts := startServer(t, h, jujuapi.ServerOptions{Drain: drain})
	ws := dialRaw(t, ts)
	if err := ws.WriteMessage(websocket.TextMessage, []byte(req(5, "Test", 1, "Slow", ""))); err != nil {
		t.Fatal(err)
	}
	<-started
	close(drain)
	time.Sleep(50 * time.Millisecond)
	releaseOnce()
	ws.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("no answer to the call in flight at the drain: %v", err)
	}
	if string(msg) != `{"request-id":5,"response":{"n":7}}` {
		t.Errorf("answer %s", msg)
	}
	code, text := readClose(t, ws)
	if code != jujuapi.CloseServiceRestart || text != jujuapi.DefaultDrainReason {
		t.Errorf("closed with %d %q, want 1012 %q", code, text, jujuapi.DefaultDrainReason)
	}
}
