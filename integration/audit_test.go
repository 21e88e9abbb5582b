package integration

// The audit log end to end: logins and state changes made through a real
// broker show in jimmctl audit list, filtered and paged; reads do not; no
// row holds a secret.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelconfig"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"
)

// restAuditEvents mirrors restapi.AuditEvents.
type restAuditEvents struct {
	Events []restAuditEvent `json:"events" yaml:"events"`
	Next   string           `json:"next" yaml:"next"`
}

// restAuditEvent mirrors restapi.AuditEvent (checked by
// TestAuditRESTTypes).
type restAuditEvent struct {
	ID             int64     `json:"id" yaml:"id"`
	Time           time.Time `json:"time" yaml:"time"`
	Identity       string    `json:"identity" yaml:"identity"`
	Remote         string    `json:"remote,omitempty" yaml:"remote,omitempty"`
	Model          string    `json:"model,omitempty" yaml:"model,omitempty"`
	Facade         string    `json:"facade" yaml:"facade"`
	Method         string    `json:"method" yaml:"method"`
	Result         string    `json:"result" yaml:"result"`
	Error          string    `json:"error,omitempty" yaml:"error,omitempty"`
	DurationMicros int64     `json:"duration-us" yaml:"duration-us"`
}

// auditList is jimmctl audit list --format json with args, decoded.
func (e *brokerEnv) auditList(t testing.TB, args ...string) restAuditEvents {
	t.Helper()
	var out restAuditEvents
	decodeStrictJSON(t, e.jimmctl(t, append([]string{"audit", "list", "--format", "json"}, args...)...), &out)
	return out
}

// has reports whether an event matches every non-empty field of want.
func (ev restAuditEvent) has(want restAuditEvent) bool {
	return (want.Identity == "" || ev.Identity == want.Identity) && (want.Model == "" || ev.Model == want.Model) &&
		(want.Facade == "" || ev.Facade == want.Facade) && (want.Method == "" || ev.Method == want.Method) &&
		(want.Result == "" || ev.Result == want.Result)
}

func TestAudit(t *testing.T) {
	t.Parallel()
	serverDSN(t) // skips without PostgreSQL
	bins := buildBrokerBins(t)
	e := newBrokerEnv(t, bins)
	dsn := e.broker().Opts.DSN
	start := time.Now().Add(-time.Second)

	// Logins that fail: the Juju client with a wrong password, for admin
	// and for a user that does not exist; jimmctl login with a wrong
	// password.
	const wrongPassword, mallorysPassword = "not-the-admin-password-1", "mallory-guess-2"
	bad := e.apiInfo("")
	bad.Password = wrongPassword
	conn, err := api.Open(bad, dialOpts)
	if err == nil {
		conn.Close()
	}
	wantErr(t, "the Juju client's login as admin with a wrong password", err, params.CodeUnauthorized, "invalid entity name or password")
	bad.Tag, bad.Password = names.NewUserTag("mallory"), mallorysPassword
	conn, err = api.Open(bad, dialOpts)
	if err == nil {
		conn.Close()
	}
	wantErr(t, "the Juju client's login as mallory, who does not exist", err, params.CodeUnauthorized, "invalid entity name or password")
	wrongFile := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrongFile, []byte(wrongPassword+"-ctl\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantCtlRefusal(t, "jimmctl login with a wrong password", e.run(t, "login", "--user", "admin", "--password-file", wrongFile),
		`log in to `+e.ctl.URL+` as "admin": invalid user name or password (check the user name and password)`)
	// And that succeed: jimmctl login (which saves a session token) and
	// the Juju client.
	goodFile := filepath.Join(t.TempDir(), "good")
	if err := os.WriteFile(goodFile, []byte(brokerAdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.jimmctl(t, "login", "--user", "admin", "--password-file", goodFile)
	sessionToken := savedToken(t, e)
	// jimmctl with the saved session (not the environment's basic auth).
	withSession := *e.ctl
	withSession.User, withSession.Password = "", ""
	if res, err := withSession.Run(context.Background(), "whoami"); err != nil || res.ExitCode != 0 {
		t.Fatalf("jimmctl whoami with the saved session: %v\n%s", err, res)
	}
	conn = e.open(t, "")
	mm := modelmanager.NewClient(conn)

	// State changes: create a model, change its config through a model
	// connection, read its status (not audited), destroy it.
	info := createModel(t, e, mm, "audited", "east")
	mconn := e.open(t, info.UUID)
	setAt := time.Now()
	if err := modelconfig.NewClient(mconn).ModelSet(map[string]any{"logging-config": "<root>=DEBUG"}); err != nil {
		t.Fatalf("ModelSet through the broker: %v", err)
	}
	// Written off the request path, but promptly (in batches every
	// 200ms at most): how long it took is logged.
	pg, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	eventually(t, 30*time.Second, "ModelSet in audit_events", func() error {
		var n int
		if err := pg.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM audit_events WHERE method = 'ModelSet' AND model = $1", info.UUID).Scan(&n); err != nil {
			t.Fatalf("read audit_events: %v", err)
		}
		if n != 1 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})
	t.Logf("ModelSet in audit_events %s after the call", time.Since(setAt).Round(time.Millisecond))
	fullStatus(t, mconn)
	if err := mm.DestroyModel(names.NewModelTag(info.UUID), nil, nil, nil, nil); err != nil {
		t.Fatalf("DestroyModel: %v", err)
	}

	// Every event above reaches the log (the writer flushes in order, so
	// with the last of them the others are in too).
	wanted := []struct {
		what string
		ev   restAuditEvent
	}{
		{"the Juju client's refused login", restAuditEvent{Identity: "admin", Facade: "Admin", Method: "password", Result: "refused"}},
		{"mallory's refused login", restAuditEvent{Identity: "mallory", Facade: "Admin", Method: "password", Result: "refused"}},
		{"a successful password login", restAuditEvent{Identity: "admin", Facade: "Admin", Method: "password", Result: "ok"}},
		{"jimmctl's session-token login", restAuditEvent{Identity: "admin", Facade: "Admin", Method: "session-token", Result: "ok"}},
		{"CreateModel", restAuditEvent{Identity: "admin", Facade: "ModelManager", Method: "CreateModel", Model: info.UUID, Result: "ok"}},
		{"ModelSet", restAuditEvent{Identity: "admin", Facade: "ModelConfig", Method: "ModelSet", Model: info.UUID, Result: "ok"}},
		{"DestroyModels", restAuditEvent{Identity: "admin", Facade: "ModelManager", Method: "DestroyModels", Model: info.UUID, Result: "ok"}},
	}
	var all restAuditEvents
	destroyedAt := time.Now()
	eventually(t, 30*time.Second, "jimmctl audit list shows every event above", func() error {
		all = e.auditList(t, "--since", start.UTC().Format(time.RFC3339Nano), "--all")
		var missing []string
		for _, want := range wanted {
			if !slices.ContainsFunc(all.Events, func(ev restAuditEvent) bool { return ev.has(want.ev) }) {
				missing = append(missing, fmt.Sprintf("%s (%+v)", want.what, want.ev))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("it lacks %s", strings.Join(missing, ", "))
		}
		return nil
	})
	t.Logf("every event in audit list %s after DestroyModels", time.Since(destroyedAt).Round(time.Millisecond))
	refusedCtl := 0
	for i, ev := range all.Events {
		switch {
		case ev.Method == "FullStatus" || ev.Method == "Status" || ev.Method == "Ping" || ev.Method == "ListModels":
			t.Errorf("a read-only call is audited: %+v", ev)
		case ev.Time.IsZero() || ev.Facade == "" || ev.Result == "":
			t.Errorf("incomplete event: %+v", ev)
		case i > 0 && ev.ID >= all.Events[i-1].ID:
			t.Errorf("events not newest first: %d after %d", ev.ID, all.Events[i-1].ID)
		}
		if ev.Identity == "admin" && ev.Method == "password" && ev.Result == "refused" {
			refusedCtl++
		}
		if ev.Method == "ModelSet" && (ev.DurationMicros <= 0 || ev.Remote == "") {
			t.Errorf("ModelSet event without duration or remote: %+v", ev)
		}
	}
	if refusedCtl != 2 {
		t.Errorf("%d refused password logins of admin, want 2 (the Juju client's and jimmctl login's)", refusedCtl)
	}

	// Filters.
	byUser := e.auditList(t, "--user", "mallory")
	if len(byUser.Events) != 1 || byUser.Events[0].Result != "refused" {
		t.Errorf("--user mallory: %+v", byUser.Events)
	}
	byModel := e.auditList(t, "--model", info.UUID)
	var methods []string
	for _, ev := range byModel.Events {
		methods = append(methods, ev.Method)
	}
	if !slices.Equal(methods, []string{"DestroyModels", "ModelSet", "CreateModel"}) {
		t.Errorf("--model %s: methods %v, want DestroyModels, ModelSet, CreateModel", info.UUID, methods)
	}
	byMethod := e.auditList(t, "--method", "ModelSet")
	if len(byMethod.Events) != 1 || byMethod.Events[0].Model != info.UUID || byMethod.Events[0].Facade != "ModelConfig" {
		t.Errorf("--method ModelSet: %+v", byMethod.Events)
	}
	if none := e.auditList(t, "--until", start.UTC().Format(time.RFC3339Nano)); len(none.Events) != 0 {
		t.Errorf("--until before the test: %+v", none.Events)
	}

	// Paging: pages of 2 follow each other without gap or overlap. (The
	// model's events: every jimmctl run adds a login of its own.)
	first := e.auditList(t, "--model", info.UUID, "--limit", "2")
	if len(first.Events) != 2 || first.Next == "" {
		t.Fatalf("--limit 2: %+v", first)
	}
	second := e.auditList(t, "--model", info.UUID, "--limit", "2", "--after", first.Next)
	if len(second.Events) != 1 || second.Next != "" {
		t.Fatalf("--after %s: %+v, want the last event and no next page", first.Next, second)
	}
	if got := append(first.Events, second.Events...); !slices.EqualFunc(got, byModel.Events, func(a, b restAuditEvent) bool { return a.ID == b.ID }) {
		t.Fatalf("two pages %v differ from one %v", got, byModel.Events)
	}
	tab := e.jimmctl(t, "audit", "list", "--model", info.UUID, "--limit", "2")
	if !strings.Contains(tab, "--after "+first.Next) || !strings.Contains(tab, "ModelSet") {
		t.Errorf("the tabular list does not name the next page's cursor %s:\n%s", first.Next, tab)
	}

	// No row holds a secret.
	secrets := e.secrets()
	for s, what := range map[string]string{
		brokerAdminPassword: "the broker admin's password", adminPassword: "the controllers' admin password",
		wrongPassword: "a wrong password", mallorysPassword: "mallory's password", sessionToken: "jimmctl's session token",
	} {
		secrets[s] = what
	}
	n := e.scanAuditForSecrets(t, secrets)
	if n < 10 {
		t.Errorf("only %d rows in audit_events", n)
	}
}

// scanAuditForSecrets reads every audit_events row of the broker's
// database and fails the test for each that holds one of secrets (value →
// what it is). It returns the number of rows.
func (e *brokerEnv) scanAuditForSecrets(t *testing.T, secrets map[string]string) int {
	t.Helper()
	pg, err := sql.Open("pgx", e.broker().Opts.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	rows, err := pg.QueryContext(t.Context(), "SELECT id, time::text, identity, remote, model, facade, method, result, error, duration_us::text FROM audit_events")
	if err != nil {
		t.Fatalf("read audit_events: %v", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		cols := make([]string, 10)
		ptrs := make([]any, len(cols))
		for i := range cols {
			ptrs[i] = &cols[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		n++
		row := strings.Join(cols, " | ")
		for s, what := range secrets {
			if s != "" && strings.Contains(row, s) {
				t.Errorf("audit_events row holds %s: %s", what, row)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// savedToken is the session token jimmctl login saved.
func savedToken(t *testing.T, e *brokerEnv) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.ctl.ConfigDir, "jimmctl", "config.yaml"))
	if err != nil {
		t.Fatalf("jimmctl's saved config: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "token:"); ok {
			if tok, err := strconv.Unquote(strings.TrimSpace(v)); err == nil {
				return tok
			}
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no token in jimmctl's saved config:\n%s", raw)
	return ""
}

// TestAuditRESTTypes checks the mirror of restapi.AuditEvent.
func TestAuditRESTTypes(t *testing.T) {
	t.Parallel()
	checkMirrors(t, "audit.go", map[string]any{"AuditEvent": restAuditEvent{}})
}
