package multiwatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi/params"
)

const deadline = 30 * time.Second

func unit(name, status string) *params.UnitInfo {
	return &params.UnitInfo{ModelUUID: "m", Name: name, AgentStatus: params.StatusInfo{Current: status}}
}

// summary lists deltas as "kind:id:op[:status]".
func summary(ds []params.Delta) []string {
	var out []string
	for _, d := range ds {
		op := "change"
		if d.Removed {
			op = "remove"
		}
		s := d.Entity.EntityId().Kind + ":" + d.Entity.EntityId().Id + ":" + op
		if u, ok := d.Entity.(*params.UnitInfo); ok {
			s += ":" + u.AgentStatus.Current
		}
		out = append(out, s)
	}
	return out
}

func next(t *testing.T, w *Watcher) []params.Delta {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	ds, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ds
}

func TestWatcherDeltas(t *testing.T) {
	for _, tc := range []struct {
		name    string
		before  func(s *Store) // before the watcher's first Next
		between func(s *Store) // between its first and second Next
		first   []string
		second  []string
	}{{
		name:   "empty store: the first Next is empty",
		first:  []string{},
		before: func(*Store) {},
		between: func(s *Store) {
			s.Update(unit("a/0", "idle"))
		},
		second: []string{"unit:a/0:change:idle"},
	}, {
		name: "the first Next has every live entity, oldest change first",
		before: func(s *Store) {
			s.Update(unit("a/0", "idle"))
			s.Update(unit("a/1", "idle"))
			s.Update(unit("a/0", "executing"))
		},
		first: []string{"unit:a/1:change:idle", "unit:a/0:change:executing"},
		between: func(s *Store) {
			s.Update(unit("a/1", "executing"))
		},
		second: []string{"unit:a/1:change:executing"},
	}, {
		name:   "changes are coalesced per entity",
		before: func(s *Store) { s.Update(unit("a/0", "idle")) },
		first:  []string{"unit:a/0:change:idle"},
		between: func(s *Store) {
			for i := range 100 {
				s.Update(unit("a/0", fmt.Sprint(i)))
			}
		},
		second: []string{"unit:a/0:change:99"},
	}, {
		name:   "an unchanged entity is no change",
		before: func(s *Store) { s.Update(unit("a/0", "idle")); s.Update(unit("a/1", "idle")) },
		first:  []string{"unit:a/0:change:idle", "unit:a/1:change:idle"},
		between: func(s *Store) {
			s.Update(unit("a/0", "idle"))
			s.Update(unit("a/1", "executing"))
		},
		second: []string{"unit:a/1:change:executing"},
	}, {
		name:   "a removal of an entity the watcher knew",
		before: func(s *Store) { s.Update(unit("a/0", "idle")) },
		first:  []string{"unit:a/0:change:idle"},
		between: func(s *Store) {
			s.Remove(params.EntityId{Kind: "unit", ModelUUID: "m", Id: "a/0"})
			s.Update(unit("a/1", "idle"))
		},
		second: []string{"unit:a/0:remove:idle", "unit:a/1:change:idle"},
	}, {
		name:   "an entity added and removed between two Nexts is not seen",
		before: func(s *Store) { s.Update(unit("a/0", "idle")) },
		first:  []string{"unit:a/0:change:idle"},
		between: func(s *Store) {
			s.Update(unit("a/9", "idle"))
			s.Remove(params.EntityId{Kind: "unit", ModelUUID: "m", Id: "a/9"})
			s.Update(unit("a/0", "executing"))
		},
		second: []string{"unit:a/0:change:executing"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore()
			tc.before(s)
			w := s.Watch(nil)
			defer w.Stop()
			if got := summary(next(t, w)); !slices.Equal(got, tc.first) && !(len(got) == 0 && len(tc.first) == 0) {
				t.Errorf("first Next: %v, want %v", got, tc.first)
			}
			tc.between(s)
			if got := summary(next(t, w)); !slices.Equal(got, tc.second) {
				t.Errorf("second Next: %v, want %v", got, tc.second)
			}
		})
	}
}

// TestNextWaits: Next waits for a change and returns it; a transform that
// drops everything keeps it waiting.
func TestNextWaits(t *testing.T) {
	s := NewStore()
	w := s.Watch(func(in []params.Delta) []params.Delta {
		var out []params.Delta
		for _, d := range in {
			if d.Entity.EntityId().ModelUUID == "m" {
				out = append(out, d)
			}
		}
		return out
	})
	defer w.Stop()
	next(t, w)
	got := make(chan []params.Delta, 1)
	go func() {
		ds, _ := w.Next(context.Background())
		got <- ds
	}()
	waitUntil(t, "Next waiting", func() bool { return s.Waiting() == 1 })
	s.Update(&params.UnitInfo{ModelUUID: "other", Name: "x/0"}) // dropped: Next waits on
	waitUntil(t, "Next waiting again", func() bool { return s.Waiting() == 1 })
	select {
	case ds := <-got:
		t.Fatalf("Next returned %v for a change its transform drops", summary(ds))
	default:
	}
	s.Update(unit("a/0", "idle"))
	select {
	case ds := <-got:
		if want := []string{"unit:a/0:change:idle"}; !slices.Equal(summary(ds), want) {
			t.Errorf("Next: %v, want %v", summary(ds), want)
		}
	case <-time.After(deadline):
		t.Fatal("Next did not return after a change")
	}
}

// TestStop: Stop ends a waiting Next with ErrStopped, as well as later
// ones; a ctx that ends ends a Next.
func TestStop(t *testing.T) {
	s := NewStore()
	w := s.Watch(nil)
	next(t, w)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Next(context.Background())
		errc <- err
	}()
	waitUntil(t, "Next waiting", func() bool { return s.Waiting() == 1 })
	w.Stop()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrStopped) || err.Error() != "watcher was stopped" {
			t.Errorf("waiting Next: %v, want ErrStopped", err)
		}
	case <-time.After(deadline):
		t.Fatal("Next still waiting after Stop")
	}
	if _, err := w.Next(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("Next after Stop: %v", err)
	}
	w.Stop() // a second Stop does nothing
	if s.Watchers() != 0 || s.Waiting() != 0 {
		t.Errorf("%d watchers, %d waiting after Stop", s.Watchers(), s.Waiting())
	}

	w2 := s.Watch(nil)
	defer w2.Stop()
	next(t, w2)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := w2.Next(ctx)
		errc <- err
	}()
	waitUntil(t, "Next waiting", func() bool { return s.Waiting() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Next whose ctx ended: %v", err)
	}
}

// TestTombstonesAreBounded: a removed entity stays only until every
// watcher that knew it has been told; a watcher that never reads keeps
// nothing of what came after it; a stopped watcher releases what it held.
func TestTombstonesAreBounded(t *testing.T) {
	s := NewStore()
	for i := range 10 {
		s.Update(unit(fmt.Sprintf("a/%d", i), "idle"))
	}
	slow := s.Watch(nil)
	next(t, slow) // knows the ten units
	fast := s.Watch(nil)
	next(t, fast)
	idle := s.Watch(nil) // never reads
	defer idle.Stop()

	// Thousands of units come and go; the slow watcher does not read.
	for i := range 1000 {
		name := fmt.Sprintf("b/%d", i)
		s.Update(unit(name, "idle"))
		if i%10 == 0 {
			next(t, fast)
		}
		s.Remove(params.EntityId{Kind: "unit", ModelUUID: "m", Id: name})
		if size := s.Size(); size > 10+1 {
			t.Fatalf("store holds %d entries after %d units came and went", size, i+1)
		}
	}
	next(t, fast) // the last removal it had not been told of
	if s.Size() != 10 {
		t.Fatalf("store holds %d entries, want the ten units", s.Size())
	}
	// The ten units go: tombstones stay for the watchers that knew them.
	for i := range 10 {
		s.Remove(params.EntityId{Kind: "unit", ModelUUID: "m", Id: fmt.Sprintf("a/%d", i)})
	}
	if s.Size() != 10 {
		t.Fatalf("store holds %d entries, want the 10 tombstones", s.Size())
	}
	if got := len(next(t, fast)); got != 10 {
		t.Errorf("fast watcher got %d removals, want 10", got)
	}
	if s.Size() != 10 {
		t.Errorf("tombstones went before the slow watcher saw them: %d left", s.Size())
	}
	if got := summary(next(t, slow)); len(got) != 10 || got[0] != "unit:a/0:remove:idle" {
		t.Errorf("slow watcher got %v", got)
	}
	if s.Size() != 0 {
		t.Errorf("store holds %d entries once every watcher saw the removals", s.Size())
	}

	// A watcher that stops releases the tombstones it held.
	s.Update(unit("c/0", "idle"))
	next(t, fast)
	next(t, slow)
	s.Remove(params.EntityId{Kind: "unit", ModelUUID: "m", Id: "c/0"})
	next(t, fast)
	if s.Size() != 1 {
		t.Fatalf("want c/0's tombstone, store holds %d", s.Size())
	}
	slow.Stop()
	if s.Size() != 0 {
		t.Errorf("the stopped watcher's tombstone stayed: %d entries", s.Size())
	}
	fast.Stop()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", deadline, what)
		}
		time.Sleep(time.Millisecond)
	}
}
