package identity

import (
	"testing"
	"time"

	"github.com/jimmbroker/jimm/broker/clock"
)

func TestRateLimiter(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := newRateLimiter(2, 0.5, fake)
	for i := range 2 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("start %d refused", i)
		}
	}
	if ok, retry := l.allow("a"); ok || retry != 2*time.Second {
		t.Fatalf("third start: %v, retry %s; want refused, retry in 2s", ok, retry)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another address refused")
	}
	fake.Advance(2 * time.Second)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("refused after the refill")
	}
}
