package jimmctl

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// listAudit answers GET /v1/audit as the broker does: filters, pages of
// limit (default 50) newest first, a cursor; only the admin may read.
func (f *fakeBroker) listAudit(w http.ResponseWriter, r *http.Request, identity string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auditQueries = append(f.auditQueries, r.URL.RawQuery)
	if identity != fakeAdmin {
		writeError(w, http.StatusForbidden, restapi.CodeForbidden, "reading the audit log needs broker administrator access or audit_log_viewer on controller:jimm; %s has neither", identity)
		return
	}
	q := r.URL.Query()
	var since, until time.Time
	var err error
	for _, p := range []struct {
		name string
		into *time.Time
	}{{restapi.AuditQuerySince, &since}, {restapi.AuditQueryUntil, &until}} {
		if v := q.Get(p.name); v != "" {
			if *p.into, err = time.Parse(time.RFC3339Nano, v); err != nil {
				writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad %s %q", p.name, v)
				return
			}
		}
	}
	limit := 50
	if v := q.Get(restapi.AuditQueryLimit); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad limit %q", v)
			return
		}
	}
	var after int64
	if v := q.Get(restapi.AuditQueryAfter); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad after %q", v)
			return
		}
	}
	evs := slices.Clone(f.auditEvents)
	slices.SortFunc(evs, func(a, b restapi.AuditEvent) int { return int(b.ID - a.ID) })
	out := restapi.AuditEvents{Events: []restapi.AuditEvent{}}
	for _, ev := range evs {
		switch {
		case q.Get(restapi.AuditQueryUser) != "" && ev.Identity != q.Get(restapi.AuditQueryUser),
			q.Get(restapi.AuditQueryModel) != "" && ev.Model != q.Get(restapi.AuditQueryModel),
			q.Get(restapi.AuditQueryMethod) != "" && ev.Method != q.Get(restapi.AuditQueryMethod),
			!since.IsZero() && ev.Time.Before(since),
			!until.IsZero() && !ev.Time.Before(until),
			after > 0 && ev.ID >= after:
			continue
		}
		if len(out.Events) == limit {
			out.Next = strconv.FormatInt(out.Events[limit-1].ID, 10)
			break
		}
		out.Events = append(out.Events, ev)
	}
	writeJSON(w, http.StatusOK, out)
}

// auditBroker is a fake broker whose audit log holds n events, a minute
// apart from fakeTime: ids 1..n, alice and bob in turn, models m-1 and
// m-2 in turn, every third a refused password login.
func auditBroker(t *testing.T, n int) *fakeBroker {
	t.Helper()
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	for i := 1; i <= n; i++ {
		ev := restapi.AuditEvent{ID: int64(i), Time: fakeTime.Add(time.Duration(i) * time.Minute), Identity: []string{"alice", "bob"}[i%2],
			Remote: "10.0.0.7", Model: fmt.Sprintf("m-%d", 1+i%2), Facade: "ModelConfig", Method: "ModelSet", Result: "ok", DurationMicros: 1500}
		if i%3 == 0 {
			ev.Model, ev.Facade, ev.Method, ev.Result, ev.Error = "", "Admin", "password", "refused", "invalid entity name or password"
		}
		f.auditEvents = append(f.auditEvents, ev)
	}
	return f
}

func (f *fakeBroker) lastAuditQuery() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auditQueries) == 0 {
		return ""
	}
	return f.auditQueries[len(f.auditQueries)-1]
}

func TestAuditListTabular(t *testing.T) {
	f := auditBroker(t, 5)
	stdout, stderr, err := run(t, "", "audit", "list")
	if err != nil {
		t.Fatalf("audit list: %v\n%s", err, stderr)
	}
	got := lines(stdout)
	if len(got) != 6 {
		t.Fatalf("audit list printed %d lines, want a header and 5 events:\n%s", len(got), stdout)
	}
	for _, col := range auditHeader {
		if !strings.Contains(got[0], col) {
			t.Errorf("header %q lacks %s", got[0], col)
		}
	}
	// Newest first; a refused login shows its message; no model is "-".
	if f := strings.Fields(got[1]); f[0] != "5" || !strings.Contains(got[1], "ModelSet") || !strings.Contains(got[1], "1.5ms") || !strings.Contains(got[1], "m-2") {
		t.Errorf("first row %q, want event 5 (ModelSet on m-2, 1.5ms)", got[1])
	}
	if !strings.Contains(got[3], "refused: invalid entity name or password") || !strings.Contains(got[3], " - ") {
		t.Errorf("row of the refused login: %q", got[3])
	}
	if strings.Contains(stdout, "--after") {
		t.Errorf("a single page printed a next-page hint:\n%s", stdout)
	}
	if q := f.lastAuditQuery(); q != "limit=50" {
		t.Errorf("query %q, want only the default limit", q)
	}
}

func TestAuditListFiltersAndPages(t *testing.T) {
	f := auditBroker(t, 12)
	stdout, stderr, err := run(t, "", "audit", "list", "--user", "bob", "--model", "m-1", "--method", "ModelSet",
		"--since", "2025-03-01T12:00:00Z", "--until", "2025-03-01T14:00:00+01:00", "--format", "json")
	if err != nil {
		t.Fatalf("audit list with filters: %v\n%s", err, stderr)
	}
	var page restapi.AuditEvents
	if err := json.Unmarshal([]byte(stdout), &page); err != nil {
		t.Fatalf("parse json: %v\n%s", err, stdout)
	}
	q := f.lastAuditQuery()
	for _, want := range []string{"user=bob", "model=m-1", "method=ModelSet", "since=2025-03-01T12%3A00%3A00Z", "until=2025-03-01T13%3A00%3A00Z"} {
		if !strings.Contains(q, want) {
			t.Errorf("query %q lacks %s", q, want)
		}
	}
	_ = page

	// Pages of 4, following the cursor the tabular hint names.
	stdout, stderr, err = run(t, "", "audit", "list", "--limit", "4")
	if err != nil {
		t.Fatalf("audit list --limit 4: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "add --after 9 for the next page") {
		t.Fatalf("no next-page hint naming cursor 9:\n%s", stdout)
	}
	stdout, stderr, err = run(t, "", "audit", "list", "--limit", "4", "--after", "9", "--format", "yaml")
	if err != nil {
		t.Fatalf("audit list --after 9: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "- id: 8\n") || !strings.Contains(stdout, "next: \"5\"") {
		t.Fatalf("second page:\n%s", stdout)
	}
	// --all follows every page.
	stdout, stderr, err = run(t, "", "audit", "list", "--all", "--limit", "5", "--format", "json")
	if err != nil {
		t.Fatalf("audit list --all: %v\n%s", err, stderr)
	}
	page = restapi.AuditEvents{}
	if err := json.Unmarshal([]byte(stdout), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 12 || page.Next != "" || page.Events[0].ID != 12 || page.Events[11].ID != 1 {
		t.Fatalf("--all: %d events, next %q", len(page.Events), page.Next)
	}
}

func TestAuditListErrors(t *testing.T) {
	f := auditBroker(t, 3)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "last tuesday"}, `ERROR --since: "last tuesday" is not a time`},
		{[]string{"--since", "1h", "--until", "2h"}, "ERROR --since"},
		{[]string{"--limit", "0"}, "ERROR --limit must be from 1 to 1000, got 0"},
		{[]string{"--limit", "1001"}, "ERROR --limit must be from 1 to 1000, got 1001"},
		{[]string{"extra"}, "ERROR list takes no arguments"},
	} {
		_, stderr, err := run(t, "", append([]string{"audit", "list"}, tc.args...)...)
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("audit list %v: %v, stderr %q, want %q", tc.args, err, stderr, tc.want)
		}
	}
	// Someone who may not read it is told who may.
	t.Setenv(EnvToken, f.issueToken("carol"))
	_, stderr, err := run(t, "", "audit", "list")
	if err == nil || !strings.Contains(stderr, "audit_log_viewer on controller:jimm") || !strings.Contains(stderr, "ask a broker administrator") {
		t.Fatalf("non-viewer: %v, stderr %q", err, stderr)
	}
	// A relative and a date-only time are sent as RFC 3339.
	t.Setenv(EnvToken, f.issueToken(fakeAdmin))
	if _, stderr, err := run(t, "", "audit", "list", "--since", "2025-03-01", "--until", "1h"); err != nil {
		t.Fatalf("date and duration: %v %s", err, stderr)
	}
	if q := f.lastAuditQuery(); !strings.Contains(q, "since=2025-03-01T00%3A00%3A00Z") || !strings.Contains(q, "until=") {
		t.Fatalf("query %q", q)
	}
}

func TestAuditListEmpty(t *testing.T) {
	auditBroker(t, 0)
	stdout, stderr, err := run(t, "", "audit", "list")
	if err != nil || stdout != "" || !strings.Contains(stderr, "No audit events.") {
		t.Fatalf("empty log: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	stdout, _, err = run(t, "", "audit", "list", "--format", "json")
	if err != nil || !strings.Contains(stdout, `"events": []`) {
		t.Fatalf("empty log as json: %v %s", err, stdout)
	}
}
