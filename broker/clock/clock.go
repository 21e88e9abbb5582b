package clock

import "time"

// Clock tells the time and waits for it.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// After sends the time on the returned channel once d has passed.
	After(d time.Duration) <-chan time.Time
	// AfterFunc calls f on its own goroutine once d has passed, unless
	// stopped first.
	AfterFunc(d time.Duration, f func()) Timer
	// NewTimer sends the time on the timer's channel once d has passed,
	// unless stopped first.
	NewTimer(d time.Duration) Timer
}

// Timer is a pending wake-up of a Clock.
type Timer interface {
	// C is the timer's channel (nil for a timer made by AfterFunc).
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// Real is the system clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{t: time.AfterFunc(d, f)}
}
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{t: time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// Or returns c, or Real when c is nil: for optional Clock fields.
func Or(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}
