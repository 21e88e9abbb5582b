package broker

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// TestRESTQueryModels drives POST /v1/query-models in process, on
// PostgreSQL and SQLite: expressions that do not compile are refused, and
// each caller queries exactly the models it may read, learning nothing of
// their controllers unless it is a broker administrator. The controllers
// are unreachable here (integration's TestFleetQuery has real ones): each
// model's result is its controller's error.
func TestRESTQueryModels(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { testRESTQueryModels(t, dbtest.DSN(t)) })
	t.Run("sqlite", func(t *testing.T) { testRESTQueryModels(t, "") })
}

func testRESTQueryModels(t *testing.T, dsn string) {
	s := startReplica(t, dsn, authz.GenerateKey())
	ctx := t.Context()
	ctlA := &db.Controller{Name: "ctl-a", UUID: "ctl-a-uuid", Addresses: []string{"127.0.0.1:1"}, Regions: []string{"r"}, AdminPassword: []byte{0}}
	ctlB := &db.Controller{Name: "ctl-b", UUID: "ctl-b-uuid", Addresses: []string{"127.0.0.1:1"}, Regions: []string{"r"}, AdminPassword: []byte{0}}
	for _, c := range []*db.Controller{ctlA, ctlB} {
		if err := s.db.WithContext(ctx).Create(c).Error; err != nil {
			t.Fatal(err)
		}
	}
	const (
		m1 = "0b8f8c2e-3d5a-4c55-9a55-2f0f3b1f7a11"
		m2 = "0b8f8c2e-3d5a-4c55-9a55-2f0f3b1f7a12"
		m3 = "0b8f8c2e-3d5a-4c55-9a55-2f0f3b1f7a13"
	)
	for _, m := range []*db.Model{
		{UUID: m1, Name: "one", Owner: "admin", ControllerID: ctlA.ID, Cloud: "c", Region: "r", Life: db.LifeAlive},
		{UUID: m2, Name: "two", Owner: "admin", ControllerID: ctlA.ID, Cloud: "c", Region: "r", Life: db.LifeAlive},
		{UUID: m3, Name: "three", Owner: "admin", ControllerID: ctlB.ID, Cloud: "c", Region: "r", Life: db.LifeAlive},
	} {
		if err := s.db.WithContext(ctx).Create(m).Error; err != nil {
			t.Fatal(err)
		}
	}
	// bob reads one; carol administers three through a group; dave, ctl-a's
	// administrator, administers one and two; erin has nothing.
	if err := s.rel.Add(ctx, authz.Tuple{Subject: "user:bob@example.com", Relation: authz.Reader, Object: "model:" + m1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rel.Groups().AddGroup(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if err := s.rel.Groups().AddMember(ctx, "ops", "user:carol@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.rel.Add(ctx, authz.Tuple{Subject: "group:ops#member", Relation: authz.Administrator, Object: "model:" + m3}); err != nil {
		t.Fatal(err)
	}
	if err := s.rel.Add(ctx, authz.Tuple{Subject: "user:dave@example.com", Relation: authz.Administrator, Object: "controller:ctl-a"}); err != nil {
		t.Fatal(err)
	}
	session := func(name string) auth {
		a, _ := bearer(t, s, name)
		return a
	}
	query := func(who auth, expr string) (int, string) {
		t.Helper()
		return rest(t, s, who, http.MethodPost, restapi.PathQueryModels, restapi.QueryModelsRequest{Query: expr})
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name, expr, want string
		}{
			{"syntax error", ".applications[", `"error":"bad jq expression: unexpected EOF`},
			{"unknown function", ".applications | nosuchfn", `"error":"bad jq expression: function not defined: nosuchfn/0"`},
			{"empty", "  ", `"error":"bad jq expression: the expression is empty`},
			{"module", `import "x" as x; .`, `"error":"bad jq expression: `},
			{"control character", ".model\x00", `"error":"bad query`},
		} {
			status, body := query(basicAdmin, tc.expr)
			if status != http.StatusBadRequest || !strings.Contains(body, tc.want) || !strings.Contains(body, `"code":"bad request"`) {
				t.Errorf("%s: %q gave %d %s; want 400 bad request with %s", tc.name, tc.expr, status, body, tc.want)
			}
		}
		status, body := rest(t, s, basicAdmin, http.MethodPost, restapi.PathQueryModels, map[string]int{"query": 1})
		if status != http.StatusBadRequest || !strings.Contains(body, "query models: expected JSON") {
			t.Errorf("a query that is not a string: %d %s", status, body)
		}
		status, body = rest(t, s, basicAdmin, http.MethodGet, restapi.PathQueryModels, nil)
		if status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d %s, want 405", restapi.PathQueryModels, status, body)
		}
		status, _ = rest(t, s, func(*http.Request) {}, http.MethodPost, restapi.PathQueryModels, restapi.QueryModelsRequest{Query: "."})
		if status != http.StatusUnauthorized {
			t.Errorf("an unauthenticated query: %d, want 401", status)
		}
	})

	decode := func(t *testing.T, who string, status int, body string) restapi.QueryModelsResult {
		t.Helper()
		if status != http.StatusOK {
			t.Fatalf("%s's query: %d %s", who, status, body)
		}
		var res restapi.QueryModelsResult
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&res); err != nil {
			t.Fatalf("%s's query: %v\n%s", who, err, body)
		}
		return res
	}
	uuids := func(res restapi.QueryModelsResult) []string {
		var out []string
		for uuid := range res.Models {
			out = append(out, uuid)
		}
		slices.Sort(out)
		return out
	}

	t.Run("admin sees every model and its controller", func(t *testing.T) {
		status, body := query(basicAdmin, ".model.uuid")
		res := decode(t, "admin", status, body)
		if got := uuids(res); !slices.Equal(got, []string{m1, m2, m3}) {
			t.Fatalf("admin queried %v, want every model", got)
		}
		want := map[string]struct{ name, ctl string }{m1: {"one", "ctl-a"}, m2: {"two", "ctl-a"}, m3: {"three", "ctl-b"}}
		for uuid, m := range res.Models {
			w := want[uuid]
			if m.Name != w.name || m.Owner != "admin" || m.Controller != w.ctl || len(m.Outputs) != 0 {
				t.Errorf("admin's result for %s: %+v, want %s of admin on %s, no output", uuid, m, w.name, w.ctl)
			}
			if !strings.HasPrefix(m.Error, "controller "+w.ctl+" cannot be reached") {
				t.Errorf("admin's error for %s: %q, want it to say that %s cannot be reached", uuid, m.Error, w.ctl)
			}
		}
	})

	for _, tc := range []struct {
		who  string
		want []string
	}{
		{"bob@example.com", []string{m1}},
		{"carol@example.com", []string{m3}},
		{"dave@example.com", []string{m1, m2}},
		{"erin@example.com", nil},
	} {
		t.Run(tc.who+" sees only what they may read", func(t *testing.T) {
			status, body := query(session(tc.who), ".model.uuid")
			res := decode(t, tc.who, status, body)
			if got := uuids(res); !slices.Equal(got, tc.want) {
				t.Fatalf("%s queried %v, want %v", tc.who, got, tc.want)
			}
			for uuid, m := range res.Models {
				if m.Controller != "" || strings.Contains(m.Error, "ctl-") || strings.Contains(m.Error, "127.0.0.1") {
					t.Errorf("%s's result for %s reveals its controller: %+v", tc.who, uuid, m)
				}
				if m.Error != "the controller hosting this model cannot be reached; try again later" {
					t.Errorf("%s's error for %s: %q", tc.who, uuid, m.Error)
				}
			}
		})
	}
}
