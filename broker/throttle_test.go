package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
)

func TestLoginThrottleSlowsOnlyFailures(t *testing.T) {
	th := newLoginThrottle(3, 20) // 3 free failures, then one per 50ms
	ctx := context.Background()
	// Successes give their token back: any number go through at once.
	for range 100 {
		refund, err := th.take(ctx, "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		refund()
	}
	// Failures: the first three are free, the next ones wait their turn.
	start := time.Now()
	for range 3 {
		if _, err := th.take(ctx, "10.0.0.2"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Fatalf("the first failures took %s; want no wait", d)
	}
	start = time.Now()
	for range 4 {
		if _, err := th.take(ctx, "10.0.0.2"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("four more failures took %s; want at least 4×50ms less scheduling slack", d)
	}
	// Another address is not affected.
	start = time.Now()
	if _, err := th.take(ctx, "10.0.0.3"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Fatalf("another address waited %s", d)
	}
}

func TestLoginThrottleRefusesLongQueues(t *testing.T) {
	th := newLoginThrottle(1, 1)
	th.maxWait = 2 * time.Second
	ctx := context.Background()
	if _, err := th.take(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Queue two behind the refill without waiting for them.
	for range 2 {
		go th.take(ctx, "a")
	}
	time.Sleep(50 * time.Millisecond)
	_, err := th.take(ctx, "a")
	if jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
		t.Fatalf("take with a queue of 2s: %v; want an unauthorized error at once", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	th2 := newLoginThrottle(1, 0.5)
	th2.take(ctx, "b")
	if _, err := th2.take(cctx, "b"); !errors.Is(err, context.Canceled) {
		t.Fatalf("take with a cancelled context: %v", err)
	}
}
