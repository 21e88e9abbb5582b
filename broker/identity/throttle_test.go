package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/jujuapi"
)

// takeAsync starts th.take and returns a channel that yields its error.
func takeAsync(ctx context.Context, th *throttle, source string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := th.take(ctx, source)
		done <- err
	}()
	return done
}

// returned reports whether an asynchronous take has returned; it waits a
// generous while for one that should have.
func returned(t *testing.T, done <-chan error, should bool) bool {
	t.Helper()
	if !should {
		select {
		case err := <-done:
			t.Fatalf("take returned (%v) before its time", err)
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
		t.Fatal("take did not return once its time came")
	}
	return false
}

func TestLoginThrottleSlowsOnlyFailures(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := newThrottle(3, 20, fake) // 3 free failures, then one per 50ms
	ctx := context.Background()
	// Successes give their token back: any number go through without the
	// clock moving.
	for range 100 {
		refund, err := th.take(ctx, "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		refund()
	}
	// Failures: the first three are free...
	for range 3 {
		returned(t, takeAsync(ctx, th, "10.0.0.2"), true)
	}
	// ...the next waits its turn: 50ms of the clock, not less.
	next := takeAsync(ctx, th, "10.0.0.2")
	if !fake.AwaitWaiters(1, t.Context().Done()) {
		t.Fatal("the fourth failure did not wait")
	}
	fake.Advance(49 * time.Millisecond)
	returned(t, next, false)
	fake.Advance(time.Millisecond)
	returned(t, next, true)
	// Attempts queue behind each other: a fifth and sixth wait 50ms and
	// 100ms more.
	fifth := takeAsync(ctx, th, "10.0.0.2")
	fake.AwaitWaiters(1, t.Context().Done())
	sixth := takeAsync(ctx, th, "10.0.0.2")
	fake.AwaitWaiters(2, t.Context().Done())
	fake.Advance(50 * time.Millisecond)
	returned(t, fifth, true)
	returned(t, sixth, false)
	fake.Advance(50 * time.Millisecond)
	returned(t, sixth, true)
	// Another address is not affected.
	returned(t, takeAsync(ctx, th, "10.0.0.3"), true)
}

func TestLoginThrottleRefusesLongQueues(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := newThrottle(1, 1, fake)
	th.maxWait = 2 * time.Second
	ctx := context.Background()
	if _, err := th.take(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Queue two behind the refill (1s and 2s) without waiting for them.
	takeAsync(ctx, th, "a")
	fake.AwaitWaiters(1, t.Context().Done())
	takeAsync(ctx, th, "a")
	fake.AwaitWaiters(2, t.Context().Done())
	_, err := th.take(ctx, "a")
	if jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized || err.Error() != "too many failed logins from a: try again in 3s" {
		t.Fatalf("take with a queue of 3s: %v; want an unauthorized error at once, saying when to retry", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	th2 := newThrottle(1, 0.5, fake)
	th2.take(ctx, "b")
	if _, err := th2.take(cctx, "b"); !errors.Is(err, context.Canceled) {
		t.Fatalf("take with a cancelled context: %v", err)
	}
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
