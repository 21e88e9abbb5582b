package identity

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// The purge deletes sessions an hour past their expiry, at once and then
// every hour, and counts them; live ones and ones just expired stay.
func TestRunSessionPurge(t *testing.T) {
	ctx := t.Context()
	d := dbtest.SQLite(t)
	cipher, err := authz.NewCipher(authz.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	rel := authz.NewRelations(d, slog.New(slog.DiscardHandler))
	t.Cleanup(rel.Close)
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	fake := clock.NewFake(start)
	s, err := New(ctx, Config{
		BrokerUUID: "b0b0b0b0-0000-4000-8000-000000000000", AdminPassword: "pw", SessionTTL: time.Hour, ControllerTokenTTL: 5 * time.Minute,
		KeyRotation: 24 * time.Hour, KeyPrepublish: 5 * time.Minute, LoginFailureRate: -1,
	}, Deps{DB: d, Cipher: cipher, Relations: rel, Logger: slog.New(slog.DiscardHandler), Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	sessions := map[string]time.Time{
		"long-expired": start.Add(-3 * time.Hour),
		"just-expired": start.Add(-time.Minute), // within the grace
		"live":         start.Add(30 * time.Minute),
	}
	for name, expires := range sessions {
		if err := d.AddSession(ctx, []byte(name), "alice", expires); err != nil {
			t.Fatal(err)
		}
	}
	present := func(name string) bool {
		_, err := d.SessionIdentity(ctx, []byte(name))
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	// until waits for the purge to have deleted n sessions in all.
	until := func(n float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for testutil.ToFloat64(s.purged) < n {
			if time.Now().After(deadline) {
				t.Fatalf("purged %v sessions, want %v", testutil.ToFloat64(s.purged), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunSessionPurge(ctx)
	}()
	until(1)
	if present("long-expired") || !present("just-expired") || !present("live") {
		t.Fatalf("after the first purge: long-expired %v, just-expired %v, live %v; want only the long-expired one gone",
			present("long-expired"), present("just-expired"), present("live"))
	}
	// An hour on, the one that had just expired is past its grace too.
	if !fake.AwaitWaiters(1, done) {
		t.Fatal("the purge stopped")
	}
	fake.Advance(sessionPurgeEvery)
	until(2)
	if present("just-expired") || !present("live") {
		t.Fatalf("after the second purge: just-expired %v, live %v", present("just-expired"), present("live"))
	}
	if got := testutil.ToFloat64(s.purged); got != 2 {
		t.Fatalf("jimm_sessions_purged_total = %v, want 2", got)
	}
}
