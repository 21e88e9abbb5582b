package identity

import (
	"context"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/jujuapi"
)

// throttle slows login failures per source address, so that guessing
// credentials does not scale: each address has a bucket of Burst failures
// that refills at Rate per second. Every attempt takes a token when it
// starts and a success gives it back, so a client that logs in correctly
// is never slowed, while an address that keeps failing gets one attempt
// per 1/Rate, however many it makes at once. An attempt that would wait
// longer than maxWait is refused at once.
type throttle struct {
	clock   clock.Clock
	burst   float64
	rate    float64 // tokens per second
	maxWait time.Duration

	mu      sync.Mutex
	sources map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64 // may go negative: attempts queued behind the refill
	at     time.Time
}

func newThrottle(burst int, rate float64, c clock.Clock) *throttle {
	return &throttle{clock: clock.Or(c), burst: float64(burst), rate: rate, maxWait: 30 * time.Second, sources: map[string]*bucket{}}
}

// take reserves an attempt for source and waits until it may go ahead.
// It returns the function that gives the token back (call it on success).
func (t *throttle) take(ctx context.Context, source string) (refund func(), err error) {
	if t == nil || t.rate <= 0 {
		return func() {}, nil
	}
	now := t.clock.Now()
	t.mu.Lock()
	b := t.refill(source, now)
	wait := time.Duration(0)
	if b.tokens < 1 {
		wait = time.Duration((1 - b.tokens) / t.rate * float64(time.Second))
	}
	if wait > t.maxWait {
		t.mu.Unlock()
		return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "too many failed logins from %s: try again in %s", source, wait.Round(time.Second))
	}
	b.tokens--
	t.mu.Unlock()
	refund = func() {
		t.mu.Lock()
		if b := t.sources[source]; b != nil {
			b.tokens = min(b.tokens+1, t.burst)
		}
		t.mu.Unlock()
	}
	if wait > 0 {
		timer := t.clock.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C():
		case <-ctx.Done():
			refund()
			return nil, ctx.Err()
		}
	}
	return refund, nil
}

// refill returns source's bucket, refilled to now. Called with mu held.
func (t *throttle) refill(source string, now time.Time) *bucket {
	if now.Sub(t.swept) > time.Minute {
		// Full buckets carry nothing: drop them so the map stays small.
		for k, b := range t.sources {
			if b.tokens+now.Sub(b.at).Seconds()*t.rate >= t.burst {
				delete(t.sources, k)
			}
		}
		t.swept = now
	}
	b := t.sources[source]
	if b == nil {
		b = &bucket{tokens: t.burst, at: now}
		t.sources[source] = b
		return b
	}
	b.tokens = min(b.tokens+now.Sub(b.at).Seconds()*t.rate, t.burst)
	b.at = now
	return b
}
