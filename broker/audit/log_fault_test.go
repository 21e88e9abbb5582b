package audit

// The audit log under faults: values too large for the database, rows it
// rejects, outages (spool and replay), restarts, and the spool's bound.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

func TestBound(t *testing.T) {
	ascii300 := strings.Repeat("a", 300)
	for _, tc := range []struct {
		name, in  string
		limit     int
		want      string // "" : only the properties below are checked
		truncated bool
	}{
		{"short", "alice", 255, "alice", false},
		{"exactly the bound", strings.Repeat("b", 255), 255, strings.Repeat("b", 255), false},
		{"ascii past the bound", ascii300, 255, ascii300[:255-len(truncMark)] + truncMark, true},
		{"two-byte runes", strings.Repeat("é", 200), 255, "", true},
		{"three-byte runes", strings.Repeat("日本", 100), 255, "", true},
		{"four-byte runes", strings.Repeat("😀", 100), 255, "", true},
		{"invalid UTF-8", "ab\xff\xfecd", 255, "ab\uFFFDcd", false},
		{"NUL", "a\x00b", 255, "a\uFFFDb", false},
		{"20 kB", randomText(20000), 255, "", true},
		{"error bound", randomText(20000), auditErrorMax, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := bound(tc.in, tc.limit)
			if tc.want != "" && got != tc.want {
				t.Errorf("bound = %q, want %q", got, tc.want)
			}
			if len(got) > tc.limit {
				t.Errorf("bound gave %d bytes, over %d", len(got), tc.limit)
			}
			if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
				t.Errorf("bound gave invalid UTF-8 or a NUL: %q", got)
			}
			if strings.HasSuffix(got, truncMark) != tc.truncated {
				t.Errorf("truncation mark: %v, want %v (%q)", strings.HasSuffix(got, truncMark), tc.truncated, got)
			}
			if tc.truncated {
				kept := strings.TrimSuffix(got, truncMark)
				if !strings.HasPrefix(tc.in, kept) || len(got) < tc.limit-len(truncMark)-3 {
					t.Errorf("bound kept %d bytes of %d, not the start of the value or too little of it", len(kept), len(tc.in))
				}
			}
		})
	}
}

// TestAuditRowBounds: every value of a row is bounded, whatever the event
// holds; an error's secrets are redacted before it is cut, so that none is
// cut into a piece the patterns miss.
func TestAuditRowBounds(t *testing.T) {
	huge := randomText(20000)
	row := auditRow(Event{Time: time.Now(), Identity: huge, Remote: huge, Model: huge, Facade: huge, Method: huge, Result: huge, Error: huge})
	for name, v := range map[string]string{"identity": row.Identity, "remote": row.Remote, "model": row.Model, "facade": row.Facade,
		"method": row.Method, "result": row.Result} {
		if len(v) > auditFieldMax || !strings.HasSuffix(v, truncMark) || !strings.HasPrefix(huge, strings.TrimSuffix(v, truncMark)) {
			t.Errorf("%s: %d bytes, not %s cut to %d", name, len(v), "the value", auditFieldMax)
		}
	}
	if len(row.Error) > auditErrorMax || !strings.HasSuffix(row.Error, truncMark) {
		t.Errorf("error: %d bytes, not cut to %d", len(row.Error), auditErrorMax)
	}
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	for _, at := range []int{auditErrorMax - 40, auditErrorMax - 20, auditErrorMax - 5} {
		msg := strings.Repeat("x", at) + " " + jwt + " refused"
		got := scrub(msg)
		if strings.Contains(got, "eyJhbGci") || strings.Contains(got, "eyJzdWIi") || len(got) > auditErrorMax {
			t.Errorf("a token at byte %d of a long error: %q", at, got[max(0, len(got)-80):])
		}
	}
}

// poisonRow returns a row the database d rejects for what it holds: on
// PostgreSQL, an identity too large for the index on it (the fault that
// once lost whole batches; rows bypass auditRow here); on SQLite, which has
// no such limit, an identity a trigger refuses.
func poisonRow(t *testing.T, d *db.DB, i int) db.AuditEvent {
	t.Helper()
	r := db.AuditEvent{Time: time.Now().UTC().Round(time.Microsecond), Facade: "Admin", Method: "password", Result: "refused", Model: fmt.Sprintf("bad-%d", i)}
	if d.Dialect() == "postgres" {
		r.Identity = randomText(20000)
	} else {
		r.Identity = "poison"
	}
	return r
}

func refusePoisonOnSQLite(t *testing.T, d *db.DB) {
	t.Helper()
	if d.Dialect() != "sqlite" {
		return
	}
	if err := d.Exec(`CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events WHEN NEW.identity = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poison row'); END`).Error; err != nil {
		t.Fatal(err)
	}
}

// TestAuditSplitRetry: a batch holding rows the database rejects is split
// until they are alone: every other row is written, in order, and only
// the bad ones are dropped and counted.
func TestAuditSplitRetry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		refusePoisonOnSQLite(t, d)
		for _, tc := range []struct {
			name string
			n    int
			bad  []int
		}{
			{"no bad row", 10, nil},
			{"first", 10, []int{0}},
			{"middle", 10, []int{5}},
			{"last", 10, []int{9}},
			{"several", 37, []int{2, 3, 17, 36}},
			{"alone", 1, []int{0}},
			{"all", 6, []int{0, 1, 2, 3, 4, 5}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := d.Exec("DELETE FROM audit_events").Error; err != nil {
					t.Fatal(err)
				}
				l := New(d, quietLog, nil)
				var rows []db.AuditEvent
				var want []string
				for i := range tc.n {
					if slices.Contains(tc.bad, i) {
						rows = append(rows, poisonRow(t, d, i))
						continue
					}
					rows = append(rows, auditRow(Event{Time: time.Now(), Identity: "alice", Facade: "F", Method: "M", Result: "ok", Model: fmt.Sprintf("good-%d", i)}))
					want = append(want, fmt.Sprintf("good-%d", i))
				}
				written, rest, err := l.store(rows)
				if len(rest) > 0 || err != nil {
					t.Fatalf("store: %d rows left unwritten: %v", len(rest), err)
				}
				if written != len(want) {
					t.Errorf("store wrote %d rows, want %d", written, len(want))
				}
				if got := modelsInOrder(t, d); !slices.Equal(got, want) {
					t.Errorf("rows written: %v, want %v", got, want)
				}
				if n := testutil.ToFloat64(l.dropped.WithLabelValues(dropRejected)); n != float64(len(tc.bad)) {
					t.Errorf("jimm_audit_dropped_total{reason=rejected} = %v, want %d", n, len(tc.bad))
				}
			})
		}
	})
}

// TestAuditOversizedValueKeepsTheBatch: through the writer, a failed login
// with a 20 kB user name among other events: all are written, the name
// truncated.
func TestAuditOversizedValueKeepsTheBatch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		l := New(d, quietLog, nil)
		go l.Run()
		huge := randomText(20000)
		evs := someEvents(5)
		evs = slices.Insert(evs, 2, Event{Time: time.Now(), Identity: huge, Remote: "10.0.0.9", Facade: "Admin", Method: "password", Result: "refused",
			Model: "the-long-one", Error: "invalid entity name or password: " + huge})
		for _, ev := range evs {
			l.Add(ev)
		}
		l.Close(t.Context())
		rows, _, err := d.AuditEvents(t.Context(), db.AuditFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 6 {
			t.Fatalf("%d events written, want 6", len(rows))
		}
		long := rows[3] // newest first
		if long.Model != "the-long-one" || len(long.Identity) > auditFieldMax || !strings.HasSuffix(long.Identity, truncMark) ||
			!strings.HasPrefix(huge, strings.TrimSuffix(long.Identity, truncMark)) || len(long.Error) > auditErrorMax {
			t.Errorf("the long login's event: identity of %d bytes %q..., error of %d bytes", len(long.Identity), long.Identity[:20], len(long.Error))
		}
		if n := testutil.ToFloat64(l.dropped.WithLabelValues(dropRejected)); n != 0 {
			t.Errorf("%v events rejected", n)
		}
	})
}

// flakyWriter is a database that can be made unavailable.
type flakyWriter struct {
	d     *db.DB
	down  atomic.Bool
	calls atomic.Int64
	// refused counts the calls refused while down.
	refused atomic.Int64
	// okCalls, when positive, is how many writes succeed before the
	// writer goes down by itself. A write the database itself fails (a
	// slow one past the log's timeout, say) does not count: the log
	// retries it, as it would any failed write.
	okCalls atomic.Int64
	// failed counts the writes the database itself failed.
	failed atomic.Int64
}

var errUnavailable = errors.New("store audit events: dial tcp 127.0.0.1:5432: connect: connection refused")

func (f *flakyWriter) AddAuditEvents(ctx context.Context, rows []db.AuditEvent) error {
	f.calls.Add(1)
	if f.down.Load() {
		f.refused.Add(1)
		return errUnavailable
	}
	err := f.d.AddAuditEvents(ctx, rows)
	if err != nil {
		f.failed.Add(1)
		return err
	}
	if f.okCalls.Load() > 0 && f.okCalls.Add(-1) == 0 {
		f.down.Store(true)
	}
	return nil
}

func newSpooledLog(t *testing.T, d *db.DB, dir string, maxBytes int64) (*Log, *flakyWriter) {
	t.Helper()
	l := New(d, quietLog, nil, WithSpool(dir, maxBytes))
	fw := &flakyWriter{d: d}
	l.w = fw
	return l, fw
}

func markedEvents(from, n int) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{Time: time.Now(), Identity: "bob", Remote: "10.1.2.3", Facade: "Admin", Method: "password", Result: "refused",
			Model: fmt.Sprintf("e-%04d", from+i), Error: "invalid entity name or password", Duration: time.Millisecond}
	}
	return out
}

func wantMarks(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("e-%04d", from+i)
	}
	return out
}

// TestAuditSpoolAcrossOutage: while the database cannot take events they
// go to the spool; once it can, they are written in order, exactly once,
// before the events that came after them, and the spool is emptied.
func TestAuditSpoolAcrossOutage(t *testing.T) {
	fastProbes(t)
	d := dbtest.SQLite(t)
	dir := t.TempDir()
	l, fw := newSpooledLog(t, d, dir, 0)
	go l.Run()
	defer l.Close(t.Context())
	for _, ev := range markedEvents(0, 100) {
		l.Add(ev)
	}
	waitFor(t, 5*time.Second, "100 events written", func() bool { return countAudit(t, d) == 100 })

	fw.down.Store(true)
	for _, ev := range markedEvents(100, 300) {
		l.Add(ev)
	}
	waitFor(t, 5*time.Second, "300 events spooled", func() bool { return testutil.ToFloat64(l.spoolEvents) == 300 })
	if n := countAudit(t, d); n != 100 {
		t.Fatalf("%d events in the database during the outage, want 100", n)
	}
	if st, err := os.Stat(filepath.Join(dir, SpoolFile)); err != nil || st.Size() == 0 || float64(st.Size()) != testutil.ToFloat64(l.spoolBytes) {
		t.Fatalf("spool file: %v, %v; jimm_audit_spool_bytes %v", st, err, testutil.ToFloat64(l.spoolBytes))
	}

	// Back: the spool is replayed while new events keep coming; these
	// wait behind the spooled ones.
	fw.down.Store(false)
	for _, ev := range markedEvents(400, 200) {
		l.Add(ev)
	}
	waitFor(t, 10*time.Second, "600 events written", func() bool { return countAudit(t, d) >= 600 })
	l.Close(t.Context())
	if got := modelsInOrder(t, d); !slices.Equal(got, wantMarks(0, 600)) {
		t.Fatalf("events written out of order, lost or twice: %d of them, first differences %v", len(got), firstDiff(got, wantMarks(0, 600)))
	}
	if st, err := os.Stat(filepath.Join(dir, SpoolFile)); err != nil || st.Size() != 0 {
		t.Errorf("the spool is not empty after the replay: %v %v", st, err)
	}
	if testutil.ToFloat64(l.spoolEvents) != 0 || testutil.ToFloat64(l.spoolBytes) != 0 {
		t.Errorf("spool gauges %v events, %v bytes after the replay", testutil.ToFloat64(l.spoolEvents), testutil.ToFloat64(l.spoolBytes))
	}
	if r, s := testutil.ToFloat64(l.replayedCtr), testutil.ToFloat64(l.spooled); r != s || r < 300 {
		t.Errorf("replayed %v events of %v spooled, want all and at least 300", r, s)
	}
	for _, reason := range []string{dropQueueFull, dropRejected, dropSpoolFull, dropSpoolError, dropUnavailable, dropSpoolCorrupt} {
		if n := testutil.ToFloat64(l.dropped.WithLabelValues(reason)); n != 0 {
			t.Errorf("%v events dropped (%s)", n, reason)
		}
	}
}

// TestAuditSpoolOnRealDatabase: the audit table gone (the database cannot
// take events for its own state, not theirs): events are spooled, not
// dropped nor split, and written once it is back.
func TestAuditSpoolOnRealDatabase(t *testing.T) {
	fastProbes(t)
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		l := New(d, quietLog, nil, WithSpool(t.TempDir(), 0))
		go l.Run()
		defer l.Close(t.Context())
		if err := d.Exec("ALTER TABLE audit_events RENAME TO audit_events_away").Error; err != nil {
			t.Fatal(err)
		}
		for _, ev := range markedEvents(0, 40) {
			l.Add(ev)
		}
		waitFor(t, 5*time.Second, "40 events spooled", func() bool { return testutil.ToFloat64(l.spoolEvents) == 40 })
		if err := d.Exec("ALTER TABLE audit_events_away RENAME TO audit_events").Error; err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "40 events written", func() bool { return countAudit(t, d) == 40 })
		if got := modelsInOrder(t, d); !slices.Equal(got, wantMarks(0, 40)) {
			t.Errorf("written: %v", got)
		}
		if n := testutil.ToFloat64(l.dropped.WithLabelValues(dropRejected)); n != 0 {
			t.Errorf("%v events dropped as rejected: an unavailable table was taken for bad rows", n)
		}
	})
}

// TestAuditSpoolAcrossRestarts: what is spooled when the log closes is
// written by the next one that starts on the same directory; a replay
// interrupted midway resumes where it stopped, writing nothing twice.
func TestAuditSpoolAcrossRestarts(t *testing.T) {
	fastProbes(t)
	d := dbtest.SQLite(t)
	dir := t.TempDir()
	run := func(setup func(fw *flakyWriter), evs []Event, until func(l *Log, fw *flakyWriter) bool) *Log {
		t.Helper()
		l, fw := newSpooledLog(t, d, dir, 0)
		setup(fw)
		go l.Run()
		for _, ev := range evs {
			l.Add(ev)
		}
		waitFor(t, 10*time.Second, "the log's work", func() bool { return until(l, fw) })
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
		if ctx.Err() != nil {
			t.Fatal("Close did not return")
		}
		return l
	}
	down := func(fw *flakyWriter) { fw.down.Store(true) }
	up := func(fw *flakyWriter) {}

	// The database down until the log closes: everything stays spooled,
	// the last batch (queued at Close) included.
	run(down, markedEvents(0, 50), func(l *Log, fw *flakyWriter) bool { return fw.calls.Load() > 0 })
	if n := countAudit(t, d); n != 0 {
		t.Fatalf("%d events written while the database was down", n)
	}
	// The next start replays them.
	run(up, nil, func(l *Log, fw *flakyWriter) bool { return countAudit(t, d) == 50 })

	// 2500 spooled; the next run writes the first batch of them and loses
	// the database; the one after writes the rest.
	run(down, markedEvents(50, 2500), func(l *Log, fw *flakyWriter) bool { return testutil.ToFloat64(l.spoolEvents) == 2500 })
	var fw4 *flakyWriter
	l := run(func(fw *flakyWriter) { fw4 = fw; fw.okCalls.Store(1) }, nil, func(l *Log, fw *flakyWriter) bool { return fw.refused.Load() > 0 })
	if n := testutil.ToFloat64(l.replayedCtr); n != auditReplayBatch {
		t.Fatalf("the interrupted run replayed %v events, want %d (writes the database failed: %d)", n, auditReplayBatch, fw4.failed.Load())
	}
	if n := countAudit(t, d); n != 50+auditReplayBatch {
		t.Fatalf("%d events written after the interrupted replay, want %d", n, 50+auditReplayBatch)
	}
	run(up, markedEvents(2550, 10), func(l *Log, fw *flakyWriter) bool { return countAudit(t, d) == 2560 })
	if got := modelsInOrder(t, d); !slices.Equal(got, wantMarks(0, 2560)) {
		t.Fatalf("%d events written, first differences %v", len(got), firstDiff(got, wantMarks(0, 2560)))
	}
}

// TestAuditSpoolBound: past its bound the spool takes no more; what does
// not fit is dropped and counted, what fits is written later.
func TestAuditSpoolBound(t *testing.T) {
	fastProbes(t)
	for _, tc := range []struct {
		name     string
		maxBytes int64
		events   int
	}{
		{"room for all", 1 << 20, 200},
		{"room for some", 8 << 10, 200},
		{"room for none", 10, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dbtest.SQLite(t)
			dir := t.TempDir()
			l, fw := newSpooledLog(t, d, dir, tc.maxBytes)
			fw.down.Store(true)
			go l.Run()
			defer l.Close(t.Context())
			for _, ev := range markedEvents(0, tc.events) {
				l.Add(ev)
			}
			full := func() float64 { return testutil.ToFloat64(l.dropped.WithLabelValues(dropSpoolFull)) }
			waitFor(t, 5*time.Second, "every event spooled or dropped", func() bool {
				return testutil.ToFloat64(l.spooled)+full() == float64(tc.events)
			})
			st, err := os.Stat(filepath.Join(dir, SpoolFile))
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() > tc.maxBytes {
				t.Errorf("spool of %d bytes, over its bound %d", st.Size(), tc.maxBytes)
			}
			kept := int(testutil.ToFloat64(l.spooled))
			switch {
			case tc.maxBytes >= 1<<20 && kept != tc.events:
				t.Errorf("%d of %d events spooled with room for all", kept, tc.events)
			case tc.maxBytes == 8<<10 && (kept == 0 || kept == tc.events):
				t.Errorf("%d of %d events spooled in 8 kB", kept, tc.events)
			case tc.maxBytes == 10 && kept != 0:
				t.Errorf("%d events spooled in 10 bytes", kept)
			}
			fw.down.Store(false)
			waitFor(t, 10*time.Second, "the spooled events written", func() bool { return countAudit(t, d) == int64(kept) })
			// The oldest are kept.
			if got := modelsInOrder(t, d); !slices.Equal(got, wantMarks(0, kept)) {
				t.Errorf("written after the outage: %v", firstDiff(got, wantMarks(0, kept)))
			}
		})
	}
}

// TestSpoolFile: the spool file as a crash or a previous run leaves it:
// the last line cut short, an unreadable line, rows already written.
func TestSpoolFile(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for seq := 1; seq <= 5; seq++ {
		if seq == 4 {
			lines = append(lines, "{not json")
			continue
		}
		lines = append(lines, fmt.Sprintf(`{"seq":%d,"time":"2026-01-02T03:04:05Z","facade":"F","method":"M","result":"ok","model":"m-%d","duration-us":1}`, seq, seq))
	}
	content := strings.Join(lines, "\n") + "\n" + `{"seq":6,"time":"2026-01-0` // cut by a crash
	if err := os.WriteFile(filepath.Join(dir, SpoolFile), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, spoolPosFile), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, corrupt, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if s.pending != 3 || corrupt != 1 || s.nextSeq != 6 {
		t.Fatalf("opened: %d pending, %d corrupt, next seq %d; want 3, 1, 6", s.pending, corrupt, s.nextSeq)
	}
	if st, _ := os.Stat(s.path); st.Size() != int64(len(strings.Join(lines, "\n"))+1) {
		t.Errorf("the incomplete last line was not cut: %d bytes", st.Size())
	}
	recs, err := s.read(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].seq != 2 || recs[1].seq != 3 || recs[1].row.Model != "m-3" {
		t.Fatalf("read(2): %+v", recs)
	}
	if err := s.commit(recs[:1]); err != nil {
		t.Fatal(err)
	}
	if pos, _ := os.ReadFile(s.posPath); strings.TrimSpace(string(pos)) != "2" {
		t.Errorf("position file %q after committing seq 2", pos)
	}
	// Appended rows follow the others, with larger sequence numbers.
	if n, err := s.append([]db.AuditEvent{{Facade: "F", Method: "M", Result: "ok", Model: "m-new"}}); n != 1 || err != nil {
		t.Fatalf("append: %d, %v", n, err)
	}
	recs, err = s.read(10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, strconv.FormatUint(r.seq, 10)+":"+r.row.Model)
	}
	if want := []string{"3:m-3", "5:m-5", "6:m-new"}; !slices.Equal(got, want) {
		t.Fatalf("pending rows %v, want %v", got, want)
	}
	if err := s.commit(recs); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(s.path); st.Size() != 0 || s.pending != 0 {
		t.Errorf("spool of %d bytes, %d pending, after everything was written", st.Size(), s.pending)
	}
	// Reopened: nothing pending, and sequence numbers keep growing.
	s.close()
	s, _, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.pending != 0 || s.nextSeq != 7 {
		t.Errorf("reopened: %d pending, next seq %d; want 0 and 7", s.pending, s.nextSeq)
	}
}

// TestSpoolCompacts: rows already written make room for new ones when the
// bound is reached.
func TestSpoolCompacts(t *testing.T) {
	s, _, err := openSpool(t.TempDir(), 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	row := func(i int) db.AuditEvent {
		return db.AuditEvent{Facade: "F", Method: "M", Result: "ok", Model: fmt.Sprintf("c-%04d", i)}
	}
	var rows []db.AuditEvent
	for i := range 200 {
		rows = append(rows, row(i))
	}
	full, err := s.append(rows)
	if err != nil || full == 0 || full == 200 {
		t.Fatalf("append 200 rows in 4 kB: %d, %v", full, err)
	}
	recs, err := s.read(full / 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.commit(recs); err != nil {
		t.Fatal(err)
	}
	more, err := s.append(rows[full:])
	if err != nil || more < full/2-1 {
		t.Fatalf("after half was written, %d more rows fit (%v), want about %d", more, err, full/2)
	}
	if st, _ := os.Stat(s.path); st.Size() > 4<<10 || st.Size() != s.size {
		t.Errorf("spool of %d bytes (%d counted), bound 4096", st.Size(), s.size)
	}
	recs, err = s.read(1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if want := row(full/2 + i).Model; r.row.Model != want {
			t.Fatalf("row %d after compaction: %s, want %s", i, r.row.Model, want)
		}
	}
	if len(recs) != full-full/2+more {
		t.Errorf("%d rows pending, want %d", len(recs), full-full/2+more)
	}
}

func fastProbes(t *testing.T) {
	lo, hi := auditProbeMin, auditProbeMax
	auditProbeMin, auditProbeMax = 20*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { auditProbeMin, auditProbeMax = lo, hi })
}

// modelsInOrder is the model column of every audit row, in id order.
func modelsInOrder(t *testing.T, d *db.DB) []string {
	t.Helper()
	var out []string
	if err := d.Model(&db.AuditEvent{}).Order("id").Pluck("model", &out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

func firstDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("at %d: %q, want %q (%d rows, want %d)", i, g, w, len(got), len(want))
		}
	}
	return "none"
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// randomText is n random letters and digits: text PostgreSQL cannot
// compress under its index row limit.
func randomText(n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}

// TestAddBoundsAtOnce: an event is bounded when it is queued, not only
// when it is written, so that a full queue of events with huge claimed
// user names stays small.
func TestAddBoundsAtOnce(t *testing.T) {
	l := New(nil, slog.New(slog.DiscardHandler), nil)
	huge := strings.Repeat("x", 1<<20)
	l.Add(Event{Time: time.Now(), Identity: huge, Remote: huge, Model: huge, Facade: "Admin", Method: huge, Result: "refused", Error: huge})
	ev := <-l.queue
	for name, v := range map[string]string{"identity": ev.Identity, "remote": ev.Remote, "model": ev.Model, "method": ev.Method} {
		if len(v) > auditFieldMax || !strings.HasSuffix(v, truncMark) {
			t.Errorf("queued %s: %d bytes, want at most %d, marked", name, len(v), auditFieldMax)
		}
	}
	if len(ev.Error) > auditScanMax {
		t.Errorf("queued error: %d bytes, want at most %d", len(ev.Error), auditScanMax)
	}
}
