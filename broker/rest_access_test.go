package broker

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// TestRESTAccessAPI drives the groups and relations API end to end, in
// process, on PostgreSQL and SQLite: who may do what, and how errors map
// to statuses.
func TestRESTAccessAPI(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { testRESTAccessAPI(t, dbtest.DSN(t)) })
	t.Run("sqlite", func(t *testing.T) { testRESTAccessAPI(t, "") })
}

func testRESTAccessAPI(t *testing.T, dsn string) {
	s := startReplica(t, dsn, authz.GenerateKey())
	ctx := t.Context()
	do := func(who auth, method, path string, body any) (int, string) {
		t.Helper()
		return rest(t, s, who, method, path, body)
	}
	admin := basicAdmin
	session := func(name string) auth {
		a, _ := bearer(t, s, name)
		return a
	}
	bob, carol, dave := session("bob@example.com"), session("carol@example.com"), session("dave@example.com")

	ctl := &db.Controller{Name: "ctl", UUID: "ctl-uuid", Addresses: []string{"127.0.0.1:1"}, Regions: []string{"r"}, AdminPassword: []byte{0}}
	if err := s.db.WithContext(ctx).Create(ctl).Error; err != nil {
		t.Fatal(err)
	}
	const modelUUID = "0b8f8c2e-3d5a-4c55-9a55-2f0f3b1f7a10"
	m := &db.Model{UUID: modelUUID, Name: "m", Owner: "admin", ControllerID: ctl.ID, Cloud: "c", Region: "r", Life: "alive"}
	if err := s.db.WithContext(ctx).Create(m).Error; err != nil {
		t.Fatal(err)
	}
	model := "model:" + modelUUID
	check := func(who auth, subject, relation, object string) (int, string) {
		t.Helper()
		q := url.Values{"subject": {subject}, "relation": {relation}, "object": {object}}
		return do(who, http.MethodGet, restapi.PathRelationsCheck+"?"+q.Encode(), nil)
	}

	steps := []struct {
		name       string
		who        auth
		method     string
		path       string
		body       any
		wantStatus int
		wantBody   string // a substring
	}{
		{"groups are for admins", bob, http.MethodGet, restapi.PathGroups, nil, http.StatusForbidden, "broker administrator"},
		{"add group", admin, http.MethodPost, restapi.PathGroups, restapi.AddGroupRequest{Name: "ops"}, http.StatusCreated, `"name":"ops"`},
		{"add it again", admin, http.MethodPost, restapi.PathGroups, restapi.AddGroupRequest{Name: "ops"}, http.StatusConflict, `already exists`},
		{"bad group name", admin, http.MethodPost, restapi.PathGroups, restapi.AddGroupRequest{Name: "no spaces"}, http.StatusBadRequest, `bad group name`},
		{"non-admin adds a group", bob, http.MethodPost, restapi.PathGroups, restapi.AddGroupRequest{Name: "mine"}, http.StatusForbidden, `adding a group`},
		{"list groups", admin, http.MethodGet, restapi.PathGroups, nil, http.StatusOK, `"name":"ops"`},
		{"bare subject", admin, http.MethodPost, restapi.PathGroup + "ops" + restapi.PathMembers, restapi.GroupMemberRequest{Subject: "bob@example.com"}, http.StatusBadRequest, `did you mean user:bob@example.com`},
		{"member of a missing group", admin, http.MethodPost, restapi.PathGroup + "nope" + restapi.PathMembers, restapi.GroupMemberRequest{Subject: "user:bob@example.com"}, http.StatusNotFound, `group \"nope\" not found`},
		{"add member", admin, http.MethodPost, restapi.PathGroup + "ops" + restapi.PathMembers, restapi.GroupMemberRequest{Subject: "user:bob@example.com"}, http.StatusNoContent, ""},
		{"group administers the model", admin, http.MethodPost, restapi.PathRelations, restapi.Relation{Subject: "group:ops#member", Relation: authz.Administrator, Object: model}, http.StatusNoContent, ""},
		{"relation that does not apply", admin, http.MethodPost, restapi.PathRelations, restapi.Relation{Subject: "user:carol@example.com", Relation: authz.Writer, Object: "cloud:c"}, http.StatusBadRequest, `does not apply to cloud`},
		{"model admin grants on the model", bob, http.MethodPost, restapi.PathRelations, restapi.Relation{Subject: "user:carol@example.com", Relation: authz.Reader, Object: model}, http.StatusNoContent, ""},
		{"model admin grants on a cloud", bob, http.MethodPost, restapi.PathRelations, restapi.Relation{Subject: "user:carol@example.com", Relation: authz.CanAddModel, Object: "cloud:c"}, http.StatusForbidden, `administrator access to it`},
		{"model admin grants on the broker", bob, http.MethodPost, restapi.PathRelations, restapi.Relation{Subject: "user:bob@example.com", Relation: authz.Administrator, Object: identity.BrokerObject}, http.StatusForbidden, `controller:jimm`},
		{"grant on an unknown model", bob, http.MethodPost, restapi.PathRelations, restapi.Relation{Subject: "user:carol@example.com", Relation: authz.Reader, Object: "model:11111111-2222-4333-8444-555555555555"}, http.StatusForbidden, ``},
		{"reader cannot grant", carol, http.MethodPost, restapi.PathRelations, restapi.Relation{Subject: "user:dave@example.com", Relation: authz.Reader, Object: model}, http.StatusForbidden, ``},
		{"controller admin", admin, http.MethodPost, restapi.PathRelations, restapi.Relation{Subject: "user:dave@example.com", Relation: authz.Administrator, Object: "controller:ctl"}, http.StatusNoContent, ""},
		{"own relations", carol, http.MethodGet, restapi.PathRelations + "?subject=user:carol@example.com", nil, http.StatusOK, `[{"subject":"user:carol@example.com","relation":"reader","object":"` + model + `"}]`},
		{"others' relations", carol, http.MethodGet, restapi.PathRelations, nil, http.StatusForbidden, `subject=user:carol@example.com`},
		{"list by object", admin, http.MethodGet, restapi.PathRelations + "?object=" + model, nil, http.StatusOK, `"subject":"group:ops#member"`},
		{"list with a limit", admin, http.MethodGet, restapi.PathRelations + "?limit=1&offset=1", nil, http.StatusOK, `[{"subject":"group:ops#member","relation":"administrator","object":"` + model + `"}]`},
		{"bad limit", admin, http.MethodGet, restapi.PathRelations + "?limit=many", nil, http.StatusBadRequest, `bad limit`},
		{"bad object", admin, http.MethodGet, restapi.PathRelations + "?object=" + modelUUID, nil, http.StatusBadRequest, `objects are`},
		{"rename group", admin, http.MethodPut, restapi.PathGroup + "ops", restapi.RenameGroupRequest{Name: "sre"}, http.StatusOK, `"name":"sre"`},
		{"rename a missing group", admin, http.MethodPut, restapi.PathGroup + "ops", restapi.RenameGroupRequest{Name: "x"}, http.StatusNotFound, `group \"ops\" not found`},
		{"relations follow the rename", admin, http.MethodGet, restapi.PathRelations + "?subject=" + url.QueryEscape("group:sre#member"), nil, http.StatusOK, `"object":"` + model},
		{"remove relation by query", admin, http.MethodDelete, restapi.PathRelations + "?subject=user:carol@example.com&relation=reader&object=" + model, nil, http.StatusNoContent, ""},
		{"remove it again", admin, http.MethodDelete, restapi.PathRelations, restapi.Relation{Subject: "user:carol@example.com", Relation: authz.Reader, Object: model}, http.StatusNotFound, `not found`},
		{"remove member", admin, http.MethodDelete, restapi.PathGroup + "sre" + restapi.PathMembers + "?subject=user:bob@example.com", nil, http.StatusNoContent, ""},
		{"remove a non-member", admin, http.MethodDelete, restapi.PathGroup + "sre" + restapi.PathMembers + "?subject=user:bob@example.com", nil, http.StatusNotFound, `not found`},
		{"remove group", admin, http.MethodDelete, restapi.PathGroup + "sre", nil, http.StatusNoContent, ""},
		{"its relations went with it", admin, http.MethodGet, restapi.PathRelations + "?object=" + model, nil, http.StatusOK, `[]`},
		{"remove a missing group", admin, http.MethodDelete, restapi.PathGroup + "sre", nil, http.StatusNotFound, `group \"sre\" not found`},
	}
	for _, st := range steps {
		status, body := do(st.who, st.method, st.path, st.body)
		if status != st.wantStatus || !strings.Contains(body, st.wantBody) {
			t.Fatalf("%s: %s %s: %d %s, want %d with %q", st.name, st.method, st.path, status, body, st.wantStatus, st.wantBody)
		}
	}

	// Checks: bob was a member of ops, which administered the model; now
	// neither. dave administers the model's controller.
	checks := []struct {
		name                      string
		who                       auth
		subject, relation, object string
		wantStatus                int
		wantBody                  string
	}{
		{"controller admin administers its models", dave, "user:dave@example.com", authz.Reader, model, http.StatusOK, `{"allowed":true}`},
		{"bob no longer", bob, "user:bob@example.com", authz.Writer, model, http.StatusOK, `{"allowed":false}`},
		{"not someone else's", bob, "user:dave@example.com", authz.Writer, model, http.StatusForbidden, `you may check your own`},
		{"admin checks anyone", admin, "user:dave@example.com", authz.Administrator, model, http.StatusOK, `{"allowed":true}`},
		{"bootstrap admin", admin, "user:admin", authz.AuditLogViewer, identity.BrokerObject, http.StatusOK, `{"allowed":true}`},
		{"bad relation", admin, "user:dave@example.com", "owner", model, http.StatusBadRequest, `relation \"owner\" does not apply`},
		{"missing group", admin, "group:nope#member", authz.Reader, model, http.StatusNotFound, `group \"nope\" not found`},
	}
	for _, c := range checks {
		status, body := check(c.who, c.subject, c.relation, c.object)
		if status != c.wantStatus || !strings.Contains(body, c.wantBody) {
			t.Errorf("%s: check %s %s %s: %d %s, want %d with %q", c.name, c.subject, c.relation, c.object, status, body, c.wantStatus, c.wantBody)
		}
	}
}
