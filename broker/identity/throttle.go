package identity

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/jujuapi"
)

// throttle slows failed logins, never correct ones: credentials are
// checked first (at most verifyConcurrency checks at once, see verifier),
// and only a failure takes a token, from three buckets at once: its
// (source address, user) pair's, its user's, and its source address's.
// Each bucket holds Burst failures and refills at Rate per second; a
// failure whose buckets are empty is answered once they have refilled
// enough (the client waits for its "wrong password"), and one that would
// wait longer than maxWait is answered at once with a *ThrottledError
// (HTTP 429 with Retry-After on the admin API) and takes no token.
//
// So guessing one user's password from one address goes at pair.rate,
// from many addresses at user.rate, and spraying many users from one
// address at source.rate; while the user whose password is right logs in
// at once, from the same address, however many failures are queued.
type throttle struct {
	clock   clock.Clock
	pair    limit // per (source address, user)
	user    limit // per user, from every address
	source  limit // per source address, for every user
	maxWait time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

// limit is a bucket's size and refill rate; a rate that is not positive
// disables the bucket.
type limit struct {
	burst, rate float64
}

type bucket struct {
	tokens float64 // may go negative: failures queued behind the refill
	at     time.Time
	limit  limit
}

// maxBuckets bounds the throttle's memory: past it, failures of new
// (address, user) pairs share one bucket per address, and those of new
// users one bucket for all.
const maxBuckets = 20_000

// maxKeyUser bounds the part of a claimed user name a bucket's key keeps.
const maxKeyUser = 128

// DefaultLoginMaxWait is how long a failed login may be held before its
// answer; past it the failure is answered at once as throttled.
const DefaultLoginMaxWait = 30 * time.Second

func newThrottle(pair, user, source limit, c clock.Clock) *throttle {
	return &throttle{clock: clock.Or(c), pair: pair, user: user, source: source, maxWait: DefaultLoginMaxWait, buckets: map[string]*bucket{}}
}

// ThrottledError answers a failed login from a source, for a user, that
// has failed too often: try again after RetryAfter. It is only ever the
// answer to wrong credentials; it wraps a *jujuapi.Error (unauthorized
// access) with the same message, which is what a Juju client sees.
type ThrottledError struct {
	User, Source string
	RetryAfter   time.Duration
	// What was too many, when not failed logins.
	What string
}

func (e *ThrottledError) Error() string {
	if e.What != "" {
		return fmt.Sprintf("too many %s from %s; try again in %d s", e.What, e.Source, e.RetrySeconds())
	}
	if e.User == "" {
		return fmt.Sprintf("too many failed logins from %s; try again in %d s", e.Source, e.RetrySeconds())
	}
	return fmt.Sprintf("too many failed logins for user %s from %s; try again in %d s", logName(e.User), e.Source, e.RetrySeconds())
}

// RetrySeconds is RetryAfter in whole seconds, rounded up, at least 1: the
// HTTP Retry-After header's value.
func (e *ThrottledError) RetrySeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// Unwrap is the error as a Juju client sees it.
func (e *ThrottledError) Unwrap() error {
	return &jujuapi.Error{Message: e.Error(), Code: jujuapi.CodeUnauthorized}
}

// failed records a failed login of user (empty: not known, e.g. a bad
// session token) from source, and returns how long its answer must wait,
// or a *ThrottledError when that would be longer than maxWait.
func (t *throttle) failed(source, user string) (time.Duration, error) {
	if t == nil || t.pair.rate <= 0 {
		return 0, nil
	}
	if len(user) > maxKeyUser {
		user = user[:maxKeyUser]
	}
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	keys := []struct {
		key string
		lim limit
	}{{"p\x00" + source + "\x00" + user, t.pair}, {"a\x00" + source, t.source}}
	if user != "" {
		keys = append(keys, struct {
			key string
			lim limit
		}{"u\x00" + user, t.user})
	}
	var wait time.Duration
	bs := make([]*bucket, 0, len(keys))
	for _, k := range keys {
		if k.lim.rate <= 0 {
			continue
		}
		b := t.bucket(k.key, k.lim, now)
		if b.tokens < 1 {
			wait = max(wait, time.Duration((1-b.tokens)/k.lim.rate*float64(time.Second)))
		}
		bs = append(bs, b)
	}
	if wait > t.maxWait {
		return 0, &ThrottledError{User: user, Source: source, RetryAfter: wait - t.maxWait}
	}
	for _, b := range bs {
		b.tokens--
	}
	return wait, nil
}

// hold waits d (a failed login's turn), or until ctx ends.
func (t *throttle) hold(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := t.clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// bucket returns key's bucket, refilled to now. Called with mu held.
func (t *throttle) bucket(key string, lim limit, now time.Time) *bucket {
	b := t.buckets[key]
	if b == nil {
		if len(t.buckets) >= maxBuckets {
			// Full: share an overflow bucket (of the address, or of
			// every user), which only makes failures slower.
			key = key[:1] + "\x00*overflow*"
			if key[0] == 'p' {
				key = "a\x00*overflow*"
			}
			if b = t.buckets[key]; b != nil {
				return t.refill(b, now)
			}
		}
		b = &bucket{tokens: lim.burst, at: now, limit: lim}
		t.buckets[key] = b
		return b
	}
	return t.refill(b, now)
}

func (t *throttle) refill(b *bucket, now time.Time) *bucket {
	b.tokens = min(b.tokens+now.Sub(b.at).Seconds()*b.limit.rate, b.limit.burst)
	b.at = now
	return b
}

// sweep drops full buckets (they carry nothing) once a minute, or once a
// second while the map is full. Called with mu held.
func (t *throttle) sweep(now time.Time) {
	since := now.Sub(t.swept)
	if since < time.Minute && (len(t.buckets) < maxBuckets || since < time.Second) {
		return
	}
	for k, b := range t.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*b.limit.rate >= b.limit.burst {
			delete(t.buckets, k)
		}
	}
	t.swept = now
}

// verifier bounds how many credential checks run at once, so that
// checking (a signature, a database lookup, a call to the identity
// provider) never becomes a way to take the broker's CPU: a check waits
// for a slot, for as long as its caller waits.
type verifier struct {
	slots chan struct{}
}

// DefaultLoginVerifyConcurrency is how many credential checks run at once
// by default.
const DefaultLoginVerifyConcurrency = 16

func newVerifier(n int) *verifier {
	if n <= 0 {
		n = DefaultLoginVerifyConcurrency
	}
	return &verifier{slots: make(chan struct{}, n)}
}

// acquire takes a slot; release gives it back.
func (v *verifier) acquire(ctx context.Context) (release func(), err error) {
	select {
	case v.slots <- struct{}{}:
		return func() { <-v.slots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait to check credentials (%d checks running): %w", cap(v.slots), ctx.Err())
	}
}
