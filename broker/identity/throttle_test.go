package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/jujuapi"
)

// failAsync records a failure of user from source and waits its turn,
// returning a channel that yields the error.
func failAsync(ctx context.Context, th *throttle, source, user string) <-chan error {
	done := make(chan error, 1)
	wait, err := th.failed(source, user)
	if err != nil {
		done <- err
		return done
	}
	go func() { done <- th.hold(ctx, wait) }()
	return done
}

// returned reports whether an asynchronous failure has been answered; it
// waits a generous while for one that should have.
func returned(t *testing.T, done <-chan error, should bool) bool {
	t.Helper()
	if !should {
		select {
		case err := <-done:
			t.Fatalf("failure answered (%v) before its time", err)
		default:
		}
		return false
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		return true
	case <-time.After(10 * time.Second):
		t.Fatal("failure not answered once its time came")
	}
	return false
}

func TestLoginThrottleSlowsFailuresPerPair(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := newThrottle(limit{3, 20}, limit{100, 100}, limit{100, 100}, fake) // 3 free failures, then one per 50ms
	ctx := context.Background()
	// The first three are free...
	for range 3 {
		returned(t, failAsync(ctx, th, "10.0.0.2", "admin"), true)
	}
	// ...the next waits its turn: 50ms of the clock, not less.
	next := failAsync(ctx, th, "10.0.0.2", "admin")
	if !fake.AwaitWaiters(1, t.Context().Done()) {
		t.Fatal("the fourth failure did not wait")
	}
	fake.Advance(49 * time.Millisecond)
	returned(t, next, false)
	fake.Advance(time.Millisecond)
	returned(t, next, true)
	// Failures queue behind each other: a fifth and sixth wait 50ms and
	// 100ms more.
	fifth := failAsync(ctx, th, "10.0.0.2", "admin")
	sixth := failAsync(ctx, th, "10.0.0.2", "admin")
	fake.AwaitWaiters(2, t.Context().Done())
	fake.Advance(50 * time.Millisecond)
	returned(t, fifth, true)
	returned(t, sixth, false)
	fake.Advance(50 * time.Millisecond)
	returned(t, sixth, true)
	// Another address, and another user from the same address, are not
	// affected.
	returned(t, failAsync(ctx, th, "10.0.0.3", "admin"), true)
	returned(t, failAsync(ctx, th, "10.0.0.2", "alice"), true)
}

func TestLoginThrottlePerUserAndPerSource(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	// Pairs have room; a user, or an address, has 4 failures, then 1/s.
	th := newThrottle(limit{100, 100}, limit{4, 1}, limit{4, 1}, fake)
	th.maxWait = 2 * time.Second
	for i := range 4 {
		if w, err := th.failed(fmt.Sprintf("10.0.0.%d", i), "admin"); w != 0 || err != nil {
			t.Fatalf("failure %d from its own address: wait %s, %v", i, w, err)
		}
	}
	// The user's bucket is empty, whatever the address.
	if w, _ := th.failed("10.0.0.99", "admin"); w != time.Second {
		t.Fatalf("fifth failure of admin from a new address waits %s; want 1s", w)
	}
	// One address spraying users.
	for i := range 4 {
		if w, err := th.failed("10.9.9.9", fmt.Sprintf("user%d", i)); w != 0 || err != nil {
			t.Fatalf("failure of user%d: wait %s, %v", i, w, err)
		}
	}
	if w, _ := th.failed("10.9.9.9", "user-new"); w != time.Second {
		t.Fatalf("fifth failure from one address over many users waits %s; want 1s", w)
	}
}

func TestLoginThrottleRefusesLongQueues(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := newThrottle(limit{1, 1}, limit{}, limit{}, fake)
	th.maxWait = 2 * time.Second
	for _, want := range []time.Duration{0, time.Second, 2 * time.Second} {
		if w, err := th.failed("a", "admin"); w != want || err != nil {
			t.Fatalf("failure: wait %s, %v; want %s", w, err, want)
		}
	}
	_, err := th.failed("a", "admin")
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetrySeconds() != 1 {
		t.Fatalf("failure with a queue of 3s: %v; want a ThrottledError to retry in 1 s", err)
	}
	if jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized || err.Error() != "too many failed logins for user admin from a; try again in 1 s" {
		t.Fatalf("throttled: %q (%s); want an unauthorized error saying who, from where and when to retry", err, jujuapi.ErrorCode(err))
	}
	if e := jujuapi.AsError(err); e.Message != err.Error() || e.Code != jujuapi.CodeUnauthorized {
		t.Fatalf("on the wire: %+v", e)
	}
	// A refused failure took no token: once the clock moves past the
	// queue, failures are accepted again.
	fake.Advance(2 * time.Second)
	if w, err := th.failed("a", "admin"); err != nil || w != time.Second {
		t.Fatalf("after 2s: wait %s, %v; want 1s", w, err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := th.hold(cctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("hold with a cancelled context: %v", err)
	}
}

func TestLoginThrottleBounded(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := newThrottle(limit{10, 1}, limit{1000, 1000}, limit{1e9, 1e9}, fake)
	long := strings.Repeat("x", 1<<20)
	for i := range maxBuckets + 1000 {
		th.failed("10.0.0.1", fmt.Sprint(i, long[:i%1000]))
	}
	if n := len(th.buckets); n > maxBuckets+2 {
		t.Fatalf("%d buckets after %d distinct users; want at most %d", n, maxBuckets+1000, maxBuckets+2)
	}
	for k := range th.buckets {
		if len(k) > maxKeyUser+64 {
			t.Fatalf("a key of %d bytes", len(k))
		}
	}
}

func TestVerifierBoundsConcurrentChecks(t *testing.T) {
	v := newVerifier(2)
	r1, _ := v.acquire(context.Background())
	r2, _ := v.acquire(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := v.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third check: %v; want it to wait for a slot", err)
	}
	r1()
	r3, err := v.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r2()
	r3()
}

func TestLogNameBounded(t *testing.T) {
	long := strings.Repeat("é", 10000)
	got := logName(long)
	if len(got) > 160 || !strings.HasSuffix(got, "…[20000 bytes]") || !utf8.ValidString(got) {
		t.Errorf("logName of a 20000-byte name: %d bytes %q", len(got), got[len(got)-20:])
	}
	if logName("alice") != "alice" {
		t.Errorf("logName changed a short name")
	}
}
