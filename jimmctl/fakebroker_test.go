package jimmctl

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// fakeBroker is a minimal in-memory stand-in for the broker's /v1 admin
// API, only for testing jimmctl against. It is NOT the broker and checks
// nothing a real broker would (it never dials a controller): it keeps a
// map of controllers and models, checks credentials, and answers with
// restapi types and restapi.Error bodies with fitting statuses.
type fakeBroker struct {
	srv   *httptest.Server
	caPEM []byte // the server certificate, self-signed: the CA to trust
	url   string

	mu          sync.Mutex
	users       map[string]string // user → password
	tokens      map[string]string // token → identity
	controllers map[string]restapi.Controller
	models      map[string]restapi.Model
	added       []restapi.AddControllerRequest // every accepted add request
	auth        []string                       // "bearer <token>" or "basic <user>" per authenticated request
	fail500     bool                           // answer everything with a plain-text 500
}

const (
	fakeAdmin         = "admin"
	fakeAdminPassword = "s3cret-pw"
)

var fakeTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newFakeBroker(t *testing.T) *fakeBroker {
	t.Helper()
	f := &fakeBroker{
		users:       map[string]string{fakeAdmin: fakeAdminPassword},
		tokens:      map[string]string{},
		controllers: map[string]restapi.Controller{},
		models:      map[string]restapi.Model{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+restapi.PathLogin, f.login)
	mux.HandleFunc("GET "+restapi.PathWhoAmI, f.authed(f.whoami))
	mux.HandleFunc("GET "+restapi.PathControllers, f.authed(f.listControllers))
	mux.HandleFunc("POST "+restapi.PathControllers, f.authed(f.addController))
	mux.HandleFunc("GET "+restapi.PathController+"{name}", f.authed(f.getController))
	mux.HandleFunc("DELETE "+restapi.PathController+"{name}", f.authed(f.removeController))
	mux.HandleFunc("PUT "+restapi.PathController+"{name}"+restapi.PathDeprecated, f.authed(f.setDeprecated))
	mux.HandleFunc("GET "+restapi.PathModels, f.authed(f.listModels))
	mux.HandleFunc("GET "+restapi.PathModel+"{uuid}", f.authed(f.getModel))
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		fail := f.fail500
		f.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintln(w, "upstream exploded")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	// Tests provoke TLS failures on purpose; keep their logs quiet.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	f.url = f.srv.URL
	f.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	return f
}

// putController stores a controller directly, as if registered earlier.
func (f *fakeBroker) putController(c restapi.Controller) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.controllers[c.Name] = c
}

func (f *fakeBroker) addModel(m restapi.Model) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.models[m.UUID] = m
	c := f.controllers[m.Controller]
	c.ModelCount++
	f.controllers[m.Controller] = c
}

func (f *fakeBroker) controller(name string) (restapi.Controller, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.controllers[name]
	return c, ok
}

func (f *fakeBroker) lastAuth() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auth) == 0 {
		return ""
	}
	return f.auth[len(f.auth)-1]
}

// authCount is how many requests reached an authenticated endpoint.
func (f *fakeBroker) authCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.auth)
}

func (f *fakeBroker) setFail500(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail500 = v
}

// issueToken makes a session token for identity, as login does.
func (f *fakeBroker) issueToken(identity string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	tok := "tok-" + hex.EncodeToString(b)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[tok] = identity
	return tok
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", restapi.ContentTypeJSON)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, restapi.Error{Message: fmt.Sprintf(format, args...), Code: code})
}

func (f *fakeBroker) login(w http.ResponseWriter, r *http.Request) {
	var req restapi.LoginRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad login request: %v", err)
		return
	}
	f.mu.Lock()
	pw, ok := f.users[req.User]
	f.mu.Unlock()
	if !ok || pw != req.Password {
		writeError(w, http.StatusUnauthorized, restapi.CodeUnauthorized, "invalid user name or password")
		return
	}
	tok := f.issueToken(req.User)
	writeJSON(w, http.StatusOK, restapi.LoginResponse{Token: tok, Identity: req.User, ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second)})
}

// authed checks the bearer token or basic credentials.
func (f *fakeBroker) authed(h func(w http.ResponseWriter, r *http.Request, identity string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var identity, seen string
		authz := r.Header.Get("Authorization")
		f.mu.Lock()
		if tok, ok := strings.CutPrefix(authz, restapi.BearerAuthScheme+" "); ok {
			identity, seen = f.tokens[tok], "bearer "+tok
		} else if u, p, ok := r.BasicAuth(); ok {
			if pw, known := f.users[u]; known && pw == p {
				identity = u
			}
			seen = "basic " + u
		}
		f.auth = append(f.auth, seen)
		f.mu.Unlock()
		if identity == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jimm"`)
			writeError(w, http.StatusUnauthorized, restapi.CodeUnauthorized, "unauthorized: missing or invalid credentials")
			return
		}
		h(w, r, identity)
	}
}

func (f *fakeBroker) whoami(w http.ResponseWriter, _ *http.Request, identity string) {
	writeJSON(w, http.StatusOK, restapi.WhoAmI{Identity: identity, Admin: true})
}

func (f *fakeBroker) listControllers(w http.ResponseWriter, _ *http.Request, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []restapi.Controller{}
	for _, c := range f.controllers {
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeBroker) getController(w http.ResponseWriter, r *http.Request, _ string) {
	name := r.PathValue("name")
	c, ok := f.controller(name)
	if !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "controller %q not found", name)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (f *fakeBroker) addController(w http.ResponseWriter, r *http.Request, _ string) {
	var req restapi.AddControllerRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad request: %v", err)
		return
	}
	if req.Name == "" || req.UUID == "" || len(req.APIAddresses) == 0 || req.CACert == "" || req.AdminUser == "" || req.AdminPassword == "" {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "add controller: missing fields")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.controllers[req.Name]; ok {
		writeError(w, http.StatusConflict, restapi.CodeAlreadyExists, "controller %q already exists", req.Name)
		return
	}
	c := restapi.Controller{
		Name: req.Name, UUID: req.UUID, Status: restapi.StatusUp, AgentVersion: "3.5.4",
		Cloud: "localhost", CloudType: "lxd", Regions: []string{"default"},
		Addresses: req.APIAddresses, Priority: req.Priority, AddedAt: fakeTime,
	}
	f.controllers[req.Name] = c
	f.added = append(f.added, req)
	writeJSON(w, http.StatusCreated, c)
}

func (f *fakeBroker) removeController(w http.ResponseWriter, r *http.Request, _ string) {
	name := r.PathValue("name")
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.controllers[name]
	if !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "controller %q not found", name)
		return
	}
	if c.ModelCount > 0 && r.URL.Query().Get("force") != "true" {
		writeError(w, http.StatusConflict, restapi.CodeConflict, "controller %q hosts %d models", name, c.ModelCount)
		return
	}
	delete(f.controllers, name)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeBroker) setDeprecated(w http.ResponseWriter, r *http.Request, _ string) {
	name := r.PathValue("name")
	var req restapi.SetDeprecatedRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad request: %v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.controllers[name]
	if !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "controller %q not found", name)
		return
	}
	c.Deprecated = req.Deprecated
	f.controllers[name] = c
	writeJSON(w, http.StatusOK, c)
}

func (f *fakeBroker) listModels(w http.ResponseWriter, _ *http.Request, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []restapi.Model{}
	for _, m := range f.models {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b restapi.Model) int { return strings.Compare(b.UUID, a.UUID) }) // not by name
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeBroker) getModel(w http.ResponseWriter, r *http.Request, _ string) {
	uuid := r.PathValue("uuid")
	f.mu.Lock()
	m, ok := f.models[uuid]
	f.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "model %q not found", uuid)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
