package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jimmbroker/jimm/jujuapi"
)

// holdCalls starts n Hold.Call calls on c, each on its own goroutine, and
// returns the channel their results arrive on.
func holdCalls(c *conn, n int, params any) chan error {
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- c.api.Call(context.Background(), "Hold", 1, "Call", params, nil)
		}()
	}
	return errs
}

// waitHeld waits for n calls to reach the controller's Hold.Call.
func waitHeld(t *testing.T, ctl *fakeController, n int, what string) {
	t.Helper()
	for i := range n {
		select {
		case <-ctl.held:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: only %d of %d calls reached the controller", what, i, n)
		}
	}
}

// releaseOne lets one held call answer.
func releaseOne(t *testing.T, ctl *fakeController) {
	t.Helper()
	select {
	case ctl.release <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatal("no call is held at the controller to release")
	}
}

// noneHeld checks that no further call reaches the controller for a while.
func noneHeld(t *testing.T, ctl *fakeController, what string) {
	t.Helper()
	select {
	case id := <-ctl.held:
		t.Fatalf("%s: call %d reached the controller", what, id)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestCallsInFlightBound: past MaxCalls calls in flight the proxy reads
// nothing more from the client (its next request waits in the pipe) until
// one is answered; it counts the pause.
func TestCallsInFlightBound(t *testing.T) {
	e := newEnv(t, 0)
	e.px.maxCalls = 3
	ctl := e.ctls["ctl-a"]
	c, _ := e.login(t)
	errs := holdCalls(c, 5, struct{}{})
	waitHeld(t, ctl, 3, "with room for 3 calls")
	noneHeld(t, ctl, "3 calls in flight, the limit")
	if n := testutil.ToFloat64(e.px.paused); n != 1 {
		t.Errorf("jimm_proxy_reads_paused_total = %v, want 1", n)
	}
	releaseOne(t, ctl)
	if err := <-errs; err != nil {
		t.Fatalf("a held call, released: %v", err)
	}
	waitHeld(t, ctl, 1, "one call answered")
	noneHeld(t, ctl, "3 calls in flight again")
	for range 4 {
		releaseOne(t, ctl)
	}
	waitHeld(t, ctl, 1, "the last call")
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("a held call, released: %v", err)
		}
	}
}

// TestCallBytesBound: requests whose bytes would pass MaxCallBytes wait
// until the calls in flight are answered; one alone always goes.
func TestCallBytesBound(t *testing.T) {
	e := newEnv(t, 0)
	e.px.maxBytes = 4000
	ctl := e.ctls["ctl-a"]
	c, _ := e.login(t)
	big := map[string]string{"pad": strings.Repeat("x", 5000)} // over the bound alone
	errs := holdCalls(c, 2, big)
	waitHeld(t, ctl, 1, "a request over the bound, none in flight")
	noneHeld(t, ctl, "a second big request")
	releaseOne(t, ctl)
	waitHeld(t, ctl, 1, "the second big request, once the first was answered")
	releaseOne(t, ctl)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatcherNextNotCounted: watcher Next calls, which wait for a change,
// do not use up the room of other calls.
func TestWatcherNextNotCounted(t *testing.T) {
	e := newEnv(t, 0)
	e.px.maxCalls = 1
	ctl := e.ctls["ctl-a"]
	ctl.holdNext = true
	c, _ := e.login(t)
	id := c.watchAll(t)
	nexts := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.next(context.Background(), id)
			nexts <- err
		}()
	}
	waitHeld(t, ctl, 3, "3 Next calls with room for 1 call")
	if st := c.fullStatus(t); st["served-by"] != "ctl-a" {
		t.Fatalf("FullStatus with Next calls in flight: %v", st)
	}
	for range 3 {
		releaseOne(t, ctl)
		if err := <-nexts; err != nil {
			t.Fatal(err)
		}
	}
}

// TestControllerDownAnswersCalls: when the health check sees the
// controller go down, the calls in flight there are answered "try again"
// at once, and the connection logs in again on its next call.
func TestControllerDownAnswersCalls(t *testing.T) {
	e := newEnv(t, 0)
	ctl := e.ctls["ctl-a"]
	c, _ := e.login(t)
	errs := holdCalls(c, 2, struct{}{})
	waitHeld(t, ctl, 2, "calls before the controller goes down")
	e.px.ControllerDown("ctl-b") // not this connection's
	select {
	case err := <-errs:
		t.Fatalf("ctl-b going down answered a call on ctl-a: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	start := time.Now()
	e.px.ControllerDown("ctl-a")
	for range 2 {
		select {
		case err := <-errs:
			if jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain || !strings.Contains(err.Error(), `the controller hosting model "m" stopped answering`) {
				t.Fatalf("a call in flight on a controller gone down: %v; want %q naming the model", err, jujuapi.CodeTryAgain)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("a call in flight on a controller gone down is not answered within 2s")
		}
	}
	t.Logf("calls answered %s after the controller was seen down", time.Since(start))
	if n := testutil.ToFloat64(e.px.unanswered.WithLabelValues("controller-down")); n != 2 {
		t.Errorf(`jimm_proxy_calls_unanswered_total{reason="controller-down"} = %v, want 2`, n)
	}
	close(ctl.release) // the old controller connection is gone: nothing reaches the client
	if st := c.fullStatus(t); st["served-by"] != "ctl-a" {
		t.Fatalf("FullStatus after the controller came back: %v", st)
	}
	if n := ctl.loginCount(); n != 2 {
		t.Errorf("the controller saw %d logins, want 2 (the connection logged in again)", n)
	}
}

// TestCallTimeout: a call its controller leaves unanswered for
// CallTimeout is answered "try again" by the broker, and the late answer
// is dropped; a watcher's Next is not bounded.
func TestCallTimeout(t *testing.T) {
	e := newEnv(t, 0)
	e.px.callTimeout = 300 * time.Millisecond
	ctl := e.ctls["ctl-a"]
	c, _ := e.login(t)
	ctl.holdNext = true
	id := c.watchAll(t)
	next := make(chan error, 1)
	go func() {
		_, err := c.next(context.Background(), id)
		next <- err
	}()
	waitHeld(t, ctl, 1, "a Next")
	start := time.Now()
	errs := holdCalls(c, 1, struct{}{})
	waitHeld(t, ctl, 1, "a call")
	select {
	case err := <-errs:
		if jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain || !strings.Contains(err.Error(), "did not answer Hold.Call within 300ms") {
			t.Fatalf("a call past the call timeout: %v", err)
		}
		t.Logf("answered after %s", time.Since(start))
	case <-time.After(3 * time.Second):
		t.Fatal("a call past the call timeout is not answered")
	}
	select {
	case err := <-next:
		t.Fatalf("a watcher's Next was answered (%v) while it waits for a change", err)
	case <-time.After(300 * time.Millisecond):
	}
	// The late answer is dropped: the client sees the next call's own.
	releaseOne(t, ctl)
	releaseOne(t, ctl)
	if err := <-next; err != nil {
		t.Fatal(err)
	}
	if st := c.fullStatus(t); st["served-by"] != "ctl-a" {
		t.Fatalf("FullStatus after a late answer: %v", st)
	}
}
