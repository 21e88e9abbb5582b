package identity

import (
	"sync"
	"time"

	"github.com/jimmbroker/jimm/broker/clock"
)

// rateLimiter is a token bucket per key (a source address): Burst at
// once, then Rate per second. Its memory is bounded: past maxLimited keys,
// new ones share one bucket.
type rateLimiter struct {
	clock       clock.Clock
	burst, rate float64

	mu      sync.Mutex
	buckets map[string]*tokenBucket
	swept   time.Time
}

type tokenBucket struct {
	tokens float64
	at     time.Time
}

const maxLimited = 20_000

// Device logins a source address may start by default: DefaultDeviceLoginBurst
// at once, then DefaultDeviceLoginRate per second.
const (
	DefaultDeviceLoginBurst = 10
	DefaultDeviceLoginRate  = 0.2
)

func newRateLimiter(burst int, rate float64, c clock.Clock) *rateLimiter {
	return &rateLimiter{clock: clock.Or(c), burst: float64(burst), rate: rate, buckets: map[string]*tokenBucket{}}
}

// allow takes a token of key's bucket, or says how long until there is one.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if since := now.Sub(l.swept); since >= time.Minute || (len(l.buckets) >= maxLimited && since >= time.Second) {
		for k, b := range l.buckets {
			if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimited {
			key = "*overflow*"
			b = l.buckets[key]
		}
		if b == nil {
			b = &tokenBucket{tokens: l.burst, at: now}
			l.buckets[key] = b
		}
	}
	b.tokens = min(b.tokens+now.Sub(b.at).Seconds()*l.rate, l.burst)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}
