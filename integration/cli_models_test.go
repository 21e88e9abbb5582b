package integration

// CLI cases: item 1, add-model in every form, and more of item 2 (the
// Type column, the credential's validity, the users granted access). The
// broker answers Cloud(7).Clouds, Cloud and UserCredentials as a
// controller does.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/juju/juju/api/client/cloud"
	jujucloud "github.com/juju/juju/cloud"
	"github.com/juju/names/v5"
)

func init() {
	registerCLI(
		cliCase{"01-add-model", "current-cloud", cliAddModelCurrentCloud},
		cliCase{"01-add-model", "cloud-region", cliAddModelCloudRegion},
		cliCase{"01-add-model", "config-key-values", cliAddModelConfigKV},
		cliCase{"01-add-model", "config-file", cliAddModelConfigFile},
		cliCase{"01-add-model", "no-switch", cliAddModelNoSwitch},
		cliCase{"01-add-model", "credential", cliAddModelCredential},
		cliCase{"01-add-model", "owner", cliAddModelOwner},

		cliCase{"02-models", "type-column", cliModelsTypeColumn},
		cliCase{"02-models", "show-model-credential-valid", cliShowModelCredentialValid},
		cliCase{"02-models", "show-model-granted-users", cliShowModelGrantedUsers},
	)
}

// addedModel matches add-model's report: "Added 'm' model on
// localhost/east with credential 'default' for user 'admin'".
// The CLI names the owner by the name part of their user tag: "bob" for
// bob@example.com (cmd/juju/controller/addmodel.go).
func addedModel(name, owner string) *regexp.Regexp {
	namePart, _, _ := strings.Cut(owner, "@")
	return regexp.MustCompile(fmt.Sprintf(`Added '%s' model on localhost/(east|west) with credential '([^']+)' for user '%s'`,
		regexp.QuoteMeta(name), regexp.QuoteMeta(namePart)))
}

// cliAddModel runs juju add-model name args..., which must succeed and say
// so, and returns the model as show-model shows it (qualified by owner
// when it is not admin's).
func cliAddModel(t *testing.T, s *cliSuite, name, owner string, args ...string) cliModelInfo {
	t.Helper()
	res := s.ok(t, nil, append([]string{"add-model", name}, args...)...)
	if !addedModel(name, owner).MatchString(res.Stderr) {
		t.Errorf("juju add-model does not report the model as %q:\n%s", addedModel(name, owner), res)
	}
	ref := name
	if owner != "admin" {
		ref = owner + "/" + name
	}
	var out map[string]cliModelInfo
	s.json(t, nil, &out, "show-model", ref)
	m, ok := out[name]
	if !ok {
		t.Fatalf("juju show-model %s after add-model shows %v", ref, keys(out))
	}
	if m.Owner != owner || m.Cloud != "localhost" || m.ControllerUUID != s.e.broker().UUID || m.Life != "alive" || m.UUID == "" {
		t.Errorf("juju show-model %s after add-model: %+v; want owner %s, cloud localhost, the broker's UUID", ref, m, owner)
	}
	s.e.checkNoLeak(t, "juju show-model after add-model", m)
	return m
}

// wantOn fails unless jimmctl places model uuid on a controller of region.
func wantOn(t *testing.T, s *cliSuite, uuid, region string) {
	t.Helper()
	ctl, ok := s.e.modelsByController(t)[uuid]
	want := map[string][]string{"east": {"ctl-1", "ctl-2"}, "west": {"ctl-3"}}[region]
	if !ok || (ctl != want[0] && (len(want) < 2 || ctl != want[1])) {
		t.Errorf("jimmctl list-models puts model %s on %q (listed %v), want one of %v (region %s)", uuid, ctl, ok, want, region)
	}
}

func cliAddModelCurrentCloud(t *testing.T, s *cliSuite) {
	name := s.modelName("add")
	m := cliAddModel(t, s, name, "admin")
	wantOn(t, s, m.UUID, m.Region)
	var who cliWhoAmI
	s.json(t, nil, &who, "whoami")
	if who.Model != name {
		t.Errorf("after juju add-model %s the current model is %q, want %s", name, who.Model, name)
	}
}

func cliAddModelCloudRegion(t *testing.T, s *cliSuite) {
	name := s.modelName("add")
	m := cliAddModel(t, s, name, "admin", "localhost/west")
	if m.Region != "west" {
		t.Errorf("juju add-model %s localhost/west made a model in region %q", name, m.Region)
	}
	wantOn(t, s, m.UUID, "west")
	var st cliStatus
	s.json(t, nil, &st, "status", "-m", name)
	if st.Model.Region != "west" || st.Model.Controller != cliControllerName {
		t.Errorf("juju status of the new model: %+v", st.Model)
	}
}

func cliAddModelConfigKV(t *testing.T, s *cliSuite) {
	name := s.modelName("add")
	cliAddModel(t, s, name, "admin", "localhost/east", "--config", "logging-config=<root>=WARNING", "--config", "update-status-hook-interval=8m")
	cfg := cliConfig(t, s, name)
	wantConfig(t, cfg, "logging-config", "<root>=WARNING", "model")
	wantConfig(t, cfg, "update-status-hook-interval", "8m", "model")
}

func cliAddModelConfigFile(t *testing.T, s *cliSuite) {
	name := s.modelName("add")
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte("logging-config: \"<root>=ERROR\"\nupdate-status-hook-interval: 6m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cliAddModel(t, s, name, "admin", "--config", file)
	cfg := cliConfig(t, s, name)
	wantConfig(t, cfg, "logging-config", "<root>=ERROR", "model")
	wantConfig(t, cfg, "update-status-hook-interval", "6m", "model")
}

func cliAddModelNoSwitch(t *testing.T, s *cliSuite) {
	current := s.modelName("current")
	s.newModel(t, current, "east")
	s.ok(t, nil, "switch", current)
	name := s.modelName("add")
	cliAddModel(t, s, name, "admin", "--no-switch")
	var who cliWhoAmI
	s.json(t, nil, &who, "whoami")
	if who.Model != current {
		t.Errorf("after juju add-model --no-switch the current model is %q, want %s still", who.Model, current)
	}
	var set cliModelSet
	s.json(t, nil, &set, "models")
	if set.CurrentModel != current {
		t.Errorf("juju models says the current model is %q, want %s", set.CurrentModel, current)
	}
}

// cliAddModelCredential names the credential the broker holds for admin
// on the cloud (as Cloud.UserCredentials gives it to the CLI).
func cliAddModelCredential(t *testing.T, s *cliSuite) {
	tags, err := cloud.NewClient(s.e.open(t, "")).UserCredentials(names.NewUserTag("admin"), names.NewCloudTag("localhost"))
	if err != nil || len(tags) == 0 {
		t.Fatalf("Cloud.UserCredentials(admin, localhost) through the broker: %v, %v", tags, err)
	}
	cred := tags[0].Name()
	name := s.modelName("add")
	res := s.ok(t, nil, "add-model", name, "--credential", cred)
	if m := addedModel(name, "admin").FindStringSubmatch(res.Stderr); m == nil || m[2] != cred {
		t.Errorf("juju add-model --credential %s does not report that credential:\n%s", cred, res)
	}
	var out map[string]cliModelInfo
	s.json(t, nil, &out, "show-model", name)
	if c := out[name].Credential; c == nil || c.Name != cred || c.Owner != "admin" || c.Cloud != "localhost" {
		t.Errorf("juju show-model %s: credential %+v, want %s of admin on localhost", name, c, cred)
	}
	s.refused(t, nil, "credential 'no-such-credential' not found", "add-model", s.modelName("add"), "--credential", "no-such-credential")
}

// cliAddModelOwner: an administrator makes a model for someone else,
// with the owner's credential on the controller (as in Juju, the CLI
// looks for one of the owner's and refuses without).
func cliAddModelOwner(t *testing.T, s *cliSuite) {
	name := s.modelName("add")
	const bob = "bob@example.com"
	s.refused(t, nil, `credentials for cloud "localhost" not found`, "add-model", name, "--owner", bob)
	err := cloud.NewClient(s.e.open(t, "")).AddCredential(names.NewCloudCredentialTag("localhost/"+bob+"/home").String(),
		jujucloud.NewCredential(jujucloud.CertificateAuthType, map[string]string{"client-cert": "bob-cert", "client-key": "bob-key", "server-cert": "server-cert"}))
	if err != nil {
		t.Fatalf("the administrator adds a credential for %s: %v", bob, err)
	}
	m := cliAddModel(t, s, name, bob, "--owner", bob)
	if m.Users[bob].Access != "admin" {
		t.Errorf("the owner %s of a model made for them has access %q, want admin (users %+v)", bob, m.Users[bob].Access, m.Users)
	}
	for _, rm := range s.e.listModels(t) {
		if rm.UUID == m.UUID && rm.Owner != bob {
			t.Errorf("jimmctl list-models: %s is owned by %s, want %s", name, rm.Owner, bob)
		}
	}
	if !relationCheck(t, s.e.ctl, "user:"+bob, "administrator", "model:"+m.UUID) {
		t.Errorf("jimmctl does not find user:%s administrator model:%s", bob, m.UUID)
	}
	// Not the admin's model: the admin's current model does not change.
	var who cliWhoAmI
	s.json(t, nil, &who, "whoami")
	if who.Model == name {
		t.Errorf("juju add-model --owner %s made %s the admin's current model", bob, name)
	}
}

func cliModelsTypeColumn(t *testing.T, s *cliSuite) {
	name := s.modelName("type")
	mi := s.newModel(t, name, "east")
	res := s.ok(t, nil, "models")
	wantFields(t, res, name, name, "localhost/east", "lxd", "available")
	var set cliModelSet
	s.json(t, nil, &set, "models")
	if got, ok := cliFind(set.Models, mi.UUID); !ok || got.ProviderType != "lxd" {
		t.Errorf("juju models --format json: %s has type %q (listed %v), want lxd", name, got.ProviderType, ok)
	}
}

func cliShowModelCredentialValid(t *testing.T, s *cliSuite) {
	name := s.modelName("cred")
	s.newModel(t, name, "east")
	var out map[string]cliModelInfo
	s.json(t, nil, &out, "show-model", name)
	if c := out[name].Credential; c == nil || c.Validity != "valid" {
		t.Errorf("juju show-model %s: credential %+v, want validity-check valid", name, c)
	}
}

// cliShowModelGrantedUsers: show-model lists whom juju grant gave access,
// with that access, as a controller does.
func cliShowModelGrantedUsers(t *testing.T, s *cliSuite) {
	name := s.modelName("users")
	s.newModel(t, name, "east")
	const bob = "bob@example.com"
	users := func() map[string]cliModelUser {
		var out map[string]cliModelInfo
		s.json(t, nil, &out, "show-model", name)
		return out[name].Users
	}
	s.ok(t, nil, "grant", bob, "write", name)
	if got := users()[bob].Access; got != "write" {
		t.Errorf("after juju grant %s write %s, show-model gives %s access %q", bob, name, bob, got)
	}
	s.ok(t, nil, "revoke", bob, "write", name)
	if got := users()[bob].Access; got != "read" {
		t.Errorf("after juju revoke %s write %s, show-model gives %s access %q, want read", bob, name, bob, got)
	}
	s.ok(t, nil, "revoke", bob, "read", name)
	if u, ok := users()[bob]; ok {
		t.Errorf("after juju revoke %s read %s, show-model still lists %s: %+v", bob, name, bob, u)
	}
}
