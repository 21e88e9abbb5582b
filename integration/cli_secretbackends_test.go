package integration

// The stock juju CLI manages a development controller's secret backends
// directly (no broker): add-secret-backend (with --import-id),
// secret-backends, show-secret-backend, update-secret-backend,
// remove-secret-backend, and model-config secret-backend.

import (
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/integration/internal/jujucli"
)

// secretBackendShown is one backend as `juju secret-backends --format
// yaml` and `juju show-secret-backend` print it (cmd/juju/secretbackends
// secretBackendDisplayDetails).
type secretBackendShown struct {
	Backend             string         `yaml:"backend"`
	TokenRotateInterval string         `yaml:"token-rotate-interval"`
	Config              map[string]any `yaml:"config"`
	Secrets             int            `yaml:"secrets"`
	Status              string         `yaml:"status"`
	Message             string         `yaml:"message"`
	ID                  string         `yaml:"id"`
	Error               string         `yaml:"error"`
}

func TestCLISecretBackends(t *testing.T) {
	t.Parallel()
	bin := jujuBin(t)
	ctl := startController(t, "juju-secrets", "--region", "r1", "--log-level", "debug")
	const (
		storeName = "dev"
		token     = "s.vault-token-not-for-logs"
		importID  = "0123456789abcdef01234567"
	)
	juju, err := jujucli.New(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = juju.AddController(jujucli.Controller{
		Name: storeName, UUID: ctl.UUID, APIEndpoints: []string{ctl.Addr}, CACert: ctl.File.CACert,
		Cloud: "localhost", Region: "r1", AgentVersion: "3.5.4",
	}, &jujucli.Account{User: "admin", Password: adminPassword, LastKnownAccess: "superuser"})
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) jujucli.Result {
		t.Helper()
		res, err := juju.Run(t.Context(), "", args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: exit %d", res.Command(), res.ExitCode)
		return res
	}
	ok := func(t *testing.T, args ...string) jujucli.Result {
		t.Helper()
		res := run(t, args...)
		if res.ExitCode != 0 {
			t.Fatalf("want exit 0:\n%s", res)
		}
		return res
	}
	fails := func(t *testing.T, wantErr string, args ...string) {
		t.Helper()
		res := run(t, args...)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "ERROR "+wantErr) {
			t.Fatalf("want a failure saying %q:\n%s", "ERROR "+wantErr, res)
		}
	}
	list := func(t *testing.T, args ...string) map[string]secretBackendShown {
		t.Helper()
		res := ok(t, args...)
		var out map[string]secretBackendShown
		dec := yaml.NewDecoder(strings.NewReader(res.Stdout))
		dec.KnownFields(true)
		if err := dec.Decode(&out); err != nil {
			t.Fatalf("decode the output of %s: %v\n%s", res.Command(), err, res.Stdout)
		}
		return out
	}

	ok(t, "add-model", "sb")
	ok(t, "add-secret-backend", "myvault", "vault", "endpoint=https://vault.example:8200", "token="+token)
	ok(t, "add-secret-backend", "imported", "kubernetes", "--import-id", importID,
		"endpoint=https://k8s.example:6443", "namespace=secrets")
	fails(t, `secret backend with ID "" already exists`,
		"add-secret-backend", "myvault", "vault", "endpoint=https://other.example:8200")
	fails(t, `secret backend with ID "`+importID+`" already exists`,
		"add-secret-backend", "again", "kubernetes", "--import-id", importID, "endpoint=https://k8s.example:6443")

	// The list: internal always, without an id; the sensitive config
	// only with --reveal.
	got := list(t, "secret-backends", "--format", "yaml")
	if len(got) != 3 {
		t.Fatalf("secret-backends lists %d backends, want internal, myvault and imported: %+v", len(got), got)
	}
	if in := got["internal"]; in.Backend != "controller" || in.Status != "active" || in.ID != "" {
		t.Errorf("internal: %+v", in)
	}
	vault := got["myvault"]
	if vault.Backend != "vault" || vault.Status != "active" || vault.Secrets != 0 || !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(vault.ID) {
		t.Errorf("myvault: %+v", vault)
	}
	if _, shown := vault.Config["token"]; shown || vault.Config["endpoint"] != "https://vault.example:8200" {
		t.Errorf("myvault's config without --reveal: %v", vault.Config)
	}
	if imp := got["imported"]; imp.Backend != "kubernetes" || imp.ID != importID || imp.Config["namespace"] != "secrets" {
		t.Errorf("imported: %+v", imp)
	}
	if got := list(t, "secret-backends", "--format", "yaml", "--reveal"); got["myvault"].Config["token"] != token {
		t.Errorf("myvault's config with --reveal: %v", got["myvault"].Config)
	}
	if res := ok(t, "secret-backends"); !strings.Contains(res.Stdout, "myvault") || !strings.Contains(res.Stdout, "imported") {
		t.Errorf("tabular secret-backends:\n%s", res)
	}

	// show-secret-backend (yaml by default) and update-secret-backend.
	ok(t, "update-secret-backend", "myvault", "namespace=ns1")
	shown := list(t, "show-secret-backend", "myvault")
	if len(shown) != 1 || shown["myvault"].ID != vault.ID || shown["myvault"].Config["namespace"] != "ns1" {
		t.Errorf("show-secret-backend myvault: %+v", shown)
	}
	if _, leaked := shown["myvault"].Config["token"]; leaked {
		t.Errorf("show-secret-backend shows the token without --reveal: %+v", shown)
	}
	fails(t, `invalid config for provider "vault": cannot change immutable field "endpoint"`,
		"update-secret-backend", "myvault", "endpoint=https://elsewhere:8200")

	// The model's setting: auto by default, a backend of the controller
	// or nothing.
	if res := ok(t, "model-config", "-m", "sb", "secret-backend"); strings.TrimSpace(res.Stdout) != "auto" {
		t.Errorf("secret-backend of a new model: %q", res.Stdout)
	}
	fails(t, `secret backend "nosuch" not found`, "model-config", "-m", "sb", "secret-backend=nosuch")
	ok(t, "model-config", "-m", "sb", "secret-backend=myvault")
	if res := ok(t, "model-config", "-m", "sb", "secret-backend"); strings.TrimSpace(res.Stdout) != "myvault" {
		t.Errorf("secret-backend after setting it: %q", res.Stdout)
	}
	ok(t, "model-config", "-m", "sb", "secret-backend=internal")

	ok(t, "remove-secret-backend", "imported")
	if got := list(t, "secret-backends", "--format", "yaml"); len(got) != 2 || got["imported"].Backend != "" {
		t.Errorf("after remove-secret-backend imported: %+v", got)
	}

	if out := ctl.Output(); strings.Contains(out, token) {
		t.Errorf("the vault token is in the controller's output:\n%s", out)
	}
}
