package clock

import (
	"sync/atomic"
	"testing"
	"time"
)

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeFiresInOrderAsTimePasses(t *testing.T) {
	f := NewFake(start)
	a, b := f.After(2*time.Second), f.After(time.Second)
	var fired atomic.Int32
	done := make(chan struct{})
	f.AfterFunc(3*time.Second, func() { fired.Add(1); close(done) })
	if f.Waiters() != 3 {
		t.Fatalf("waiters = %d, want 3", f.Waiters())
	}
	f.Advance(time.Second)
	select {
	case at := <-b:
		if !at.Equal(start.Add(time.Second)) {
			t.Fatalf("b fired at %s", at)
		}
	default:
		t.Fatal("a timer of 1s did not fire after 1s")
	}
	select {
	case <-a:
		t.Fatal("a timer of 2s fired after 1s")
	default:
	}
	f.Advance(5 * time.Second)
	if at := <-a; !at.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("a fired at %s, want its deadline", at)
	}
	<-done
	if fired.Load() != 1 || !f.Now().Equal(start.Add(6*time.Second)) || f.Waiters() != 0 {
		t.Fatalf("fired %d, now %s, waiters %d", fired.Load(), f.Now(), f.Waiters())
	}
}

func TestFakeStop(t *testing.T) {
	f := NewFake(start)
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if tm.Stop() {
		t.Fatal("a second Stop reported true")
	}
	f.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	f.Set(start) // never back
	if !f.Now().Equal(start.Add(time.Hour)) {
		t.Fatalf("Set moved the clock back to %s", f.Now())
	}
}

func TestFakeAwaitWaiters(t *testing.T) {
	f := NewFake(start)
	got := make(chan time.Time)
	go func() { got <- <-f.After(time.Minute) }()
	if !f.AwaitWaiters(1, nil) {
		t.Fatal("AwaitWaiters gave up")
	}
	f.Advance(time.Minute)
	if at := <-got; !at.Equal(start.Add(time.Minute)) {
		t.Fatalf("woke at %s", at)
	}
	stop := make(chan struct{})
	close(stop)
	if f.AwaitWaiters(1, stop) {
		t.Fatal("AwaitWaiters with no waiter and a closed done reported true")
	}
}

func TestOr(t *testing.T) {
	if Or(nil) != Real {
		t.Fatal("Or(nil) is not Real")
	}
	f := NewFake(start)
	if Or(f) != Clock(f) {
		t.Fatal("Or(f) is not f")
	}
	if d := time.Since(Real.Now()); d < 0 || d > time.Hour {
		t.Fatalf("Real.Now is %s away", d)
	}
}
