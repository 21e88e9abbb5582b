package audit

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

func TestChangesState(t *testing.T) {
	for _, tc := range []struct {
		facade, method string
		want           bool
	}{
		{"Pinger", "Ping", false},
		{"Client", "FullStatus", false},
		{"Client", "Status", false},
		{"AllWatcher", "Next", false},
		{"AllWatcher", "Stop", false},
		{"NotifyWatcher", "Next", false},
		{"Application", "WatchUnits", false},
		{"ModelManager", "ListModels", false},
		{"ModelManager", "ListModelSummaries", false},
		{"ModelManager", "ModelInfo", false},
		{"ModelManager", "ModelStatus", false},
		{"ModelConfig", "ModelGet", false},
		{"Application", "GetConstraints", false},
		{"Application", "ShowApplication", false},
		{"Client", "FindTools", false},
		{"Cloud", "Clouds", false},
		{"Cloud", "Cloud", false},
		{"Controller", "ControllerVersion", false},
		{"Controller", "IdentityProviderURL", false},
		{"UserManager", "UserInfo", false},
		{"ModelConfig", "ModelSet", true},
		{"ModelConfig", "ModelUnset", true},
		{"ModelManager", "CreateModel", true},
		{"ModelManager", "DestroyModels", true},
		{"Application", "Deploy", true},
		{"Application", "SetConstraints", true},
		{"Application", "StopUnits", true}, // only a watcher's Stop is read-only
		{"Client", "SetStatus", true},
		{"UserManager", "SetPassword", true},
		{"Cloud", "UpdateCredentialsCheckModels", true},
		{"Anything", "NeverHeardOf", true}, // unknown: audited
		{"Anything", "", true},
	} {
		if got := ChangesState(tc.facade, tc.method); got != tc.want {
			t.Errorf("ChangesState(%q, %q) = %v, want %v", tc.facade, tc.method, got, tc.want)
		}
	}
}

// TestChangesStateDoesNotAllocate: it runs for every relayed response.
func TestChangesStateDoesNotAllocate(t *testing.T) {
	for _, c := range [][2]string{{"Pinger", "Ping"}, {"Client", "FullStatus"}, {"AllWatcher", "Next"}, {"Application", "Deploy"}} {
		if n := testing.AllocsPerRun(100, func() { ChangesState(c[0], c[1]) }); n != 0 {
			t.Errorf("ChangesState(%q, %q) allocates %v times", c[0], c[1], n)
		}
	}
}

// TestAuditEventHoldsNoParams: an audit event has room for who, where,
// what and how it ended, and nothing a call's parameters could go into.
func TestAuditEventHoldsNoParams(t *testing.T) {
	allowed := map[string]bool{"Time": true, "Identity": true, "Remote": true, "Model": true, "Facade": true,
		"Method": true, "Result": true, "Error": true, "Duration": true}
	for _, typ := range []reflect.Type{reflect.TypeFor[Event](), reflect.TypeFor[db.AuditEvent](), reflect.TypeFor[restapi.AuditEvent]()} {
		for i := range typ.NumField() {
			f := typ.Field(i)
			switch f.Type.Kind() {
			case reflect.String, reflect.Int64, reflect.Struct: // strings, durations, times
			default:
				t.Errorf("%s.%s is a %s: audit events carry no parameters", typ, f.Name, f.Type)
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
				t.Errorf("%s.%s is a %s: audit events carry no parameters", typ, f.Name, f.Type)
			}
			if name := strings.TrimSuffix(f.Name, "Micros"); !allowed[name] && name != "ID" {
				t.Errorf("%s.%s: an unexpected field in an audit event", typ, f.Name)
			}
		}
	}
}

func TestScrub(t *testing.T) {
	for _, tc := range []struct{ in, secret string }{
		{`cannot log in: password=hunter2-very-secret`, "hunter2-very-secret"},
		{`bad request: {"password":"pa55word-xyz","user":"admin"}`, "pa55word-xyz"},
		{`client_secret: s3cr3t-value`, "s3cr3t-value"},
		{`invalid credentials: AKIAEXAMPLEKEY123`, "AKIAEXAMPLEKEY123"},
		{`Authorization: Bearer abc.def-ghi_123`, "abc.def-ghi_123"},
		{`token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl refused`, "eyJzdWIiOiJ4In0"},
		{`session jimm_st_AbCdEf0123456789xyzXYZ-_ unknown`, "AbCdEf0123456789xyzXYZ"},
		{`api-key=0123456789abcdef`, "0123456789abcdef"},
	} {
		got := scrub(tc.in)
		if strings.Contains(got, tc.secret) {
			t.Errorf("scrub(%q) = %q: the secret is still there", tc.in, got)
		}
		if !strings.Contains(got, "[redacted]") {
			t.Errorf("scrub(%q) = %q: nothing marked redacted", tc.in, got)
		}
	}
	// What is not secret is kept.
	plain := `model "prod" not found: unknown model 5c4b1a2e-0000-4000-8000-000000000001`
	if got := scrub(plain); got != plain {
		t.Errorf("scrub(%q) = %q, want it unchanged", plain, got)
	}
	long := strings.Repeat("é", auditErrorMax)
	if got := scrub(long); len(got) > auditErrorMax || !strings.HasSuffix(got, truncMark) || !strings.HasPrefix(got, "é") || !utf8.ValidString(got) {
		t.Errorf("a long message is not cut to %d bytes: %d bytes", auditErrorMax, len(got))
	}
	// A row never holds more than the scrubbed message.
	row := auditRow(Event{Error: "password: topsecret-1", Duration: 1500 * time.Microsecond})
	if strings.Contains(row.Error, "topsecret-1") || row.DurationMicros != 1500 {
		t.Errorf("audit row: %+v", row)
	}
}

var quietLog = slog.New(slog.DiscardHandler)

func someEvents(n int) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{Time: time.Now(), Identity: "alice", Facade: "Application", Method: "Deploy", Result: "ok",
			Model: fmt.Sprintf("m-%d", i), Duration: time.Millisecond}
	}
	return out
}

func countAudit(t *testing.T, d *db.DB) int64 {
	t.Helper()
	var n int64
	if err := d.Model(&db.AuditEvent{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuditLogWritesInBatches: events are written within the flush
// interval, in batches, and what is queued at Close is written too.
func TestAuditLogWritesInBatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		l := New(d, quietLog, nil)
		go l.Run()
		for _, ev := range someEvents(3) {
			l.Add(ev)
		}
		deadline := time.Now().Add(2 * time.Second)
		for countAudit(t, d) < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("3 events not written within 2s: %d", countAudit(t, d))
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, ev := range someEvents(2*auditBatchSize + 7) {
			l.Add(ev)
		}
		l.Close(t.Context())
		if n := countAudit(t, d); n != 2*auditBatchSize+10 {
			t.Fatalf("after Close: %d events written, want %d", n, 2*auditBatchSize+10)
		}
		if w := testutil.ToFloat64(l.written); w != 2*auditBatchSize+10 {
			t.Fatalf("jimm_audit_written_total = %v", w)
		}
		// Every write is one batch of at most auditBatchSize: the 3 events
		// first, then at least 3 for the rest; and far fewer writes than
		// events (a histogram has one series whatever happens, so its
		// sample count is what tells).
		var m dto.Metric
		if err := l.batchDur.Write(&m); err != nil {
			t.Fatal(err)
		}
		if n := m.GetHistogram().GetSampleCount(); n < 4 || n > 20 {
			t.Fatalf("%d batches written for %d events, want from 4 to 20", n, 2*auditBatchSize+10)
		}
	})
}

// TestAuditNeverBlocks: with the writer stuck, add returns at once and
// counts what it drops.
func TestAuditNeverBlocks(t *testing.T) {
	l := New(nil, quietLog, nil) // no writer runs
	start := time.Now()
	for _, ev := range someEvents(auditQueueSize + 10) {
		l.Add(ev)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("queuing took %s", d)
	}
	if n := testutil.ToFloat64(l.dropped.WithLabelValues("queue-full")); n != 10 {
		t.Fatalf("jimm_audit_dropped_total{reason=queue-full} = %v, want 10", n)
	}
	// A nil Log (none configured) ignores events.
	var none *Log
	none.Add(Event{})
}

// TestAuditLogRetriesWithoutSpool: without a spool, a batch the database
// cannot take for a while (as during a restart) is retried and written;
// one it keeps refusing is dropped and counted.
func TestAuditLogRetriesWithoutSpool(t *testing.T) {
	old := auditRetryBackoff
	auditRetryBackoff = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	t.Cleanup(func() { auditRetryBackoff = old })
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		if err := d.Exec("ALTER TABLE audit_events RENAME TO audit_events_away").Error; err != nil {
			t.Fatal(err)
		}
		l := New(d, quietLog, nil)
		go l.Run()
		for _, ev := range someEvents(5) {
			l.Add(ev)
		}
		// Wait until the writer has tried, and failed, to write them.
		for deadline := time.Now().Add(10 * time.Second); l.failedWrites.Load() == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the writer never tried to write the batch")
			}
		}
		if err := d.Exec("ALTER TABLE audit_events_away RENAME TO audit_events").Error; err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for countAudit(t, d) < 5 {
			if time.Now().After(deadline) {
				t.Fatal("the refused batch was not written once the table was back")
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Gone for good: dropped after the retries.
		if err := d.Exec("ALTER TABLE audit_events RENAME TO audit_events_away").Error; err != nil {
			t.Fatal(err)
		}
		for _, ev := range someEvents(4) {
			l.Add(ev)
		}
		deadline = time.Now().Add(5 * time.Second)
		for testutil.ToFloat64(l.dropped.WithLabelValues(dropUnavailable)) < 4 {
			if time.Now().After(deadline) {
				t.Fatal("a batch the database keeps refusing was not dropped")
			}
			time.Sleep(20 * time.Millisecond)
		}
		closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		l.Close(closeCtx)
		if closeCtx.Err() != nil {
			t.Fatal("Close did not return")
		}
	})
}

// TestAuditPurge: the purge loop deletes what is older than the
// retention at once; zero retention keeps everything.
func TestAuditPurge(t *testing.T) {
	d := dbtest.SQLite(t)
	old := time.Now().Add(-48 * time.Hour)
	if err := d.AddAuditEvents(t.Context(), []db.AuditEvent{
		{Time: old, Facade: "F", Method: "M", Result: "ok"}, {Time: time.Now(), Facade: "F", Method: "M", Result: "ok"},
	}); err != nil {
		t.Fatal(err)
	}
	l := New(d, quietLog, nil)
	l.Purge(t.Context(), 0) // returns at once: kept forever
	if n := countAudit(t, d); n != 2 {
		t.Fatalf("zero retention deleted events: %d left", n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { l.Purge(ctx, 24*time.Hour); close(done) }()
	deadline := time.Now().Add(2 * time.Second)
	for countAudit(t, d) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the old event was not purged at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestModelNamed(t *testing.T) {
	const uuid = "5c4b1a2e-0000-4000-8000-000000000001"
	for _, tc := range []struct{ params, want string }{
		{`{"models":[{"model-tag":"model-` + uuid + `","force":false}]}`, uuid},
		{`{"entities":[{"tag":"model-` + uuid + `"}]}`, uuid},
		{`{"model-tag":"model-nope"}`, ""},
		{`{"name":"x"}`, ""},
		{``, ""},
	} {
		if got := ModelNamed([]byte(tc.params)); got != tc.want {
			t.Errorf("ModelNamed(%s) = %q, want %q", tc.params, got, tc.want)
		}
	}
}
