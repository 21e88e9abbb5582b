package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/restapi"
)

func TestBodyLimitAndMethods(t *testing.T) {
	a := New(Deps{Limits: Limits{MaxBody: 1000, MaxBodyUnauthenticated: 100}})
	e := echo.New()
	a.Mount(e)
	do := func(method, path, body string, chunked bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if chunked {
			r.ContentLength = -1
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w
	}
	big := `{"user":"` + strings.Repeat("x", 5000) + `"}`
	for _, chunked := range []bool{false, true} {
		w := do(http.MethodPost, restapi.PathLogin, big, chunked)
		var body restapi.Error
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusRequestEntityTooLarge || body.Code != restapi.CodeTooLarge || w.Body.Len() > 200 {
			t.Errorf("login with a 5 KB body (chunked %v): %d %s", chunked, w.Code, w.Body)
		}
	}
	// A wrong method: 405 with Allow, for public and authenticated paths.
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, restapi.PathLogin, "POST"},
		{http.MethodPatch, "/v1/controllers", "GET"},
		{http.MethodPost, "/v1/controllers/c1", "DELETE"},
		{http.MethodGet, "/v1/groups/ops/members", "POST"},
	} {
		w := do(tc.method, tc.path, "", false)
		if w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Header().Get("Allow"), tc.allow) || !strings.Contains(w.Body.String(), restapi.CodeMethodNotAllowed) {
			t.Errorf("%s %s: %d Allow %q %s; want 405 allowing %s", tc.method, tc.path, w.Code, w.Header().Get("Allow"), w.Body, tc.allow)
		}
	}
	if w := do(http.MethodGet, "/v1/nothing-here", "", false); w.Code != http.StatusNotFound {
		t.Errorf("an unknown path: %d", w.Code)
	}
	// Without credentials, an authenticated route never reads the body.
	if w := do(http.MethodPost, "/v1/groups", `{"name":"x"}`, false); w.Code != http.StatusUnauthorized {
		t.Errorf("POST /v1/groups without credentials: %d %s", w.Code, w.Body)
	}
	if w := do(http.MethodPost, "/v1/groups", strings.Repeat("x", 2000), false); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /v1/groups with 2000 bytes: %d %s", w.Code, w.Body)
	}
}
