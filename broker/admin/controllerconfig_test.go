package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/brokertest"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/devcontroller"
	"github.com/jimmbroker/jimm/jujuapi"
)

const ctlPassword = "controller-admin-password"

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// configEnv is the admin API over one real, in-process development
// controller (ctl-a), registered, with the audit log on SQLite.
type configEnv struct {
	p     *brokertest.Parts
	e     *echo.Echo
	audit *audit.Log
	logs  *syncBuffer
	ctl   *devcontroller.Controller
	stop  func() // stops ctl-a
	bob   string // a session token of bob@example.com, no administrator
}

func newConfigEnv(t *testing.T) *configEnv {
	t.Helper()
	ctx := t.Context()
	p := brokertest.New(t)
	env := &configEnv{p: p, logs: &syncBuffer{}}
	reg := controllers.NewRegistry(p.DB, p.Cipher, brokertest.Quiet)
	pool := controllers.NewPool(reg.Resolve, jujuapi.ConnOptions{}, brokertest.Quiet)
	t.Cleanup(pool.Close)
	c, err := devcontroller.New(ctx, devcontroller.Config{Name: "ctl-a", Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		Cloud: "localhost", CloudType: "lxd", Regions: []string{"r1"}, AdminPassword: ctlPassword, Logger: brokertest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Serve(sctx) }()
	env.ctl = c
	env.stop = sync.OnceFunc(func() { stop(); <-done })
	t.Cleanup(env.stop)
	if _, err := reg.Add(ctx, controllers.AddRequest{Name: "ctl-a", UUID: c.UUID(), Addresses: []string{c.Addr()}, CACert: string(c.CACertPEM()),
		AdminUser: "admin", AdminPassword: ctlPassword}); err != nil {
		t.Fatal(err)
	}
	env.audit = audit.New(p.DB, brokertest.Quiet, prometheus.NewRegistry())
	go env.audit.Run()
	t.Cleanup(func() { env.audit.Close(context.Background()) })
	logger := slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := New(Deps{DB: p.DB, Identity: p.IDs, Relations: p.Rel, Registry: reg, Pool: pool, Audit: env.audit, Logger: logger})
	env.e = echo.New()
	a.Mount(env.e)
	if env.bob, _, err = p.IDs.NewSession(ctx, &identity.Identity{Name: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	return env
}

// do sends a request as the bootstrap admin (as bob when bob is set),
// with body as it is, and returns the status and body.
func (env *configEnv) do(t *testing.T, method, path, body string, bob bool) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", restapi.ContentTypeJSON)
	if bob {
		r.Header.Set("Authorization", restapi.BearerAuthScheme+" "+env.bob)
	} else {
		r.SetBasicAuth("admin", brokertest.AdminPassword)
	}
	w := httptest.NewRecorder()
	env.e.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// wantError fails the test unless the answer is the error msg with code
// under status.
func wantError(t *testing.T, what string, status int, body string, wantStatus int, code, msg string) {
	t.Helper()
	var e restapi.Error
	if err := json.Unmarshal([]byte(body), &e); err != nil || status != wantStatus || e.Code != code || e.Message != msg {
		t.Errorf("%s: HTTP %d %s\nwant HTTP %d, code %q, error %q", what, status, body, wantStatus, code, msg)
	}
}

// auditEvents closes the audit log (writing what is queued) and returns
// every event, oldest first.
func (env *configEnv) auditEvents(t *testing.T) []db.AuditEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	env.audit.Close(ctx)
	rows, _, err := env.p.DB.AuditEvents(t.Context(), db.AuditFilter{Limit: db.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

const configPath = restapi.PathController + "ctl-a" + restapi.PathConfig

func TestControllerConfig(t *testing.T) {
	env := newConfigEnv(t)

	// Read: what the controller reports.
	status, body := env.do(t, http.MethodGet, configPath, "", false)
	var got restapi.ControllerConfig
	if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil {
		t.Fatalf("GET: HTTP %d %s", status, body)
	}
	if got.Controller != "ctl-a" || got.Config["controller-uuid"] != env.ctl.UUID() || got.Config["agent-ratelimit-max"] != 10.0 ||
		got.Config["agent-ratelimit-rate"] != "250ms" || got.Config["migration-agent-wait-time"] != "15m0s" {
		t.Errorf("GET: %+v; want ctl-a's UUID and Juju's defaults", got)
	}

	// Set: answered with the config read back, and set on the controller
	// itself.
	const secretish = "hunter2-not-a-duration"
	status, body = env.do(t, http.MethodPatch, configPath,
		`{"config": {"agent-ratelimit-max": 50, "agent-ratelimit-rate": "100ms", "migration-agent-wait-time": "30m"}}`, false)
	got = restapi.ControllerConfig{}
	if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil {
		t.Fatalf("PATCH: HTTP %d %s", status, body)
	}
	if got.Controller != "ctl-a" || got.Config["agent-ratelimit-max"] != 50.0 || got.Config["agent-ratelimit-rate"] != "100ms" ||
		got.Config["migration-agent-wait-time"] != "30m0s" || got.Config["controller-uuid"] != env.ctl.UUID() {
		t.Errorf("PATCH answered %+v; want the whole config with the new values", got)
	}
	direct, err := controllers.Connect(t.Context(), controllers.Endpoint{Name: "ctl-a", Addresses: []string{env.ctl.Addr()}, CACert: string(env.ctl.CACertPEM())},
		controllers.Credentials{User: "admin", Password: ctlPassword}, jujuapi.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	onCtl, err := direct.ControllerConfig(t.Context())
	if err != nil || onCtl["agent-ratelimit-max"] != 50.0 || onCtl["agent-ratelimit-rate"] != "100ms" || onCtl["migration-agent-wait-time"] != "30m0s" {
		t.Errorf("ctl-a itself reports %v, %v; want the values set through the broker", onCtl, err)
	}

	// The controller's refusals, passed on with its code, naming it.
	status, body = env.do(t, http.MethodPatch, configPath, `{"config": {"agent-ratelimit-rate": "2m"}}`, false)
	wantError(t, "a rate over 1m", status, body, http.StatusBadRequest, jujuapi.CodeNotValid,
		`controller "ctl-a" refused to set agent-ratelimit-rate: agent-ratelimit-rate must be between 0..1m`)
	status, body = env.do(t, http.MethodPatch, configPath, `{"config": {"agent-ratelimit-rate": "`+secretish+`"}}`, false)
	wantError(t, "a rate that is no duration", status, body, http.StatusBadRequest, jujuapi.CodeNotValid,
		`controller "ctl-a" refused to set agent-ratelimit-rate: agent-ratelimit-rate: "`+secretish+`" is not a duration`)
	status, body = env.do(t, http.MethodPatch, configPath, `{"config": {"audit-log-max-backups": 3}}`, false)
	wantError(t, "a key the controller does not take", status, body, http.StatusBadRequest, jujuapi.CodeNotSupported,
		`controller "ctl-a" refused to set audit-log-max-backups: controller config "audit-log-max-backups" cannot be set on a development controller (it knows agent-ratelimit-max, agent-ratelimit-rate, migration-agent-wait-time)`)
	if cfg, err := direct.ControllerConfig(t.Context()); err != nil || cfg["agent-ratelimit-rate"] != "100ms" {
		t.Errorf("after the refusals ctl-a reports %v, %v; want the rate unchanged", cfg, err)
	}

	// The broker's own refusals.
	for _, tc := range []struct {
		what, method, path, body string
		bob                      bool
		status                   int
		code, msg                string
	}{
		{"no key", http.MethodPatch, configPath, `{"config": {}}`, false, http.StatusBadRequest, restapi.CodeBadRequest,
			`set controller config: expected JSON {"config": {"key": value, ...}}: no key given`},
		{"not JSON", http.MethodPatch, configPath, `agent-ratelimit-max=5`, false, http.StatusBadRequest, restapi.CodeBadRequest,
			`set controller config: expected JSON {"config": {"key": value, ...}}`},
		{"a null value", http.MethodPatch, configPath, `{"config": {"agent-ratelimit-max": null}}`, false, http.StatusBadRequest, restapi.CodeBadRequest,
			`set controller config of "ctl-a": key "agent-ratelimit-max" has no value (null)`},
		{"a bad key", http.MethodPatch, configPath, `{"config": {"a key": 1}}`, false, http.StatusBadRequest, restapi.CodeBadRequest,
			`bad controller config key "a key": want letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"unknown controller", http.MethodGet, restapi.PathController + "ctl-x" + restapi.PathConfig, "", false, http.StatusNotFound, restapi.CodeNotFound,
			`not found: controller "ctl-x" is not registered`},
		{"unknown controller, set", http.MethodPatch, restapi.PathController + "ctl-x" + restapi.PathConfig, `{"config": {"agent-ratelimit-max": 5}}`, false,
			http.StatusNotFound, restapi.CodeNotFound, `not found: controller "ctl-x" is not registered`},
		{"bob reads", http.MethodGet, configPath, "", true, http.StatusForbidden, restapi.CodeForbidden, "this needs broker administrator access"},
		{"bob sets", http.MethodPatch, configPath, `{"config": {"agent-ratelimit-max": 5}}`, true, http.StatusForbidden, restapi.CodeForbidden,
			"this needs broker administrator access"},
	} {
		status, body := env.do(t, tc.method, tc.path, tc.body, tc.bob)
		wantError(t, tc.what, status, body, tc.status, tc.code, tc.msg)
	}

	// A controller that is down: 503 naming it.
	env.stop()
	for _, tc := range []struct{ method, body string }{{http.MethodGet, ""}, {http.MethodPatch, `{"config": {"agent-ratelimit-max": 5}}`}} {
		status, body := env.do(t, tc.method, configPath, tc.body, false)
		var e restapi.Error
		json.Unmarshal([]byte(body), &e)
		if status != http.StatusServiceUnavailable || e.Code != restapi.CodeUnavailable || !strings.HasPrefix(e.Message, `controller "ctl-a" is unavailable: `) {
			t.Errorf("%s with ctl-a down: HTTP %d %s; want 503 saying ctl-a is unavailable", tc.method, status, body)
		}
	}

	// The audit log: each write, with the controller and the keys, never
	// a value; no read.
	events := env.auditEvents(t)
	type ev struct{ identity, method, result string }
	var writes []ev
	for _, e := range events {
		if e.Facade != "REST" {
			continue
		}
		if strings.HasPrefix(e.Method, "GET ") {
			t.Errorf("a read was audited: %+v", e)
		}
		writes = append(writes, ev{e.Identity, e.Method, e.Result})
		for _, v := range []string{secretish, "100ms", "30m"} {
			if strings.Contains(e.Error, v) || strings.Contains(e.Method, v) {
				t.Errorf("audit event %+v holds the value %q", e, v)
			}
		}
	}
	const m = "PATCH " + configPath
	want := []ev{
		{"admin", m + " keys=agent-ratelimit-max,agent-ratelimit-rate,migration-agent-wait-time", "ok"},
		{"admin", m + " keys=agent-ratelimit-rate", jujuapi.CodeNotValid},
		{"admin", m + " keys=agent-ratelimit-rate", jujuapi.CodeNotValid},
		{"admin", m + " keys=audit-log-max-backups", jujuapi.CodeNotSupported},
		{"admin", m, restapi.CodeBadRequest},
		{"admin", m, restapi.CodeBadRequest},
		{"admin", m, restapi.CodeBadRequest},
		{"admin", m, restapi.CodeBadRequest},
		{"admin", "PATCH " + restapi.PathController + "ctl-x" + restapi.PathConfig + " keys=agent-ratelimit-max", restapi.CodeNotFound},
		{"bob@example.com", m, restapi.CodeForbidden},
		{"admin", m + " keys=agent-ratelimit-max", restapi.CodeUnavailable},
	}
	if len(writes) != len(want) {
		t.Fatalf("audited writes:\n%v\nwant:\n%v", writes, want)
	}
	for i := range want {
		if writes[i] != want[i] {
			t.Errorf("audited write %d: %+v, want %+v", i, writes[i], want[i])
		}
	}
	for _, e := range events {
		if e.Method == m+" keys=agent-ratelimit-rate" && e.Result == jujuapi.CodeNotValid && strings.Contains(e.Error, "is not a duration") &&
			!strings.Contains(e.Error, `"`+redactedMark+`" is not a duration`) {
			t.Errorf("the refusal of the value that is no duration was audited as %q; want the value redacted", e.Error)
		}
	}
	if logs := env.logs.String(); strings.Contains(logs, secretish) || strings.Contains(logs, "100ms") || !strings.Contains(logs, "controller config changed") {
		t.Errorf("the broker's log holds a value, or not the change:\n%s", logs)
	}
}

func TestRedactValues(t *testing.T) {
	redact := redactValues(map[string]any{
		"a": "s3cret-token",
		"b": "1m", // too short to hold a secret: left
		"c": []any{"in-a-list", 5.0},
		"d": map[string]any{"x": `with "quotes"`},
		"e": "s3cret-token-longer",
	})
	for _, tc := range []struct{ in, want string }{
		{`a: "s3cret-token" is not valid`, `a: "[redacted]" is not valid`},
		{`e: s3cret-token-longer!`, `e: [redacted]!`},
		{`b must be between 0..1m`, `b must be between 0..1m`},
		{`bad entry in-a-list`, `bad entry [redacted]`},
		{`d: "with \"quotes\""`, `d: "[redacted]"`},
		{`d: with "quotes"`, `d: [redacted]`},
	} {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
