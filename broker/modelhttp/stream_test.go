package modelhttp

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// logLines is a stream endpoint that sends n records, then ends (as
// debug-log does with noTail), or, with n < 0, sends one and waits for
// the client to go.
func logLines(n int, closed chan<- struct{}) func(string, *jujuapi.Conn) {
	return func(_ string, conn *jujuapi.Conn) {
		conn.WriteFrame([]byte(`{}`))
		if n < 0 {
			conn.WriteFrame([]byte(`{"msg":"tailing"}`))
			_, err := conn.NextFrame() // until the broker closes it
			if jujuapi.IsClosed(err) && closed != nil {
				close(closed)
			}
			return
		}
		for i := range n {
			conn.WriteFrame([]byte(`{"msg":"line ` + string(rune('a'+i)) + `"}`))
		}
		conn.CloseWith(jujuapi.CloseNormal, "")
	}
}

// stream opens a stream through the proxy and returns the client's end
// and its first frame.
func (e *env) stream(t *testing.T, req StreamRequest) (*jujuapi.Conn, params.ErrorResult) {
	t.Helper()
	client, server := jujuapi.Pipe(StreamConnOptions)
	t.Cleanup(func() { client.Close() })
	if req.ModelUUID == "" {
		req.ModelUUID = modelUUID
	}
	req.Path, req.Remote = "/log", "10.0.0.1:50000"
	go e.ep.ServeStream(t.Context(), server, req, func() {})
	f, err := client.NextFrame()
	if err != nil {
		t.Fatalf("the stream's first frame: %v", err)
	}
	defer f.Release()
	var res params.ErrorResult
	if err := json.Unmarshal(f.Bytes(), &res); err != nil {
		t.Fatalf("the stream's first frame %q: %v", f.Bytes(), err)
	}
	if res.Error != nil && !strings.HasSuffix(string(f.Bytes()), "}\n") {
		t.Errorf("the refusal %q is not one line of JSON, as Juju sends it (the CLI reads up to the newline)", f.Bytes())
	}
	return client, res
}

func admin() StreamRequest {
	return StreamRequest{User: "user-admin", Password: "pw", HasAuth: true, Query: "replay=true&level=INFO"}
}

// TestStreamRelaysTheModelsLog: an authorised caller gets the
// controller's stream as it came, the query passed on, and its end.
func TestStreamRelaysTheModelsLog(t *testing.T) {
	e := newEnv(t)
	e.ctls["ctl-a"].streams = logLines(3, nil)
	client, first := e.stream(t, admin())
	if first.Error != nil {
		t.Fatalf("the first frame holds an error: %v", first.Error)
	}
	var lines []string
	for {
		f, err := client.NextFrame()
		if err != nil {
			if jujuapi.CloseCode(err) != jujuapi.CloseNormal {
				t.Fatalf("the stream ended with %v, want a normal close", err)
			}
			break
		}
		lines = append(lines, string(f.Bytes()))
		f.Release()
	}
	if strings.Join(lines, " ") != `{"msg":"line a"} {"msg":"line b"} {"msg":"line c"}` {
		t.Fatalf("relayed: %v", lines)
	}
	if p := e.ctls["ctl-a"].paths; len(p) != 1 || p[0] != "/model/"+modelUUID+"/log?replay=true&level=INFO" {
		t.Fatalf("the controller was asked for %v", p)
	}
}

// TestStreamRefusals: who may not read the model is refused in the
// stream's first frame, with Juju's codes, and the controller is never
// asked.
func TestStreamRefusals(t *testing.T) {
	e := newEnv(t)
	e.ctls["ctl-a"].streams = logLines(1, nil)
	ctx := t.Context()
	bobToken, _, err := e.ids.NewSession(ctx, &identity.Identity{Name: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		req       StreamRequest
		code, msg string
	}{
		{"no credentials", StreamRequest{}, jujuapi.CodeUnauthorized, "authentication failed: no credentials provided"},
		{"wrong password", StreamRequest{User: "user-admin", Password: "nope", HasAuth: true}, jujuapi.CodeUnauthorized, "authentication failed: invalid entity name or password"},
		{"no session token", StreamRequest{HasAuth: true}, jujuapi.CodeSessionTokenInvalid, "authentication failed: no session token: log in (LoginDevice)"},
		{"no access", StreamRequest{Password: bobToken, HasAuth: true}, jujuapi.CodeUnauthorized, "permission denied"},
		{"unknown model", StreamRequest{ModelUUID: "5e55c0de-0000-4000-8000-0000000000ff", User: "user-admin", Password: "pw", HasAuth: true}, jujuapi.CodeModelNotFound, `unknown model: "5e55c0de-0000-4000-8000-0000000000ff"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			client, first := e.stream(t, c.req)
			if first.Error == nil || first.Error.Code != c.code || first.Error.Message != c.msg {
				t.Fatalf("first frame %+v; want code %q, %q", first.Error, c.code, c.msg)
			}
			if _, err := client.NextFrame(); !jujuapi.IsClosed(err) {
				t.Fatalf("after the refusal: %v; want the stream closed", err)
			}
		})
	}
	if p := e.ctls["ctl-a"].paths; len(p) != 0 {
		t.Fatalf("refused streams reached the controller: %v", p)
	}
	// A reader may read the log.
	if err := e.rel.Add(ctx, authz.Tuple{Subject: "user:bob@example.com", Relation: authz.Reader, Object: "model:" + modelUUID}); err != nil {
		t.Fatal(err)
	}
	if _, first := e.stream(t, StreamRequest{Password: bobToken, HasAuth: true}); first.Error != nil {
		t.Fatalf("a reader's stream: %v", first.Error)
	}
	// The controller's own refusal reaches the client as it came.
	e.ctls["ctl-a"].streams = nil
	if _, first := e.stream(t, admin()); first.Error == nil || first.Error.Code != jujuapi.CodeNotFound || first.Error.Message != "endpoint not found" {
		t.Fatalf("the controller's refusal: %+v", first.Error)
	}
	// A dead controller is "try again".
	e.ctls["ctl-a"].kill()
	if _, first := e.stream(t, admin()); first.Error == nil || first.Error.Code != jujuapi.CodeTryAgain {
		t.Fatalf("a dead controller: %+v", first.Error)
	}
}

// TestStreamClientLeaves: when the client of a tailing stream goes, the
// broker closes the controller's end.
func TestStreamClientLeaves(t *testing.T) {
	e := newEnv(t)
	closed := make(chan struct{})
	e.ctls["ctl-a"].streams = logLines(-1, closed)
	client, first := e.stream(t, admin())
	if first.Error != nil {
		t.Fatal(first.Error)
	}
	if f, err := client.NextFrame(); err != nil || string(f.Bytes()) != `{"msg":"tailing"}` {
		t.Fatalf("the tail: %v", err)
	}
	client.CloseWith(jujuapi.CloseNormal, "")
	brokertest.Recv(t, closed, "the controller's end closes once the client left")
}

// TestStreamFollowsARedirect: a controller that answers a stream with a
// redirect has had the model moved away: the route heals and the stream
// opens where the model is now.
func TestStreamFollowsARedirect(t *testing.T) {
	e := newEnv(t)
	b := e.ctls["ctl-b"]
	b.streams = logLines(1, nil)
	e.ctls["ctl-a"].streams = func(_ string, conn *jujuapi.Conn) {
		info, _ := json.Marshal(params.RedirectErrorInfo{ControllerTag: jujuapi.ControllerTag(b.uuid).String(), ControllerAlias: "ctl-b"})
		conn.WriteFrame([]byte(`{"error":{"message":"redirection to alternative server required","code":"redirection required","info":` + string(info) + `}}`))
		conn.CloseWith(jujuapi.CloseNormal, "")
	}
	client, first := e.stream(t, admin())
	if first.Error != nil {
		t.Fatalf("the stream after a redirect: %v", first.Error)
	}
	if f, err := client.NextFrame(); err != nil || string(f.Bytes()) != `{"msg":"line a"}` {
		t.Fatalf("the relayed line: %v", err)
	}
	if m, _ := e.routes.Route(t.Context(), modelUUID); m.Controller.Name != "ctl-b" {
		t.Fatalf("the route after the redirect: %s", m.Controller.Name)
	}
}
