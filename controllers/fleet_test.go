package controllers

import (
	"testing"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// TestFollow: a replica following the registry checks a controller that
// another replica registers at once, and stops checking it (and drops its
// pooled connection) once another replica removes it.
func TestFollow(t *testing.T) {
	ctl := startController(t, "ctl-f")
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		here, elsewhere := NewRegistry(d, plainSealer{}, testLogger()), NewRegistry(d, plainSealer{}, testLogger())
		pool := NewPool(here.Resolve, jujuapiConnOptions(), testLogger())
		t.Cleanup(pool.Close)
		// The longest interval: only Follow's immediate check brings it up
		// within 2s.
		h, err := NewHealth(HealthConfig{Interval: 5 * time.Second, Timeout: 2 * time.Second, Pool: pool})
		if err != nil {
			t.Fatal(err)
		}
		go h.Run(ctx)
		if err := Follow(ctx, d, here, h, pool, testLogger()); err != nil {
			t.Fatal(err)
		}
		if _, err := elsewhere.Add(ctx, addRequest(ctl)); err != nil {
			t.Fatal(err)
		}
		took := eventually(t, 2*time.Second, "the controller added elsewhere up here", func() bool { return h.Up(ctl.name()) })
		t.Logf("up here %s after another replica added it", took)
		if _, err := pool.Get(ctx, ctl.name()); err != nil {
			t.Fatal(err)
		}
		if err := elsewhere.Remove(ctx, ctl.name(), false); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "the removed controller no longer checked here", func() bool {
			_, tracked := h.Status(ctl.name())
			return !tracked
		})
	})
}
