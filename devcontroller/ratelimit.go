package devcontroller

import (
	"sync"
	"time"
)

// tokenBucket admits agent logins as Juju's API server does (a
// juju/ratelimit bucket taken with TakeMaxDuration(1, 0)): it holds at
// most max tokens and starts full; one token is added every rate; a login
// takes one token or, when there is none, is refused at once with "try
// again" — it never waits — and the agent retries later. max 0 disables
// the limit.
type tokenBucket struct {
	max  int
	rate time.Duration

	mu     sync.Mutex
	tokens int
	// filled is the time up to which tokens have been added.
	filled time.Time
}

func newTokenBucket(max int, rate time.Duration, now time.Time) *tokenBucket {
	return &tokenBucket{max: max, rate: rate, tokens: max, filled: now}
}

// take takes one token at time now and reports whether there was one.
func (b *tokenBucket) take(now time.Time) bool {
	if b == nil || b.max <= 0 || b.rate <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := int(now.Sub(b.filled) / b.rate); n > 0 {
		b.filled = b.filled.Add(time.Duration(n) * b.rate)
		b.tokens = min(b.max, b.tokens+n)
	}
	if b.tokens == b.max {
		// A full bucket does not bank time: the next token comes one
		// interval after it is first taken from.
		b.filled = now
	}
	if b.tokens == 0 {
		return false
	}
	b.tokens--
	return true
}
