package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/jimmbroker/jimm/jujuapi"
)

// AllWatchers follow their model. A client's Client.WatchAll opens an
// AllWatcher on the model's controller, whose id the client then names in
// AllWatcher.Next and Stop. When the model moves to another controller
// (a migration), the connection opens the same watchers there, one
// Client.WatchAll each, and from then on sends the client's calls with
// the new controller's ids: the client keeps its ids and its connection,
// and its next Next answers the model's entities as the new controller
// has them (an AllWatcher's deltas carry whole entities, so this is a
// delta like any other). The client never notices the move.
//
// Other server-side objects (any other watcher) cannot follow: a
// connection that named one is pinned, and closed when its model moves,
// so that its client reconnects, as a Juju controller's clients do when a
// model migrates away.

// watchState is a connection's server-side objects, made on first use:
// most connections never have any.
type watchState struct {
	// all maps the ids of the client's AllWatchers to the watchers on the
	// current controller.
	all map[string]allWatcher
	// pinned: a request named an object that cannot follow a move.
	pinned bool
	// internal are the broker's own requests on the controller
	// connection, awaiting their responses.
	internal map[uint64]chan []byte
	nextID   uint64
}

// allWatcher is a client's AllWatcher on the current controller.
type allWatcher struct {
	up      string // its id there
	version int    // the Client facade version that opened it
}

// internalIDs are the request ids of the broker's own requests: a range
// the Juju client's counter from 1 never reaches.
const internalIDs = uint64(1) << 62

// watch returns c's watchState, making it; c.mu must be held.
func (c *modelConn) watch() *watchState {
	if c.objects == nil {
		c.objects = &watchState{all: map[string]allWatcher{}, internal: map[uint64]chan []byte{}}
	}
	return c.objects
}

// noteObject records that a request names the server-side object id of
// facade; c.mu must be held. It returns the client's AllWatcher id when
// the object is one (the request is then sent with the controller's id).
func (c *modelConn) noteObject(facade, id string) (watcher string) {
	c.sticky = true
	w := c.watch()
	if _, ok := w.all[id]; ok && facade == "AllWatcher" {
		return id
	}
	w.pinned = true
	return ""
}

// pinned reports whether the connection named an object that cannot
// follow a move; c.mu must be held.
func (c *modelConn) pinned() bool { return c.objects != nil && c.objects.pinned }

// upstreamFrame is the frame to send the controller for call: the
// client's, or, for a watcher the controller knows by another id, the
// same request naming that id.
func (c *modelConn) upstreamFrame(call pendingCall) ([]byte, error) {
	data := call.frame.Bytes()
	if call.watcher == "" {
		return data, nil
	}
	c.mu.Lock()
	w, ok := c.watch().all[call.watcher]
	c.mu.Unlock()
	if !ok || w.up == call.watcher {
		return data, nil
	}
	return withObjectID(data, w.up)
}

// withObjectID re-encodes a request naming object id instead.
func withObjectID(data []byte, id string) ([]byte, error) {
	msg, err := jujuapi.DecodeMessage(data)
	if err != nil {
		return nil, err
	}
	msg.ID = id
	return json.Marshal(msg)
}

// watchAllAnswered records the AllWatcher a Client.WatchAll response
// (data) opened, and returns the frame to give the client: the same, or,
// when its id is already one of the client's (watchers that moved keep
// their first ids), the same naming a fresh id.
func (c *modelConn) watchAllAnswered(call pendingCall, data []byte) []byte {
	var resp struct {
		Response struct {
			WatcherID string `json:"watcher-id"`
		} `json:"response"`
	}
	if json.Unmarshal(data, &resp) != nil || resp.Response.WatcherID == "" {
		return data
	}
	up := resp.Response.WatcherID
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.watch()
	id := up
	for n := len(w.all); ; n++ {
		if _, taken := w.all[id]; !taken {
			break
		}
		id = "jimm-" + strconv.Itoa(n)
	}
	w.all[id] = allWatcher{up: up, version: call.version}
	if id == up {
		return data
	}
	var msg map[string]json.RawMessage
	if json.Unmarshal(data, &msg) != nil {
		return data
	}
	msg["response"], _ = json.Marshal(map[string]string{"watcher-id": id})
	out, err := json.Marshal(msg)
	if err != nil {
		return data
	}
	return out
}

// watcherStopped forgets a client's AllWatcher once stopped; a connection
// with no server-side object left may detach again.
func (c *modelConn) watcherStopped(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.watch()
	delete(w.all, id)
	if len(w.all) == 0 && !w.pinned {
		c.sticky = false
	}
}

// internalResponse hands a response to the broker's own request it
// answers, reporting whether it was one.
func (c *modelConn) internalResponse(id uint64, data []byte) bool {
	if id < internalIDs {
		return false
	}
	c.mu.Lock()
	var ch chan []byte
	if c.objects != nil {
		ch = c.objects.internal[id]
		delete(c.objects.internal, id)
	}
	c.mu.Unlock()
	if ch != nil {
		ch <- slices.Clone(data)
	}
	return ch != nil
}

// rewatch opens the client's AllWatchers on up, a new controller
// connection, and records their ids there.
func (c *modelConn) rewatch(ctx context.Context, up *jujuapi.Conn) error {
	c.mu.Lock()
	w := c.watch()
	ids := make([]string, 0, len(w.all))
	for id := range w.all {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		c.mu.Lock()
		version := w.all[id].version
		w.nextID++
		reqID := internalIDs + w.nextID
		ch := make(chan []byte, 1)
		w.internal[reqID] = ch
		c.mu.Unlock()
		req, _ := json.Marshal(&jujuapi.Message{RequestID: reqID, Type: "Client", Version: version, Request: "WatchAll", Params: json.RawMessage("{}")})
		if err := up.WriteFrame(req); err != nil {
			return fmt.Errorf("open AllWatcher %s again: %w", id, err)
		}
		var data []byte
		select {
		case data = <-ch:
		case <-ctx.Done():
			c.mu.Lock()
			delete(w.internal, reqID)
			c.mu.Unlock()
			return fmt.Errorf("open AllWatcher %s again: %w", id, ctx.Err())
		}
		msg, err := jujuapi.DecodeMessage(data)
		if err == nil {
			err = msg.Err()
		}
		var res struct {
			WatcherID string `json:"watcher-id"`
		}
		if err == nil {
			if err = json.Unmarshal(msg.Response, &res); err == nil && res.WatcherID == "" {
				err = fmt.Errorf("no watcher id in %s", msg.Response)
			}
		}
		if err != nil {
			return fmt.Errorf("open AllWatcher %s again: %w", id, err)
		}
		c.mu.Lock()
		w.all[id] = allWatcher{up: res.WatcherID, version: version}
		c.mu.Unlock()
	}
	return nil
}

// hasWatchers reports whether the client has AllWatchers open.
func (c *modelConn) hasWatchers() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.objects != nil && len(c.objects.all) > 0
}

// objectAnswered follows the client's AllWatchers through the responses
// that open and stop them, and returns the frame to give the client.
func (c *modelConn) objectAnswered(call pendingCall, env *jujuapi.Envelope, data []byte) []byte {
	if env.ErrorCode != "" || env.Error != "" {
		return data
	}
	switch {
	case call.facade == "Client" && call.method == "WatchAll":
		return c.watchAllAnswered(call, data)
	case call.facade == "AllWatcher" && call.method == "Stop" && call.watcher != "":
		c.watcherStopped(call.watcher)
	}
	return data
}

// watcherSawModelLeave reports whether a response answers an AllWatcher's
// Next with the removal of the model itself: what a controller sends its
// watchers when a model that migrated away is removed from it, which may
// reach the client before the broker has heard that the route flipped.
// (A model destroyed in place says the same; the route check that
// follows tells the two apart.)
//
// It runs on every response, so it searches the bytes only of the
// responses to an AllWatcher's Next, which it finds under the lock (held
// briefly, as forget holds it for every response anyway).
func (c *modelConn) watcherSawModelLeave(env *jujuapi.Envelope, data []byte) bool {
	if env.Error != "" || env.ErrorCode != "" {
		return false
	}
	c.mu.Lock()
	call, ok := c.pending.get(env.RequestID)
	c.mu.Unlock()
	return ok && call.facade == "AllWatcher" && call.method == "Next" &&
		bytes.Contains(data, modelRemoval) && bytes.Contains(data, []byte(c.modelUUID))
}

// modelRemoval starts an AllWatcher delta that removes a model.
var modelRemoval = []byte(`["model","remove",{`)
