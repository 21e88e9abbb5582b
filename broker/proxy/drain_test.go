package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"
	"github.com/jimmbroker/jimm/jujuapi"
)

// TestDrain: Drain closes an idle model connection at once, and a busy
// one once its call is answered (a watcher's Next held at the controller
// does not keep it open), each with 1012 and a reason that says to
// reconnect; a connection that logs in afterwards is drained too.
func TestDrain(t *testing.T) {
	e := newEnv(t, 0)
	e.ctls["ctl-a"].holdNext = true
	idle, _ := e.login(t)
	idle.fullStatus(t)
	watching, _ := e.login(t)
	var watch struct {
		ID string `json:"watcher-id"`
	}
	if err := watching.api.Call(t.Context(), "Client", 7, "WatchAll", struct{}{}, &watch); err != nil {
		t.Fatalf("WatchAll: %v", err)
	}
	go watching.api.Call(jujuapi.WithObjectID(t.Context(), watch.ID), "AllWatcher", 3, "Next", struct{}{}, nil)
	brokertest.Recv(t, e.ctls["ctl-a"].held, "ctl-a holds the watcher's Next")
	busy, _ := e.login(t)
	answer := make(chan error, 1)
	go func() { answer <- busy.api.Call(t.Context(), "Hold", 1, "Call", struct{}{}, nil) }()
	brokertest.Recv(t, e.ctls["ctl-a"].held, "ctl-a gets the call")

	e.px.Drain()
	wantDrained := func(what string, c *conn) {
		t.Helper()
		select {
		case <-c.api.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s connection still open 5 s after the drain", what)
		}
		if err := c.api.Err(); jujuapi.CloseCode(err) != jujuapi.CloseServiceRestart || !strings.Contains(err.Error(), DrainReason) {
			t.Errorf("%s connection ended with %v, want 1012 %q", what, err, DrainReason)
		}
	}
	wantDrained("idle", idle)
	wantDrained("watching", watching)
	select {
	case <-busy.api.Done():
		t.Fatalf("busy connection closed with its call in flight: %v", busy.api.Err())
	case <-time.After(200 * time.Millisecond):
	}
	e.ctls["ctl-a"].release <- struct{}{}
	if err := brokertest.Recv(t, answer, "the call in flight is answered"); err != nil {
		t.Errorf("the call in flight at the drain: %v, want its answer", err)
	}
	wantDrained("busy", busy)

	late, _ := e.login(t)
	wantDrained("late", late)
}
