package broker

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// TestRESTAuditAccess: GET /v1/audit answers an administrator and an
// audit_log_viewer, and refuses anyone else with 403; writes through the
// REST API are audited.
func TestRESTAuditAccess(t *testing.T) {
	d := dbtest.PostgreSQL(t)
	s := startReplica(t, d.DSN(), authz.GenerateKey())
	do := func(method, path string, who auth) (int, []byte) {
		t.Helper()
		status, body := rest(t, s, who, method, path, restapi.SetDeprecatedRequest{Deprecated: true})
		return status, []byte(body)
	}
	get := func(path string, who auth) (int, []byte) {
		t.Helper()
		status, body := rest(t, s, who, http.MethodGet, path, nil)
		return status, []byte(body)
	}
	admin := basicAdmin
	var tokens []string
	session := func(name string) auth {
		a, tok := bearer(t, s, name)
		tokens = append(tokens, tok)
		return a
	}
	bob, carol := session("bob@example.com"), session("carol@example.com")
	if err := s.rel.Add(t.Context(), authz.Tuple{Subject: "user:carol@example.com", Relation: authz.AuditLogViewer, Object: "controller:" + authz.BrokerController}); err != nil {
		t.Fatal(err)
	}

	status, body := get(restapi.PathAudit+"?user=admin&method=password", admin)
	if status != http.StatusOK {
		t.Fatalf("admin: %d %s", status, body)
	}
	status, body = get(restapi.PathAudit, bob)
	if status != http.StatusForbidden || !strings.Contains(string(body), "audit_log_viewer") {
		t.Fatalf("bob (no relation): %d %s, want 403 naming audit_log_viewer", status, body)
	}
	status, body = get(restapi.PathAudit, carol)
	if status != http.StatusOK {
		t.Fatalf("carol (audit_log_viewer): %d %s", status, body)
	}
	status, body = get(restapi.PathAudit+"?since=yesterday", admin)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "RFC 3339") {
		t.Fatalf("bad since: %d %s", status, body)
	}
	status, _ = get(restapi.PathAudit+"?limit=5000", admin)
	if status != http.StatusBadRequest {
		t.Fatalf("limit over the bound: %d", status)
	}

	// The logins are in the log, within the flush interval, with no
	// password.
	var page restapi.AuditEvents
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, body = get(restapi.PathAudit+"?method=session-token", admin)
		page = restapi.AuditEvents{}
		json.Unmarshal(body, &page)
		if len(page.Events) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	who := map[string]bool{}
	for _, ev := range page.Events {
		who[ev.Identity] = true
		if ev.Facade != "Admin" || ev.Result != "ok" {
			t.Errorf("session login event: %+v", ev)
		}
	}
	if !who["bob@example.com"] || !who["carol@example.com"] {
		t.Fatalf("session-token logins of bob and carol not audited: %s", body)
	}
	for _, secret := range append(tokens, `"pw"`) {
		if strings.Contains(string(body), secret) {
			t.Fatalf("the audit log holds a credential: %s", body)
		}
	}

	// A write through the REST API is audited with its result; a read is
	// not.
	if status, body := do(http.MethodPut, restapi.PathController+"ctl-nope"+restapi.PathDeprecated, admin); status != http.StatusNotFound {
		t.Fatalf("deprecate an unknown controller: %d %s", status, body)
	}
	deadline = time.Now().Add(3 * time.Second)
	for {
		_, body = get(restapi.PathAudit+"?user=admin&limit=1000", admin)
		page = restapi.AuditEvents{}
		json.Unmarshal(body, &page)
		found := false
		for _, ev := range page.Events {
			if ev.Facade == "REST" && ev.Method == "PUT /v1/controllers/ctl-nope/deprecated" && ev.Result == restapi.CodeNotFound && ev.Identity == "admin" {
				found = true
			}
			if ev.Facade == "REST" && strings.HasPrefix(ev.Method, "GET ") {
				t.Fatalf("a REST read was audited: %+v", ev)
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the REST write is not in the audit log: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
