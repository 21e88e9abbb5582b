// Package multiwatcher keeps the latest state of a controller's entities
// (models, machines, applications, units, relations...) for the watchers
// clients open on it (Juju's AllWatcher, AllModelWatcher and, with an
// entity kind of the controller's own, its ModelSummaryWatcher).
//
// It works as Juju's multiwatcher store does. The Store holds one entry
// per entity, in a list ordered by when each last changed, each stamped
// with a revision number from a counter the store bumps on every change.
// A Watcher holds only the revision it has read up to: Next returns, once
// per entity, the latest state of every entity changed since (blocking
// until there is one), so a watcher that reads slowly gets changes
// coalesced per entity and costs the store nothing more however many
// changes it misses. A removed entity stays as a tombstone only while a
// watcher that was told about it has not yet been told it is gone
// (reference counts, as in Juju); so the store holds the live entities
// plus, at most, those removed since its slowest watcher last read.
//
// A watcher's first Next returns every entity there is (an empty list if
// none); later ones block until something changed. Stop ends a watcher: a
// Next waiting on it returns ErrStopped, as do later ones.
package multiwatcher

import (
	"container/list"
	"context"
	"errors"
	"reflect"
	"sync"

	"github.com/jimmbroker/jimm/jujuapi/params"
)

// ErrStopped is returned by Next on a stopped watcher. Its text is the
// one Juju's multiwatcher gives.
var ErrStopped = errors.New("watcher was stopped")

// Store holds the latest state of every entity. It is safe for concurrent
// use.
type Store struct {
	mu     sync.Mutex
	rev    int64
	list   *list.List // of *entry, most recently changed first
	byID   map[params.EntityId]*list.Element
	notify chan struct{} // closed (and replaced) on every change
	// watchers counts the watchers not yet stopped, waiting the Next
	// calls waiting for a change.
	watchers, waiting int
}

type entry struct {
	id      params.EntityId
	info    params.EntityInfo
	rev     int64 // when it last changed
	created int64 // when it was added
	removed bool
	// refs counts the watchers that were told about the entity and, if
	// it is removed, not yet about its removal.
	refs int
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{list: list.New(), byID: map[params.EntityId]*list.Element{}, notify: make(chan struct{})}
}

// changed wakes every waiting watcher; s.mu is held.
func (s *Store) changed() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// Update records an entity's state. A state equal to the one recorded
// changes nothing. The store keeps info: the caller must not change it
// afterwards.
func (s *Store) Update(info params.EntityInfo) {
	id := info.EntityId()
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byID[id]; ok {
		e := el.Value.(*entry)
		if !e.removed && reflect.DeepEqual(e.info, info) {
			return
		}
		s.rev++
		e.info, e.rev, e.removed = info, s.rev, false
		s.list.MoveToFront(el)
		s.changed()
		return
	}
	s.rev++
	s.byID[id] = s.list.PushFront(&entry{id: id, info: info, rev: s.rev, created: s.rev})
	s.changed()
}

// Remove records that an entity is gone.
func (s *Store) Remove(id params.EntityId) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byID[id]
	if !ok {
		return
	}
	e := el.Value.(*entry)
	if e.removed {
		return
	}
	s.rev++
	if e.refs == 0 {
		// No watcher knows of it: nothing to tell.
		s.list.Remove(el)
		delete(s.byID, id)
		s.changed()
		return
	}
	e.rev, e.removed = s.rev, true
	s.list.MoveToFront(el)
	s.changed()
}

// Get returns an entity's recorded state, or nil.
func (s *Store) Get(id params.EntityId) params.EntityInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byID[id]; ok && !el.Value.(*entry).removed {
		return el.Value.(*entry).info
	}
	return nil
}

// IDs returns the ids of the live entities that match.
func (s *Store) IDs(match func(params.EntityId) bool) []params.EntityId {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []params.EntityId
	for el := s.list.Front(); el != nil; el = el.Next() {
		if e := el.Value.(*entry); !e.removed && match(e.id) {
			out = append(out, e.id)
		}
	}
	return out
}

// Size returns how many entries the store holds, tombstones included.
func (s *Store) Size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list.Len()
}

// Watchers returns how many watchers are open.
func (s *Store) Watchers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watchers
}

// Waiting returns how many Next calls are waiting for a change.
func (s *Store) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// changesSince returns the changes after rev, oldest first; s.mu is held.
func (s *Store) changesSince(rev int64) []params.Delta {
	var n int
	el := s.list.Front()
	for ; el != nil && el.Value.(*entry).rev > rev; el = el.Next() {
		n++
	}
	out := make([]params.Delta, 0, n)
	if el == nil {
		el = s.list.Back()
	} else {
		el = el.Prev()
	}
	for ; el != nil; el = el.Prev() {
		e := el.Value.(*entry)
		if e.removed && e.created > rev {
			// Added and removed since: the watcher never knew it.
			continue
		}
		out = append(out, params.Delta{Removed: e.removed, Entity: e.info})
	}
	return out
}

// addReference records that a watcher has been told everything after
// rev; s.mu is held.
func (s *Store) addReference(rev int64) {
	for el := s.list.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*entry)
		if e.rev <= rev {
			break
		}
		if e.created > rev {
			if !e.removed {
				e.refs++
			}
		} else if e.removed {
			s.decRef(el)
		}
		el = next
	}
}

// decReference forgets a watcher that had been told everything up to
// rev; s.mu is held.
func (s *Store) decReference(rev int64) {
	for el := s.list.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*entry)
		if e.created <= rev && !(e.removed && e.rev <= rev) {
			s.decRef(el)
		}
		el = next
	}
}

func (s *Store) decRef(el *list.Element) {
	e := el.Value.(*entry)
	if e.refs > 0 {
		e.refs--
	}
	if e.refs == 0 && e.removed {
		s.list.Remove(el)
		delete(s.byID, e.id)
	}
}

// Watcher follows the store's changes.
type Watcher struct {
	s *Store
	// transform selects (and may rewrite) the deltas this watcher
	// returns; nil returns them all.
	transform func([]params.Delta) []params.Delta

	nextMu sync.Mutex // one Next at a time
	// rev, used and stopped are guarded by s.mu.
	rev     int64
	used    bool
	stopped bool
	stop    chan struct{}
}

// Watch returns a new watcher. transform, if not nil, is given each batch
// of changes a Next would return and returns those to return (Next waits
// for more when that leaves none, except the first time); it is called
// from one Next at a time.
func (s *Store) Watch(transform func([]params.Delta) []params.Delta) *Watcher {
	s.mu.Lock()
	s.watchers++
	s.mu.Unlock()
	return &Watcher{s: s, transform: transform, stop: make(chan struct{})}
}

// Next returns the changes since the previous Next (everything there is,
// the first time), waiting until there are some, the watcher is stopped
// (ErrStopped) or ctx ends (its error).
func (w *Watcher) Next(ctx context.Context) ([]params.Delta, error) {
	w.nextMu.Lock()
	defer w.nextMu.Unlock()
	s := w.s
	for {
		s.mu.Lock()
		if w.stopped {
			s.mu.Unlock()
			return nil, ErrStopped
		}
		first := !w.used
		var changes []params.Delta
		if s.rev > w.rev || first {
			changes = s.changesSince(w.rev)
			s.addReference(w.rev)
			w.rev, w.used = s.rev, true
		}
		wait := s.notify
		s.mu.Unlock()
		if w.transform != nil && changes != nil {
			changes = w.transform(changes)
		}
		if len(changes) > 0 || first {
			if changes == nil {
				changes = []params.Delta{}
			}
			return changes, nil
		}
		if err := w.wait(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// wait waits for a change, the watcher's stop or ctx's end.
func (w *Watcher) wait(ctx context.Context, changed <-chan struct{}) error {
	s := w.s
	s.mu.Lock()
	s.waiting++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
	}()
	select {
	case <-changed:
	case <-w.stop:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Stop ends the watcher; a Next waiting returns ErrStopped. Stopping a
// stopped watcher does nothing.
func (w *Watcher) Stop() {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.stopped {
		return
	}
	w.stopped = true
	close(w.stop)
	s.decReference(w.rev)
	s.watchers--
}
