package proxy

import (
	"slices"
	"testing"
)

func pendingIDs(s *pendingSet) []uint64 {
	var ids []uint64
	for _, c := range s.snapshot() {
		ids = append(ids, c.id)
	}
	slices.Sort(ids)
	return ids
}

func TestPendingSet(t *testing.T) {
	var s pendingSet
	if _, ok := s.get(1); ok || s.len() != 0 {
		t.Fatal("an empty set holds a call")
	}
	for id := uint64(1); id <= 3; id++ {
		if _, replaced := s.put(pendingCall{id: id, method: "m"}); replaced {
			t.Fatalf("put %d replaced a call", id)
		}
	}
	// A reused request id replaces its call, and returns the one it replaced.
	old, replaced := s.put(pendingCall{id: 2, method: "again"})
	if !replaced || old.method != "m" {
		t.Fatalf("put of a reused id: replaced %v, old %+v", replaced, old)
	}
	if c, ok := s.get(2); !ok || c.method != "again" {
		t.Fatalf("get(2) = %+v, %v after the replacement", c, ok)
	}
	if got := pendingIDs(&s); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("ids %v, want 1 2 3", got)
	}
	if c, ok := s.remove(1); !ok || c.id != 1 {
		t.Fatalf("remove(1) = %+v, %v", c, ok)
	}
	if _, ok := s.remove(1); ok {
		t.Fatal("removed 1 twice")
	}
	if _, ok := s.get(1); ok {
		t.Fatal("get(1) after its removal")
	}
	if got := pendingIDs(&s); !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("ids %v after removing 1, want 2 3", got)
	}
	// What is removed is not kept reachable through the slice's room.
	if room := s.calls[:cap(s.calls)]; room[len(s.calls)] != (pendingCall{}) {
		t.Fatalf("the removed call's slot still holds %+v", room[len(s.calls)])
	}
	// A snapshot is a copy: the set can change under a loop over it.
	for _, c := range s.snapshot() {
		s.remove(c.id)
	}
	if s.len() != 0 {
		t.Fatalf("%d calls left after removing every one of a snapshot", s.len())
	}
	// An emptied set keeps a little room, and gives back what a burst grew.
	if cap(s.calls) == 0 || cap(s.calls) > pendingKeepCap {
		t.Fatalf("room %d after a few calls, want 1..%d kept", cap(s.calls), pendingKeepCap)
	}
	for id := uint64(10); id < 110; id++ {
		s.put(pendingCall{id: id})
	}
	for id := uint64(10); id < 110; id++ {
		s.remove(id)
	}
	if cap(s.calls) != 0 {
		t.Fatalf("room for %d calls kept after a burst of 100 drained", cap(s.calls))
	}
	s.put(pendingCall{id: 7})
	s.clear()
	if s.len() != 0 || cap(s.calls) != 0 {
		t.Fatal("clear left calls or room")
	}
}
