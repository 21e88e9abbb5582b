package integration

// TestCLI: the stock juju CLI (3.5.4, JIMM_JUJU_BIN) through the broker,
// for the commands of the model-management and migration guides (issue
// 11's numbered items), asserting on exit status and on the fields of
// --format json and yaml output. This file holds the suite and the first
// items' cases; cli_<item>_test.go hold the others.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/jujucli"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

// jujuBin returns the stock juju CLI (JIMM_JUJU_BIN), or skips the test
// (fails it under CI).
func jujuBin(t *testing.T) string {
	t.Helper()
	return toolBin(t, jujucli.BinEnv, "the juju CLI tests")
}

func TestCLI(t *testing.T) {
	t.Parallel()
	bin := jujuBin(t)
	serverDSN(t) // skips without PostgreSQL
	start := time.Now()
	s := newCLISuite(t, bin)
	t.Logf("broker, controllers and dex up after %s", time.Since(start).Round(time.Millisecond))
	runCLICases(t, s)
}

func init() {
	registerCLI(
		cliCase{"02-models", "tabular", cliModelsTabular},
		cliCase{"02-models", "json", func(t *testing.T, s *cliSuite) { cliModelsFormat(t, s, "json") }},
		cliCase{"02-models", "yaml", func(t *testing.T, s *cliSuite) { cliModelsFormat(t, s, "yaml") }},
		cliCase{"02-models", "all", cliModelsAll},
		cliCase{"02-models", "switch", cliSwitch},
		cliCase{"02-models", "show-model-json", func(t *testing.T, s *cliSuite) { cliShowModel(t, s, "json") }},
		cliCase{"02-models", "show-model-yaml", func(t *testing.T, s *cliSuite) { cliShowModel(t, s, "yaml") }},
		cliCase{"02-models", "status-tabular", cliStatusTabular},
		cliCase{"02-models", "status-json", func(t *testing.T, s *cliSuite) { cliStatusFormat(t, s, "json") }},
		cliCase{"02-models", "status-yaml", func(t *testing.T, s *cliSuite) { cliStatusFormat(t, s, "yaml") }},

		cliCase{"03-model-config", "all", cliModelConfigAll},
		cliCase{"03-model-config", "one-key", cliModelConfigOneKey},
		cliCase{"03-model-config", "set-and-reset", cliModelConfigSetReset},
		cliCase{"03-model-config", "file", cliModelConfigFile},

		cliCase{"10-destroy-model", "no-prompt", func(t *testing.T, s *cliSuite) { cliDestroyModel(t, s, nil, `{}`) }},
		cliCase{"10-destroy-model", "force-timeout", func(t *testing.T, s *cliSuite) {
			cliDestroyModel(t, s, []string{"--force", "--timeout", "30s"}, `{"force":true,"timeout":30000000000}`)
		}},
		cliCase{"10-destroy-model", "destroy-storage", func(t *testing.T, s *cliSuite) {
			cliDestroyModel(t, s, []string{"--destroy-storage"}, `{"destroy-storage":true}`)
		}},
		cliCase{"10-destroy-model", "name-free-again", cliNameFreeAgain},

		cliCase{"12-users", "grant-revoke", cliGrantRevoke},
		cliCase{"12-users", "users", cliUsers},
		cliCase{"12-users", "show-user", cliShowUser},
		cliCase{"12-users", "whoami", cliWhoAmICase},
		cliCase{"12-users", "show-controller", cliShowControllerCase},

		cliCase{"14-machines", "add-machine-and-machines", cliAddMachine},

		cliCase{"15-login", "first-command-device-flow", func(t *testing.T, s *cliSuite) { cliLoginPerson(t, s, cliFirstCommandLogin) }},

		cliCase{"16-jaas-migration-howto", "jimmctl-migrate", cliJAASHowTo},
	)
}

// cliFind returns the model with uuid among models.
func cliFind(models []cliModelSummary, uuid string) (cliModelSummary, bool) {
	for _, m := range models {
		if m.UUID == uuid {
			return m, true
		}
	}
	return cliModelSummary{}, false
}

// tableRow returns the fields of the first line of a tabular output whose
// first field is first (or first* for the current model), nil if none.
func tableRow(out, first string) []string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == first || f[0] == first+"*") {
			return f
		}
	}
	return nil
}

// wantFields fails unless the tabular row of first in res's output
// holds each of want, in order.
func wantFields(t *testing.T, res jujucli.Result, first string, want ...string) {
	t.Helper()
	row := tableRow(res.Stdout, first)
	i := 0
	for _, f := range row {
		if i < len(want) && f == want[i] {
			i++
		}
	}
	if row == nil || i < len(want) {
		t.Errorf("the row of %s does not hold %q in that order:\n%s", first, want, res)
	}
}

func cliModelsTabular(t *testing.T, s *cliSuite) {
	name := s.modelName("models")
	s.newModel(t, name, "east")
	res := s.ok(t, nil, "models")
	if !strings.Contains(res.Stdout, "Controller: "+cliControllerName) {
		t.Errorf("no %q header:\n%s", "Controller: "+cliControllerName, res)
	}
	wantFields(t, res, "Model", "Model", "Cloud/Region", "Type", "Status", "Machines", "Cores", "Units", "Access", "Last", "connection")
	wantFields(t, res, name, name, "localhost/east", "available", "0", "0", "0", "admin")
	s.e.checkNoLeak(t, "juju models", res.Stdout)
}

// cliWantSummary checks the fields of one model of juju models.
func cliWantSummary(t *testing.T, s *cliSuite, got cliModelSummary, name, uuid, region string) {
	t.Helper()
	want := cliModelSummary{
		Name: "admin/" + name, ShortName: name, UUID: uuid, Type: "iaas",
		ControllerUUID: s.e.broker().UUID, ControllerName: cliControllerName, Owner: "admin",
		Cloud: "localhost", Region: region, Life: "alive", Access: "admin", AgentVersion: "3.5.4",
	}
	g := got
	g.Credential, g.ProviderType, g.Status, g.LastConnection, g.SLA, g.SLAOwner = nil, "", nil, "", "", ""
	if g != want {
		t.Errorf("juju models lists\n %+v\nwant\n %+v", g, want)
	}
	if got.Status == nil || got.Status.Current != "available" {
		t.Errorf("juju models: model %s has status %+v, want available", name, got.Status)
	}
}

func cliModelsFormat(t *testing.T, s *cliSuite, format string) {
	name := s.modelName("models-" + format)
	mi := s.newModel(t, name, "west")
	var set cliModelSet
	var res jujucli.Result
	if format == "json" {
		res = s.json(t, nil, &set, "models")
	} else {
		res = s.yaml(t, nil, &set, "models")
	}
	got, ok := cliFind(set.Models, mi.UUID)
	if !ok {
		t.Fatalf("juju models does not list %s (%s):\n%s", name, mi.UUID, res)
	}
	cliWantSummary(t, s, got, name, mi.UUID, "west")
	for _, m := range set.Models {
		if m.IsController || m.ControllerUUID != s.e.broker().UUID {
			t.Errorf("juju models lists %s as a controller model or on controller %s (the broker is %s)", m.Name, m.ControllerUUID, s.e.broker().UUID)
		}
	}
	s.e.checkNoLeak(t, "juju models --format "+format, res.Stdout)
}

func cliModelsAll(t *testing.T, s *cliSuite) {
	a, b := s.newModel(t, s.modelName("all"), "east"), s.newModel(t, s.modelName("all"), "west")
	var set cliModelSet
	s.json(t, nil, &set, "models", "--all")
	for _, mi := range []struct{ name, uuid, region string }{{a.Name, a.UUID, "east"}, {b.Name, b.UUID, "west"}} {
		got, ok := cliFind(set.Models, mi.uuid)
		if !ok {
			t.Errorf("juju models --all does not list %s (%s)", mi.name, mi.uuid)
			continue
		}
		cliWantSummary(t, s, got, mi.name, mi.uuid, mi.region)
	}
}

func cliSwitch(t *testing.T, s *cliSuite) {
	name := s.modelName("switch")
	s.newModel(t, name, "east")
	res := s.ok(t, nil, "switch", name)
	if want := cliControllerName + ":admin/" + name; !strings.Contains(res.Stdout+res.Stderr, want) {
		t.Errorf("juju switch does not say it switched to %s:\n%s", want, res)
	}
	var who cliWhoAmI
	s.json(t, nil, &who, "whoami")
	if who != (cliWhoAmI{Controller: cliControllerName, Model: name, User: "admin"}) {
		t.Errorf("after juju switch %s, juju whoami says %+v", name, who)
	}
	// The current model is the one status shows without -m.
	var st cliStatus
	s.json(t, nil, &st, "status")
	if st.Model.Name != name {
		t.Errorf("after juju switch %s, juju status shows model %q", name, st.Model.Name)
	}
}

func cliShowModel(t *testing.T, s *cliSuite, format string) {
	name := s.modelName("show-" + format)
	mi := s.newModel(t, name, "east")
	var out map[string]cliModelInfo
	var res jujucli.Result
	if format == "json" {
		res = s.json(t, nil, &out, "show-model", name)
	} else {
		res = s.yaml(t, nil, &out, "show-model", name)
	}
	got, ok := out[name]
	if !ok || len(out) != 1 {
		t.Fatalf("juju show-model %s shows %v, want model %s only", name, keys(out), name)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", got.Name, "admin/" + name},
		{"short-name", got.ShortName, name},
		{"model-uuid", got.UUID, mi.UUID},
		{"model-type", got.Type, "iaas"},
		{"controller-uuid", got.ControllerUUID, s.e.broker().UUID},
		{"controller-name", got.ControllerName, cliControllerName},
		{"is-controller", got.IsController, false},
		{"owner", got.Owner, "admin"},
		{"cloud", got.Cloud, "localhost"},
		{"region", got.Region, "east"},
		{"type", got.ProviderType, "lxd"},
		{"life", got.Life, "alive"},
		{"agent-version", got.AgentVersion, "3.5.4"},
		{"users.admin.access", got.Users["admin"].Access, "admin"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("juju show-model %s: %s is %v, want %v", name, c.what, c.got, c.want)
		}
	}
	if got.Status == nil || got.Status.Current != "available" || got.Status.Migration != "" {
		t.Errorf("juju show-model %s: status %+v, want available and no migration", name, got.Status)
	}
	if got.Credential == nil || got.Credential.Cloud != "localhost" || got.Credential.Name == "" {
		t.Errorf("juju show-model %s: credential %+v, want one on cloud localhost", name, got.Credential)
	}
	s.e.checkNoLeak(t, "juju show-model --format "+format, res.Stdout)
}

func cliStatusTabular(t *testing.T, s *cliSuite) {
	name := s.modelName("status")
	s.newModel(t, name, "west")
	res := s.ok(t, nil, "status", "-m", name)
	wantFields(t, res, "Model", "Model", "Controller", "Cloud/Region", "Version", "SLA", "Timestamp")
	wantFields(t, res, name, name, cliControllerName, "localhost/west", "3.5.4", "unsupported")
	if !strings.Contains(res.Stderr, fmt.Sprintf("Model %q is empty.", name)) {
		t.Errorf("juju status of an empty model does not say so:\n%s", res)
	}
}

func cliStatusFormat(t *testing.T, s *cliSuite, format string) {
	name := s.modelName("status-" + format)
	s.newModel(t, name, "east")
	var st cliStatus
	var res jujucli.Result
	if format == "json" {
		res = s.json(t, nil, &st, "status", "-m", name)
	} else {
		res = s.yaml(t, nil, &st, "status", "-m", name)
	}
	m := st.Model
	if m.Name != name || m.Type != "iaas" || m.Controller != cliControllerName || m.Cloud != "localhost" ||
		m.Region != "east" || m.Version != "3.5.4" || m.Status.Current != "available" || m.Status.Life != "alive" {
		t.Errorf("juju status -m %s --format %s: model %+v", name, format, m)
	}
	if len(st.Machines) != 0 || len(st.Applications) != 0 {
		t.Errorf("juju status of a new model shows machines %v, applications %v", keys(st.Machines), keys(st.Applications))
	}
	s.e.checkNoLeak(t, "juju status --format "+format, res.Stdout)
}

// cliConfig is juju model-config -m model --format json.
func cliConfig(t *testing.T, s *cliSuite, model string) map[string]cliConfigValue {
	t.Helper()
	var cfg map[string]cliConfigValue
	s.json(t, nil, &cfg, "model-config", "-m", model)
	return cfg
}

// wantConfig fails unless model-config of key is value from source.
func wantConfig(t *testing.T, cfg map[string]cliConfigValue, key string, value any, source string) {
	t.Helper()
	if got, ok := cfg[key]; !ok || got.Value != value || got.Source != source {
		t.Errorf("juju model-config: %s is %+v (present %v), want %v from %s", key, got, ok, value, source)
	}
}

func cliModelConfigAll(t *testing.T, s *cliSuite) {
	name := s.modelName("config")
	s.newModel(t, name, "east")
	res := s.ok(t, nil, "model-config", "-m", name)
	wantFields(t, res, "Attribute", "Attribute", "From", "Value")
	wantFields(t, res, "logging-config", "logging-config", "default", "<root>=INFO")
	wantFields(t, res, "agent-version", "agent-version", "model", "3.5.4")
	cfg := cliConfig(t, s, name)
	wantConfig(t, cfg, "logging-config", "<root>=INFO", "default")
	wantConfig(t, cfg, "agent-version", "3.5.4", "model")
}

func cliModelConfigOneKey(t *testing.T, s *cliSuite) {
	name := s.modelName("config")
	s.newModel(t, name, "east")
	if res := s.ok(t, nil, "model-config", "-m", name, "logging-config"); res.Stdout != "<root>=INFO\n" {
		t.Errorf("juju model-config logging-config printed %q, want %q", res.Stdout, "<root>=INFO\n")
	}
}

func cliModelConfigSetReset(t *testing.T, s *cliSuite) {
	name := s.modelName("config")
	s.newModel(t, name, "east")
	s.ok(t, nil, "model-config", "-m", name, "logging-config=<root>=DEBUG", "update-status-hook-interval=7m")
	if res := s.ok(t, nil, "model-config", "-m", name, "logging-config"); res.Stdout != "<root>=DEBUG\n" {
		t.Errorf("after setting it, juju model-config logging-config printed %q", res.Stdout)
	}
	cfg := cliConfig(t, s, name)
	wantConfig(t, cfg, "logging-config", "<root>=DEBUG", "model")
	wantConfig(t, cfg, "update-status-hook-interval", "7m", "model")

	s.ok(t, nil, "model-config", "-m", name, "--reset", "logging-config,update-status-hook-interval")
	cfg = cliConfig(t, s, name)
	wantConfig(t, cfg, "logging-config", "<root>=INFO", "default")
	wantConfig(t, cfg, "update-status-hook-interval", "5m", "default")
}

func cliModelConfigFile(t *testing.T, s *cliSuite) {
	name := s.modelName("config")
	s.newModel(t, name, "east")
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte("logging-config: \"<root>=WARNING\"\nupdate-status-hook-interval: 9m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok(t, nil, "model-config", "-m", name, "--file", file)
	cfg := cliConfig(t, s, name)
	wantConfig(t, cfg, "logging-config", "<root>=WARNING", "model")
	wantConfig(t, cfg, "update-status-hook-interval", "9m", "model")
}

// cliDestroyModel destroys a new model with juju destroy-model --no-prompt
// and flags, checks that the CLI sent them (DestroyModels' model entry
// holds wantArgs besides model-tag) and that the model is gone, for the
// CLI and for the broker.
func cliDestroyModel(t *testing.T, s *cliSuite, flags []string, wantArgs string) {
	name := s.modelName("destroy")
	mi := s.newModel(t, name, "east")
	s.ok(t, nil, "models") // the CLI learns of the model
	res, calls := s.trace(t, nil, append([]string{"destroy-model", name, "--no-prompt"}, flags...)...)
	if !strings.Contains(res.Stderr, "Destroying model") {
		t.Errorf("juju destroy-model does not say it destroys the model:\n%s", res)
	}
	var sent string
	for _, c := range calls {
		if c.Facade == "ModelManager" && c.Method == "DestroyModels" {
			sent = string(c.Params)
			if c.Error != "" {
				t.Errorf("%s failed: %s", c.Name(), c)
			}
		}
	}
	want := fmt.Sprintf(`{"models":[{"model-tag":"model-%s"`, mi.UUID)
	if wantArgs != "{}" {
		want += "," + strings.TrimPrefix(wantArgs, "{")
	} else {
		want += "}"
	}
	if sent != want+"]}" {
		t.Errorf("juju destroy-model %s sent DestroyModels %s, want %s]}", strings.Join(flags, " "), sent, want)
	}
	var set cliModelSet
	s.json(t, nil, &set, "models")
	if _, ok := cliFind(set.Models, mi.UUID); ok {
		t.Errorf("juju models still lists %s after juju destroy-model returned", name)
	}
	if _, ok := s.e.modelsByController(t)[mi.UUID]; ok {
		t.Errorf("jimmctl list-models still lists %s after juju destroy-model returned", name)
	}
	s.refused(t, nil, fmt.Sprintf("model %s:admin/%s not found", cliControllerName, name), "show-model", name)
}

// cliNameFreeAgain: a model destroyed by a client that does not wait for
// it to go (the Go client, Terraform) frees its name as soon as its
// controller no longer has it: juju add-model of the same name succeeds
// at the first attempt, with no second destroy.
func cliNameFreeAgain(t *testing.T, s *cliSuite) {
	name := s.modelName("again")
	mi := s.newModel(t, name, "east")
	if err := s.mm.DestroyModel(names.NewModelTag(mi.UUID), nil, nil, nil, nil); err != nil {
		t.Fatalf("DestroyModel: %v", err)
	}
	eventually(t, 20*time.Second, "the destroyed model gone from its controller", func() error {
		for ctl, sums := range hostedModels(t, s.e) {
			for _, m := range sums {
				if m.UUID == mi.UUID {
					return fmt.Errorf("still on %s (%s)", ctl, m.Life)
				}
			}
		}
		return nil
	})
	s.ok(t, nil, "add-model", name, "localhost/east")
	var set cliModelSet
	s.json(t, nil, &set, "models")
	found := 0
	for _, m := range set.Models {
		if m.ShortName == name {
			found++
			if m.UUID == mi.UUID {
				t.Errorf("juju models lists the destroyed model %s", mi.UUID)
			}
		}
	}
	if found != 1 {
		t.Errorf("juju models lists %d models named %s after add-model, want 1", found, name)
	}
}

// cliGrantRevoke grants and revokes a person's access with the CLI and
// checks the relation tuples the broker keeps (show-model's users list:
// cli_models_test.go).
func cliGrantRevoke(t *testing.T, s *cliSuite) {
	name := s.modelName("grant")
	mi := s.newModel(t, name, "east")
	const bob = "bob@example.com"
	model := "model:" + mi.UUID
	has := func(relation string) bool { return relationCheck(t, s.e.ctl, "user:"+bob, relation, model) }
	s.ok(t, nil, "grant", bob, "write", name)
	if !has("writer") {
		t.Errorf("after juju grant %s write %s, jimmctl does not find user:%s writer %s", bob, name, bob, model)
	}
	// Revoking write leaves read, as in Juju.
	s.ok(t, nil, "revoke", bob, "write", name)
	if has("writer") || !has("reader") {
		t.Errorf("after juju revoke %s write %s, jimmctl finds writer %v, reader %v; want reader only", bob, name, has("writer"), has("reader"))
	}
	s.ok(t, nil, "revoke", bob, "read", name)
	if has("reader") {
		t.Errorf("after juju revoke %s read %s, jimmctl still finds user:%s reader %s", bob, name, bob, model)
	}
}

func cliUsers(t *testing.T, s *cliSuite) {
	res := s.ok(t, nil, "users")
	wantFields(t, res, "admin", "admin", "superuser")
	var users []cliUser
	s.json(t, nil, &users, "users")
	i := slices.IndexFunc(users, func(u cliUser) bool { return u.UserName == "admin" })
	if i < 0 || users[i].Access != "superuser" || users[i].Disabled {
		t.Errorf("juju users --format json: %+v; want admin, superuser", users)
	}
}

func cliShowUser(t *testing.T, s *cliSuite) {
	var u cliUser
	s.json(t, nil, &u, "show-user", "admin")
	if u.UserName != "admin" || u.Access != "superuser" || u.DateCreated == "" {
		t.Errorf("juju show-user admin: %+v; want admin, superuser, with a creation date", u)
	}
	var y cliUser
	s.yaml(t, nil, &y, "show-user", "admin")
	if y.UserName != u.UserName || y.Access != u.Access {
		t.Errorf("juju show-user admin --format yaml: %+v, json: %+v", y, u)
	}
}

func cliWhoAmICase(t *testing.T, s *cliSuite) {
	var who cliWhoAmI
	s.json(t, nil, &who, "whoami")
	if who.Controller != cliControllerName || who.User != "admin" {
		t.Errorf("juju whoami: %+v; want controller %s, user admin", who, cliControllerName)
	}
	res := s.ok(t, nil, "whoami")
	if !regexp.MustCompile(`(?m)^Controller:\s+`+cliControllerName+`$`).MatchString(res.Stdout) ||
		!regexp.MustCompile(`(?m)^User:\s+admin$`).MatchString(res.Stdout) {
		t.Errorf("juju whoami:\n%s", res)
	}
}

func cliShowControllerCase(t *testing.T, s *cliSuite) {
	var out map[string]cliShowController
	res := s.json(t, nil, &out, "show-controller")
	got, ok := out[cliControllerName]
	if !ok {
		t.Fatalf("juju show-controller shows %v, not %s", keys(out), cliControllerName)
	}
	p := s.e.broker()
	d := got.Details
	if d.UUID != p.UUID || !slices.Equal(d.APIEndpoints, []string{p.Addr}) || d.AgentVersion != "3.5.4" ||
		d.Cloud != "localhost" || strings.TrimSpace(d.CACert) != strings.TrimSpace(s.e.caPEM) {
		t.Errorf("juju show-controller details: uuid %s, endpoints %v, agent %s, cloud %s; want %s, [%s], 3.5.4, localhost, the broker's CA",
			d.UUID, d.APIEndpoints, d.AgentVersion, d.Cloud, p.UUID, p.Addr)
	}
	if got.Account == nil || got.Account.User != "admin" || got.Account.Access != "superuser" {
		t.Errorf("juju show-controller account: %+v; want admin, superuser", got.Account)
	}
	s.e.checkNoLeak(t, "juju show-controller", res.Stdout)
}

func cliAddMachine(t *testing.T, s *cliSuite) {
	name := s.modelName("machines")
	s.newModel(t, name, "east")
	res := s.ok(t, nil, "add-machine", "-m", name)
	if !strings.Contains(res.Stderr, "created machine 0") {
		t.Errorf("juju add-machine does not say it created machine 0:\n%s", res)
	}
	var st cliMachineList
	s.json(t, nil, &st, "machines", "-m", name)
	m, ok := st.Machines["0"]
	if !ok || len(st.Machines) != 1 || st.Model != name {
		t.Fatalf("juju machines lists %v of model %q, want machine 0 of %s", keys(st.Machines), st.Model, name)
	}
	if m.JujuStatus.Current != "started" || m.InstanceID == "" || len(m.IPAddresses) == 0 {
		t.Errorf("juju machines: machine 0 is %+v; want started, with an instance and an address", m)
	}
	tab := s.ok(t, nil, "machines", "-m", name)
	wantFields(t, tab, "0", "0", "started", m.DNSName, m.InstanceID)
}

// cliHowToHold is how long the development controller holds the how-to's
// migration in VALIDATION (dev-migration-phase-delay), so that juju
// status and show-model can be seen during it: a hold, not a bound on
// anything the test measures.
const cliHowToHold = 20 * time.Second

// cliJAASHowTo follows the JAAS how-to for moving a model between
// controllers, verbatim: the model's UUID from juju show-model --format
// yaml, jimmctl migrate, juju status and juju show-model while it runs,
// then jimmctl update-migrated-model, a no-op once the broker flipped the
// route itself.
func cliJAASHowTo(t *testing.T, s *cliSuite) {
	name := s.modelName("howto")
	s.newModel(t, name, "east")
	// 1. The UUID, from show-model.
	var shown map[string]cliModelInfo
	s.yaml(t, nil, &shown, "show-model", name)
	uuid := shown[name].UUID
	if uuid == "" {
		t.Fatalf("juju show-model %s --format yaml has no model-uuid: %+v", name, shown)
	}
	source := s.e.modelsByController(t)[uuid]
	target := "ctl-1"
	if source == "ctl-1" {
		target = "ctl-2"
	}
	s.ok(t, nil, "model-config", "-m", name, fmt.Sprintf("%s=VALIDATION:%s", bmPhaseDelayKey, cliHowToHold))

	// 2. jimmctl migrate.
	start := time.Now()
	if out := s.e.jimmctl(t, "migrate", target, uuid); !strings.Contains(out, "started migration") {
		t.Errorf("jimmctl migrate %s %s printed %q", target, uuid, out)
	}
	eventually(t, time.Minute, "the migration reaches VALIDATION", func() error {
		if m := bmShowMigration(t, s.e.ctl, uuid); m.Phase != "VALIDATION" {
			return fmt.Errorf("phase %s (%s)", m.Phase, m.Result)
		}
		return nil
	})
	t.Logf("migration in VALIDATION after %s", time.Since(start).Round(time.Millisecond))

	// 3. juju status shows it while it runs.
	res := s.ok(t, nil, "status", "-m", name)
	wantFields(t, res, "Model", "Model", "Controller", "Cloud/Region", "Version", "SLA", "Timestamp", "Notes")
	wantFields(t, res, name, name, cliControllerName, "localhost/east", "3.5.4", "unsupported")
	if row := tableRow(res.Stdout, name); !strings.Contains(strings.Join(row, " "), "migrating: validating") {
		t.Errorf("juju status during the migration has no note %q:\n%s", "migrating: validating", res)
	}
	var st cliStatus
	s.json(t, nil, &st, "status", "-m", name)
	if st.Model.Status.Current != "busy" || st.Model.Status.Message != "migrating: validating" {
		t.Errorf("juju status --format json during the migration: model status %+v, want busy, migrating: validating", st.Model.Status)
	}
	// 4. juju show-model shows the migration.
	s.yaml(t, nil, &shown, "show-model", name)
	if ms := shown[name].Status; ms == nil || ms.Migration == "" || ms.MigrationStart == "" {
		t.Errorf("juju show-model during the migration: status %+v, want migration and migration-start", ms)
	} else if ms.Migration != "validating" {
		t.Errorf("juju show-model during the migration: migration %q, want validating", ms.Migration)
	}
	if m := bmShowMigration(t, s.e.ctl, uuid); m.Phase != "VALIDATION" {
		t.Fatalf("the migration left VALIDATION (now %s, %s) while the CLI looked: the hold of %s was too short for this machine", m.Phase, m.Result, cliHowToHold)
	}

	// 5. It ends; the broker flipped the route itself.
	m := bmWaitMigration(t, s.e.ctl, uuid, 2*cliHowToHold+time.Minute)
	if m.Result != "succeeded" || m.Phase != "DONE" || m.Target != target {
		t.Fatalf("migration ended %+v, want DONE, succeeded, on %s", m, target)
	}
	t.Logf("migration done after %s", time.Since(start).Round(time.Millisecond))
	if got := s.e.modelsByController(t)[uuid]; got != target {
		t.Errorf("after the migration jimmctl list-models puts %s on %q, want %s", name, got, target)
	}
	// 6. jimmctl update-migrated-model: nothing left to do, and says so
	// without failing.
	if out := s.e.jimmctl(t, "update-migrated-model", target, uuid); !strings.Contains(out, "routes to "+target) {
		t.Errorf("jimmctl update-migrated-model %s %s printed %q", target, uuid, out)
	}
	// The model works from its new home, under the same name.
	s.json(t, nil, &st, "status", "-m", name)
	if st.Model.Name != name || st.Model.Status.Current != "available" || st.Model.Controller != cliControllerName {
		t.Errorf("juju status after the migration: model %+v", st.Model)
	}
	s.yaml(t, nil, &shown, "show-model", name)
	if got := shown[name]; got.UUID != uuid || got.ControllerUUID != s.e.broker().UUID || got.Status == nil || got.Status.Current != "available" {
		t.Errorf("juju show-model after the migration: %+v", got)
	}
}

// cliDeviceFlow runs a juju command with c that logs in through the
// identity provider's device flow, plays user at dex when the CLI prints
// where to go, and returns the command's result, which must exit 0.
func cliDeviceFlow(t *testing.T, s *cliSuite, c *jujucli.CLI, user oidcproc.User, args ...string) jujucli.Result {
	t.Helper()
	run, err := c.Start(t.Context(), "", args...)
	if err != nil {
		t.Fatal(err)
	}
	var uri, code string
	for l := range run.Lines() {
		if m := deviceLine.FindStringSubmatch(l.Text); m != nil {
			uri, code = m[1], m[2]
			break
		}
	}
	if uri == "" {
		res, err := run.Wait()
		s.record(t, res)
		t.Fatalf("juju printed no device login instructions (%v):\n%s", err, res)
	}
	if !strings.HasPrefix(uri, s.dex.Issuer+"/") {
		t.Errorf("juju sent the person to %s, not to dex (%s)", uri, s.dex.Issuer)
	}
	b, err := oidcproc.NewBrowser(s.dex.CACertPEM, []byte(s.e.caPEM))
	if err != nil {
		t.Fatal(err)
	}
	if err := oidcproc.ApproveDevice(t.Context(), b, uri, code, user); err != nil {
		run.Stop(5 * time.Second)
		t.Fatalf("play %s at dex: %v", user.Email, err)
	}
	res, err := run.Wait()
	s.record(t, res)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("want exit 0 after the device login of %s:\n%s", user.Email, res)
	}
	return res
}

// cliFirstCommandLogin gives a CLI a store that knows the broker (as
// jimmd demo writes it) with an account that logs in through the device
// flow but holds no session yet: its first command logs in, playing user
// at dex.
func cliFirstCommandLogin(t *testing.T, s *cliSuite, user oidcproc.User) *jujucli.CLI {
	t.Helper()
	c := s.newCLI(t, &jujucli.Account{Type: "oauth2-device", User: user.Email})
	cliDeviceFlow(t, s, c, user, "models")
	return c
}

// cliLoginPerson: a person logs in with juju login and the device flow,
// then works with a model they may read, and may not change.
func cliLoginPerson(t *testing.T, s *cliSuite, login func(*testing.T, *cliSuite, oidcproc.User) *jujucli.CLI) {
	name := s.modelName("login")
	mi := s.newModel(t, name, "east")
	bob := oidcproc.Bob.Email
	s.ok(t, nil, "grant", bob, "read", name)

	c := login(t, s, oidcproc.Bob)
	acct, ok, err := c.Account(cliControllerName)
	if err != nil || !ok || acct.Type != "oauth2-device" || acct.User != bob || acct.SessionToken == "" || acct.Password != "" {
		t.Errorf("after juju login, accounts.yaml holds %+v (%v, %v); want an oauth2-device account of %s with a session token and no password", acct, ok, err, bob)
	}
	var who cliWhoAmI
	s.json(t, c, &who, "whoami")
	if who.Controller != cliControllerName || who.User != bob {
		t.Errorf("juju whoami after juju login: %+v; want %s on %s", who, bob, cliControllerName)
	}
	var set cliModelSet
	s.json(t, c, &set, "models")
	got, ok := cliFind(set.Models, mi.UUID)
	if !ok || got.Name != "admin/"+name || got.Access != "read" {
		t.Errorf("juju models as %s: %+v (found %v); want admin/%s with read access", bob, got, ok, name)
	}
	model := "admin/" + name
	var st cliStatus
	s.json(t, c, &st, "status", "-m", model)
	if st.Model.Name != name {
		t.Errorf("juju status -m %s as %s shows model %q", model, bob, st.Model.Name)
	}
	cfg := map[string]cliConfigValue{}
	s.json(t, c, &cfg, "model-config", "-m", model)
	wantConfig(t, cfg, "logging-config", "<root>=INFO", "default")
	s.refused(t, c, "permission denied", "model-config", "-m", model, "logging-config=<root>=DEBUG")
	cfg = map[string]cliConfigValue{}
	s.json(t, nil, &cfg, "model-config", "-m", name)
	wantConfig(t, cfg, "logging-config", "<root>=INFO", "default")
}
