//go:build linux

package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// connectTCP opens a model connection through the proxy over a real
// socket (which can park, unlike a Pipe), and logs in as the admin.
func (e *env) connectTCP(t *testing.T) *conn {
	t.Helper()
	c := &conn{done: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server, err := jujuapi.Upgrade(w, r, jujuapi.ConnOptions{})
		if err != nil {
			return
		}
		e.px.Serve(t.Context(), server, modelUUID, "10.0.0.1:50000", func() { close(c.done) })
	}))
	t.Cleanup(srv.Close)
	raw, err := dialModelAt(srv)(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	c.raw, c.api = raw, jujuapi.NewClient(raw)
	var res params.LoginResult
	if err := c.api.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-admin", Credentials: "pw"}, &res); err != nil {
		t.Fatalf("login through the proxy: %v", err)
	}
	return c
}

// TestAttachedIdleConnectionParks: an attached connection whose client is
// quiet parks its reader (no goroutine waits for the client) while it
// keeps its controller connection; it still detaches once idle for
// DetachAfter, and its next call is relayed as usual.
func TestAttachedIdleConnectionParks(t *testing.T) {
	e := newEnv(t, parkGrace+time.Second)
	before := jujuapi.ParkedConns()
	c := e.connectTCP(t)
	if st := c.fullStatus(t); st["served-by"] != "ctl-a" {
		t.Fatalf("FullStatus: %v", st)
	}
	brokertest.Eventually(t, "the quiet client's reader parks", func() bool { return jujuapi.ParkedConns() > before })
	if n := testutil.ToFloat64(e.px.upstreams); n != 1 {
		t.Fatalf("controller connections while parked attached = %v, want 1: it detached before DetachAfter", n)
	}
	// The call wakes the reader, which relays it on the controller
	// connection it kept.
	if st := c.fullStatus(t); st["served-by"] != "ctl-a" || e.ctls["ctl-a"].loginCount() != 1 {
		t.Fatalf("FullStatus from a parked attached connection: %v, logins %d; want served by ctl-a with no new login", st, e.ctls["ctl-a"].loginCount())
	}
	brokertest.Eventually(t, "the idle connection detaches while parked", func() bool { return testutil.ToFloat64(e.px.upstreams) == 0 })
	brokertest.Eventually(t, "the detached connection parks", func() bool { return jujuapi.ParkedConns() > before })
	if st := c.fullStatus(t); st["served-by"] != "ctl-a" || e.ctls["ctl-a"].loginCount() != 2 {
		t.Fatalf("FullStatus after detaching: %v, logins %d; want served by ctl-a after a second login", st, e.ctls["ctl-a"].loginCount())
	}
	select {
	case <-c.done:
		t.Fatal("the connection ended")
	default:
	}
}

// dialTCP makes f served over a real socket, which the broker's side of a
// controller connection can park on (a Pipe cannot).
func (f *fakeController) dialTCP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server, err := jujuapi.Upgrade(w, r, jujuapi.ConnOptions{})
		if err != nil {
			return
		}
		jujuapi.Serve(context.Background(), server, jujuapi.HandlerFunc(f.serve), jujuapi.ServerOptions{Logger: quiet})
	}))
	t.Cleanup(srv.Close)
	f.dialHook = dialModelAt(srv)
}

// TestAttachedControllerSideParks: while an attached connection waits for
// a slow answer, both its readers park, the client's and the
// controller's; the answer resumes the controller's and is relayed, the
// connection stays attached, and closing it ends it with nothing left
// waiting.
func TestAttachedControllerSideParks(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctl := e.ctls["ctl-a"]
	ctl.dialTCP(t)
	before := jujuapi.ParkedConns()
	c := e.connectTCP(t)
	answer := make(chan error, 1)
	var out map[string]string
	go func() { answer <- c.api.Call(t.Context(), "Hold", 1, "Call", struct{}{}, &out) }()
	brokertest.Recv(t, ctl.held, "the controller gets the call")
	brokertest.Eventually(t, "both readers park", func() bool { return jujuapi.ParkedConns() >= before+2 })
	close(ctl.release)
	if err := brokertest.Recv(t, answer, "the held call's answer"); err != nil || out["served-by"] != "ctl-a" {
		t.Fatalf("the held call through parked readers: %v, %v", out, err)
	}
	if n := testutil.ToFloat64(e.px.upstreams); n != 1 || ctl.loginCount() != 1 {
		t.Fatalf("after the answer: %v controller connections, %d logins; want the one it kept", n, ctl.loginCount())
	}
	brokertest.Eventually(t, "the controller's reader parks again", func() bool { return jujuapi.ParkedConns() >= before+2 })
	if st := c.fullStatus(t); st["served-by"] != "ctl-a" {
		t.Fatalf("FullStatus after parking again: %v", st)
	}
	// Closing the client ends the connection: the parked controller
	// reader is resumed to end with it.
	c.raw.Close()
	brokertest.Recv(t, c.done, "the connection ends")
	if n := testutil.ToFloat64(e.px.upstreams); n != 0 {
		t.Fatalf("after the connection ended: %v controller connections, want 0", n)
	}
	brokertest.Eventually(t, "nothing stays parked", func() bool { return jujuapi.ParkedConns() == before })
}
