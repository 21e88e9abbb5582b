package db_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// addAuditEvents stores n events a second apart from base: identities
// alternate alice and bob, models m-0..m-2, methods Deploy and
// DestroyModels.
func addAuditEvents(t *testing.T, d *db.DB, base time.Time, n int) {
	t.Helper()
	var evs []db.AuditEvent
	for i := range n {
		evs = append(evs, db.AuditEvent{
			Time:     base.Add(time.Duration(i) * time.Second),
			Identity: []string{"alice", "bob"}[i%2],
			Remote:   "10.0.0.1",
			Model:    fmt.Sprintf("m-%d", i%3),
			Facade:   "Application",
			Method:   []string{"Deploy", "DestroyModels"}[i%2],
			Result:   "ok",
			// A microsecond count that does not fit 32 bits.
			DurationMicros: int64(i) << 33,
		})
	}
	if err := d.AddAuditEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
}

func TestAuditEventsFiltersAndPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		base := time.Date(2026, 11, 1, 12, 0, 0, 500000000, time.UTC)
		addAuditEvents(t, d, base, 10)

		all, next, err := d.AuditEvents(ctx, db.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 10 || next != 0 {
			t.Fatalf("all events: %d, next %d; want 10 and no next page", len(all), next)
		}
		for i, ev := range all {
			want := 9 - i // newest first
			if !ev.Time.Equal(base.Add(time.Duration(want)*time.Second)) || ev.DurationMicros != int64(want)<<33 || ev.Remote != "10.0.0.1" {
				t.Fatalf("event %d: %+v, want the event made %d-th", i, ev, want)
			}
		}

		for _, tc := range []struct {
			name string
			f    db.AuditFilter
			want int
		}{
			{"identity", db.AuditFilter{Identity: "alice"}, 5},
			{"model", db.AuditFilter{Model: "m-1"}, 3},
			{"method", db.AuditFilter{Method: "DestroyModels"}, 5},
			{"identity and model", db.AuditFilter{Identity: "bob", Model: "m-0"}, 2}, // 3, 9
			{"since", db.AuditFilter{Since: base.Add(7 * time.Second)}, 3},
			{"until", db.AuditFilter{Until: base.Add(2 * time.Second)}, 2},
			{"since and until", db.AuditFilter{Since: base.Add(2 * time.Second), Until: base.Add(5 * time.Second)}, 3},
			{"since, not in UTC", db.AuditFilter{Since: base.Add(7 * time.Second).In(time.FixedZone("x", 3600))}, 3},
			{"unknown identity", db.AuditFilter{Identity: "carol"}, 0},
		} {
			got, _, err := d.AuditEvents(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Errorf("%s: %d events, want %d: %+v", tc.name, len(got), tc.want, got)
			}
		}

		// Pages of 4 cover every event once, newest first.
		var paged []int64
		f := db.AuditFilter{Limit: 4}
		for range 5 {
			page, next, err := d.AuditEvents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page {
				paged = append(paged, ev.ID)
			}
			if next == 0 {
				break
			}
			if next != page[len(page)-1].ID {
				t.Fatalf("cursor %d, want the last id of the page, %d", next, page[len(page)-1].ID)
			}
			f.After = next
		}
		if len(paged) != 10 {
			t.Fatalf("paging saw %d events, want 10: %v", len(paged), paged)
		}
		for i := range paged {
			if paged[i] != all[i].ID {
				t.Fatalf("paging order %v differs from the single page's", paged)
			}
		}
		// A page exactly full at the end says there is no next page.
		if _, next, _ := d.AuditEvents(ctx, db.AuditFilter{Limit: 10}); next != 0 {
			t.Fatalf("a full last page gave cursor %d", next)
		}
	})
}

func TestAuditEventsLimitBounded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		addAuditEvents(t, d, time.Now().UTC(), db.MaxAuditLimit+5)
		got, next, err := d.AuditEvents(t.Context(), db.AuditFilter{Limit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != db.MaxAuditLimit || next == 0 {
			t.Fatalf("limit beyond the bound: %d events, next %d; want %d and a next page", len(got), next, db.MaxAuditLimit)
		}
		got, _, err = d.AuditEvents(t.Context(), db.AuditFilter{})
		if err != nil || len(got) != db.DefaultAuditLimit {
			t.Fatalf("no limit: %d events (%v), want %d", len(got), err, db.DefaultAuditLimit)
		}
	})
}

func TestPurgeAuditEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		addAuditEvents(t, d, base, 25)
		// In batches of 4: several statements.
		n, err := d.PurgeAuditEvents(ctx, base.Add(20*time.Second), 4)
		if err != nil {
			t.Fatal(err)
		}
		if n != 20 {
			t.Fatalf("purged %d events, want 20", n)
		}
		left, _, err := d.AuditEvents(ctx, db.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 5 || left[len(left)-1].Time.Before(base.Add(20*time.Second)) {
			t.Fatalf("after the purge: %+v", left)
		}
		// Again: nothing more to do.
		if n, err := d.PurgeAuditEvents(ctx, base.Add(20*time.Second), 4); err != nil || n != 0 {
			t.Fatalf("second purge: %d, %v", n, err)
		}
	})
}
