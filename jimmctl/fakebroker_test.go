package jimmctl

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
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
	oidc        fakeIdentityProvider           // device logins, service accounts, logouts (fakebroker_oidc_test.go)
	access      fakeAccess                     // groups and relation tuples (auth_test.go)
	config      fakeConfig                     // controller configs (controllerconfig_test.go)

	// Migrations: each GET of a running migration plays the next step of
	// its script, so that a client polling it sees every phase in turn.
	migrations     []*fakeMigration // oldest first
	nextScript     []migrationStep  // the script the next POST gets
	migrationGets  int              // GETs of one migration
	failMigrations int              // answer that many GETs of one migration with a 503

	auditEvents  []restapi.AuditEvent // any order; listed newest (highest id) first
	auditQueries []string             // the raw query of every audit request

	fleet fakeFleet // migration plans, evacuations, rebalances
}

// fakeMigration is a migration and what is left of its script.
type fakeMigration struct {
	m      restapi.Migration
	script []migrationStep
}

// migrationStep is one scripted change of a fake migration.
type migrationStep struct {
	Phase, Message, Result string
}

// successScript is a migration that goes through every phase and succeeds.
var successScript = []migrationStep{
	{Phase: "QUIESCE", Message: "waiting for agents to report back"},
	{Phase: "IMPORT", Message: "importing model into target controller"},
	{Phase: "PROCESSRELATIONS", Message: "processing relations"},
	{Phase: "VALIDATION", Message: "validating model on target controller"},
	{Phase: "SUCCESS", Message: "model now on target controller"},
	{Phase: "LOGTRANSFER", Message: "transferring logs"},
	{Phase: "REAP", Message: "removing model from source controller"},
	{Phase: "DONE", Message: "migration completed", Result: restapi.MigrationSucceeded},
}

// failScript is a migration the target controller refuses during IMPORT.
var failScript = []migrationStep{
	{Phase: "QUIESCE", Message: "waiting for agents to report back"},
	{Phase: "IMPORT", Message: "importing model into target controller"},
	{Phase: "ABORT", Message: "import failed: target refused the model: agent version 3.4.0 too old"},
	{Phase: "ABORTDONE", Message: "import failed: target refused the model: agent version 3.4.0 too old", Result: restapi.MigrationFailed},
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
		oidc:        fakeIdentityProvider{serviceAccounts: map[string]string{fakeClientID: fakeClientSecret}},
		access:      fakeAccess{groups: map[string]restapi.Group{}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+restapi.PathLogin, f.login)
	mux.HandleFunc("POST "+restapi.PathLoginDevice, f.startDevice)
	mux.HandleFunc("POST "+restapi.PathLoginDeviceToken, f.deviceToken)
	mux.HandleFunc("POST "+restapi.PathLogout, f.authed(f.logout))
	mux.HandleFunc("GET "+restapi.PathWhoAmI, f.authed(f.whoami))
	mux.HandleFunc("GET "+restapi.PathControllers, f.authed(f.listControllers))
	mux.HandleFunc("POST "+restapi.PathControllers, f.authed(f.addController))
	mux.HandleFunc("GET "+restapi.PathController+"{name}", f.authed(f.getController))
	mux.HandleFunc("DELETE "+restapi.PathController+"{name}", f.authed(f.removeController))
	mux.HandleFunc("PUT "+restapi.PathController+"{name}"+restapi.PathDeprecated, f.authed(f.setDeprecated))
	mux.HandleFunc("GET "+restapi.PathModels, f.authed(f.listModels))
	mux.HandleFunc("GET "+restapi.PathModel+"{uuid}", f.authed(f.getModel))
	mux.HandleFunc("PUT "+restapi.PathModel+"{uuid}"+restapi.PathMigrated, f.authed(f.updateMigrated))
	mux.HandleFunc("GET "+restapi.PathMigrations, f.authed(f.listMigrations))
	mux.HandleFunc("POST "+restapi.PathMigrations, f.authed(f.migrate))
	mux.HandleFunc("GET "+restapi.PathMigration+"{id}", f.authed(f.getMigration))
	mux.HandleFunc("GET "+restapi.PathAudit, f.authed(f.listAudit))
	mux.HandleFunc("POST "+restapi.PathMigrationPlans, f.authed(f.planMigration))
	mux.HandleFunc("POST "+restapi.PathEvacuations, f.authed(f.evacuate))
	mux.HandleFunc("POST "+restapi.PathRebalances, f.authed(f.rebalance))
	mux.HandleFunc("GET "+restapi.PathFleetJobs, f.authed(f.listFleetJobs))
	mux.HandleFunc("GET "+restapi.PathFleetJob+"{id}", f.authed(f.getFleetJob))
	f.handleAccess(mux)
	f.handleConfig(mux)
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
	var req loginBody
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad login request: %v", err)
		return
	}
	if req.ClientID != "" {
		f.clientCredentialsLogin(w, req.ClientCredentialsRequest)
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

func (f *fakeBroker) model(uuid string) (restapi.Model, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.models[uuid]
	return m, ok
}

// setNextScript sets the script of the migrations POSTed from now on.
func (f *fakeBroker) setNextScript(script []migrationStep) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextScript = script
}

// putMigration stores a migration directly, as if started earlier.
func (f *fakeBroker) putMigration(m restapi.Migration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.migrations = append(f.migrations, &fakeMigration{m: m})
}

// setFailMigrations makes the next n GETs of one migration fail with a 503.
func (f *fakeBroker) setFailMigrations(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failMigrations = n
}

func (f *fakeBroker) getMigrationCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.migrationGets
}

// moveModel makes controller host the model. Call with f.mu held.
func (f *fakeBroker) moveModel(uuid, controller string) restapi.Model {
	m := f.models[uuid]
	if m.Controller == controller {
		return m
	}
	if old, ok := f.controllers[m.Controller]; ok {
		old.ModelCount--
		f.controllers[m.Controller] = old
	}
	c := f.controllers[controller]
	c.ModelCount++
	f.controllers[controller] = c
	m.Controller = controller
	f.models[uuid] = m
	return m
}

func (f *fakeBroker) migrate(w http.ResponseWriter, r *http.Request, _ string) {
	var req restapi.MigrateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad request: %v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	model, ok := f.models[req.ModelUUID]
	if !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "model %q not found", req.ModelUUID)
		return
	}
	if _, ok := f.controllers[req.Controller]; !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "controller %q not found", req.Controller)
		return
	}
	if model.Controller == req.Controller {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "model %s is already on controller %q", model.Name, req.Controller)
		return
	}
	for _, fm := range f.migrations {
		if fm.m.ModelUUID == req.ModelUUID && fm.m.Result == restapi.MigrationRunning {
			writeError(w, http.StatusConflict, restapi.CodeMigrating, "a migration of model %s is already running (migration %d, phase %s)",
				model.Name, fm.m.ID, fm.m.Phase)
			return
		}
	}
	var plan *restapi.MigrationPlan
	if _, sized := f.fleet.sizes[model.UUID]; sized {
		p := f.planLocked(model, req.Controller)
		if !p.Fits && !req.Force {
			writeError(w, http.StatusConflict, restapi.CodeConflict, "%s", f.refusalLocked(model, p))
			return
		}
		plan = &p
	}
	m := restapi.Migration{
		Plan:           plan,
		ID:             int64(len(f.migrations) + 1),
		ModelUUID:      model.UUID,
		ModelName:      model.Name,
		Owner:          model.Owner,
		Source:         model.Controller,
		Target:         req.Controller,
		Phase:          "INITIATING",
		Message:        "asking the source controller to start the migration",
		Result:         restapi.MigrationRunning,
		StartedAt:      fakeTime,
		PhaseChangedAt: fakeTime,
	}
	f.migrations = append(f.migrations, &fakeMigration{m: m, script: slices.Clone(f.nextScript)})
	writeJSON(w, http.StatusAccepted, m)
}

func (f *fakeBroker) listMigrations(w http.ResponseWriter, _ *http.Request, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []restapi.Migration{}
	for i := len(f.migrations) - 1; i >= 0; i-- {
		out = append(out, f.migrations[i].m)
	}
	writeJSON(w, http.StatusOK, out)
}

// getMigration answers a migration by ID, or the latest of a model by its
// UUID, after playing the next step of its script.
func (f *fakeBroker) getMigration(w http.ResponseWriter, r *http.Request, _ string) {
	key := r.PathValue("id")
	f.mu.Lock()
	defer f.mu.Unlock()
	var fm *fakeMigration
	if id, err := strconv.ParseInt(key, 10, 64); err == nil {
		for _, m := range f.migrations {
			if m.m.ID == id {
				fm = m
			}
		}
	} else {
		for _, m := range f.migrations {
			if m.m.ModelUUID == key {
				fm = m // the latest wins
			}
		}
	}
	if fm == nil {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "no migration %q", key)
		return
	}
	f.migrationGets++
	if f.failMigrations > 0 {
		f.failMigrations--
		writeError(w, http.StatusServiceUnavailable, restapi.CodeUnavailable, "database unavailable")
		return
	}
	if len(fm.script) > 0 {
		step := fm.script[0]
		fm.script = fm.script[1:]
		fm.m.Phase, fm.m.Message = step.Phase, step.Message
		fm.m.PhaseChangedAt = fm.m.PhaseChangedAt.Add(time.Minute)
		if step.Result != "" {
			fm.m.Result = step.Result
			ended := fm.m.PhaseChangedAt
			fm.m.EndedAt = &ended
			if step.Result == restapi.MigrationSucceeded {
				f.moveModel(fm.m.ModelUUID, fm.m.Target)
			}
		}
	}
	writeJSON(w, http.StatusOK, fm.m)
}

func (f *fakeBroker) updateMigrated(w http.ResponseWriter, r *http.Request, _ string) {
	uuid := r.PathValue("uuid")
	var req restapi.UpdateMigratedRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad request: %v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.models[uuid]; !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "model %q not found", uuid)
		return
	}
	if _, ok := f.controllers[req.Controller]; !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "controller %q not found", req.Controller)
		return
	}
	writeJSON(w, http.StatusOK, f.moveModel(uuid, req.Controller))
}

// fakeFleet is the fake broker's fleet operations. Models with a size are
// planned (and migrate plans them too); the estimate is the broker's
// formula in short: one second, plus one agent-ratelimit-rate per login
// beyond the burst, plus 2ms per login, two logins per agent, fitting
// within 80% of migration-agent-wait-time. An evacuation places the
// biggest models first on the controller with the fewest agents, and
// leaves the models that are not alive unplaced. Each GET of a running
// job plays one step: its running moves end (failing for the models in
// failing), then the next ones start, Parallel at a time; a move whose
// plan does not fit fails as it starts, unless the job is forced.
type fakeFleet struct {
	sizes   map[string]restapi.Load // model UUID → its machines, units, agents
	failing map[string]string       // model UUID → the error its move fails with
	// forceInMessage: migrate's plan refusal already says that force
	// overrides it.
	forceInMessage bool

	jobs          []*restapi.FleetJob // oldest first
	forced        map[int64]bool      // the jobs started with force
	nextMigration int64
	jobGets       int         // GETs of one job
	failJobGets   map[int]int // GET of a job (1 is the first) → the error status to answer it with

	plans       []restapi.PlanMigrationRequest
	evacuations []restapi.EvacuateRequest
	rebalances  []restapi.RebalanceRequest
}

// setSize gives a model its size.
func (f *fakeBroker) setSize(uuid string, machines, units int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fleet.sizes == nil {
		f.fleet.sizes = map[string]restapi.Load{}
	}
	f.fleet.sizes[uuid] = restapi.Load{Models: 1, Machines: machines, Units: units, Agents: machines + units}
}

// limitsLocked are controller's agent settings from its fake config, with
// Juju's defaults. Call with f.mu held.
func (f *fakeBroker) limitsLocked(controller string) (max int, rate, wait time.Duration) {
	max, rate, wait = 10, 250*time.Millisecond, 15*time.Minute
	cfg := f.config.configs[controller]
	if v, ok := cfg["agent-ratelimit-max"].(int); ok {
		max = v
	}
	if v, ok := cfg["agent-ratelimit-rate"].(string); ok {
		rate, _ = time.ParseDuration(v)
	}
	if v, ok := cfg["migration-agent-wait-time"].(string); ok {
		wait, _ = time.ParseDuration(v)
	}
	return max, rate, wait
}

func fakeEstimate(agents, max int, rate time.Duration) time.Duration {
	n := 2 * agents
	est := time.Second + time.Duration(n)*2*time.Millisecond
	if max > 0 && n > max {
		est += time.Duration(n-max) * rate
	}
	return est
}

// planLocked plans moving model to target. Call with f.mu held.
func (f *fakeBroker) planLocked(model restapi.Model, target string) restapi.MigrationPlan {
	size := f.fleet.sizes[model.UUID]
	max, rate, wait := f.limitsLocked(target)
	est := fakeEstimate(size.Agents, max, rate)
	p := restapi.MigrationPlan{
		ModelUUID: model.UUID, Model: model.Owner + "/" + model.Name, Source: model.Controller, Target: target,
		Machines: size.Machines, Units: size.Units, Agents: size.Agents, Logins: 2 * size.Agents,
		Limits:          restapi.AgentLimits{RateLimitMax: max, RateLimitRate: rate.String(), AgentWaitTime: wait.String()},
		EstimateSeconds: est.Seconds(),
		Fits:            est <= wait*8/10,
	}
	if p.Fits {
		return p
	}
	n := 2 * size.Agents
	budget := wait*8/10 - time.Second - time.Duration(n)*2*time.Millisecond
	advRate := (budget / time.Duration(n-max)).Truncate(time.Millisecond)
	p.Advised = &restapi.AgentLimits{RateLimitMax: max, RateLimitRate: advRate.String(), AgentWaitTime: p.Limits.AgentWaitTime}
	p.Advice = fmt.Sprintf("%d agents (%d logins) need about %s to reconnect at agent-ratelimit-max %d and agent-ratelimit-rate %s, more than 80%% of migration-agent-wait-time %s: set agent-ratelimit-rate=%s on the target",
		size.Agents, n, est.Round(time.Second), max, rate, wait, advRate)
	return p
}

// refusalLocked is migrate's refusal of a plan that does not fit, as the
// broker words it. Call with f.mu held.
func (f *fakeBroker) refusalLocked(model restapi.Model, p restapi.MigrationPlan) string {
	msg := fmt.Sprintf("model %q would not finish VALIDATION on controller %q: %s", model.Name, p.Target, p.Advice)
	if f.fleet.forceInMessage {
		msg += " (--force starts it anyway)"
	}
	return msg
}

func (f *fakeBroker) planMigration(w http.ResponseWriter, r *http.Request, _ string) {
	var req restapi.PlanMigrationRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad request: %v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fleet.plans = append(f.fleet.plans, req)
	model, ok := f.models[req.ModelUUID]
	if !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "model %q not found", req.ModelUUID)
		return
	}
	if _, ok := f.controllers[req.Controller]; !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "controller %q not found", req.Controller)
		return
	}
	p := f.planLocked(model, req.Controller)
	if req.Apply && !p.Fits {
		if f.config.configs == nil {
			f.config.configs = map[string]map[string]any{}
		}
		if f.config.configs[req.Controller] == nil {
			f.config.configs[req.Controller] = map[string]any{}
		}
		f.config.configs[req.Controller]["agent-ratelimit-rate"] = string(p.Advised.RateLimitRate)
		p = f.planLocked(model, req.Controller)
		p.Applied = true
	}
	writeJSON(w, http.StatusOK, p)
}

// loadsLocked is every controller's load. Call with f.mu held.
func (f *fakeBroker) loadsLocked() map[string]restapi.Load {
	out := map[string]restapi.Load{}
	for name := range f.controllers {
		out[name] = restapi.Load{}
	}
	for _, m := range f.models {
		l, s := out[m.Controller], f.fleet.sizes[m.UUID]
		l.Models++
		l.Machines += s.Machines
		l.Units += s.Units
		l.Agents += s.Agents
		out[m.Controller] = l
	}
	return out
}

func addLoad(l, s restapi.Load, sign int) restapi.Load {
	return restapi.Load{Models: l.Models + sign, Machines: l.Machines + sign*s.Machines,
		Units: l.Units + sign*s.Units, Agents: l.Agents + sign*s.Agents}
}

// modelsOnLocked are the models on controller, by name. Call with f.mu
// held.
func (f *fakeBroker) modelsOnLocked(controller string) []restapi.Model {
	var out []restapi.Model
	for _, m := range f.models {
		if m.Controller == controller {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b restapi.Model) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// startJobLocked answers a job: a dry run as planned, else stored and
// running. Call with f.mu held.
func (f *fakeBroker) startJobLocked(w http.ResponseWriter, j restapi.FleetJob, dryRun, force bool) {
	j.CreatedAt = fakeTime
	if j.Parallel < 1 {
		j.Parallel = 1
	}
	if j.Moves == nil {
		j.Moves = []restapi.Move{}
	}
	if dryRun {
		j.State = restapi.JobPlanned
		writeJSON(w, http.StatusOK, j)
		return
	}
	j.ID = int64(len(f.fleet.jobs) + 1)
	j.State = restapi.JobRunning
	if f.fleet.forced == nil {
		f.fleet.forced = map[int64]bool{}
	}
	f.fleet.forced[j.ID] = force
	if len(j.Moves) == 0 {
		j.State = restapi.JobDone
		ended := fakeTime
		j.EndedAt = &ended
	}
	f.fleet.jobs = append(f.fleet.jobs, &j)
	writeJSON(w, http.StatusAccepted, j)
}

func (f *fakeBroker) evacuate(w http.ResponseWriter, r *http.Request, _ string) {
	var req restapi.EvacuateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad request: %v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fleet.evacuations = append(f.fleet.evacuations, req)
	src, ok := f.controllers[req.Controller]
	if !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "controller %q not found", req.Controller)
		return
	}
	var targets []string
	for _, name := range req.To {
		if _, ok := f.controllers[name]; !ok {
			writeError(w, http.StatusConflict, restapi.CodeConflict, "target controller %q is not registered", name)
			return
		}
		targets = append(targets, name)
	}
	if len(targets) == 0 {
		for name, c := range f.controllers {
			if name != req.Controller && !c.Deprecated && c.Status == restapi.StatusUp {
				targets = append(targets, name)
			}
		}
	}
	slices.Sort(targets)
	before := f.loadsLocked()
	after := maps.Clone(before)
	j := restapi.FleetJob{Kind: restapi.JobEvacuate, Controller: req.Controller, Parallel: req.Parallel, Before: before, After: after}
	models := f.modelsOnLocked(req.Controller)
	slices.SortStableFunc(models, func(a, b restapi.Model) int { return f.fleet.sizes[b.UUID].Agents - f.fleet.sizes[a.UUID].Agents })
	for _, m := range models {
		size := f.fleet.sizes[m.UUID]
		if m.Life != "alive" {
			j.Unplaced = append(j.Unplaced, restapi.Unplaced{ModelUUID: m.UUID, Model: m.Owner + "/" + m.Name, Reason: "the model is " + m.Life})
			continue
		}
		if len(targets) == 0 {
			j.Unplaced = append(j.Unplaced, restapi.Unplaced{ModelUUID: m.UUID, Model: m.Owner + "/" + m.Name, Reason: "no other controller is registered"})
			continue
		}
		best := targets[0]
		for _, t := range targets[1:] {
			if after[t].Agents < after[best].Agents {
				best = t
			}
		}
		p := f.planLocked(m, best)
		after[m.Controller] = addLoad(after[m.Controller], size, -1)
		after[best] = addLoad(after[best], size, +1)
		j.Moves = append(j.Moves, restapi.Move{ModelUUID: m.UUID, Model: p.Model, Source: m.Controller, Target: best,
			Agents: size.Agents, EstimateSeconds: p.EstimateSeconds, State: restapi.MovePending})
	}
	if !req.DryRun {
		src.Deprecated = true
		f.controllers[req.Controller] = src
	}
	f.startJobLocked(w, j, req.DryRun, req.Force)
}

func measure(l restapi.Load, by string) int {
	switch by {
	case restapi.ByMachines:
		return l.Machines
	case restapi.ByUnits:
		return l.Units
	case restapi.ByAgents:
		return l.Agents
	}
	return l.Models
}

// ratio is the busiest controller's load over the mean, by by.
func ratio(loads map[string]restapi.Load, by string) float64 {
	sum, top := 0, 0
	for _, l := range loads {
		sum += measure(l, by)
		top = max(top, measure(l, by))
	}
	if sum == 0 {
		return 0
	}
	return float64(top) * float64(len(loads)) / float64(sum)
}

// rebalance plans greedily: move from the busiest controller to the least
// busy the model that lowers the larger of the two most, while one does.
func (f *fakeBroker) rebalance(w http.ResponseWriter, r *http.Request, _ string) {
	var req restapi.RebalanceRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad request: %v", err)
		return
	}
	by := req.By
	if by == "" {
		by = restapi.ByModels
	}
	if !slices.Contains([]string{restapi.ByModels, restapi.ByMachines, restapi.ByUnits, restapi.ByAgents}, by) {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "rebalance: unknown measure %q", by)
		return
	}
	maxMoves := req.MaxMoves
	if maxMoves == 0 {
		maxMoves = 10
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fleet.rebalances = append(f.fleet.rebalances, req)
	before := map[string]restapi.Load{}
	for name, l := range f.loadsLocked() {
		if c := f.controllers[name]; !c.Deprecated && c.Status == restapi.StatusUp {
			before[name] = l
		}
	}
	after := maps.Clone(before)
	where := map[string]string{} // model → controller as planned
	for uuid, m := range f.models {
		where[uuid] = m.Controller
	}
	moved := map[string]bool{}
	j := restapi.FleetJob{Kind: restapi.JobRebalance, By: by, Parallel: req.Parallel, Before: before, After: after}
	for len(j.Moves) < maxMoves {
		var names []string
		for n := range after {
			names = append(names, n)
		}
		slices.Sort(names)
		busy, idle := names[0], names[0]
		for _, n := range names {
			if measure(after[n], by) > measure(after[busy], by) {
				busy = n
			}
			if measure(after[n], by) < measure(after[idle], by) {
				idle = n
			}
		}
		best, bestTop := "", measure(after[busy], by)
		for _, m := range f.modelsOnLocked(busy) {
			if moved[m.UUID] || where[m.UUID] != busy {
				continue
			}
			s := measure(f.fleet.sizes[m.UUID], by)
			if by == restapi.ByModels {
				s = 1
			}
			if top := max(measure(after[busy], by)-s, measure(after[idle], by)+s); top < bestTop && (req.Force || f.planLocked(m, idle).Fits) {
				best, bestTop = m.UUID, top
			}
		}
		if best == "" {
			break
		}
		m, size := f.models[best], f.fleet.sizes[best]
		p := f.planLocked(m, idle)
		moved[best], where[best] = true, idle
		after[busy] = addLoad(after[busy], size, -1)
		after[idle] = addLoad(after[idle], size, +1)
		j.Moves = append(j.Moves, restapi.Move{ModelUUID: best, Model: p.Model, Source: busy, Target: idle,
			Agents: size.Agents, EstimateSeconds: p.EstimateSeconds, State: restapi.MovePending})
	}
	j.RatioBefore, j.RatioAfter = ratio(before, by), ratio(after, by)
	f.startJobLocked(w, j, req.DryRun, req.Force)
}

func (f *fakeBroker) listFleetJobs(w http.ResponseWriter, _ *http.Request, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []restapi.FleetJob{}
	for i := len(f.fleet.jobs) - 1; i >= 0; i-- {
		out = append(out, *f.fleet.jobs[i])
	}
	writeJSON(w, http.StatusOK, out)
}

// getFleetJob answers a job after playing its next step.
func (f *fakeBroker) getFleetJob(w http.ResponseWriter, r *http.Request, _ string) {
	key := r.PathValue("id")
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "invalid fleet job id %q", key)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if id < 1 || id > int64(len(f.fleet.jobs)) {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "fleet job %d not found", id)
		return
	}
	f.fleet.jobGets++
	switch f.fleet.failJobGets[f.fleet.jobGets] {
	case 0:
	case http.StatusForbidden:
		writeError(w, http.StatusForbidden, restapi.CodeForbidden, "forbidden: fleet jobs are for broker administrators")
		return
	default:
		writeError(w, http.StatusServiceUnavailable, restapi.CodeUnavailable, "database unavailable")
		return
	}
	j := f.fleet.jobs[id-1]
	if j.State == restapi.JobRunning {
		for i := range j.Moves {
			m := &j.Moves[i]
			if m.State != restapi.MoveRunning {
				continue
			}
			if msg, fails := f.fleet.failing[m.ModelUUID]; fails {
				m.State, m.Error = restapi.MoveFailed, msg
			} else {
				m.State = restapi.MoveSucceeded
				f.moveModel(m.ModelUUID, m.Target)
			}
		}
		started := 0
		for i := range j.Moves {
			m := &j.Moves[i]
			if m.State != restapi.MovePending || started == j.Parallel {
				continue
			}
			model := f.models[m.ModelUUID]
			if p := f.planLocked(model, m.Target); !p.Fits && !f.fleet.forced[j.ID] {
				m.State, m.Error = restapi.MoveFailed, f.refusalLocked(model, p)
				continue
			}
			f.fleet.nextMigration++
			m.State, m.MigrationID = restapi.MoveRunning, 100+f.fleet.nextMigration
			started++
		}
		if started == 0 {
			j.State = restapi.JobDone
			ended := fakeTime.Add(time.Duration(f.fleet.jobGets) * time.Minute)
			j.EndedAt = &ended
		}
	}
	writeJSON(w, http.StatusOK, j)
}
