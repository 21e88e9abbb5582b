package facades

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/clouds"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/migration"
	"github.com/jimmbroker/jimm/broker/summaries"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/devcontroller"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

var quiet = brokertest.Quiet

const (
	brokerUUID    = brokertest.BrokerUUID
	adminPassword = brokertest.AdminPassword
	ctlPassword   = "controller-admin-password"
)

// env is the broker's facades over real, in-process development
// controllers, on SQLite.
type env struct {
	d         *db.DB
	rel       *authz.Relations
	ids       *identity.Service
	registry  *controllers.Registry
	pool      *controllers.Pool
	api       *API
	summaries *summaries.Hub
	ctls      map[string]*devcontroller.Controller
}

// newEnv starts a development controller for each of specs ("name:region,
// region"), all on cloud localhost, and registers them.
func newEnv(t *testing.T, specs ...string) *env {
	t.Helper()
	ctx := t.Context()
	parts := brokertest.New(t)
	e := &env{d: parts.DB, rel: parts.Rel, ids: parts.IDs, ctls: map[string]*devcontroller.Controller{}}
	cipher := parts.Cipher
	e.registry = controllers.NewRegistry(e.d, cipher, quiet)
	e.pool = controllers.NewPool(e.registry.Resolve, jujuapi.ConnOptions{}, quiet)
	t.Cleanup(e.pool.Close)
	health, err := controllers.NewHealth(controllers.HealthConfig{Interval: time.Second, Pool: e.pool, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	go health.Run(ctx)
	for _, spec := range specs {
		name, regions, _ := strings.Cut(spec, ":")
		c, err := devcontroller.New(ctx, devcontroller.Config{Name: name, Listen: "127.0.0.1:0", DataDir: t.TempDir(),
			Cloud: "localhost", CloudType: "lxd", Regions: strings.Split(regions, ","), AdminPassword: ctlPassword,
			ModelDestroyDelay: time.Minute, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Serve(sctx) }()
		t.Cleanup(func() { stop(); <-done })
		e.ctls[name] = c
		if _, err := e.registry.Add(ctx, controllers.AddRequest{Name: name, UUID: c.UUID(), Addresses: []string{c.Addr()}, CACert: string(c.CACertPEM()),
			AdminUser: "admin", AdminPassword: ctlPassword}); err != nil {
			t.Fatal(err)
		}
		health.Track(name)
		for deadline := time.Now().Add(10 * time.Second); !health.Up(name); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("controller %s is not up after 10s", name)
			}
		}
	}
	routes := parts.StartRoutes(t, e.pool)
	migrations, err := migration.New(migration.Deps{DB: e.d, Routes: routes, Registry: e.registry, Up: health.Up, ReplicaID: "r1", Logger: quiet,
		Controller: func(ctx context.Context, name string) (migration.Controller, error) {
			c, err := e.pool.Get(ctx, name)
			if err != nil {
				return nil, err
			}
			return c, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	migrations.Start(ctx)
	hub, err := summaries.New(summaries.Deps{DB: e.d, Routes: routes, Identity: e.ids, ControllerName: "jimm", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e.summaries = hub
	routes.OnChange(hub.ModelChanged)
	e.rel.OnChange(hub.AccessChanged)
	if e.api, err = New(Deps{DB: e.d, Routes: routes, Identity: e.ids, Relations: e.rel, Registry: e.registry, Pool: e.pool, Summaries: hub,
		Clouds:     clouds.New(clouds.Deps{DB: e.d, Identity: e.ids, Relations: e.rel, Registry: e.registry, Pool: e.pool, Up: health.Up, Sealer: cipher, Logger: quiet}),
		Migrations: migrations, Up: health.Up, BrokerUUID: brokerUUID, PublicAddress: "jimm.example.com:443",
		JujuVersion: "3.5.4", ControllerName: "jimm", ModelCreateTimeout: 10 * time.Second, Metrics: prometheus.NewRegistry(), Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	return e
}

// client is a logged-in /api connection to the facades.
type client struct {
	*jujuapi.Client
	t *testing.T
}

// as logs in on a new /api connection: as the bootstrap admin for "admin",
// else with a session for the identity named name.
func (e *env) as(t *testing.T, name string) *client {
	t.Helper()
	c, s := jujuapi.Pipe(jujuapi.ConnOptions{})
	go e.api.Serve(t.Context(), s, "10.0.0.1:50000")
	cl := &client{Client: jujuapi.NewClient(c), t: t}
	t.Cleanup(func() { cl.Close() })
	var err error
	if name == identity.AdminName {
		err = cl.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-admin", Credentials: adminPassword}, nil)
	} else {
		tok, _, merr := e.ids.NewSession(t.Context(), &identity.Identity{Name: name})
		if merr != nil {
			t.Fatal(merr)
		}
		err = cl.Call(t.Context(), "Admin", 4, "LoginWithSessionToken", params.LoginWithSessionTokenRequest{SessionToken: tok}, nil)
	}
	if err != nil {
		t.Fatalf("login as %s: %v", name, err)
	}
	return cl
}

// call calls facade.method at the facade's Juju 3.5 version. result is
// zeroed first: encoding/json would otherwise keep what an earlier answer
// left in it where this one is silent.
func (c *client) call(facade, method string, args, result any) error {
	c.t.Helper()
	if result != nil {
		reflect.ValueOf(result).Elem().SetZero()
	}
	vs := jujuapi.Juju35.Versions(facade)
	return c.Call(c.t.Context(), facade, vs[len(vs)-1], method, args, result)
}

func (c *client) must(facade, method string, args, result any) {
	c.t.Helper()
	if err := c.call(facade, method, args, result); err != nil {
		c.t.Fatalf("%s.%s: %v", facade, method, err)
	}
}

func (e *env) createModel(t *testing.T, c *client, name, region string, config map[string]any, credential string) params.ModelInfo {
	t.Helper()
	var info params.ModelInfo
	c.must("ModelManager", "CreateModel", params.ModelCreateArgs{Name: name, OwnerTag: "user-admin", CloudTag: "cloud-localhost",
		CloudRegion: region, Config: config, CloudCredentialTag: credential}, &info)
	return info
}

// controllerModelConfig reads a model's config on its controller, past
// the broker.
func (e *env) controllerModelConfig(t *testing.T, uuid string) map[string]params.ConfigValue {
	t.Helper()
	m, err := e.d.ModelByUUID(t.Context(), uuid)
	if err != nil {
		t.Fatal(err)
	}
	ep, creds, err := e.registry.Resolve(t.Context(), m.Controller.Name)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ep.Dial(t.Context(), "/model/"+uuid+"/api", jujuapi.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := jujuapi.NewClient(conn)
	defer c.Close()
	if err := c.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-" + creds.User, Credentials: creds.Password}, nil); err != nil {
		t.Fatal(err)
	}
	var res params.ModelConfigResults
	if err := c.Call(t.Context(), "ModelConfig", 3, "ModelGet", nil, &res); err != nil {
		t.Fatal(err)
	}
	return res.Config
}

func wantCode(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	if jujuapi.ErrorCode(err) != code || (msg != "" && !strings.Contains(err.Error(), msg)) {
		t.Fatalf("%s: %v; want code %q saying %q", what, err, code, msg)
	}
}

// TestClouds: the broker's clouds are its controllers', with their
// definitions and the union of their regions.
func TestClouds(t *testing.T) {
	e := newEnv(t, "ctl-1:east", "ctl-2:east,west")
	admin := e.as(t, identity.AdminName)
	var clouds params.CloudsResult
	admin.must("Cloud", "Clouds", nil, &clouds)
	cl, ok := clouds.Clouds["cloud-localhost"]
	if !ok || len(clouds.Clouds) != 1 {
		t.Fatalf("clouds: %+v", clouds)
	}
	var regions []string
	for _, r := range cl.Regions {
		regions = append(regions, r.Name)
	}
	if cl.Type != "lxd" || !slices.Equal(regions, []string{"east", "west"}) || !slices.Contains(cl.AuthTypes, "certificate") || cl.IsControllerCloud {
		t.Fatalf("cloud localhost: %+v", cl)
	}
	// Each region has an endpoint (the cloud's), whichever controller has it.
	for _, r := range cl.Regions {
		if r.Endpoint == "" || r.Endpoint != cl.Endpoint {
			t.Fatalf("region %s's endpoint %q, cloud's %q", r.Name, r.Endpoint, cl.Endpoint)
		}
	}
	var one params.CloudResults
	admin.must("Cloud", "Cloud", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}, {Tag: "cloud-aws"}}}, &one)
	if one.Results[0].Cloud == nil || one.Results[0].Cloud.Type != "lxd" || one.Results[1].Error == nil || one.Results[1].Error.Code != jujuapi.CodeNotFound {
		t.Fatalf("Cloud: %+v %+v", one.Results[0], one.Results[1].Error)
	}
	// Model summaries show the cloud's type (the CLI's Type column).
	admin.must("ModelManager", "CreateModel", params.ModelCreateArgs{Name: "typed", OwnerTag: "user-admin", CloudTag: "cloud-localhost"}, nil)
	var sums params.ModelSummaryResults
	admin.must("ModelManager", "ListModelSummaries", params.ModelSummariesRequest{UserTag: "user-admin"}, &sums)
	if len(sums.Results) != 1 || sums.Results[0].Result.ProviderType != "lxd" || sums.Results[0].Result.Type != "iaas" {
		t.Fatalf("model summaries: %+v", sums.Results)
	}
	// CloudInfo: the administrator sees who may use the cloud; Bob, who
	// may add models, sees himself; Carol, who may not, sees nothing.
	if err := e.rel.Add(t.Context(), authz.Tuple{Subject: "user:bob@example.com", Relation: authz.CanAddModel, Object: "cloud:localhost"}); err != nil {
		t.Fatal(err)
	}
	var info params.CloudInfoResults
	admin.must("Cloud", "CloudInfo", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &info)
	users := info.Results[0].Result.Users
	if len(users) != 2 || users[0].UserName != "admin" || users[0].Access != "admin" || users[1].UserName != "bob@example.com" || users[1].Access != "add-model" {
		t.Fatalf("CloudInfo users for the administrator: %+v", users)
	}
	e.as(t, "bob@example.com").must("Cloud", "CloudInfo", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &info)
	if users := info.Results[0].Result.Users; len(users) != 1 || users[0].UserName != "bob@example.com" {
		t.Fatalf("CloudInfo users for Bob: %+v", users)
	}
	e.as(t, "carol@example.com").must("Cloud", "CloudInfo", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &info)
	if err := info.Results[0].Error; err == nil || err.Code != jujuapi.CodeNotFound {
		t.Fatalf("CloudInfo for Carol: %+v", info.Results[0])
	}
}

// TestCredentials: credentials are the broker's, sealed at rest; their
// secrets are shown only when asked; only their owner (or an
// administrator) sees or changes them; one in use is not revoked.
func TestCredentials(t *testing.T) {
	e := newEnv(t, "ctl-1:east")
	ctx := t.Context()
	bob := e.as(t, "bob@example.com")
	tag := jujuapi.CloudCredentialTag("localhost", "bob@example.com", "home").String()
	var upd params.UpdateCredentialResults
	bob.must("Cloud", "UpdateCredentialsCheckModels", params.UpdateCredentialArgs{Credentials: []params.TaggedCredential{{Tag: tag,
		Credential: params.CloudCredential{AuthType: "interactive", Attributes: map[string]string{"trust-password": "hunter2"}}}}}, &upd)
	if len(upd.Results) != 1 || upd.Results[0].Error != nil || upd.Results[0].CredentialTag != tag {
		t.Fatalf("UpdateCredentialsCheckModels: %+v", upd)
	}
	// An auth type the cloud does not support is refused.
	bob.must("Cloud", "UpdateCredentialsCheckModels", params.UpdateCredentialArgs{Credentials: []params.TaggedCredential{{Tag: tag,
		Credential: params.CloudCredential{AuthType: "oauth2", Attributes: map[string]string{"token": "x"}}}}}, &upd)
	if err := upd.Results[0].Error; err == nil || !strings.Contains(err.Message, `auth type "oauth2" is not supported by cloud "localhost"`) {
		t.Fatalf("an unsupported auth type: %+v", upd.Results[0])
	}
	row, err := e.d.CloudCredential(ctx, "localhost", "bob@example.com", "home")
	if err != nil || row.AuthType != "interactive" || strings.Contains(string(row.Attributes), "hunter2") {
		t.Fatalf("the stored credential: %v; its attributes are sealed: %v", err, !strings.Contains(string(row.Attributes), "hunter2"))
	}
	var tags params.StringsResults
	bob.must("Cloud", "UserCredentials", params.UserClouds{UserClouds: []params.UserCloud{{UserTag: "user-bob@example.com", CloudTag: "cloud-localhost"}}}, &tags)
	if r := tags.Results[0]; r.Error != nil || !slices.Equal(r.Result, []string{tag}) {
		t.Fatalf("Bob's credentials: %+v", r)
	}
	var contents params.CredentialContentResults
	bob.must("Cloud", "CredentialContents", params.CloudCredentialArgs{}, &contents)
	if r := contents.Results[0].Result; r == nil || r.Content.Name != "home" || r.Content.Attributes["trust-password"] != "" {
		t.Fatalf("contents without secrets: %+v", contents.Results[0])
	}
	bob.must("Cloud", "CredentialContents", params.CloudCredentialArgs{IncludeSecrets: true,
		Credentials: []params.CloudCredentialArg{{CloudName: "localhost", CredentialName: "home"}, {CloudName: "localhost", CredentialName: "none"}}}, &contents)
	if r := contents.Results[0].Result; r == nil || r.Content.Attributes["trust-password"] != "hunter2" {
		t.Fatalf("contents with secrets: %+v", contents.Results[0])
	}
	if err := contents.Results[1].Error; err == nil || err.Code != jujuapi.CodeNotFound {
		t.Fatalf("contents of a credential Bob does not have: %+v", contents.Results[1])
	}
	// Carol may neither list nor change Bob's; she has none of her own.
	carol := e.as(t, "carol@example.com")
	wantCode(t, "Carol's credential contents", carol.call("Cloud", "CredentialContents", params.CloudCredentialArgs{}, &contents), jujuapi.CodeNotFound, `cloud credentials for "carol@example.com" not found`)
	carol.must("Cloud", "UserCredentials", params.UserClouds{UserClouds: []params.UserCloud{{UserTag: "user-bob@example.com", CloudTag: "cloud-localhost"}}}, &tags)
	wantCode(t, "Carol lists Bob's credentials", tags.Results[0].Error, jujuapi.CodeUnauthorized, "permission denied")
	var revoked params.ErrorResults
	carol.must("Cloud", "RevokeCredentialsCheckModels", params.RevokeCredentialArgs{Credentials: []params.RevokeCredentialArg{{Tag: tag}}}, &revoked)
	wantCode(t, "Carol revokes Bob's credential", revoked.Results[0].Error, jujuapi.CodeUnauthorized, "permission denied")
	bob.must("Cloud", "RevokeCredentialsCheckModels", params.RevokeCredentialArgs{Credentials: []params.RevokeCredentialArg{{Tag: tag}}}, &revoked)
	if revoked.Results[0].Error != nil {
		t.Fatalf("Bob revokes his credential: %v", revoked.Results[0].Error)
	}
	if _, err := e.d.CloudCredential(ctx, "localhost", "bob@example.com", "home"); err == nil {
		t.Fatal("the revoked credential is still stored")
	}
}

// TestModelDefaults: the broker's model defaults, per cloud and per
// region, are shown beside Juju's own and applied to the models it
// creates, below what the creator gives.
func TestModelDefaults(t *testing.T) {
	e := newEnv(t, "ctl-1:east,west")
	admin := e.as(t, identity.AdminName)
	var res params.ErrorResults
	admin.must("ModelManager", "SetModelDefaults", params.SetModelDefaults{Config: []params.ModelDefaultValues{
		{CloudTag: "cloud-localhost", Config: map[string]any{"http-proxy": "http://cloud", "logging-config": "<root>=DEBUG"}},
		{CloudTag: "cloud-localhost", CloudRegion: "east", Config: map[string]any{"http-proxy": "http://east"}},
		{CloudTag: "cloud-localhost", CloudRegion: "north", Config: map[string]any{"http-proxy": "http://north"}},
		{Config: map[string]any{"agent-version": "3.5.5"}},
	}}, &res)
	if res.Results[0].Error != nil || res.Results[1].Error != nil {
		t.Fatalf("SetModelDefaults: %+v %+v", res.Results[0].Error, res.Results[1].Error)
	}
	wantCode(t, "a default for a region the cloud lacks", res.Results[2].Error, jujuapi.CodeNotFound, `region "north" of cloud "localhost"`)
	wantCode(t, "a default agent-version", res.Results[3].Error, jujuapi.CodeNotValid, "agent-version cannot have a default value")
	var got params.ModelDefaultsResults
	admin.must("ModelManager", "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &got)
	proxy := got.Results[0].Config["http-proxy"]
	if proxy.Controller != "http://cloud" || len(proxy.Regions) != 1 || proxy.Regions[0].RegionName != "east" || proxy.Regions[0].Value != "http://east" {
		t.Fatalf("http-proxy's defaults: %+v", proxy)
	}
	// A model in east gets east's proxy; one in west the cloud's; a value
	// given at creation wins.
	east := e.createModel(t, admin, "in-east", "east", nil, "")
	west := e.createModel(t, admin, "in-west", "west", nil, "")
	given := e.createModel(t, admin, "given", "east", map[string]any{"http-proxy": "http://mine"}, "")
	for _, c := range []struct {
		uuid, want string
		source     string
	}{{east.UUID, "http://east", "region"}, {west.UUID, "http://cloud", "controller"}, {given.UUID, "http://mine", "model"}} {
		// The controller holds the broker's defaults, so it names their
		// sources as Juju does.
		if v := e.controllerModelConfig(t, c.uuid)["http-proxy"]; v.Value != c.want || v.Source != c.source {
			t.Errorf("model %s: http-proxy %+v, want %s from %s", c.uuid, v, c.want, c.source)
		}
	}
	admin.must("ModelManager", "UnsetModelDefaults", params.UnsetModelDefaults{Keys: []params.ModelUnsetKeys{{CloudTag: "cloud-localhost", CloudRegion: "east", Keys: []string{"http-proxy"}}}}, &res)
	admin.must("ModelManager", "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &got)
	if p := got.Results[0].Config["http-proxy"]; len(p.Regions) != 0 || p.Controller != "http://cloud" {
		t.Fatalf("after unsetting east's: %+v", p)
	}
	// The unset reached the controller (whose existing models keep their
	// config, as in Juju).
	var held params.ModelDefaultsResults
	if err := e.direct(t, "ctl-1").Call(t.Context(), "ModelManager", 10, "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &held); err != nil {
		t.Fatal(err)
	}
	if p := held.Results[0].Config["http-proxy"]; len(p.Regions) != 0 || p.Controller != "http://cloud" {
		t.Fatalf("the controller's http-proxy defaults after unsetting east's: %+v", p)
	}
	// Values typed as the CLI types them take the type of Juju's default.
	admin.must("ModelManager", "SetModelDefaults", params.SetModelDefaults{Config: []params.ModelDefaultValues{
		{Config: map[string]any{"automatically-retry-hooks": "false"}},
		{Config: map[string]any{"enable-os-upgrade": "perhaps"}},
	}}, &res)
	if res.Results[0].Error != nil {
		t.Fatal(res.Results[0].Error)
	}
	wantCode(t, "a bool default that is no bool", res.Results[1].Error, jujuapi.CodeNotValid, `enable-os-upgrade: expected bool, got string("perhaps")`)
	admin.must("ModelManager", "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &got)
	if d := got.Results[0].Config["automatically-retry-hooks"]; d.Controller != false || d.Default != true {
		t.Fatalf("automatically-retry-hooks after setting \"false\": %+v", d)
	}
	if d := got.Results[0].Config["enable-os-upgrade"]; d.Controller != nil {
		t.Fatalf("a refused default was kept: %+v", d)
	}
	// A default set on the controller behind the broker's back is gone
	// once the broker next copies its own there (here: a change to them).
	direct := e.direct(t, "ctl-1")
	if err := direct.Call(t.Context(), "ModelManager", 10, "SetModelDefaults", params.SetModelDefaults{Config: []params.ModelDefaultValues{
		{Config: map[string]any{"ftp-proxy": "http://sneaky"}}}}, &res); err != nil || res.Results[0].Error != nil {
		t.Fatalf("a default set directly on the controller: %v %+v", err, res.Results)
	}
	admin.must("ModelManager", "SetModelDefaults", params.SetModelDefaults{Config: []params.ModelDefaultValues{
		{Config: map[string]any{"no-proxy": "10.0.0.0/8"}}}}, &res)
	later := e.createModel(t, admin, "later", "west", nil, "")
	if v := e.controllerModelConfig(t, later.UUID)["ftp-proxy"]; v.Value == "http://sneaky" {
		t.Fatalf("a model created by the broker inherited a default the broker does not have: %+v", v)
	}
	if v := e.controllerModelConfig(t, later.UUID)["automatically-retry-hooks"]; v.Value != false || v.Source != "controller" {
		t.Fatalf("automatically-retry-hooks of a new model: %+v", v)
	}
	// Only broker administrators read or change them.
	bob := e.as(t, "bob@example.com")
	wantCode(t, "Bob reads model defaults", bob.call("ModelManager", "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &got), jujuapi.CodeUnauthorized, "permission denied")
	bob.must("ModelManager", "SetModelDefaults", params.SetModelDefaults{Config: []params.ModelDefaultValues{{Config: map[string]any{"http-proxy": "x"}}}}, &res)
	wantCode(t, "Bob sets a model default", res.Results[0].Error, jujuapi.CodeUnauthorized, "permission denied")
}

// TestUsersAndController: users come from the identity provider (AddUser
// says so); ModelUserInfo lists who holds access; the broker describes
// itself as the controller, to superusers for its model config.
func TestUsersAndController(t *testing.T) {
	e := newEnv(t, "ctl-1:east")
	admin := e.as(t, identity.AdminName)
	var added params.AddUserResults
	admin.must("UserManager", "AddUser", params.AddUsers{Users: []params.AddUser{{Username: "dave", Password: "x"}}}, &added)
	wantCode(t, "AddUser", added.Results[0].Error, jujuapi.CodeNotSupported, "users of this controller come from its identity provider")
	m := e.createModel(t, admin, "shared", "", nil, "")
	if err := e.rel.Add(t.Context(), authz.Tuple{Subject: "user:bob@example.com", Relation: authz.Writer, Object: "model:" + m.UUID}); err != nil {
		t.Fatal(err)
	}
	// ModelInfo's users are the broker's: all of them for an
	// administrator, the caller alone for anyone else (show-model).
	usersOf := func(info params.ModelInfo) string {
		var out []string
		for _, u := range info.Users {
			out = append(out, u.UserName+":"+string(u.Access))
		}
		return strings.Join(out, " ")
	}
	if got := usersOf(e.modelInfo(t, admin, m.UUID)); got != "admin:admin bob@example.com:write" {
		t.Fatalf("ModelInfo users for the administrator: %s", got)
	}
	if got := usersOf(e.modelInfo(t, e.as(t, "bob@example.com"), m.UUID)); got != "bob@example.com:write" {
		t.Fatalf("ModelInfo users for Bob: %s", got)
	}
	var users params.ModelUserInfoResults
	admin.must("UserManager", "ModelUserInfo", params.Entities{Entities: []params.Entity{{Tag: "model-" + m.UUID}}}, &users)
	if len(users.Results) != 2 || users.Results[0].Result.UserName != "admin" || users.Results[0].Result.Access != "admin" ||
		users.Results[1].Result.UserName != "bob@example.com" || users.Results[1].Result.Access != "write" {
		t.Fatalf("ModelUserInfo: %+v", users.Results)
	}
	err := e.as(t, "carol@example.com").call("UserManager", "ModelUserInfo", params.Entities{Entities: []params.Entity{{Tag: "model-" + m.UUID}}}, &users)
	wantCode(t, "Carol asks who uses a model she cannot see", err, jujuapi.CodeNotFound, "")
	var cfg params.ControllerConfigResult
	e.as(t, "bob@example.com").must("Controller", "ControllerConfig", nil, &cfg)
	if cfg.Config["controller-uuid"] != brokerUUID || cfg.Config["controller-name"] != "jimm" || cfg.Config["api-port"] != float64(443) || cfg.Config["login-token-refresh-url"] != "https://jimm.example.com:443/.well-known/jwks.json" {
		t.Fatalf("ControllerConfig: %v", cfg.Config)
	}
	var mc params.ModelConfigResults
	wantCode(t, "Bob reads the controller model's config", e.as(t, "bob@example.com").call("Controller", "ModelConfig", nil, &mc), jujuapi.CodeUnauthorized, "permission denied")
	admin.must("Controller", "ModelConfig", nil, &mc)
	if mc.Config["agent-version"].Value != "3.5.4" || mc.Config["uuid"].Value != brokerUUID {
		t.Fatalf("Controller.ModelConfig: %v", mc.Config)
	}
}

// TestJujuMigrate: juju migrate through the broker moves a model to one
// of the broker's controllers, named by its controller tag, as jimmctl
// migrate does; any other target is refused, saying so.
func TestJujuMigrate(t *testing.T) {
	e := newEnv(t, "ctl-1:east", "ctl-2:east")
	admin := e.as(t, identity.AdminName)
	m := e.createModel(t, admin, "moving", "east", nil, "")
	routed, _ := e.d.ModelByUUID(t.Context(), m.UUID)
	target := "ctl-2"
	if routed.Controller.Name == "ctl-2" {
		target = "ctl-1"
	}
	spec := func(ctlUUID string) params.InitiateMigrationArgs {
		return params.InitiateMigrationArgs{Specs: []params.MigrationSpec{{ModelTag: "model-" + m.UUID, TargetInfo: params.MigrationTargetInfo{
			ControllerTag: "controller-" + ctlUUID, ControllerAlias: "elsewhere", Addrs: []string{"10.9.9.9:17070"}, AuthTag: "user-admin", Password: "the-client's-own"}}}}
	}
	var res params.InitiateMigrationResults
	admin.must("Controller", "InitiateMigration", spec("5e55c0de-0000-4000-8000-0000000000ff"), &res)
	wantCode(t, "a migration to a controller the broker does not have", res.Results[0].Error, jujuapi.CodeNotSupported, `controller "elsewhere" is not one of this broker's controllers`)
	wantCode(t, "a migration by a non-administrator", e.as(t, "bob@example.com").call("Controller", "InitiateMigration", spec(e.ctls[target].UUID()), &res), jujuapi.CodeUnauthorized, "permission denied")
	admin.must("Controller", "InitiateMigration", spec(e.ctls[target].UUID()), &res)
	if res.Results[0].Error != nil || !strings.HasPrefix(res.Results[0].MigrationId, m.UUID+":") {
		t.Fatalf("InitiateMigration: %+v %v", res.Results[0], res.Results[0].Error)
	}
	mig, err := e.d.MigrationByRef(t.Context(), m.UUID)
	if err != nil || mig.Target.Name != target || mig.Result != db.MigrationRunning && mig.Result != db.MigrationSucceeded {
		t.Fatalf("the broker's migration: %v %+v", err, mig)
	}
	// A second one is refused by the broker's rules.
	admin.must("Controller", "InitiateMigration", spec(e.ctls[target].UUID()), &res)
	if res.Results[0].Error == nil {
		t.Fatal("a second migration of the model was accepted")
	}
}

// direct is a logged-in admin /api connection straight to a controller.
func (e *env) direct(t *testing.T, name string) *jujuapi.Client {
	t.Helper()
	ep, creds, err := e.registry.Resolve(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ep.Dial(t.Context(), "/api", jujuapi.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := jujuapi.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	if err := c.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-" + creds.User, Credentials: creds.Password}, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) modelInfo(t *testing.T, c *client, uuid string) params.ModelInfo {
	t.Helper()
	var res params.ModelInfoResults
	c.must("ModelManager", "ModelInfo", params.Entities{Entities: []params.Entity{{Tag: "model-" + uuid}}}, &res)
	if res.Results[0].Error != nil {
		t.Fatalf("ModelInfo: %v", res.Results[0].Error)
	}
	return *res.Results[0].Result
}

// TestModelCredentials: a model created with a user's credential uses it
// on its controller, which the broker hands it first; the bootstrap
// admin, who stores none, is offered the controllers' own, with which a
// model uses its controller's; an update reaches the models' controller.
func TestModelCredentials(t *testing.T) {
	e := newEnv(t, "ctl-1:east")
	admin := e.as(t, identity.AdminName)
	var tags params.StringsResults
	admin.must("Cloud", "UserCredentials", params.UserClouds{UserClouds: []params.UserCloud{{UserTag: "user-admin", CloudTag: "cloud-localhost"}}}, &tags)
	if r := tags.Results[0]; r.Error != nil || len(r.Result) != 1 {
		t.Fatalf("the bootstrap admin's credentials: %+v", r)
	}
	var direct params.StringsResults
	if err := e.direct(t, "ctl-1").Call(t.Context(), "Cloud", 7, "UserCredentials", params.UserClouds{UserClouds: []params.UserCloud{{UserTag: "user-admin", CloudTag: "cloud-localhost"}}}, &direct); err != nil {
		t.Fatal(err)
	}
	if tags.Results[0].Result[0] != direct.Results[0].Result[0] {
		t.Fatalf("the admin is offered %q, the controller's own is %q", tags.Results[0].Result[0], direct.Results[0].Result[0])
	}
	// The admin's credential listing has it too.
	var contents params.CredentialContentResults
	admin.must("Cloud", "CredentialContents", params.CloudCredentialArgs{}, &contents)
	if len(contents.Results) != 1 || contents.Results[0].Result == nil || jujuapi.CloudCredentialTag("localhost", "admin", contents.Results[0].Result.Content.Name).String() != tags.Results[0].Result[0] {
		t.Fatalf("the admin's credentials: %+v", contents.Results)
	}
	m := e.createModel(t, admin, "with-default", "", nil, tags.Results[0].Result[0])
	if info := e.modelInfo(t, admin, m.UUID); info.CloudCredentialTag != tags.Results[0].Result[0] {
		t.Fatalf("the model's credential: %q, want the controller's own %q", info.CloudCredentialTag, tags.Results[0].Result[0])
	}
	// show-credential lists the broker's models that use it.
	admin.must("Cloud", "CredentialContents", params.CloudCredentialArgs{}, &contents)
	if ms := contents.Results[0].Result.Models; len(ms) != 1 || ms[0].Model != "with-default" || ms[0].Access != "admin" {
		t.Fatalf("the models using the admin's credential: %+v", ms)
	}

	// Bob's own credential goes to the controller with his model.
	bobTag := jujuapi.CloudCredentialTag("localhost", "bob@example.com", "home").String()
	cred := func(cert string) params.UpdateCredentialArgs {
		return params.UpdateCredentialArgs{Credentials: []params.TaggedCredential{{Tag: bobTag,
			Credential: params.CloudCredential{AuthType: "certificate", Attributes: map[string]string{"client-cert": cert, "client-key": "secret"}}}}}
	}
	var upd params.UpdateCredentialResults
	e.as(t, "bob@example.com").must("Cloud", "UpdateCredentialsCheckModels", cred("first"), &upd)
	// AddCredentials (the Go client's AddCredential): an administrator
	// may add one for another user; Carol may not add one of Bob's.
	var added params.ErrorResults
	carolTag := jujuapi.CloudCredentialTag("localhost", "carol@example.com", "given").String()
	admin.must("Cloud", "AddCredentials", params.TaggedCredentials{Credentials: []params.TaggedCredential{{Tag: carolTag,
		Credential: params.CloudCredential{AuthType: "certificate", Attributes: map[string]string{"client-cert": "c", "client-key": "k"}}}}}, &added)
	if added.Results[0].Error != nil {
		t.Fatalf("the administrator adds Carol's credential: %v", added.Results[0].Error)
	}
	if _, err := e.d.CloudCredential(t.Context(), "localhost", "carol@example.com", "given"); err != nil {
		t.Fatalf("Carol's credential after AddCredentials: %v", err)
	}
	e.as(t, "carol@example.com").must("Cloud", "AddCredentials", params.TaggedCredentials{Credentials: cred("x").Credentials}, &added)
	wantCode(t, "Carol adds Bob's credential", added.Results[0].Error, jujuapi.CodeUnauthorized, "permission denied")
	var info params.ModelInfo
	admin.must("ModelManager", "CreateModel", params.ModelCreateArgs{Name: "bobs", OwnerTag: "user-bob@example.com", CloudTag: "cloud-localhost", CloudCredentialTag: bobTag}, &info)
	if got := e.modelInfo(t, admin, info.UUID).CloudCredentialTag; got != bobTag {
		t.Fatalf("Bob's model's credential on its controller: %q, want %q", got, bobTag)
	}
	if routed, _ := e.d.ModelByUUID(t.Context(), info.UUID); routed.Credential != "localhost/bob@example.com/home" {
		t.Fatalf("the broker's record of the model's credential: %q", routed.Credential)
	}
	// An update reaches the controller that hosts a model using it: seen
	// with a credential of the admin's (the controller's admin reads its
	// own with their secrets).
	adminTag := jujuapi.CloudCredentialTag("localhost", "admin", "mine").String()
	adminCred := func(cert string) params.UpdateCredentialArgs {
		return params.UpdateCredentialArgs{Credentials: []params.TaggedCredential{{Tag: adminTag,
			Credential: params.CloudCredential{AuthType: "certificate", Attributes: map[string]string{"client-cert": cert, "client-key": "k", "server-cert": "s"}}}}}
	}
	admin.must("Cloud", "UpdateCredentialsCheckModels", adminCred("first"), &upd)
	mine := e.createModel(t, admin, "with-mine", "", nil, adminTag)
	admin.must("Cloud", "UpdateCredentialsCheckModels", adminCred("second"), &upd)
	if r := upd.Results[0]; r.Error != nil || len(r.Models) != 1 || r.Models[0].ModelUUID != mine.UUID || len(r.Models[0].Errors) != 0 {
		t.Fatalf("updating a credential in use: %+v", r)
	}
	var held params.CredentialContentResults
	if err := e.direct(t, "ctl-1").Call(t.Context(), "Cloud", 7, "CredentialContents", params.CloudCredentialArgs{IncludeSecrets: true,
		Credentials: []params.CloudCredentialArg{{CloudName: "localhost", CredentialName: "mine"}}}, &held); err != nil {
		t.Fatal(err)
	}
	if r := held.Results[0]; r.Error != nil || r.Result.Content.Attributes["client-cert"] != "second" {
		t.Fatalf("the credential on the model's controller: %+v %v; want the update", r.Result, r.Error)
	}
	// One in use is not revoked, unless forced.
	var revoked params.ErrorResults
	e.as(t, "bob@example.com").must("Cloud", "RevokeCredentialsCheckModels", params.RevokeCredentialArgs{Credentials: []params.RevokeCredentialArg{{Tag: bobTag}}}, &revoked)
	wantCode(t, "revoking a credential in use", revoked.Results[0].Error, "", "cannot revoke credential localhost/bob@example.com/home: it is still used by 1 model")
}

// TestShowControllerCalls: what juju show-controller asks of the broker
// beyond its login.
func TestShowControllerCalls(t *testing.T) {
	e := newEnv(t, "ctl-1:east")
	admin := e.as(t, identity.AdminName)
	m := e.createModel(t, admin, "one", "", nil, "")
	var all params.UserModelList
	admin.must("Controller", "AllModels", nil, &all)
	if len(all.UserModels) != 1 || all.UserModels[0].Model.UUID != m.UUID {
		t.Fatalf("AllModels: %+v", all)
	}
	var mongo params.StringResult
	admin.must("Controller", "MongoVersion", nil, &mongo)
	if mongo.Result != "" || mongo.Error != nil {
		t.Fatalf("MongoVersion: %+v; want no version, and no error", mongo)
	}
	var st params.ModelStatusResults
	admin.must("Controller", "ModelStatus", params.Entities{Entities: []params.Entity{{Tag: "model-" + m.UUID}}}, &st)
	if len(st.Results) != 1 || st.Results[0].Error != nil || st.Results[0].Life != "alive" {
		t.Fatalf("Controller.ModelStatus: %+v", st.Results)
	}
	// A block switched on through the model's connection shows in the
	// broker's list of blocked models.
	ep, creds, err := e.registry.Resolve(t.Context(), "ctl-1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ep.Dial(t.Context(), "/model/"+m.UUID+"/api", jujuapi.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mc := jujuapi.NewClient(conn)
	defer mc.Close()
	if err := mc.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-" + creds.User, Credentials: creds.Password}, nil); err != nil {
		t.Fatal(err)
	}
	if err := mc.Call(t.Context(), "Block", 2, "SwitchBlockOn", params.BlockSwitchParams{Type: params.BlockDestroy, Message: "keep it"}, nil); err != nil {
		t.Fatal(err)
	}
	var blocked params.ModelBlockInfoList
	admin.must("Controller", "ListBlockedModels", nil, &blocked)
	if len(blocked.Models) != 1 || blocked.Models[0].UUID != m.UUID || !slices.Equal(blocked.Models[0].Blocks, []string{params.BlockDestroy}) {
		t.Fatalf("ListBlockedModels: %+v", blocked)
	}
	wantCode(t, "AllModels by a non-superuser", e.as(t, "bob@example.com").call("Controller", "AllModels", nil, &all), jujuapi.CodeUnauthorized, "permission denied")
}

// TestUpgradeModelRelayed: ModelUpgrader, served on /api, reaches the
// model's controller, which answers as it answers its own clients; a
// caller who does not administer the model is refused.
func TestUpgradeModelRelayed(t *testing.T) {
	e := newEnv(t, "ctl-1:east")
	admin := e.as(t, identity.AdminName)
	m := e.createModel(t, admin, "old", "", nil, "")
	args := params.UpgradeModelParams{ModelTag: "model-" + m.UUID, TargetVersion: "0.0.0", DryRun: true}
	var viaBroker, viaController params.UpgradeModelResult
	brokerErr := admin.call("ModelUpgrader", "UpgradeModel", args, &viaBroker)
	controllerErr := e.direct(t, "ctl-1").Call(t.Context(), "ModelUpgrader", 1, "UpgradeModel", args, &viaController)
	if jujuapi.ErrorCode(brokerErr) != jujuapi.ErrorCode(controllerErr) || viaBroker.ChosenVersion != viaController.ChosenVersion {
		t.Fatalf("through the broker: %+v, %v; from the controller: %+v, %v", viaBroker, brokerErr, viaController, controllerErr)
	}
	if err := e.rel.Add(t.Context(), authz.Tuple{Subject: "user:bob@example.com", Relation: authz.Writer, Object: "model:" + m.UUID}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a writer upgrades a model", e.as(t, "bob@example.com").call("ModelUpgrader", "UpgradeModel", args, &viaBroker), jujuapi.CodeUnauthorized, "permission denied")
}

// TestCreateModelBoundsAndRecords: a name too long for any model is
// refused as not valid (not "try again"); a creation leaves no record of
// itself once it ended, however it ended.
func TestCreateModelBoundsAndRecords(t *testing.T) {
	e := newEnv(t, "ctl-a:r1")
	admin := e.as(t, identity.AdminName)
	var info params.ModelInfo
	err := admin.call("ModelManager", "CreateModel", params.ModelCreateArgs{Name: strings.Repeat("a", 9000), OwnerTag: "user-admin", CloudTag: "cloud-localhost"}, &info)
	if jujuapi.ErrorCode(err) != jujuapi.CodeNotValid || !strings.Contains(err.Error(), "too long") {
		t.Errorf("CreateModel with a 9000-character name: %v (code %q), want not valid, too long", err, jujuapi.ErrorCode(err))
	}
	e.createModel(t, admin, "kept", "r1", nil, "")
	err = admin.call("ModelManager", "CreateModel", params.ModelCreateArgs{Name: "kept", OwnerTag: "user-admin", CloudTag: "cloud-localhost"}, &info)
	if jujuapi.ErrorCode(err) != jujuapi.CodeAlreadyExists {
		t.Errorf("CreateModel of a taken name: %v, want already exists", err)
	}
	err = admin.call("ModelManager", "CreateModel", params.ModelCreateArgs{Name: "nowhere", OwnerTag: "user-admin", CloudTag: "cloud-localhost", CloudRegion: "r9"}, &info)
	if err == nil {
		t.Errorf("CreateModel in an unknown region succeeded")
	}
	if cs, err := e.d.ModelCreations(t.Context()); err != nil || len(cs) != 0 {
		t.Errorf("creation records left after the creations ended: %v %+v", err, cs)
	}
}
