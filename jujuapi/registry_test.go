package jujuapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
)

// TestRegistryDispatch calls the test registry over a TLS WebSocket with a
// Client and checks results and Juju's exact dispatch errors.
func TestRegistryDispatch(t *testing.T) {
	ts := startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	cl := dialClient(t, ts)

	tests := []struct {
		name     string
		facade   string
		version  int
		method   string
		params   any
		want     string // the response body, compacted
		wantMsg  string // the error message; "" when the call succeeds
		wantCode string
	}{{
		name: "no params, no result", facade: "Pinger", version: 1, method: "Ping",
		want: `{}`,
	}, {
		name: "typed round trip", facade: "Echo", version: 1, method: "Echo", params: echoParams{Text: "héllo", Count: 3},
		want: `{"text":"héllo","count":3,"version":1}`,
	}, {
		name: "typed round trip at the other version", facade: "Echo", version: 2, method: "Echo", params: echoParams{Text: "x"},
		want: `{"text":"x","version":2}`,
	}, {
		name: "unknown fields are ignored", facade: "Echo", version: 1, method: "Echo", params: json.RawMessage(`{"text":"a","other":[1]}`),
		want: `{"text":"a","version":1}`,
	}, {
		name: "null params decode as zero value", facade: "Echo", version: 1, method: "Zero", params: json.RawMessage(`null`),
		want: `{"text":""}`,
	}, {
		name: "empty params decode as zero value", facade: "Echo", version: 1, method: "Zero", params: json.RawMessage(`{}`),
		want: `{"text":""}`,
	}, {
		name: "NoParams ignores params", facade: "Pinger", version: 1, method: "Ping", params: json.RawMessage(`[1,2,3]`),
		want: `{}`,
	}, {
		name: "unknown facade", facade: "Foo", version: 1, method: "Bar",
		wantMsg: `unknown object type "Foo"`, wantCode: "not implemented",
	}, {
		name: "unknown version", facade: "Pinger", version: 9, method: "Ping",
		wantMsg: `unknown version (9) of interface "Pinger"`, wantCode: "not implemented",
	}, {
		name: "version 0 of a known facade", facade: "Pinger", version: 0, method: "Ping",
		wantMsg: `unknown object type "Pinger"`, wantCode: "not implemented",
	}, {
		name: "unknown method", facade: "Pinger", version: 1, method: "Foo",
		wantMsg: "no such request - method Pinger(1).Foo is not implemented", wantCode: "not implemented",
	}, {
		name: "method of another facade", facade: "Test", version: 1, method: "Echo",
		wantMsg: "no such request - method Test(1).Echo is not implemented", wantCode: "not implemented",
	}, {
		name: "params of the wrong type", facade: "Echo", version: 1, method: "Echo", params: json.RawMessage(`{"text":5}`),
		wantMsg: "cannot decode params: ", wantCode: "bad request",
	}, {
		name: "params that are not an object", facade: "Echo", version: 1, method: "Echo", params: json.RawMessage(`"text"`),
		wantMsg: "cannot decode params: ", wantCode: "bad request",
	}, {
		name: "handler error keeps code and info", facade: "Test", version: 1, method: "Fail",
		params:  failParams{Message: "model is busy", Code: jujuapi.CodeMigrationRunning, Info: map[string]any{"phase": "IMPORT"}},
		wantMsg: "model is busy", wantCode: "model migration in progress",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cl.CallRaw(t.Context(), tt.facade, tt.version, tt.method, tt.params)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("%s(%d).%s: %v", tt.facade, tt.version, tt.method, err)
				}
				if string(got) != tt.want {
					t.Errorf("%s(%d).%s = %s, want %s", tt.facade, tt.version, tt.method, got, tt.want)
				}
				return
			}
			var e *jujuapi.Error
			if !errors.As(err, &e) {
				t.Fatalf("%s(%d).%s error = %T %v, want *jujuapi.Error", tt.facade, tt.version, tt.method, err, err)
			}
			if strings.HasSuffix(tt.wantMsg, ": ") {
				if !strings.HasPrefix(e.Message, tt.wantMsg) {
					t.Errorf("error message %q, want prefix %q", e.Message, tt.wantMsg)
				}
			} else if e.Message != tt.wantMsg {
				t.Errorf("error message %q, want %q", e.Message, tt.wantMsg)
			}
			if e.Code != tt.wantCode {
				t.Errorf("error code %q, want %q", e.Code, tt.wantCode)
			}
			if p, ok := tt.params.(failParams); ok && !reflect.DeepEqual(e.Info, p.Info) {
				t.Errorf("error info %v, want %v", e.Info, p.Info)
			}
		})
	}
}

// TestRegistryParamsOnTheWire: a request frame with no params field, or
// with "params":null, reaches a Typed method as the zero value.
func TestRegistryParamsOnTheWire(t *testing.T) {
	ts := startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	ws := dialRaw(t, ts)
	tests := []struct {
		frame string
		want  string
	}{
		{`{"request-id":1,"type":"Echo","version":1,"request":"Zero"}`, `{"request-id":1,"response":{"text":""}}`},
		{`{"request-id":2,"type":"Echo","version":1,"request":"Zero","params":null}`, `{"request-id":2,"response":{"text":""}}`},
		{`{"request-id":3,"type":"Echo","version":1,"request":"Zero","params":{}}`, `{"request-id":3,"response":{"text":""}}`},
		{`{"request-id":4,"type":"Echo","version":1,"request":"Zero","params":{"text":"t","count":2}}`, `{"request-id":4,"response":{"text":"t","count":2}}`},
		{`{"request-id":5,"type":"Pinger","version":1,"request":"Ping"}`, `{"request-id":5,"response":{}}`},
		{`{"request-id":6,"type":"Echo","version":1,"request":"Zero","params":[]}`,
			`{"request-id":6,"error":"cannot decode params: json: cannot unmarshal array into Go value of type jujuapi_test.echoParams","error-code":"bad request","response":{}}`},
	}
	for _, tt := range tests {
		if got := rawCall(t, ws, tt.frame); got != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.frame, got, tt.want)
		}
	}
}

// TestObjectID: a call made with an object id in its context sends it as
// the request's "id", and the method serving it finds it in its own.
func TestObjectID(t *testing.T) {
	ts := startServer(t, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	cl := dialClient(t, ts)
	for _, id := range []string{"7", ""} {
		ctx := t.Context()
		if id != "" {
			ctx = jujuapi.WithObjectID(ctx, id)
		}
		var got map[string]string
		if err := cl.Call(ctx, "Watcher", 1, "Next", nil, &got); err != nil {
			t.Fatal(err)
		}
		if got["id"] != id {
			t.Fatalf("the method saw object id %q, want %q", got["id"], id)
		}
	}
}

// TestRegistryFind checks Find directly, including the dispatch order: an
// unknown facade wins over an unknown version, which wins over an unknown
// method.
func TestRegistryFind(t *testing.T) {
	var r jujuapi.Registry[int]
	var called []string
	m := func(name string) jujuapi.Method[int] {
		return func(_ context.Context, s int, _ json.RawMessage) (any, error) {
			called = append(called, name)
			return s, nil
		}
	}
	r.Register("ModelManager", []int{9, 10}, "ListModels", m("list"))
	r.Register("ModelManager", []int{10}, "ListModelSummaries", m("summaries"))
	r.Register("ModelManager", []int{10}, "ListModels", m("list10")) // replaces v10's

	tests := []struct {
		facade  string
		version int
		method  string
		want    string // the method called, or the error message
	}{
		{"ModelManager", 9, "ListModels", "list"},
		{"ModelManager", 10, "ListModels", "list10"},
		{"ModelManager", 10, "ListModelSummaries", "summaries"},
		{"ModelManager", 9, "ListModelSummaries", "no such request - method ModelManager(9).ListModelSummaries is not implemented"},
		{"ModelManager", 11, "ListModels", `unknown version (11) of interface "ModelManager"`},
		{"ModelManager", -1, "ListModels", `unknown version (-1) of interface "ModelManager"`},
		{"ModelManager", 0, "ListModels", `unknown object type "ModelManager"`},
		{"modelmanager", 10, "ListModels", `unknown object type "modelmanager"`},
		{"Nope", 0, "Nope", `unknown object type "Nope"`},
		{"", 0, "", `unknown object type ""`},
	}
	for _, tt := range tests {
		called = nil
		fn, err := r.Find(tt.facade, tt.version, tt.method)
		var got string
		if err != nil {
			if fn != nil {
				t.Errorf("Find(%q, %d, %q) returned a method with its error", tt.facade, tt.version, tt.method)
			}
			if jujuapi.ErrorCode(err) != jujuapi.CodeNotImplemented {
				t.Errorf("Find(%q, %d, %q) error code %q", tt.facade, tt.version, tt.method, jujuapi.ErrorCode(err))
			}
			got = err.Error()
		} else {
			res, _ := fn(t.Context(), 42, nil)
			if res != 42 {
				t.Errorf("method got state %v, want 42", res)
			}
			got = called[0]
		}
		if got != tt.want {
			t.Errorf("Find(%q, %d, %q) = %q, want %q", tt.facade, tt.version, tt.method, got, tt.want)
		}
	}

	// An empty registry answers too.
	var empty jujuapi.Registry[int]
	if _, err := empty.Find("Pinger", 1, "Ping"); err == nil || err.Error() != `unknown object type "Pinger"` {
		t.Errorf("empty registry: %v", err)
	}
	if v := empty.Versions(); len(v) != 0 {
		t.Errorf("empty registry Versions() = %v", v)
	}
}

func TestRegistryVersions(t *testing.T) {
	var r jujuapi.Registry[struct{}]
	noop := func(context.Context, struct{}, json.RawMessage) (any, error) { return nil, nil }
	// Registered out of order, with overlaps.
	r.Register("Pinger", []int{1}, "Ping", noop)
	r.Register("ModelManager", []int{10, 9}, "ListModels", noop)
	r.Register("ModelManager", []int{2}, "Old", noop)
	r.Register("Admin", []int{4, 3}, "Login", noop)
	r.Register("Admin", []int{3}, "RedirectInfo", noop)
	r.Register("Cloud", []int{7}, "Clouds", noop)
	r.Register("ApplicationOffers", []int{5, 4}, "Offers", noop)

	want := []jujuapi.FacadeVersions{
		{Name: "Admin", Versions: []int{3, 4}},
		{Name: "ApplicationOffers", Versions: []int{4, 5}},
		{Name: "Cloud", Versions: []int{7}},
		{Name: "ModelManager", Versions: []int{2, 9, 10}},
		{Name: "Pinger", Versions: []int{1}},
	}
	for range 20 { // map order varies from call to call
		got := r.Versions()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Versions() = %v, want %v", got, want)
		}
	}
	b, err := json.Marshal(r.Versions()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[{"name":"Admin","versions":[3,4]}]` {
		t.Errorf("facades JSON = %s", b)
	}
}

// TestTypedAndNoParams calls the adapters directly.
func TestTypedAndNoParams(t *testing.T) {
	type P struct {
		A int      `json:"a"`
		B []string `json:"b"`
	}
	var gotP P
	typed := jujuapi.Typed(func(s string, _ context.Context, p P) (*P, error) {
		gotP = p
		if s == "fail" {
			return nil, jujuapi.ErrPerm
		}
		return &p, nil
	})
	tests := []struct {
		raw      string
		state    string
		wantP    P
		wantRes  any
		wantCode string
	}{
		{raw: ``, wantP: P{}, wantRes: &P{}},
		{raw: `null`, wantP: P{}, wantRes: &P{}},
		{raw: `{}`, wantP: P{}, wantRes: &P{}},
		{raw: `{"a":1,"b":["x"]}`, wantP: P{A: 1, B: []string{"x"}}, wantRes: &P{A: 1, B: []string{"x"}}},
		{raw: `{"a":"1"}`, wantCode: jujuapi.CodeBadRequest},
		{raw: `[1]`, wantCode: jujuapi.CodeBadRequest},
		{raw: `{"a":1}`, state: "fail", wantP: P{A: 1}, wantCode: jujuapi.CodeUnauthorized},
	}
	for _, tt := range tests {
		gotP = P{}
		var raw json.RawMessage
		if tt.raw != "" {
			raw = json.RawMessage(tt.raw)
		}
		res, err := typed(t.Context(), tt.state, raw)
		if tt.wantCode != "" {
			if jujuapi.ErrorCode(err) != tt.wantCode {
				t.Errorf("Typed(%s): error %v, want code %q", tt.raw, err, tt.wantCode)
			}
			if res != nil {
				t.Errorf("Typed(%s): result %#v with an error; want a nil interface", tt.raw, res)
			}
			continue
		}
		if err != nil {
			t.Errorf("Typed(%s): %v", tt.raw, err)
			continue
		}
		if !reflect.DeepEqual(gotP, tt.wantP) {
			t.Errorf("Typed(%s) params = %+v, want %+v", tt.raw, gotP, tt.wantP)
		}
		if !reflect.DeepEqual(res, tt.wantRes) {
			t.Errorf("Typed(%s) = %#v, want %#v", tt.raw, res, tt.wantRes)
		}
	}

	np := jujuapi.NoParams(func(s string, _ context.Context) (int, error) {
		if s == "fail" {
			return 0, jujuapi.ErrNotLoggedIn
		}
		return len(s), nil
	})
	if res, err := np(t.Context(), "abc", json.RawMessage(`{"ignored":true}`)); err != nil || res != 3 {
		t.Errorf("NoParams = %v, %v; want 3, nil", res, err)
	}
	if res, err := np(t.Context(), "fail", nil); err != jujuapi.ErrNotLoggedIn || res != nil {
		t.Errorf("NoParams = %#v, %v; want nil, ErrNotLoggedIn", res, err)
	}
}
