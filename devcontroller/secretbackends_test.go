package devcontroller

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// vaultToken is the token the tests give their vault backends: it must
// never reach a log.
const vaultToken = "s.tok3n-never-logged"

// syncBuffer is a log destination safe for the controller's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func logTo(w *syncBuffer) func(*Config) {
	return func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// addBackends adds backends as cl and returns each one's error.
func addBackends(t *testing.T, cl *jujuapi.Client, args ...addSecretBackendArg) []*params.Error {
	t.Helper()
	var res params.ErrorResults
	call(t, cl, "SecretBackends", 1, "AddSecretBackends", addSecretBackendArgs{Args: args}, &res)
	if len(res.Results) != len(args) {
		t.Fatalf("AddSecretBackends: %d results for %d backends", len(res.Results), len(args))
	}
	errs := make([]*params.Error, len(args))
	for i, r := range res.Results {
		errs[i] = r.Error
	}
	return errs
}

// mustAddBackend adds one backend, which must succeed.
func mustAddBackend(t *testing.T, cl *jujuapi.Client, arg addSecretBackendArg) {
	t.Helper()
	if e := addBackends(t, cl, arg)[0]; e != nil {
		t.Fatalf("add secret backend %q: %v", arg.Name, e)
	}
}

func vaultBackend(name, id string) addSecretBackendArg {
	return addSecretBackendArg{ID: id, SecretBackend: params.SecretBackend{Name: name, BackendType: "vault",
		Config: map[string]any{"endpoint": "https://vault.example:8200", "token": vaultToken}}}
}

// listBackends lists backends as cl, by name.
func listBackends(t *testing.T, cl *jujuapi.Client, reveal bool, names ...string) (map[string]params.SecretBackendResult, []string) {
	t.Helper()
	var res listSecretBackendsResults
	call(t, cl, "SecretBackends", 1, "ListSecretBackends", listSecretBackendsArgs{Names: names, Reveal: reveal}, &res)
	out := map[string]params.SecretBackendResult{}
	var ids []string
	for _, r := range res.Results {
		out[r.Result.Name] = r
		ids = append(ids, r.ID)
	}
	return out, ids
}

func TestSecretBackendsFacade(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	c, stop := runController(t, dir, logTo(&logs))
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")
	bob := mustLogin(t, c, "/api", "bob", "bobpw")

	// Superusers only add backends.
	err := bob.Call(t.Context(), "SecretBackends", 1, "AddSecretBackends", addSecretBackendArgs{Args: []addSecretBackendArg{vaultBackend("x", "")}}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	const importID = "0123456789abcdef01234567"
	rotate := 2 * time.Hour
	withRotate := vaultBackend("myvault", "")
	withRotate.TokenRotateInterval = &rotate
	kube := addSecretBackendArg{ID: importID, SecretBackend: params.SecretBackend{Name: "kube", BackendType: "kubernetes",
		Config: map[string]any{"endpoint": "https://k8s.example:6443", "namespace": "secrets"}}}
	for i, e := range addBackends(t, admin, withRotate, kube) {
		if e != nil {
			t.Fatalf("add backend %d: %v", i, e)
		}
	}

	// Juju's refusals.
	short := 30 * time.Minute
	tooOften := vaultBackend("often", "")
	tooOften.TokenRotateInterval = &short
	kubeRotate := kube
	kubeRotate.ID, kubeRotate.Name, kubeRotate.TokenRotateInterval = "", "kube2", &rotate
	badCert := vaultBackend("badcert", "")
	badCert.Config = map[string]any{"endpoint": "https://v", "client-cert": "PEM"}
	errs := addBackends(t, admin,
		vaultBackend("myvault", ""),     // same name
		vaultBackend("other", importID), // same id
		addSecretBackendArg{SecretBackend: params.SecretBackend{Name: "odd", BackendType: "nope"}},
		addSecretBackendArg{SecretBackend: params.SecretBackend{BackendType: "vault"}},
		vaultBackend("internal", ""),
		vaultBackend("auto", ""),
		addSecretBackendArg{SecretBackend: params.SecretBackend{Name: "noendpoint", BackendType: "vault", Config: map[string]any{"token": "t"}}},
		addSecretBackendArg{SecretBackend: params.SecretBackend{Name: "numeric", BackendType: "vault", Config: map[string]any{"endpoint": 5}}},
		badCert,
		tooOften,
		kubeRotate,
		vaultBackend("uuid-clash", c.UUID()),
	)
	wantItemError(t, "same name", errs[0], jujuapi.CodeAlreadyExists, `secret backend with ID "" already exists`)
	wantItemError(t, "same id", errs[1], jujuapi.CodeAlreadyExists, `secret backend with ID "`+importID+`" already exists`)
	wantItemError(t, "unknown type", errs[2], jujuapi.CodeNotFound, `creating backend provider type "nope": no registered provider for "nope"`)
	wantItemError(t, "no name", errs[3], jujuapi.CodeNotValid, "missing backend name not valid")
	wantItemError(t, "internal", errs[4], jujuapi.CodeNotValid, `backend "internal" not valid`)
	wantItemError(t, "auto", errs[5], jujuapi.CodeNotValid, `backend "auto" not valid`)
	wantItemError(t, "no endpoint", errs[6], "", `invalid config for provider "vault": endpoint: expected string, got nothing`)
	wantItemError(t, "numeric endpoint", errs[7], "", `invalid config for provider "vault": endpoint: expected string, got float64(5)`)
	wantItemError(t, "cert without key", errs[8], jujuapi.CodeNotValid, `invalid config for provider "vault": vault config missing client key not valid`)
	wantItemError(t, "rotate too often", errs[9], jujuapi.CodeNotValid, `token rotate interval "30m0s" less than 1h not valid`)
	wantItemError(t, "kubernetes rotate", errs[10], jujuapi.CodeNotSupported, `token refresh on secret backend of type "kubernetes" not supported`)
	wantItemError(t, "controller uuid", errs[11], jujuapi.CodeAlreadyExists, `secret backend with ID "`+c.UUID()+`" already exists`)

	// Anyone lists, without the sensitive config; internal is always
	// there; results come by id.
	got, ids := listBackends(t, bob, false)
	if len(got) != 3 {
		t.Fatalf("listed %v, want internal, myvault and kube", got)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Errorf("results not sorted by id: %v", ids)
		}
	}
	internal := got["internal"]
	if internal.ID != c.UUID() || internal.Result.BackendType != "controller" || internal.Status != "active" || internal.Result.Config == nil {
		t.Errorf("internal backend: %+v", internal)
	}
	vault := got["myvault"]
	if len(vault.ID) != 24 || vault.ID == importID || vault.Result.BackendType != "vault" || vault.Status != "active" || vault.NumSecrets != 0 ||
		vault.Result.TokenRotateInterval == nil || *vault.Result.TokenRotateInterval != rotate {
		t.Errorf("myvault: %+v", vault)
	}
	if _, shown := vault.Result.Config["token"]; shown || vault.Result.Config["endpoint"] != "https://vault.example:8200" {
		t.Errorf("myvault config without reveal: %v", vault.Result.Config)
	}
	if k := got["kube"]; k.ID != importID || k.Result.Config["namespace"] != "secrets" {
		t.Errorf("kube: %+v", k)
	}
	// Reveal is for superusers.
	err = bob.Call(t.Context(), "SecretBackends", 1, "ListSecretBackends", listSecretBackendsArgs{Reveal: true}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")
	got, _ = listBackends(t, admin, true, "myvault")
	if len(got) != 1 || got["myvault"].Result.Config["token"] != vaultToken {
		t.Errorf("revealed myvault alone: %+v", got)
	}
	if got, _ := listBackends(t, admin, false, "nosuch"); len(got) != 0 {
		t.Errorf("listing an unknown name: %+v", got)
	}

	// Update: config merged, keys reset, renamed; endpoint is immutable.
	update := func(args ...updateSecretBackendArg) []*params.Error {
		var res params.ErrorResults
		call(t, admin, "SecretBackends", 1, "UpdateSecretBackends", updateSecretBackendArgs{Args: args}, &res)
		errs := make([]*params.Error, len(res.Results))
		for i, r := range res.Results {
			errs[i] = r.Error
		}
		return errs
	}
	errs = update(
		updateSecretBackendArg{Name: "myvault", NameChange: ptr("vault2"), Config: map[string]any{"namespace": "ns1"}, Reset: []string{"token"}, TokenRotateInterval: ptr(time.Duration(0))},
		updateSecretBackendArg{Name: "kube", NameChange: ptr("vault2")},
		updateSecretBackendArg{Name: "vault2", Config: map[string]any{"endpoint": "https://elsewhere"}},
		updateSecretBackendArg{Name: "nosuch"},
		updateSecretBackendArg{Name: "internal"},
	)
	if errs[0] != nil {
		t.Fatalf("update myvault: %v", errs[0])
	}
	wantItemError(t, "rename onto another", errs[1], jujuapi.CodeAlreadyExists, `secret backend "vault2" already exists`)
	wantItemError(t, "endpoint change", errs[2], "", `invalid config for provider "vault": cannot change immutable field "endpoint"`)
	wantItemError(t, "unknown", errs[3], jujuapi.CodeNotFound, `secret backend "nosuch" not found`)
	wantItemError(t, "internal", errs[4], jujuapi.CodeNotValid, `backend "internal" not valid`)
	err = bob.Call(t.Context(), "SecretBackends", 1, "UpdateSecretBackends", updateSecretBackendArgs{Args: []updateSecretBackendArg{{Name: "kube"}}}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	// Backends and their ids survive a restart.
	stop()
	c, _ = runController(t, dir, logTo(&logs))
	admin = mustLogin(t, c, "/api", "admin", "secret")
	got, _ = listBackends(t, admin, true)
	v2 := got["vault2"]
	if v2.ID != vault.ID || v2.Result.Config["namespace"] != "ns1" || v2.Result.Config["token"] != nil || v2.Result.TokenRotateInterval != nil {
		t.Errorf("vault2 after restart: %+v", v2)
	}
	if _, ok := got["myvault"]; ok || got["kube"].ID != importID {
		t.Errorf("after restart: %+v", got)
	}

	// Remove: gone; removing what is not there succeeds, as in Juju.
	remove := func(cl *jujuapi.Client, names ...string) ([]*params.Error, error) {
		var res params.ErrorResults
		var args removeSecretBackendArgs
		for _, n := range names {
			args.Args = append(args.Args, removeSecretBackendArg{Name: n})
		}
		err := cl.Call(t.Context(), "SecretBackends", 1, "RemoveSecretBackends", args, &res)
		errs := make([]*params.Error, len(res.Results))
		for i, r := range res.Results {
			errs[i] = r.Error
		}
		return errs, err
	}
	bob = mustLogin(t, c, "/api", "bob", "bobpw")
	_, err = remove(bob, "kube")
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")
	errs, err = remove(admin, "vault2", "vault2", "internal", "")
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("remove vault2 twice: %v %v", err, errs)
	}
	wantItemError(t, "internal", errs[2], jujuapi.CodeNotValid, `backend "internal" not valid`)
	wantItemError(t, "no name", errs[3], jujuapi.CodeNotValid, "missing backend name not valid")
	if got, _ := listBackends(t, admin, false); len(got) != 2 || got["kube"].ID != importID {
		t.Errorf("after removal: %+v", got)
	}

	if strings.Contains(logs.String(), vaultToken) {
		t.Errorf("the vault token is in the controller's log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "secret backend added") {
		t.Errorf("no log of the backends added:\n%s", logs.String())
	}
}

// TestSecretBackendsOnModelConnection checks that, as in Juju, the facade
// is a controller facade.
func TestSecretBackendsOnModelConnection(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "m", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	err := mc.Call(t.Context(), "SecretBackends", 1, "ListSecretBackends", listSecretBackendsArgs{}, nil)
	wantCode(t, err, jujuapi.CodeNotImplemented, `unknown object type "SecretBackends"`)
}

func TestModelConfigSecretBackend(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "m", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	get := func() params.ConfigValue {
		t.Helper()
		var res params.ModelConfigResults
		call(t, mc, "ModelConfig", 3, "ModelGet", nil, &res)
		return res.Config["secret-backend"]
	}
	set := func(v any) error {
		return mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"secret-backend": v}}, nil)
	}
	if v := get(); v.Value != "auto" || v.Source != "default" {
		t.Fatalf("secret-backend of a new model: %+v", v)
	}
	wantCode(t, set("myvault"), jujuapi.CodeNotFound, `secret backend "myvault" not found`)
	wantCode(t, set(""), jujuapi.CodeNotValid, `empty "secret-backend" config value not valid`)
	if v := get(); v.Value != "auto" {
		t.Fatalf("a refused setting changed the model: %+v", v)
	}
	if err := set("internal"); err != nil {
		t.Fatalf("set internal: %v", err)
	}
	if v := get(); v.Value != "internal" || v.Source != "model" {
		t.Fatalf("after setting internal: %+v", v)
	}
	mustAddBackend(t, admin, vaultBackend("myvault", ""))
	if err := set("myvault"); err != nil {
		t.Fatalf("set myvault: %v", err)
	}
	if v := get(); v.Value != "myvault" {
		t.Fatalf("after setting myvault: %+v", v)
	}
	// The controller model's config is set over /api, with the same rule.
	err := admin.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"secret-backend": "nosuch"}}, nil)
	wantCode(t, err, jujuapi.CodeNotFound, `secret backend "nosuch" not found`)
	if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelUnset", params.ModelUnset{Keys: []string{"secret-backend"}}, nil); err != nil {
		t.Fatal(err)
	}
	if v := get(); v.Value != "auto" || v.Source != "default" {
		t.Fatalf("after unset: %+v", v)
	}
}

func TestMigrationSecretBackend(t *testing.T) {
	src := startController(t, t.TempDir(), named("src"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	mustAddBackend(t, admin, vaultBackend("myvault", ""))
	backends, _ := listBackends(t, admin, false, "myvault")
	id := backends["myvault"].ID
	m := createModel(t, admin, "m", "admin")
	mc := mustLogin(t, src, "/model/"+m.UUID+"/api", "admin", "secret")
	if err := mc.Call(t.Context(), "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"secret-backend": "myvault"}}, nil); err != nil {
		t.Fatal(err)
	}
	notFound := fmt.Sprintf(`secret backend: cannot load secret backend %q: secret backend %q not found`, id, id)

	// A target without the backend, or with another backend of the same
	// name, refuses the model in prechecks: backends match by id.
	for _, tc := range []struct {
		name string
		prep func(t *testing.T, tgt *jujuapi.Client)
	}{
		{"no backend", func(*testing.T, *jujuapi.Client) {}},
		{"same name, other id", func(t *testing.T, tgt *jujuapi.Client) { mustAddBackend(t, tgt, vaultBackend("myvault", "")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt := startController(t, t.TempDir(), named("dst"))
			tc.prep(t, mustLogin(t, tgt, "/api", "admin", "secret"))
			_, perr := initiate(t, admin, m.UUID, targetInfo(tgt))
			if want := "target prechecks failed: " + notFound; perr == nil || perr.Message != want {
				t.Fatalf("got %v, want %q", perr, want)
			}
		})
	}

	// Import checks it too, and a model whose backend is imported under
	// another name takes the target's name, as in Juju.
	tgt := startController(t, t.TempDir(), named("dst"))
	tadmin := mustLogin(t, tgt, "/api", "admin", "secret")
	im := tgt.newModel("incoming", "admin", "r1")
	im.Config["secret-backend"] = "myvault"
	withID, err := exportModelWith(im, im.Status, nil, nil, id)
	if err != nil {
		t.Fatal(err)
	}
	withoutID, err := exportModel(im, im.Status)
	if err != nil {
		t.Fatal(err)
	}
	importIt := func(raw []byte) error {
		return tadmin.Call(t.Context(), "MigrationTarget", 3, "Import", params.SerializedModel{Bytes: raw}, nil)
	}
	wantCode(t, importIt(withID), jujuapi.CodeNotFound, notFound)
	wantCode(t, importIt(withoutID), jujuapi.CodeNotFound, `secret backend: secret backend config "myvault" in model export not found`)
	mustAddBackend(t, tadmin, vaultBackend("vault-b", id))
	if err := importIt(withID); err != nil {
		t.Fatalf("import with the backend imported: %v", err)
	}
	got, ok := tgt.store.Model(im.UUID)
	if !ok || got.Config["secret-backend"] != "vault-b" {
		t.Fatalf("imported model's config: %+v", got)
	}
	// Models on auto or internal need nothing.
	plain := tgt.newModel("plain", "admin", "r1")
	plain.Config["secret-backend"] = "internal"
	raw, _ := exportModel(plain, plain.Status)
	if err := importIt(raw); err != nil {
		t.Fatalf("import a model on the internal backend: %v", err)
	}
}

func TestMigrationRemovedUsers(t *testing.T) {
	src := startController(t, t.TempDir(), named("src"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")
	addUser(t, admin, "carol", "carolpw")
	m := createModel(t, admin, "m", "bob")
	grantModel(t, admin, "carol", "write", m.UUID)

	tgt := startController(t, t.TempDir(), named("dst"))
	tadmin := mustLogin(t, tgt, "/api", "admin", "secret")
	addUser(t, tadmin, "bob", "x")
	addUser(t, tadmin, "carol", "x")
	removeUsers := func(names ...string) []*params.Error {
		t.Helper()
		var res params.ErrorResults
		var args params.Entities
		for _, n := range names {
			args.Entities = append(args.Entities, params.Entity{Tag: "user-" + n})
		}
		call(t, tadmin, "UserManager", 3, "RemoveUser", args, &res)
		errs := make([]*params.Error, len(res.Results))
		for i, r := range res.Results {
			errs[i] = r.Error
		}
		return errs
	}
	if errs := removeUsers("bob", "carol"); errs[0] != nil || errs[1] != nil {
		t.Fatalf("remove bob and carol: %v", errs)
	}
	// Juju's words for removing a removed user.
	wantItemError(t, "bob again", removeUsers("bob")[0], "", `failed to delete user "bob": user "bob" is permanently deleted`)

	_, perr := initiate(t, admin, m.UUID, targetInfo(tgt))
	if want := `target prechecks failed: granting admin permission to the owner: user "bob" is permanently deleted`; perr == nil || perr.Message != want {
		t.Fatalf("owner removed on the target: got %v, want %q", perr, want)
	}
	// Import says the same, without the source's prefix.
	im := tgt.newModel("incoming", "bob", "r1")
	raw, _ := exportModel(im, im.Status)
	err := tadmin.Call(t.Context(), "MigrationTarget", 3, "Import", params.SerializedModel{Bytes: raw}, nil)
	wantCode(t, err, "", `granting admin permission to the owner: user "bob" is permanently deleted`)

	// Adding bob again makes him a user; carol, a model user, is still
	// removed.
	addUser(t, tadmin, "bob", "y")
	_, perr = initiate(t, admin, m.UUID, targetInfo(tgt))
	if want := `target prechecks failed: granting access to model user "carol": user "carol" is permanently deleted`; perr == nil || perr.Message != want {
		t.Fatalf("model user removed on the target: got %v, want %q", perr, want)
	}
	addUser(t, tadmin, "carol", "y")
	err = tadmin.Call(t.Context(), "MigrationTarget", 3, "Prechecks", migrationPrecheckArgs{
		MigrationModelInfo: params.MigrationModelInfo{UUID: m.UUID, Name: "m", OwnerTag: "user-bob", AgentVersion: "3.5.4"},
		Users:              []string{"bob", "carol"},
	}, nil)
	if err != nil {
		t.Fatalf("prechecks once bob and carol are back: %v", err)
	}
}
