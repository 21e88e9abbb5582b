//go:build linux

package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
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
	raw, err := jujuapi.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/model/"+modelUUID+"/api", jujuapi.DialOptions{})
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
