package jujuapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

func TestMessageMarshal(t *testing.T) {
	tests := []struct {
		name string
		msg  jujuapi.Message
		want string
	}{{
		name: "request without version or id",
		msg:  jujuapi.Message{RequestID: 1, Type: "Pinger", Request: "Ping", Params: json.RawMessage(`{}`)},
		want: `{"request-id":1,"type":"Pinger","request":"Ping","params":{}}`,
	}, {
		name: "request with version",
		msg: jujuapi.Message{RequestID: 2, Type: "Admin", Version: 3, Request: "Login",
			Params: json.RawMessage(`{"auth-tag":"user-admin","credentials":"secret"}`)},
		want: `{"request-id":2,"type":"Admin","version":3,"request":"Login","params":{"auth-tag":"user-admin","credentials":"secret"}}`,
	}, {
		name: "request with id",
		msg:  jujuapi.Message{RequestID: 3, Type: "AllWatcher", Version: 4, ID: "w1", Request: "Next", Params: json.RawMessage(`{}`)},
		want: `{"request-id":3,"type":"AllWatcher","version":4,"id":"w1","request":"Next","params":{}}`,
	}, {
		name: "response",
		msg:  jujuapi.Message{RequestID: 4, Response: json.RawMessage(`{"results":[]}`)},
		want: `{"request-id":4,"response":{"results":[]}}`,
	}, {
		name: "error response with info",
		msg: jujuapi.Message{RequestID: 5, Error: "redirection to alternative server required", ErrorCode: jujuapi.CodeRedirect,
			ErrorInfo: json.RawMessage(`{"controller-alias":"dst"}`), Response: json.RawMessage(`{}`)},
		want: `{"request-id":5,"error":"redirection to alternative server required","error-code":"redirection required","error-info":{"controller-alias":"dst"},"response":{}}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(&tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal =\n %s\nwant\n %s", got, tt.want)
			}
			back, err := jujuapi.DecodeMessage(got)
			if err != nil {
				t.Fatalf("DecodeMessage(%s): %v", got, err)
			}
			if !reflect.DeepEqual(*back, tt.msg) {
				t.Errorf("DecodeMessage(Marshal(m)) = %+v, want %+v", *back, tt.msg)
			}
		})
	}
}

func TestMessageIsRequestAndMethod(t *testing.T) {
	tests := []struct {
		msg        jujuapi.Message
		isRequest  bool
		wantMethod string
	}{
		{jujuapi.Message{RequestID: 1, Type: "ModelManager", Version: 10, Request: "Foo"}, true, "ModelManager(10).Foo"},
		{jujuapi.Message{RequestID: 1, Type: "Pinger", Request: "Ping"}, true, "Pinger.Ping"},
		{jujuapi.Message{RequestID: 1, Type: "Pinger"}, true, "Pinger."},
		{jujuapi.Message{RequestID: 1, Request: "Ping"}, true, ".Ping"},
		{jujuapi.Message{RequestID: 1, Response: json.RawMessage(`{}`)}, false, "."},
	}
	for _, tt := range tests {
		if got := tt.msg.IsRequest(); got != tt.isRequest {
			t.Errorf("%+v IsRequest() = %v, want %v", tt.msg, got, tt.isRequest)
		}
		if got := tt.msg.Method(); got != tt.wantMethod {
			t.Errorf("%+v Method() = %q, want %q", tt.msg, got, tt.wantMethod)
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *jujuapi.Message
		wantErr string // substring; "" means success
	}{{
		name: "request",
		in:   `{"request-id":1,"type":"Admin","version":3,"request":"Login","params":{"auth-tag":"user-admin"}}`,
		want: &jujuapi.Message{RequestID: 1, Type: "Admin", Version: 3, Request: "Login", Params: json.RawMessage(`{"auth-tag":"user-admin"}`)},
	}, {
		name: "response",
		in:   `{"request-id":7,"response":{}}`,
		want: &jujuapi.Message{RequestID: 7, Response: json.RawMessage(`{}`)},
	}, {
		name: "error response",
		in:   `{"request-id":8,"error":"x","error-code":"not found","response":{}}`,
		want: &jujuapi.Message{RequestID: 8, Error: "x", ErrorCode: "not found", Response: json.RawMessage(`{}`)},
	}, {
		name: "largest request-id",
		in:   `{"request-id":18446744073709551615,"response":{}}`,
		want: &jujuapi.Message{RequestID: 1<<64 - 1, Response: json.RawMessage(`{}`)},
	}, {
		name:    "empty",
		in:      ``,
		wantErr: "malformed message",
	}, {
		name:    "not JSON",
		in:      `hello`,
		wantErr: "malformed message",
	}, {
		name:    "truncated",
		in:      `{"request-id":1,"type":"Pin`,
		wantErr: "malformed message",
	}, {
		name:    "array",
		in:      `[{"request-id":1}]`,
		wantErr: "malformed message",
	}, {
		name:    "string",
		in:      `"request-id"`,
		wantErr: "malformed message",
	}, {
		name:    "number",
		in:      `42`,
		wantErr: "malformed message",
	}, {
		name:    "null",
		in:      `null`,
		wantErr: "missing request-id",
	}, {
		name:    "empty object",
		in:      `{}`,
		wantErr: "missing request-id",
	}, {
		name:    "request-id zero",
		in:      `{"request-id":0,"type":"Pinger","request":"Ping"}`,
		wantErr: "missing request-id",
	}, {
		name:    "request-id negative",
		in:      `{"request-id":-1}`,
		wantErr: "malformed message",
	}, {
		name:    "request-id fraction",
		in:      `{"request-id":1.5}`,
		wantErr: "malformed message",
	}, {
		name:    "request-id too large",
		in:      `{"request-id":18446744073709551616}`,
		wantErr: "malformed message",
	}, {
		name:    "request-id string",
		in:      `{"request-id":"1"}`,
		wantErr: "malformed message",
	}, {
		name:    "type not a string",
		in:      `{"request-id":1,"type":5,"request":"Ping"}`,
		wantErr: "malformed message",
	}, {
		name:    "version not a number",
		in:      `{"request-id":1,"type":"Pinger","version":"1","request":"Ping"}`,
		wantErr: "malformed message",
	}, {
		name:    "version huge",
		in:      `{"request-id":1,"type":"Pinger","version":1e40,"request":"Ping"}`,
		wantErr: "malformed message",
	}, {
		name:    "two objects",
		in:      `{"request-id":1}{"request-id":2}`,
		wantErr: "malformed message",
	}, {
		name:    "invalid params",
		in:      `{"request-id":1,"type":"Pinger","request":"Ping","params":{`,
		wantErr: "malformed message",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jujuapi.DecodeMessage([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("DecodeMessage(%s) = %+v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeMessage(%s) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("DecodeMessage(%s) returned %+v with its error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeMessage(%s): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeMessage(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestMessageErr(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *jujuapi.Error // nil: no error
	}{{
		name: "success",
		in:   `{"request-id":1,"response":{"x":1}}`,
	}, {
		name: "message and code",
		in:   `{"request-id":1,"error":"model \"m\" not found","error-code":"not found","response":{}}`,
		want: &jujuapi.Error{Message: `model "m" not found`, Code: jujuapi.CodeNotFound},
	}, {
		name: "message only",
		in:   `{"request-id":1,"error":"boom","response":{}}`,
		want: &jujuapi.Error{Message: "boom"},
	}, {
		name: "code only",
		in:   `{"request-id":1,"error-code":"try again","response":{}}`,
		want: &jujuapi.Error{Code: jujuapi.CodeTryAgain},
	}, {
		name: "info",
		in: `{"request-id":1,"error":"redirection to alternative server required","error-code":"redirection required",` +
			`"error-info":{"ca-cert":"PEM","controller-alias":"dst","servers":[[{"value":"10.1.2.3","port":17070}]]},"response":{}}`,
		want: &jujuapi.Error{Message: "redirection to alternative server required", Code: jujuapi.CodeRedirect, Info: map[string]any{
			"ca-cert":          "PEM",
			"controller-alias": "dst",
			"servers":          []any{[]any{map[string]any{"value": "10.1.2.3", "port": float64(17070)}}},
		}},
	}, {
		name: "null info",
		in:   `{"request-id":1,"error":"e","error-code":"c","error-info":null,"response":{}}`,
		want: &jujuapi.Error{Message: "e", Code: "c"},
	}, {
		name: "info that is not an object is dropped",
		in:   `{"request-id":1,"error":"e","error-code":"c","error-info":[1,2],"response":{}}`,
		want: &jujuapi.Error{Message: "e", Code: "c"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := jujuapi.DecodeMessage([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := m.Err()
			if tt.want == nil {
				if got != nil {
					t.Fatalf("Err() = %v, want nil", got)
				}
				return
			}
			var e *jujuapi.Error
			if !errors.As(got, &e) {
				t.Fatalf("Err() = %T %v, want *jujuapi.Error", got, got)
			}
			if len(e.Info) == 0 {
				e.Info = nil
			}
			if !reflect.DeepEqual(e, tt.want) {
				t.Errorf("Err() = %#v, want %#v", e, tt.want)
			}
			if jujuapi.ErrorCode(got) != tt.want.Code {
				t.Errorf("ErrorCode = %q, want %q", jujuapi.ErrorCode(got), tt.want.Code)
			}
		})
	}
}

func TestAsErrorAndErrorCode(t *testing.T) {
	redirect := &jujuapi.Error{Message: "redirection to alternative server required", Code: jujuapi.CodeRedirect,
		Info: map[string]any{"controller-alias": "dst"}}
	tests := []struct {
		name     string
		err      error
		wantMsg  string
		wantCode string
		wantInfo map[string]any
		same     bool // AsError returns the error itself
	}{{
		name:     "Error itself",
		err:      redirect,
		wantMsg:  "redirection to alternative server required",
		wantCode: jujuapi.CodeRedirect,
		wantInfo: map[string]any{"controller-alias": "dst"},
		same:     true,
	}, {
		name:     "wrapped once",
		err:      fmt.Errorf("login to model m: %w", redirect),
		wantMsg:  "login to model m: redirection to alternative server required",
		wantCode: jujuapi.CodeRedirect,
		wantInfo: map[string]any{"controller-alias": "dst"},
	}, {
		name:     "wrapped twice",
		err:      fmt.Errorf("a: %w", fmt.Errorf("b: %w", jujuapi.NotFoundf("model %q", "m"))),
		wantMsg:  `a: b: model "m" not found`,
		wantCode: jujuapi.CodeNotFound,
	}, {
		name:     "joined",
		err:      errors.Join(errors.New("first"), jujuapi.ErrPerm),
		wantMsg:  "first\npermission denied",
		wantCode: jujuapi.CodeUnauthorized,
	}, {
		name:    "plain error",
		err:     errors.New("disk full"),
		wantMsg: "disk full",
	}, {
		name:     "Errorf",
		err:      jujuapi.Errorf(jujuapi.CodeBadRequest, "bad %s %d", "thing", 3),
		wantMsg:  "bad thing 3",
		wantCode: jujuapi.CodeBadRequest,
		same:     true,
	}, {
		name:     "ErrBadCreds",
		err:      jujuapi.ErrBadCreds,
		wantMsg:  "invalid entity name or password",
		wantCode: "unauthorized access",
		same:     true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := jujuapi.AsError(tt.err)
			if e.Message != tt.wantMsg || e.Code != tt.wantCode || !reflect.DeepEqual(e.Info, tt.wantInfo) {
				t.Errorf("AsError = %#v, want message %q code %q info %v", e, tt.wantMsg, tt.wantCode, tt.wantInfo)
			}
			if e.Error() != tt.err.Error() {
				t.Errorf("AsError(err).Error() = %q, want err.Error() = %q", e.Error(), tt.err.Error())
			}
			if tt.same && e != tt.err {
				t.Errorf("AsError(%v) made a copy of the *Error", tt.err)
			}
			if got := jujuapi.ErrorCode(tt.err); got != tt.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tt.wantCode)
			}
		})
	}
	if got := jujuapi.ErrorCode(nil); got != "" {
		t.Errorf("ErrorCode(nil) = %q", got)
	}
}

func TestDispatchErrorTexts(t *testing.T) {
	tests := []struct {
		err      *jujuapi.Error
		wantMsg  string
		wantCode string
	}{
		{jujuapi.UnknownFacadeError("Foo"), `unknown object type "Foo"`, "not implemented"},
		{jujuapi.UnknownVersionError("Pinger", 9), `unknown version (9) of interface "Pinger"`, "not implemented"},
		{jujuapi.UnknownVersionError("Pinger", 0), `unknown object type "Pinger"`, "not implemented"},
		{jujuapi.UnknownMethodError("ModelManager", 10, "Foo"), "no such request - method ModelManager(10).Foo is not implemented", "not implemented"},
		{jujuapi.UnknownMethodError("ModelManager", 0, "Foo"), "no such request - method ModelManager.Foo is not implemented", "not implemented"},
		{jujuapi.NotFoundf("model %q", "m"), `model "m" not found`, "not found"},
		{jujuapi.ErrNotLoggedIn, "not logged in", "unauthorized access"},
		{jujuapi.ErrLoggedIn, "already logged in", "bad request"},
		{jujuapi.ErrPerm, "permission denied", "unauthorized access"},
	}
	for _, tt := range tests {
		if tt.err.Message != tt.wantMsg || tt.err.Code != tt.wantCode {
			t.Errorf("got (%q, %q), want (%q, %q)", tt.err.Message, tt.err.Code, tt.wantMsg, tt.wantCode)
		}
	}
}

// TestResponseFrames checks, byte for byte, the frames Serve writes for what
// a handler returns.
func TestResponseFrames(t *testing.T) {
	type result struct {
		Text string `json:"text"`
	}
	results := map[string]func() (any, error){
		"Nil":       func() (any, error) { return nil, nil },
		"Struct":    func() (any, error) { return result{Text: "hi"}, nil },
		"NilPtr":    func() (any, error) { return (*result)(nil), nil },
		"NilSlice":  func() (any, error) { return []int(nil), nil },
		"EmptyList": func() (any, error) { return []int{}, nil },
		"Raw":       func() (any, error) { return json.RawMessage(`{"a":[1,2]}`), nil },
		"RawNil":    func() (any, error) { return json.RawMessage(nil), nil },
		"RawNull":   func() (any, error) { return json.RawMessage("null"), nil },
		"Fail":      func() (any, error) { return nil, jujuapi.NotFoundf("model %q", "m") },
		"Redirect": func() (any, error) {
			return nil, &jujuapi.Error{Message: "redirection to alternative server required", Code: jujuapi.CodeRedirect,
				Info: map[string]any{"controller-alias": "dst"}}
		},
		"Wrapped":     func() (any, error) { return nil, fmt.Errorf("get model: %w", jujuapi.ErrPerm) },
		"Plain":       func() (any, error) { return nil, errors.New("disk full") },
		"ResultAndEr": func() (any, error) { return result{Text: "ignored"}, jujuapi.ErrPerm },
	}
	h := jujuapi.HandlerFunc(func(_ context.Context, req *jujuapi.Message) (any, error) {
		return results[req.Request]()
	})
	ts := startServer(t, h, jujuapi.ServerOptions{})
	ws := dialRaw(t, ts)

	tests := []struct {
		method string
		want   string
	}{
		{"Nil", `{"request-id":1,"response":{}}`},
		{"Struct", `{"request-id":1,"response":{"text":"hi"}}`},
		{"NilPtr", `{"request-id":1,"response":{}}`},
		{"NilSlice", `{"request-id":1,"response":{}}`},
		{"EmptyList", `{"request-id":1,"response":[]}`},
		{"Raw", `{"request-id":1,"response":{"a":[1,2]}}`},
		{"RawNil", `{"request-id":1,"response":{}}`},
		{"RawNull", `{"request-id":1,"response":{}}`},
		{"Fail", `{"request-id":1,"error":"model \"m\" not found","error-code":"not found","response":{}}`},
		{"Redirect", `{"request-id":1,"error":"redirection to alternative server required","error-code":"redirection required","error-info":{"controller-alias":"dst"},"response":{}}`},
		{"Wrapped", `{"request-id":1,"error":"get model: permission denied","error-code":"unauthorized access","response":{}}`},
		{"Plain", `{"request-id":1,"error":"disk full","response":{}}`},
		{"ResultAndEr", `{"request-id":1,"error":"permission denied","error-code":"unauthorized access","response":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			got := rawCall(t, ws, req(1, "Test", 1, tt.method, `{}`))
			if got != tt.want {
				t.Errorf("response frame =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

// TestUnencodableResult: a result that cannot be encoded becomes an error
// response for that request; the connection goes on.
func TestUnencodableResult(t *testing.T) {
	h := jujuapi.HandlerFunc(func(_ context.Context, req *jujuapi.Message) (any, error) {
		switch req.Request {
		case "Chan":
			return map[string]any{"c": make(chan int)}, nil
		case "BadInfo":
			return nil, &jujuapi.Error{Message: "m", Code: "c", Info: map[string]any{"f": func() {}}}
		}
		return nil, nil
	})
	ts := startServer(t, h, jujuapi.ServerOptions{})
	ws := dialRaw(t, ts)
	for i, method := range []string{"Chan", "BadInfo"} {
		id := i + 1
		m := decodeFrame(t, rawCall(t, ws, req(id, "Test", 1, method, "")))
		if m.RequestID != uint64(id) || !strings.HasPrefix(m.Error, "internal error: ") || string(m.Response) != "{}" {
			t.Errorf("%s: response %+v, want an internal error for request %d", method, m, id)
		}
		if got := rawCall(t, ws, req(10+id, "Test", 1, "Ok", "")); got != fmt.Sprintf(`{"request-id":%d,"response":{}}`, 10+id) {
			t.Errorf("after %s: %s", method, got)
		}
	}
}

// TestClientRequestFrames checks, byte for byte, the frames a Client sends.
func TestClientRequestFrames(t *testing.T) {
	frames := make(chan string, 10)
	up := websocket.Upgrader{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			frames <- string(data)
			m, err := jujuapi.DecodeMessage(data)
			if err != nil {
				return
			}
			ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"request-id":%d,"response":{"ok":true}}`, m.RequestID))
		}
	}))
	defer srv.Close()
	url := "wss://" + strings.TrimPrefix(srv.URL, "https://") + "/model/0b0e9c13-8e7a-4d37-8e2b-1f5e3c6e0d1a/api"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	conn, err := jujuapi.Dial(ctx, url, jujuapi.DialOptions{TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig})
	if err != nil {
		t.Fatal(err)
	}
	cl := jujuapi.NewClient(conn)
	defer cl.Close()

	tests := []struct {
		facade  string
		version int
		method  string
		params  any
		want    string
	}{
		{"Pinger", 1, "Ping", nil, `{"request-id":1,"type":"Pinger","version":1,"request":"Ping","params":{}}`},
		{"Pinger", 0, "Ping", nil, `{"request-id":2,"type":"Pinger","request":"Ping","params":{}}`},
		{"Admin", 3, "Login", map[string]any{"auth-tag": "user-admin", "macaroons": nil},
			`{"request-id":3,"type":"Admin","version":3,"request":"Login","params":{"auth-tag":"user-admin","macaroons":null}}`},
		{"Client", 7, "FullStatus", json.RawMessage(`{"patterns":null}`),
			`{"request-id":4,"type":"Client","version":7,"request":"FullStatus","params":{"patterns":null}}`},
		{"Echo", 1, "Echo", echoParams{Text: "<&>"},
			`{"request-id":5,"type":"Echo","version":1,"request":"Echo","params":{"text":"\u003c\u0026\u003e"}}`},
	}
	for _, tt := range tests {
		var res struct {
			OK bool `json:"ok"`
		}
		if err := cl.Call(ctx, tt.facade, tt.version, tt.method, tt.params, &res); err != nil {
			t.Fatalf("Call %s: %v", tt.method, err)
		}
		if !res.OK {
			t.Errorf("Call %s: result not decoded", tt.method)
		}
		if got := <-frames; got != tt.want {
			t.Errorf("request frame =\n %s\nwant\n %s", got, tt.want)
		}
	}
}

// EncodeResponse frames a result as json.Marshal of the envelope would,
// byte for byte.
func TestEncodeResponseMatchesEnvelope(t *testing.T) {
	type result struct {
		Text  string         `json:"text"`
		Items []int          `json:"items,omitempty"`
		Map   map[string]any `json:"map,omitempty"`
	}
	var nilMap map[string]int
	for _, tt := range []struct {
		name   string
		result any
		body   string // the response field json.Marshal would give
	}{
		{"struct", result{Text: `<a href="x">&</a> é \u2028`, Items: []int{1, 2}, Map: map[string]any{"b": 1, "a": nil}}, ""},
		{"nil", nil, "{}"},
		{"marshals to null", nilMap, "{}"},
		{"string", "plain", ""},
		{"raw", json.RawMessage(`{ "spaced" : [1, 2] }`), `{"spaced":[1,2]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jujuapi.EncodeResponse(7, tt.result, nil)
			if err != nil {
				t.Fatal(err)
			}
			body := json.RawMessage(tt.body)
			if tt.body == "" {
				if body, err = json.Marshal(tt.result); err != nil {
					t.Fatal(err)
				}
			}
			want, err := json.Marshal(&jujuapi.Message{RequestID: 7, Response: body})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("EncodeResponse = %s\nwant %s", got, want)
			}
			if _, err := jujuapi.DecodeMessage(got); err != nil {
				t.Errorf("EncodeResponse gave a frame that does not decode: %v", err)
			}
		})
	}
}

// A ResultBuffer is framed in place as json.Marshal of the envelope would
// frame its result, for any request id; an empty one is "{}". Served, a
// buffer goes back to the pool once written, and the next result in it,
// shorter or longer, is framed whole and alone.
func TestResultBuffer(t *testing.T) {
	for _, id := range []uint64{1, 7, 1 << 40, math.MaxUint64} {
		for _, result := range []string{``, `{"results":[{"a":"é"}]}`, `[` + strings.Repeat(`1,`, 50000) + `2]`} {
			rb := jujuapi.NewResultBuffer(8)
			rb.B = append(rb.B, result...)
			got, err := jujuapi.EncodeResponse(id, rb, nil)
			if err != nil {
				t.Fatal(err)
			}
			body := json.RawMessage(result)
			if result == "" {
				body = json.RawMessage(`{}`)
			}
			want, _ := json.Marshal(&jujuapi.Message{RequestID: id, Response: body})
			if string(got) != string(want) {
				t.Fatalf("request %d, result of %d bytes: framed as %.80s..., want %.80s...", id, len(result), got, want)
			}
		}
	}

	results := []string{`{"results":[` + strings.Repeat(`{"n":1},`, 20000) + `{"n":2}]}`, `{"results":[]}`, `{"x":"` + strings.Repeat("y", 300000) + `"}`}
	calls := 0
	ts := startServer(t, jujuapi.HandlerFunc(func(ctx context.Context, msg *jujuapi.Message) (any, error) {
		rb := jujuapi.NewResultBuffer(16)
		rb.B = append(rb.B, results[calls%len(results)]...)
		calls++
		return rb, nil
	}), jujuapi.ServerOptions{})
	c := dialConn(t, ts, jujuapi.ConnOptions{})
	defer c.Close()
	for i := range 2 * len(results) {
		req := fmt.Sprintf(`{"request-id":%d,"type":"X","version":1,"request":"Y","params":{}}`, i+1)
		if err := c.WriteFrame([]byte(req)); err != nil {
			t.Fatal(err)
		}
		f, err := c.NextFrame()
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`{"request-id":%d,"response":%s}`, i+1, results[i%len(results)])
		if string(f.Bytes()) != want {
			t.Fatalf("response %d: %d bytes %.60q..., want %d bytes %.60q...", i+1, len(f.Bytes()), f.Bytes(), len(want), want)
		}
		f.Release()
	}
}
