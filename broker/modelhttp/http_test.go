package modelhttp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// seenRequest is what a controller's HTTP endpoint was sent.
type seenRequest struct {
	method, uri, auth, cookie, contentType, body string
}

// httpController serves HTTP endpoints in place of the model's controller
// (TLS, with its own certificate) through handler, and points the proxy at
// it with the controller's credentials "admin"/"controller-secret".
func (e *env) httpController(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(handler)
	t.Cleanup(srv.Close)
	ep := controllers.Endpoint{
		Name: "ctl-a", Addresses: []string{srv.Listener.Addr().String()}, TLSServerName: "example.com",
		CACert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})),
	}
	e.ep.httpEndpoint = func(context.Context, *db.Model) (controllers.Endpoint, controllers.Credentials, error) {
		return ep, controllers.Credentials{User: "admin", Password: "controller-secret"}, nil
	}
	t.Cleanup(e.ep.CloseIdleHTTP)
	return srv
}

// front serves the proxy's model HTTP endpoints, as the broker mounts them.
func (e *env) front(t *testing.T) *httptest.Server {
	t.Helper()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uuid := strings.TrimPrefix(r.URL.Path, "/model/")
		uuid = strings.TrimPrefix(uuid, "/model-")
		uuid, _, _ = strings.Cut(uuid, "/")
		e.ep.ServeModelHTTP(w, r, uuid)
	}))
	t.Cleanup(front.Close)
	return front
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestModelHTTPRelaysAnUpload: a local charm upload reaches the model's
// controller as it was sent, body streamed, with the controller's own
// credentials in place of the caller's; the answer comes back as it was,
// less the controller's cookies; and the upload is audited.
func TestModelHTTPRelaysAnUpload(t *testing.T) {
	e := newEnv(t)
	auditLog := audit.New(e.d, quiet, nil)
	go auditLog.Run()
	t.Cleanup(func() { auditLog.Close(context.Background()) })
	e.ep.audit = auditLog
	seen := make(chan seenRequest, 1)
	firstChunk := make(chan struct{})
	e.httpController(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		io.ReadFull(r.Body, buf)
		close(firstChunk) // the controller has part of the body while the client still sends
		rest, _ := io.ReadAll(r.Body)
		seen <- seenRequest{r.Method, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.Header.Get("Content-Type"), string(buf) + string(rest)}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Juju-Curl", "local:demo-0")
		w.Header().Set("Set-Cookie", "macaroon-controller=secret")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"charm-url":"local:demo-0"}`)
	})
	front := e.front(t)

	body, sender := io.Pipe()
	go func() {
		sender.Write([]byte("PK\x03\x04"))
		sender.Write([]byte("-first"))
		<-firstChunk
		sender.Write([]byte("-rest"))
		sender.Close()
	}()
	path := "/model-" + modelUUID + "/charms/demo-1234567"
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", front.URL+path+"?x=1", body)
	req.Header.Set("Authorization", basic("user-admin", "pw"))
	req.Header.Set("Cookie", "jimm-session=client-secret")
	req.Header.Set("Content-Type", "application/zip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(answer) != `{"charm-url":"local:demo-0"}` || resp.Header.Get("Juju-Curl") != "local:demo-0" {
		t.Fatalf("answer %d %s, Juju-Curl %q", resp.StatusCode, answer, resp.Header.Get("Juju-Curl"))
	}
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Fatalf("the controller's cookie reached the client: %q", c)
	}
	got := brokertest.Recv(t, seen, "the controller's request")
	want := seenRequest{"PUT", path + "?x=1", basic("user-admin", "controller-secret"), "", "application/zip", "PK\x03\x04-first-rest"}
	if got != want {
		t.Fatalf("the controller saw\n%+v\nwant\n%+v", got, want)
	}

	// The upload is recorded once relayed (just after its answer went).
	var events []db.AuditEvent
	brokertest.Eventually(t, "the upload is audited", func() bool {
		events = nil
		return e.d.WithContext(t.Context()).Find(&events).Error == nil && len(events) > 0
	})
	if len(events) != 1 || events[0].Facade != "HTTP" || events[0].Method != "PUT /charms/demo-1234567" || events[0].Result != "ok" ||
		events[0].Identity != "admin" || events[0].Model != modelUUID {
		t.Fatalf("audit events: %+v", events)
	}
}

// httpError decodes a JSON error answer.
func httpError(t *testing.T, resp *http.Response) params.ErrorResult {
	t.Helper()
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answer's content type %q", ct)
	}
	var res params.ErrorResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || res.Error == nil {
		t.Fatalf("error answer: %v %+v", err, res)
	}
	return res
}

// TestModelHTTPRefusals: a caller without credentials, with wrong ones,
// without access, or with read access sending a write, and a request for
// an unknown model are answered with Juju's codes and statuses and never
// reach the controller; a reader may GET; a dead controller is "try
// again".
func TestModelHTTPRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	reached := make(chan string, 16)
	srv := e.httpController(t, func(w http.ResponseWriter, r *http.Request) {
		reached <- r.Method + " " + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"charm-url":"local:demo-0"}`)
	})
	front := e.front(t)
	bobToken, _, err := e.ids.NewSession(ctx, &identity.Identity{Name: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, front.URL+path, strings.NewReader("zip"))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	charms := "/model/" + modelUUID + "/charms"
	unknown := "5e55c0de-0000-4000-8000-0000000000ff"
	for _, c := range []struct {
		name, method, path, auth string
		status                   int
		code, msg                string
	}{
		{"no credentials", "POST", charms, "", 401, "unauthorized access", "authentication failed: no credentials provided"},
		{"wrong password", "POST", charms, basic("user-admin", "nope"), 401, "unauthorized access", "authentication failed: invalid entity name or password"},
		{"no access", "GET", charms, basic("", bobToken), 401, "unauthorized access", "permission denied"},
		{"unknown model", "POST", "/model/" + unknown + "/charms", basic("user-admin", "pw"), 404, "model not found", `unknown model: "` + unknown + `"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := do(c.method, c.path, c.auth)
			res := httpError(t, resp)
			if resp.StatusCode != c.status || res.Error.Code != c.code || res.Error.Message != c.msg {
				t.Fatalf("%d %+v; want %d %q %q", resp.StatusCode, res.Error, c.status, c.code, c.msg)
			}
		})
	}
	if err := e.rel.Add(ctx, authz.Tuple{Subject: "user:bob@example.com", Relation: authz.Reader, Object: "model:" + modelUUID}); err != nil {
		t.Fatal(err)
	}
	resp := do("PUT", "/model-"+modelUUID+"/charms/demo-1234567", basic("", bobToken))
	if res := httpError(t, resp); resp.StatusCode != 401 || res.Error.Message != "permission denied" {
		t.Fatalf("a reader's upload: %d %+v", resp.StatusCode, res.Error)
	}
	if len(reached) != 0 {
		t.Fatalf("refused requests reached the controller: %v", <-reached)
	}
	resp = do("GET", charms+"?url=local:demo-0&file=metadata.yaml", basic("", bobToken))
	resp.Body.Close()
	if resp.StatusCode != 200 || brokertest.Recv(t, reached, "a reader's GET") != "GET "+charms {
		t.Fatalf("a reader's GET: %d", resp.StatusCode)
	}
	// A writer may upload.
	if err := e.rel.Add(ctx, authz.Tuple{Subject: "user:bob@example.com", Relation: authz.Writer, Object: "model:" + modelUUID}); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, "bob's write access takes effect", func() bool {
		resp := do("POST", charms, basic("", bobToken))
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if got := brokertest.Recv(t, reached, "a writer's upload"); got != "POST "+charms {
		t.Fatalf("the controller saw %q", got)
	}
	// A controller that cannot be reached.
	srv.Close()
	resp = do("POST", charms, basic("user-admin", "pw"))
	if res := httpError(t, resp); resp.StatusCode != 503 || res.Error.Code != "try again" ||
		res.Error.Message != `the controller hosting model "m" is unavailable; try again later` {
		t.Fatalf("a dead controller: %d %+v", resp.StatusCode, res.Error)
	}
}
