package proxy

// pendingSet is a connection's calls in flight. There are a few at most
// (Config.MaxCallsInFlight bounds them), so they are kept in a slice
// searched in order: unlike a map, whose first entry costs a kilobyte for
// as long as the connection lives, it holds one call's worth of memory
// for a connection with one in flight (a watcher's Next), and gives back
// the room a burst grew once the burst is over.
type pendingSet struct{ calls []pendingCall }

// pendingKeepCap is the room an emptied set keeps for its next calls;
// one with more gives it back.
const pendingKeepCap = 4

func (s *pendingSet) len() int { return len(s.calls) }

func (s *pendingSet) index(id uint64) int {
	for i := range s.calls {
		if s.calls[i].id == id {
			return i
		}
	}
	return -1
}

// get returns the call with request id id.
func (s *pendingSet) get(id uint64) (pendingCall, bool) {
	if i := s.index(id); i >= 0 {
		return s.calls[i], true
	}
	return pendingCall{}, false
}

// put adds call, in place of the one with its request id, which it
// returns, if there is one.
func (s *pendingSet) put(call pendingCall) (old pendingCall, replaced bool) {
	if i := s.index(call.id); i >= 0 {
		old, s.calls[i] = s.calls[i], call
		return old, true
	}
	s.calls = append(s.calls, call)
	return pendingCall{}, false
}

// remove takes out the call with request id id and returns it.
func (s *pendingSet) remove(id uint64) (pendingCall, bool) {
	i := s.index(id)
	if i < 0 {
		return pendingCall{}, false
	}
	call := s.calls[i]
	last := len(s.calls) - 1
	s.calls[i] = s.calls[last]
	s.calls[last] = pendingCall{} // the slice no longer keeps its frame
	s.calls = s.calls[:last]
	if last == 0 && cap(s.calls) > pendingKeepCap {
		s.calls = nil
	}
	return call, true
}

// snapshot returns a copy of the calls, in no particular order.
func (s *pendingSet) snapshot() []pendingCall {
	return append([]pendingCall(nil), s.calls...)
}

// clear forgets every call and the room they took.
func (s *pendingSet) clear() { s.calls = nil }
