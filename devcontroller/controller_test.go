package devcontroller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

var quiet = slog.New(slog.DiscardHandler)

// testBurst is the agent login burst of test controllers.
var testBurst = new(1000)

// startController runs a controller in-process on a free port until the
// test ends.
func startController(t *testing.T, dir string, mod ...func(*Config)) *Controller {
	t.Helper()
	cfg := Config{Name: "ctl-test", Listen: "127.0.0.1:0", DataDir: dir, Cloud: "localhost",
		Regions: []string{"r1", "r2"}, AdminPassword: "secret", ModelDestroyDelay: 100 * time.Millisecond, Logger: quiet,
		// Agents reach a target without waiting for tokens, unless a
		// test asks for a limit.
		AgentRateLimitMax: testBurst}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return c
}

func dial(t *testing.T, c *Controller, path string) *jujuapi.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CACertPEM())
	conn, err := jujuapi.Dial(t.Context(), "wss://"+c.Addr()+path, jujuapi.DialOptions{
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cl := jujuapi.NewClient(conn)
	t.Cleanup(func() { cl.Close() })
	return cl
}

func login(t *testing.T, c *Controller, path, user, password string) (*jujuapi.Client, params.LoginResult, error) {
	t.Helper()
	cl := dial(t, c, path)
	var res params.LoginResult
	err := cl.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-" + user, Credentials: password}, &res)
	return cl, res, err
}

func mustLogin(t *testing.T, c *Controller, path, user, password string) *jujuapi.Client {
	t.Helper()
	cl, _, err := login(t, c, path, user, password)
	if err != nil {
		t.Fatalf("login %s on %s: %v", user, path, err)
	}
	return cl
}

func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	var e *jujuapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want error with code %q", err, code)
	}
	if e.Code != code || (msg != "" && e.Message != msg) {
		t.Fatalf("got %q (code %q), want %q (code %q)", e.Message, e.Code, msg, code)
	}
}

func TestLogin(t *testing.T) {
	c := startController(t, t.TempDir())
	cl, res, err := login(t, c, "/api", "admin", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if res.ControllerTag != "controller-"+c.UUID() || res.ModelTag != "" || res.ServerVersion != "3.5.4" {
		t.Fatalf("login result: %+v", res)
	}
	if res.UserInfo.Identity != "user-admin" || res.UserInfo.ControllerAccess != "superuser" {
		t.Fatalf("user info: %+v", res.UserInfo)
	}
	if len(res.Servers) != 1 || res.Servers[0][0].Scope != "public" || res.Servers[0][0].Type != "ipv4" {
		t.Fatalf("servers: %+v", res.Servers)
	}
	facades := map[string][]int{}
	for _, f := range res.Facades {
		facades[f.Name] = f.Versions
	}
	if v := facades["ModelManager"]; len(v) != 2 || v[0] != 9 || v[1] != 10 {
		t.Fatalf("ModelManager versions %v, want [9 10]", v)
	}
	if _, ok := facades["Client"]; ok {
		t.Fatal("controller connection lists the model facade Client")
	}
	err = cl.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-admin", Credentials: "secret"}, nil)
	wantCode(t, err, jujuapi.CodeBadRequest, "already logged in")

	_, _, err = login(t, c, "/api", "admin", "wrong")
	wantCode(t, err, jujuapi.CodeUnauthorized, "invalid entity name or password")
	_, _, err = login(t, c, "/api", "nobody", "secret")
	wantCode(t, err, jujuapi.CodeUnauthorized, "invalid entity name or password")
	_, _, err = login(t, c, "/model/00000000-0000-4000-8000-000000000000/api", "admin", "secret")
	wantCode(t, err, jujuapi.CodeModelNotFound, `unknown model: "00000000-0000-4000-8000-000000000000"`)

	// Before login, only Admin answers.
	anon := dial(t, c, "/api")
	err = anon.Call(t.Context(), "ModelManager", 10, "ListModels", params.Entity{Tag: "user-admin"}, nil)
	wantCode(t, err, jujuapi.CodeNotImplemented, `unknown version (10) of interface "ModelManager"`)
}

func createModel(t *testing.T, cl *jujuapi.Client, name, owner string) params.ModelInfo {
	t.Helper()
	var info params.ModelInfo
	if err := cl.Call(t.Context(), "ModelManager", 10, "CreateModel", params.ModelCreateArgs{
		Name: name, OwnerTag: "user-" + owner, CloudTag: "cloud-localhost", CloudRegion: "r2",
	}, &info); err != nil {
		t.Fatalf("create model %s: %v", name, err)
	}
	return info
}

func summaries(t *testing.T, cl *jujuapi.Client, user string) map[string]string {
	t.Helper()
	var res params.ModelSummaryResults
	if err := cl.Call(t.Context(), "ModelManager", 10, "ListModelSummaries", params.ModelSummariesRequest{UserTag: "user-" + user}, &res); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range res.Results {
		out[r.Result.Name] = string(r.Result.UserAccess)
	}
	return out
}

func TestAccess(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	var added params.AddUserResults
	if err := admin.Call(t.Context(), "UserManager", 3, "AddUser", params.AddUsers{Users: []params.AddUser{{Username: "bob", Password: "bobpw"}}}, &added); err != nil || added.Results[0].Error != nil {
		t.Fatalf("add user: %v %+v", err, added)
	}
	m := createModel(t, admin, "shared", "admin")
	if m.CloudRegion != "r2" || m.OwnerTag != "user-admin" || m.Life != "alive" {
		t.Fatalf("created model: %+v", m)
	}

	bob := mustLogin(t, c, "/api", "bob", "bobpw")
	if got := summaries(t, bob, "bob"); len(got) != 0 {
		t.Fatalf("bob sees %v before any grant", got)
	}
	var infos params.ModelInfoResults
	bob.Call(t.Context(), "ModelManager", 10, "ModelInfo", params.Entities{Entities: []params.Entity{{Tag: "model-" + m.UUID}}}, &infos)
	if e := infos.Results[0].Error; e == nil || e.Code != jujuapi.CodeNotFound {
		t.Fatalf("bob's ModelInfo before grant: %+v", infos.Results[0])
	}
	// Bob may not create a model for someone else, nor list another user's.
	err := bob.Call(t.Context(), "ModelManager", 10, "CreateModel", params.ModelCreateArgs{Name: "x", OwnerTag: "user-admin"}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")
	_, _, err = login(t, c, "/model/"+m.UUID+"/api", "bob", "bobpw")
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	grant := func(access string) {
		var res params.ErrorResults
		if err := admin.Call(t.Context(), "ModelManager", 10, "ModifyModelAccess", params.ModifyModelAccessRequest{Changes: []params.ModifyModelAccess{{
			UserTag: "user-bob", Action: "grant", Access: params.UserAccessPermission(access), ModelTag: "model-" + m.UUID,
		}}}, &res); err != nil || res.Results[0].Error != nil {
			t.Fatalf("grant %s: %v %+v", access, err, res)
		}
	}
	grant("read")
	if got := summaries(t, bob, "bob"); got["shared"] != "read" {
		t.Fatalf("bob after read grant: %v", got)
	}
	bobModel := mustLogin(t, c, "/model/"+m.UUID+"/api", "bob", "bobpw")
	if err := bobModel.Call(t.Context(), "Client", 7, "FullStatus", params.StatusParams{}, nil); err != nil {
		t.Fatalf("read user FullStatus: %v", err)
	}
	err = bobModel.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"logging-config": "<root>=DEBUG"}}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")
	grant("write")
	if err := bobModel.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"logging-config": "<root>=DEBUG"}}, nil); err != nil {
		t.Fatalf("write user ModelSet: %v", err)
	}
	var cfg params.ModelConfigResults
	bobModel.Call(t.Context(), "ModelConfig", 3, "ModelGet", nil, &cfg)
	if v := cfg.Config["logging-config"]; v.Value != "<root>=DEBUG" || v.Source != "model" {
		t.Fatalf("logging-config after set: %+v", v)
	}
	// Only an admin destroys.
	var res params.ErrorResults
	bob.Call(t.Context(), "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + m.UUID}}}, &res)
	if e := res.Results[0].Error; e == nil || e.Message != "permission denied" {
		t.Fatalf("write user destroying: %+v", res.Results[0])
	}
	// The controller model cannot be destroyed.
	res = params.ErrorResults{}
	admin.Call(t.Context(), "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + c.UUID()}}}, &res)
	if e := res.Results[0].Error; e == nil || e.Code != jujuapi.CodeNotSupported {
		t.Fatalf("destroying the controller model: %+v", res.Results[0])
	}
}

func TestModelContentsAndDestroy(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "work", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	var res params.ErrorResults
	if err := mc.Call(t.Context(), "Application", 19, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{{
		ApplicationName: "pg", CharmURL: "ch:amd64/jammy/postgresql-12", CharmOrigin: chOrigin(), NumUnits: 2,
	}}}, &res); err != nil || res.Results[0].Error != nil {
		t.Fatalf("deploy: %v %+v", err, res)
	}
	mc.Call(t.Context(), "Application", 19, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{{ApplicationName: "pg", CharmURL: "ch:postgresql-12", CharmOrigin: chOrigin()}}}, &res)
	if e := res.Results[0].Error; e == nil || e.Code != jujuapi.CodeAlreadyExists {
		t.Fatalf("deploying pg twice: %+v", res.Results[0])
	}
	var units params.AddApplicationUnitsResults
	if err := mc.Call(t.Context(), "Application", 19, "AddUnits", params.AddApplicationUnits{ApplicationName: "pg", NumUnits: 1, Placement: []*params.Placement{{Scope: "#", Directive: "0"}}}, &units); err != nil {
		t.Fatal(err)
	}
	if len(units.Units) != 1 || units.Units[0] != "pg/2" {
		t.Fatalf("added units %v", units.Units)
	}
	var st params.FullStatus
	if err := mc.Call(t.Context(), "Client", 7, "FullStatus", params.StatusParams{}, &st); err != nil {
		t.Fatal(err)
	}
	app := st.Applications["pg"]
	if len(app.Units) != 3 || len(st.Machines) != 2 || app.Units["pg/2"].Machine != "0" || !app.Units["pg/0"].Leader {
		t.Fatalf("status: %d units, %d machines: %+v", len(app.Units), len(st.Machines), app.Units)
	}
	if st.Machines["1"].AgentStatus.Status != "started" || app.Units["pg/1"].WorkloadStatus.Status != "active" {
		t.Fatalf("machine/unit status: %+v %+v", st.Machines["1"].AgentStatus, app.Units["pg/1"].WorkloadStatus)
	}
	// Model-only facades are absent on /api; controller-only ones on the model.
	err := admin.Call(t.Context(), "Client", 7, "FullStatus", params.StatusParams{}, nil)
	wantCode(t, err, jujuapi.CodeNotImplemented, `unknown object type "Client"`)

	res = params.ErrorResults{}
	admin.Call(t.Context(), "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + m.UUID}}}, &res)
	if res.Results[0].Error != nil {
		t.Fatalf("destroy: %+v", res.Results[0].Error)
	}
	var ms params.ModelStatusResults
	admin.Call(t.Context(), "ModelManager", 10, "ModelStatus", params.Entities{Entities: []params.Entity{{Tag: "model-" + m.UUID}}}, &ms)
	if ms.Results[0].Life != "dying" || ms.Results[0].UnitCount != 3 {
		t.Fatalf("status right after destroy: %+v", ms.Results[0])
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ms = params.ModelStatusResults{}
		admin.Call(t.Context(), "ModelManager", 10, "ModelStatus", params.Entities{Entities: []params.Entity{{Tag: "model-" + m.UUID}}}, &ms)
		if e := ms.Results[0].Error; e != nil && e.Code == jujuapi.CodeNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("model still there: %+v", ms.Results[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := summaries(t, admin, "admin"); len(got) != 1 || got["controller"] != "admin" {
		t.Fatalf("models after destroy: %v", got)
	}
}

func TestRestartKeepsIdentityAndState(t *testing.T) {
	dir := t.TempDir()
	var uuid, modelUUID string
	var ca []byte
	func() {
		ctx, cancel := context.WithCancel(context.Background())
		c, err := New(ctx, Config{Name: "r", Listen: "127.0.0.1:0", DataDir: dir, Cloud: "localhost", Regions: []string{"r1", "r2"}, AdminPassword: "pw1", ModelDestroyDelay: time.Hour, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Serve(ctx) }()
		defer func() { cancel(); <-done }()
		uuid, ca = c.UUID(), c.CACertPEM()
		admin := mustLogin(t, c, "/api", "admin", "pw1")
		modelUUID = createModel(t, admin, "keep", "admin").UUID
		dying := createModel(t, admin, "dying", "admin").UUID
		admin.Call(t.Context(), "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + dying}}}, nil)
	}()
	info, err := os.Stat(filepath.Join(dir, ControllerFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("controller.yaml: %v, mode %v", err, info.Mode())
	}
	// Restart without a password: the stored one still works.
	c := startController(t, dir, func(cfg *Config) { cfg.AdminPassword = "" })
	if c.UUID() != uuid || string(c.CACertPEM()) != string(ca) {
		t.Fatal("identity or CA changed across restart")
	}
	f, err := ReadControllerFile(c.ControllerFilePath())
	if err != nil || f.UUID != uuid || f.AdminPassword != "pw1" || f.APIAddresses[0] != c.Addr() {
		t.Fatalf("controller file after restart: %v %+v", err, f)
	}
	admin := mustLogin(t, c, "/api", "admin", "pw1")
	got := summaries(t, admin, "admin")
	if got["keep"] != "admin" {
		t.Fatalf("models after restart: %v (want keep)", got)
	}
	// The model that was dying when the controller stopped finishes dying.
	deadline := time.Now().Add(3 * time.Second)
	for len(summaries(t, admin, "admin")) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("dying model not removed after restart: %v", summaries(t, admin, "admin"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = modelUUID
}

func TestCharmName(t *testing.T) {
	for url, want := range map[string]struct {
		name string
		rev  int
	}{
		"ch:amd64/jammy/postgresql-12": {"postgresql", 12},
		"ch:postgresql":                {"postgresql", -1},
		"local:jammy/my-charm-3":       {"my-charm", 3},
		"mysql-k8s":                    {"mysql-k8s", -1},
	} {
		if name, rev := charmName(url); name != want.name || rev != want.rev {
			t.Errorf("charmName(%q) = %q, %d; want %q, %d", url, name, rev, want.name, want.rev)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !checkPassword(h, "s3cret") || checkPassword(h, "s3cre") || checkPassword("garbage", "s3cret") {
		t.Fatal("password check is wrong")
	}
	if h2, _ := hashPassword("s3cret"); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
}

// TestModelCreateDelay: with a creation delay, the model exists (another
// connection lists it) before its creator hears of it, as on a real
// controller, and a creator that gives up leaves it in place.
func TestModelCreateDelay(t *testing.T) {
	c := startController(t, t.TempDir(), func(cfg *Config) { cfg.ModelCreateDelay = 300 * time.Millisecond })
	creator, other := mustLogin(t, c, "/api", "admin", "secret"), mustLogin(t, c, "/api", "admin", "secret")
	start := time.Now()
	done := make(chan params.ModelInfo, 1)
	go func() { done <- createModel(t, creator, "slow", "admin") }()
	for deadline := time.Now().Add(250 * time.Millisecond); summaries(t, other, "admin")["slow"] == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the model is not listed while its creation is being answered")
		}
	}
	info := <-done
	if took := time.Since(start); took < 300*time.Millisecond || info.Name != "slow" {
		t.Fatalf("CreateModel answered %+v after %s, want the model after at least 300ms", info, took)
	}
	// A creator that gives up (its context ends) leaves the model there.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	var res params.ModelInfo
	if err := creator.Call(ctx, "ModelManager", 10, "CreateModel", params.ModelCreateArgs{Name: "abandoned", OwnerTag: "user-admin", CloudRegion: "r1"}, &res); err == nil {
		t.Fatal("CreateModel answered within 50ms despite the delay")
	}
	for deadline := time.Now().Add(5 * time.Second); summaries(t, other, "admin")["abandoned"] == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the model whose creator gave up is not there")
		}
	}
}
