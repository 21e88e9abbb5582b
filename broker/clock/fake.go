package clock

import (
	"slices"
	"sync"
	"time"
)

// Fake is a Clock that moves only when Advance or Set is called. Timers
// fire, in order of their deadlines, as time passes them. The zero value
// is not usable: call NewFake.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever timers change
}

// NewFake returns a fake clock showing start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

type fakeTimer struct {
	clock *Fake
	at    time.Time
	c     chan time.Time // for After and NewTimer
	f     func()         // for AfterFunc
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.timers, t)
	if i < 0 {
		return false
	}
	f.timers = slices.Delete(f.timers, i, i+1)
	f.notifyLocked()
	return true
}

// Now is the fake's current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After fires once the fake has moved d on.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTimer fires once the fake has moved d on.
func (f *Fake) NewTimer(d time.Duration) Timer {
	return f.add(d, &fakeTimer{c: make(chan time.Time, 1)})
}

// AfterFunc calls fn on its own goroutine once the fake has moved d on.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	return f.add(d, &fakeTimer{f: fn})
}

func (f *Fake) add(d time.Duration, t *fakeTimer) *fakeTimer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.clock, t.at = f, f.now.Add(d)
	if d <= 0 {
		f.fireLocked(t)
		return t
	}
	f.timers = append(f.timers, t)
	f.notifyLocked()
	return t
}

// Advance moves the fake on by d, firing every timer whose time comes.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
}

// Set moves the fake to t (never back), firing every timer whose time
// comes.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.setLocked(t)
	}
}

func (f *Fake) setLocked(to time.Time) {
	for {
		i := -1
		for j, t := range f.timers {
			if !t.at.After(to) && (i < 0 || t.at.Before(f.timers[i].at)) {
				i = j
			}
		}
		if i < 0 {
			break
		}
		t := f.timers[i]
		f.timers = slices.Delete(f.timers, i, i+1)
		f.now = t.at
		f.fireLocked(t)
	}
	f.now = to
	f.notifyLocked()
}

func (f *Fake) fireLocked(t *fakeTimer) {
	if t.f != nil {
		go t.f()
		return
	}
	t.c <- f.now
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Waiters is how many timers are pending.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// AwaitWaiters returns once at least n timers are pending (goroutines
// waiting on the fake, typically), or reports false when done is closed
// first. Tests call it before Advance, so that the time they move is the
// time the code under test waits for.
func (f *Fake) AwaitWaiters(n int, done <-chan struct{}) bool {
	for {
		f.mu.Lock()
		ok, changed := len(f.timers) >= n, f.changed
		f.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}
