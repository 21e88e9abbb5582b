package facades

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jimmbroker/jimm/broker/summaries"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// maxWatchers bounds the watchers one connection may hold open, and so
// the memory a client can make the broker keep.
const maxWatchers = 64

// watchers are a connection's open model summary watchers, by id.
type watchers struct {
	seq  int
	open map[string]*summaries.Watcher
}

// watchSummaries opens a summary watcher of the models the caller sees
// (all: every model, broker administrators only).
func (s *session) watchSummaries(all bool) (params.SummaryWatcherID, error) {
	w, err := s.api.summaries.Watch(s.caller(), all)
	if err != nil {
		return params.SummaryWatcherID{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.watchers.open) >= maxWatchers {
		w.Stop()
		return params.SummaryWatcherID{}, jujuapi.Errorf("", "too many watchers on this connection (%d): stop some first", maxWatchers)
	}
	if s.watchers.open == nil {
		s.watchers.open = map[string]*summaries.Watcher{}
	}
	s.watchers.seq++
	id := strconv.Itoa(s.watchers.seq)
	s.watchers.open[id] = w
	return params.SummaryWatcherID{WatcherID: id}, nil
}

// watcherParams are a watcher call's params. Juju names the watcher in
// the request's "id" only; the dashboard's client library's generated
// ModelSummaryWatcher methods send {"id": ...} in the params instead,
// which the broker accepts too.
type watcherParams struct {
	ID string `json:"id"`
}

// summaryWatcher is the watcher a ModelSummaryWatcher call names (its
// request's id, else its params'), or Juju's "unknown watcher id".
func (s *session) summaryWatcher(ctx context.Context, p watcherParams) (string, *summaries.Watcher, error) {
	id := jujuapi.ObjectID(ctx)
	if id == "" {
		id = p.ID
	}
	s.mu.Lock()
	w := s.watchers.open[id]
	s.mu.Unlock()
	if w == nil {
		return id, nil, &jujuapi.Error{Message: fmt.Sprintf("watcher id: %s: unknown watcher id", id), Code: jujuapi.CodeNotFound}
	}
	return id, w, nil
}

func (s *session) summaryNext(ctx context.Context, p watcherParams) (params.SummaryWatcherNextResults, error) {
	_, w, err := s.summaryWatcher(ctx, p)
	if err != nil {
		return params.SummaryWatcherNextResults{}, err
	}
	models, err := w.Next(ctx)
	return params.SummaryWatcherNextResults{Models: models}, err
}

// summaryStop stops a watcher: a Next waiting on it answers "watcher has
// been stopped", and the id is forgotten.
func (s *session) summaryStop(ctx context.Context, p watcherParams) (struct{}, error) {
	id, w, err := s.summaryWatcher(ctx, p)
	if err != nil {
		return struct{}{}, err
	}
	w.Stop()
	s.mu.Lock()
	delete(s.watchers.open, id)
	s.mu.Unlock()
	return struct{}{}, nil
}

// stopWatchers stops every watcher of a connection that ended.
func (s *session) stopWatchers() {
	s.mu.Lock()
	open := s.watchers.open
	s.watchers.open = nil
	s.mu.Unlock()
	for _, w := range open {
		w.Stop()
	}
}
