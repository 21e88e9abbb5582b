package proxy

import (
	"context"
	"testing"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"

	"github.com/jimmbroker/jimm/jujuapi"
)

type allWatcherNext struct {
	Deltas [][3]any `json:"deltas"`
}

// servedBy is who answered a Next and by which watcher id.
func (n allWatcherNext) servedBy() (controller, watcher string) {
	if len(n.Deltas) != 1 {
		return "", ""
	}
	m, _ := n.Deltas[0][2].(map[string]any)
	c, _ := m["served-by"].(string)
	w, _ := m["watcher"].(string)
	return c, w
}

func (c *conn) watchAll(t *testing.T) string {
	t.Helper()
	var res struct {
		WatcherID string `json:"watcher-id"`
	}
	if err := c.api.Call(t.Context(), "Client", 6, "WatchAll", struct{}{}, &res); err != nil {
		t.Fatalf("WatchAll: %v", err)
	}
	return res.WatcherID
}

func (c *conn) next(ctx context.Context, id string) (allWatcherNext, error) {
	var res allWatcherNext
	err := c.api.Call(jujuapi.WithObjectID(ctx, id), "AllWatcher", 3, "Next", struct{}{}, &res)
	return res, err
}

// TestAllWatcherFollowsTheModel: when the model moves with an AllWatcher
// open and its Next waiting, the connection opens the watcher again on the
// new controller, replays the Next there under the new controller's id,
// and goes on: the client keeps its watcher ids (a new watcher whose id
// the client already uses gets a fresh one) and its connection.
func TestAllWatcherFollowsTheModel(t *testing.T) {
	e := newEnv(t, 0)
	a, b := e.ctls["ctl-a"], e.ctls["ctl-b"]
	a.watcherIDs = []string{"1"}
	b.watcherIDs = []string{"7", "1"} // the re-opened watcher, then the client's next
	c, _ := e.login(t)
	id := c.watchAll(t)
	if id != "1" {
		t.Fatalf("WatchAll on ctl-a: %q", id)
	}
	if n, err := c.next(t.Context(), id); err != nil {
		t.Fatal(err)
	} else if by, w := n.servedBy(); by != "ctl-a" || w != "1" {
		t.Fatalf("the first Next: served by %s with watcher %q", by, w)
	}

	// A Next waits on ctl-a when the model moves to ctl-b.
	a.mu.Lock()
	a.holdNext = true
	a.mu.Unlock()
	answer := make(chan error, 1)
	var moved allWatcherNext
	go func() {
		var err error
		moved, err = c.next(t.Context(), id)
		answer <- err
	}()
	brokertest.Recv(t, a.held, "ctl-a holds the Next")
	if err := e.routes.Flip(t.Context(), modelUUID, e.rows["ctl-b"], 0); err != nil {
		t.Fatal(err)
	}
	if err := brokertest.Recv(t, answer, "the waiting Next is answered"); err != nil {
		t.Fatalf("the Next waiting during the move: %v", err)
	}
	if by, w := moved.servedBy(); by != "ctl-b" || w != "7" {
		t.Fatalf("the Next waiting during the move: served by %s with watcher %q, want ctl-b's watcher 7", by, w)
	}
	if n, err := c.next(t.Context(), id); err != nil {
		t.Fatal(err)
	} else if by, w := n.servedBy(); by != "ctl-b" || w != "7" {
		t.Fatalf("the next Next: served by %s with watcher %q", by, w)
	}

	// ctl-b hands the client's next watcher the id "1", which is the
	// client's first: the client gets another, which reaches ctl-b's "1".
	second := c.watchAll(t)
	if second == "1" || second == "" {
		t.Fatalf("the second watcher's id: %q", second)
	}
	if n, err := c.next(t.Context(), second); err != nil {
		t.Fatal(err)
	} else if by, w := n.servedBy(); by != "ctl-b" || w != "1" {
		t.Fatalf("the second watcher's Next: served by %s with watcher %q", by, w)
	}
	// Stop reaches the watcher it names.
	if err := c.api.Call(jujuapi.WithObjectID(t.Context(), id), "AllWatcher", 3, "Stop", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	open7, open1 := b.watchers["7"], b.watchers["1"]
	b.mu.Unlock()
	if open7 || !open1 {
		t.Fatalf("after stopping the first watcher, ctl-b's watchers 7 %v, 1 %v", open7, open1)
	}
	select {
	case <-c.done:
		t.Fatal("the client connection ended")
	default:
	}
	if n := a.loginCount(); n != 1 {
		t.Fatalf("%d logins on ctl-a", n)
	}
}
