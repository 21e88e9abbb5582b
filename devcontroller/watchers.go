package devcontroller

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/jimmbroker/jimm/devcontroller/multiwatcher"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Watchers, as Juju 3.5 serves them. A call that starts one returns an id
// ("1", "2"... per connection); the client then calls Next and Stop on the
// watcher's facade with that id in the request's "id" field:
//
//	Client.WatchAll                  → AllWatcher (model connection): the
//	                                   model's entities; read access
//	Controller.WatchAllModels        → AllModelWatcher (/api): every
//	                                   model's entities; superusers only
//	Controller.WatchModelSummaries   → ModelSummaryWatcher (/api): the
//	                                   summaries of the models the user
//	                                   has access to
//	Controller.WatchAllModelSummaries → the same for every model;
//	                                   superusers only
//
// Next blocks until there is something to return (everything there is on
// the first call). A watcher belongs to its connection and stops with it.
// A Next for an id the connection does not have (or no longer has) fails
// with "unknown watcher id" (code "not found"); a Next waiting when its
// watcher is stopped fails with "watcher was stopped" (an AllWatcher, no
// code) or "watcher has been stopped" (a ModelSummaryWatcher, code
// "stopped"), as in Juju. The deltas come from the controller's
// multiwatcher store (watchfeed.go), so a watcher that reads slowly gets
// each entity's latest state once, whatever it missed.

// codeStopped is Juju's code for a stopped watcher.
const codeStopped = "stopped"

// errUnknownWatcher is Juju's error for a watcher id it does not know.
var errUnknownWatcher = jujuapi.Errorf(jujuapi.CodeNotFound, "unknown watcher id")

// objectID is the id of the watcher a request names (its "id").
func objectID(ctx context.Context) string { return jujuapi.ObjectID(ctx) }

// resource is a server-side object of a connection: a watcher.
type resource interface{ stop() }

// resources are a connection's watchers, by id.
type resources struct {
	mu     sync.Mutex
	last   uint64
	byID   map[string]resource
	closed bool
}

// register adds a watcher and returns its id; after the connection closed
// it stops it and fails.
func (r *resources) register(res resource) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		res.stop()
		return "", errors.New("connection is closing")
	}
	if r.byID == nil {
		r.byID = map[string]resource{}
	}
	r.last++
	id := strconv.FormatUint(r.last, 10)
	r.byID[id] = res
	return id, nil
}

func (r *resources) get(id string) resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// stop stops and forgets a watcher; an unknown id does nothing.
func (r *resources) stop(id string) {
	r.mu.Lock()
	res := r.byID[id]
	delete(r.byID, id)
	r.mu.Unlock()
	if res != nil {
		res.stop()
	}
}

// stopAll stops every watcher, for good.
func (r *resources) stopAll() {
	r.mu.Lock()
	all := r.byID
	r.byID, r.closed = nil, true
	r.mu.Unlock()
	for _, res := range all {
		res.stop()
	}
}

// count is how many watchers the connection has.
func (r *resources) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// allWatcher is an AllWatcher or an AllModelWatcher.
type allWatcher struct{ w *multiwatcher.Watcher }

func (a *allWatcher) stop() { a.w.Stop() }

// notSummary drops the summaries; keep, when set, keeps one model.
func notSummary(model string) func([]params.Delta) []params.Delta {
	return func(in []params.Delta) []params.Delta {
		out := in[:0]
		for _, d := range in {
			id := d.Entity.EntityId()
			if id.Kind != kindModelSummary && (model == "" || id.ModelUUID == model) {
				out = append(out, d)
			}
		}
		return out
	}
}

func (s *session) watchAll(context.Context) (params.AllWatcherId, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.AllWatcherId{}, err
	}
	s.ctl.feed.settle()
	id, err := s.res.register(&allWatcher{w: s.ctl.feed.mw.Watch(notSummary(m.UUID))})
	if err != nil {
		return params.AllWatcherId{}, err
	}
	return params.AllWatcherId{AllWatcherId: id}, nil
}

func (s *session) watchAllModels(context.Context) (params.AllWatcherId, error) {
	if !s.isSuperuser() {
		return params.AllWatcherId{}, jujuapi.ErrPerm
	}
	s.ctl.feed.settle()
	id, err := s.res.register(&allWatcher{w: s.ctl.feed.mw.Watch(notSummary(""))})
	if err != nil {
		return params.AllWatcherId{}, err
	}
	return params.AllWatcherId{AllWatcherId: id}, nil
}

func (s *session) allWatcherNext(ctx context.Context) (params.AllWatcherNextResults, error) {
	a, ok := s.res.get(objectID(ctx)).(*allWatcher)
	if !ok {
		return params.AllWatcherNextResults{}, errUnknownWatcher
	}
	deltas, err := a.w.Next(ctx)
	if errors.Is(err, multiwatcher.ErrStopped) {
		return params.AllWatcherNextResults{}, errors.New("watcher was stopped")
	}
	if err != nil {
		return params.AllWatcherNextResults{}, err
	}
	return params.AllWatcherNextResults{Deltas: deltas}, nil
}

func (s *session) allWatcherStop(ctx context.Context) (struct{}, error) {
	if _, ok := s.res.get(objectID(ctx)).(*allWatcher); !ok {
		return struct{}{}, errUnknownWatcher
	}
	s.res.stop(objectID(ctx))
	return struct{}{}, nil
}

// summaryWatcher is a ModelSummaryWatcher: it turns the summaries of the
// multiwatcher store into what its user may see.
type summaryWatcher struct {
	w *multiwatcher.Watcher
	// seen holds the models whose summary the watcher has sent and not
	// since removed; only Next (one at a time) uses it.
	seen map[string]bool
}

func (sw *summaryWatcher) stop() { sw.w.Stop() }

// visibleFunc says whether a model (its users) may be seen.
type visibleFunc func(uuid string, users map[string]string) bool

// newSummaryWatcher watches the summaries of the models visible says.
func (s *session) newSummaryWatcher(visible visibleFunc) *summaryWatcher {
	sw := &summaryWatcher{seen: map[string]bool{}}
	s.ctl.feed.settle()
	sw.w = s.ctl.feed.mw.Watch(func(in []params.Delta) []params.Delta {
		var out []params.Delta
		for _, d := range in {
			info, ok := d.Entity.(*modelSummaryInfo)
			if !ok {
				continue
			}
			uuid := info.summary.UUID
			switch {
			case !d.Removed && visible(uuid, info.users):
				sw.seen[uuid] = true
				out = append(out, d)
			case sw.seen[uuid]:
				delete(sw.seen, uuid)
				out = append(out, params.Delta{Removed: true, Entity: info})
			}
		}
		return out
	})
	return sw
}

func (s *session) watchModelSummaries(context.Context) (params.SummaryWatcherID, error) {
	user, claims := s.identity(), s.tokenClaims()
	visible := func(uuid string, users map[string]string) bool {
		if claims != nil {
			switch claims[jujuapi.ModelTag(uuid).String()] {
			case store.AccessAdmin, store.AccessWrite, store.AccessRead:
				return true
			}
			return false
		}
		_, ok := users[user]
		return ok
	}
	id, err := s.res.register(s.newSummaryWatcher(visible))
	if err != nil {
		return params.SummaryWatcherID{}, err
	}
	return params.SummaryWatcherID{WatcherID: id}, nil
}

func (s *session) watchAllModelSummaries(context.Context) (params.SummaryWatcherID, error) {
	if !s.isSuperuser() {
		return params.SummaryWatcherID{}, jujuapi.ErrPerm
	}
	id, err := s.res.register(s.newSummaryWatcher(func(string, map[string]string) bool { return true }))
	if err != nil {
		return params.SummaryWatcherID{}, err
	}
	return params.SummaryWatcherID{WatcherID: id}, nil
}

func (s *session) summaryWatcherNext(ctx context.Context) (params.SummaryWatcherNextResults, error) {
	id := objectID(ctx)
	sw, ok := s.res.get(id).(*summaryWatcher)
	if !ok {
		return params.SummaryWatcherNextResults{}, jujuapi.Errorf(jujuapi.CodeNotFound, "watcher id: %s: unknown watcher id", id)
	}
	deltas, err := sw.w.Next(ctx)
	if errors.Is(err, multiwatcher.ErrStopped) {
		return params.SummaryWatcherNextResults{}, jujuapi.Errorf(codeStopped, "watcher has been stopped")
	}
	if err != nil {
		return params.SummaryWatcherNextResults{}, err
	}
	out := params.SummaryWatcherNextResults{Models: make([]params.ModelAbstract, 0, len(deltas))}
	for _, d := range deltas {
		info := d.Entity.(*modelSummaryInfo)
		if d.Removed {
			out.Models = append(out.Models, params.ModelAbstract{UUID: info.summary.UUID, Removed: true})
			continue
		}
		out.Models = append(out.Models, info.summary)
	}
	return out, nil
}

func (s *session) summaryWatcherStop(ctx context.Context) (struct{}, error) {
	id := objectID(ctx)
	if _, ok := s.res.get(id).(*summaryWatcher); !ok {
		return struct{}{}, jujuapi.Errorf(jujuapi.CodeNotFound, "watcher id: %s: unknown watcher id", id)
	}
	s.res.stop(id)
	return struct{}{}, nil
}
