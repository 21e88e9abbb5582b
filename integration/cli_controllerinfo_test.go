package integration

// jimmctl controller-info: registering a Juju controller from the juju
// client's store, as an operator does with a real one. The stock juju CLI
// logs in to a development controller directly (not through the broker)
// and keeps it in its store; jimmctl controller-info writes the
// add-controller file from that store; jimmctl add-controller registers
// the controller with a broker, which then places and relays a model on
// it.
//
// The juju client keeps a password in accounts.yaml only for the admin
// that juju bootstrap created (juju login -u, juju register and
// juju change-user-password leave a macaroon instead, which the
// development controller does not issue), so the store starts as
// juju bootstrap leaves it: the controller, and its admin with the
// password. Everything after that is the juju client's own doing: juju
// login logs in with the password and rewrites controllers.yaml, and
// juju logout removes the account.

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api/base"
	"github.com/juju/juju/api/client/modelmanager"
	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/integration/internal/jujucli"
)

// addControllerFile mirrors restapi.AddControllerRequest, the file
// jimmctl add-controller takes (TestControllerInfo checks the mirror).
type addControllerFile struct {
	Name          string   `json:"name" yaml:"name"`
	UUID          string   `json:"uuid" yaml:"uuid"`
	APIAddresses  []string `json:"api-addresses" yaml:"api-addresses"`
	CACert        string   `json:"ca-cert" yaml:"ca-cert"`
	TLSServerName string   `json:"tls-server-name,omitempty" yaml:"tls-server-name,omitempty"`
	AdminUser     string   `json:"admin-user" yaml:"admin-user"`
	AdminPassword string   `json:"admin-password" yaml:"admin-password"`
	Priority      int      `json:"priority,omitempty" yaml:"priority,omitempty"`
}

// ciStoreName is the controller's name in the juju client's store (and
// so in the broker): not the development controller's own name, which the
// broker never sees.
const ciStoreName = "prod"

func TestControllerInfo(t *testing.T) {
	t.Parallel()
	bin := jujuBin(t)
	serverDSN(t) // skips without PostgreSQL
	e := newBrokerEnv(t, buildBrokerBins(t))
	checkMirrors(t, "types.go", map[string]any{"AddControllerRequest": addControllerFile{}})

	// A controller the broker does not know yet, alone in localhost/north,
	// trusting the broker's tokens.
	ctl := e.launchController("juju-north", "north")

	// The juju client's store as juju bootstrap leaves it.
	juju, err := jujucli.New(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = juju.AddController(jujucli.Controller{
		Name: ciStoreName, UUID: ctl.UUID, APIEndpoints: []string{ctl.Addr}, CACert: ctl.File.CACert,
		Cloud: "localhost", Region: "north", AgentVersion: "3.5.4",
	}, &jujucli.Account{User: "admin", Password: adminPassword, LastKnownAccess: "superuser"})
	if err != nil {
		t.Fatal(err)
	}
	runJuju := func(t *testing.T, args ...string) jujucli.Result {
		t.Helper()
		res, err := juju.Run(t.Context(), "", args...)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 {
			t.Fatalf("want exit 0:\n%s", res)
		}
		return res
	}
	// The juju client logs in to the controller directly with the
	// password, and rewrites its store.
	before, err := os.ReadFile(filepath.Join(juju.Data, "controllers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	runJuju(t, "login", "-c", ciStoreName)
	after, err := os.ReadFile(filepath.Join(juju.Data, "controllers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(after) == string(before) || !strings.Contains(string(after), "controller-machine-count:") {
		t.Fatalf("juju login did not rewrite controllers.yaml:\n%s", after)
	}
	var store struct {
		Controllers map[string]struct {
			APIEndpoints []string `yaml:"api-endpoints"`
		} `yaml:"controllers"`
	}
	if err := yaml.Unmarshal(after, &store); err != nil {
		t.Fatal(err)
	}
	endpoints := store.Controllers[ciStoreName].APIEndpoints
	if !slices.Contains(endpoints, ctl.Addr) {
		t.Fatalf("juju keeps %s's endpoints as %v, without %s", ciStoreName, endpoints, ctl.Addr)
	}
	if res := runJuju(t, "show-controller", ciStoreName, "--format", "json"); !strings.Contains(res.Stdout, ctl.UUID) {
		t.Errorf("juju show-controller %s does not name the controller's UUID %s:\n%s", ciStoreName, ctl.UUID, res)
	}

	// jimmctl reads the juju client's store.
	ctlCLI := *e.ctl
	ctlCLI.Env = []string{"JUJU_DATA=" + juju.Data}
	dir := t.TempDir()
	info := func(t *testing.T, file string, args ...string) addControllerFile {
		t.Helper()
		res := runCtl(t, &ctlCLI, append([]string{"controller-info", ciStoreName, "-o", file}, args...)...)
		if res.ExitCode != 0 {
			t.Fatalf("%s", res)
		}
		if strings.Contains(res.Stdout+res.Stderr, adminPassword) {
			t.Errorf("jimmctl controller-info prints the controller's password:\n%s", res)
		}
		if want := "wrote controller \"" + ciStoreName + "\" (user admin, "; !strings.HasPrefix(res.Stdout, want) || !strings.Contains(res.Stdout, "jimmctl add-controller "+file) {
			t.Errorf("jimmctl controller-info printed %q; want it to start %q and say how to register %s", res.Stdout, want, file)
		}
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", file, fi.Mode().Perm())
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var f addControllerFile
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("%s: %v\n%s", file, err, raw)
		}
		return f
	}

	t.Run("from the store", func(t *testing.T) {
		got := info(t, filepath.Join(dir, "as-is.yaml"))
		want := addControllerFile{
			Name: ciStoreName, UUID: ctl.UUID, APIAddresses: endpoints, CACert: ctl.File.CACert,
			AdminUser: "admin", AdminPassword: adminPassword,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("controller-info wrote\n%+v\nwant\n%+v", got, want)
		}
	})

	// The broker dials the controller at the public address and verifies
	// its certificate against the TLS host name (not the address's host):
	// juju-apiserver is in the certificate, as in every Juju controller's;
	// wrong.example.com is not.
	_, port, err := net.SplitHostPort(ctl.Addr)
	if err != nil {
		t.Fatal(err)
	}
	public := net.JoinHostPort("localhost", port)

	t.Run("a TLS host name the certificate lacks", func(t *testing.T) {
		file := filepath.Join(dir, "wrong-name.yaml")
		got := info(t, file, "--public-address", public, "--tls-hostname", "wrong.example.com")
		if !slices.Equal(got.APIAddresses, []string{public}) || got.TLSServerName != "wrong.example.com" {
			t.Fatalf("controller-info --public-address %s --tls-hostname wrong.example.com wrote addresses %v, tls-server-name %q",
				public, got.APIAddresses, got.TLSServerName)
		}
		res := e.run(t, "add-controller", file)
		t.Logf("add-controller %s: exit %d: %s", file, res.ExitCode, strings.TrimSpace(res.Stderr))
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "not wrong.example.com") {
			t.Errorf("add-controller with a TLS host name the controller's certificate lacks: want a failure naming it; got %s", res)
		}
		for _, c := range e.listControllers(t) {
			if c.Name == ciStoreName {
				t.Errorf("the refused controller is listed: %+v", c)
			}
		}
	})

	file := filepath.Join(dir, "public.yaml")
	t.Run("public address and TLS host name", func(t *testing.T) {
		got := info(t, file, "--public-address", public, "--tls-hostname", "juju-apiserver")
		want := addControllerFile{
			Name: ciStoreName, UUID: ctl.UUID, APIAddresses: []string{public}, CACert: ctl.File.CACert,
			TLSServerName: "juju-apiserver", AdminUser: "admin", AdminPassword: adminPassword,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("controller-info wrote\n%+v\nwant\n%+v", got, want)
		}
	})
	if t.Failed() {
		return
	}

	// The broker takes the file, and the controller serves its models.
	if out := e.jimmctl(t, "add-controller", file); !strings.Contains(out, ciStoreName) {
		t.Errorf("add-controller printed %q, which does not name %s", out, ciStoreName)
	}
	e.waitStatus(t, ciStoreName, "up", 10*time.Second)
	mm := modelmanager.NewClient(e.open(t, ""))
	model := createModel(t, e, mm, "on-prod", "north")
	if where := e.modelsByController(t)[model.UUID]; where != ciStoreName {
		t.Errorf("jimmctl list-models places model on-prod (%s) on %q, want %s", model.UUID, where, ciStoreName)
	}
	var listed *restController
	for _, c := range e.listControllers(t) {
		if c.Name == ciStoreName {
			listed = &c
		}
	}
	if listed == nil {
		t.Fatalf("list-controllers does not list %s", ciStoreName)
	}
	if listed.UUID != ctl.UUID || listed.Status != "up" || !slices.Equal(listed.Addresses, []string{public}) ||
		!slices.Equal(listed.Regions, []string{"north"}) || listed.ModelCount != 1 || listed.AgentVersion != "3.5.4" {
		t.Errorf("list-controllers shows %+v; want UUID %s, up, address %s, region north, 1 model, agent 3.5.4", *listed, ctl.UUID, public)
	}
	models, err := mm.ListModels("admin")
	if err != nil {
		t.Fatalf("ListModels through the broker: %v", err)
	}
	if !slices.ContainsFunc(models, func(m base.UserModel) bool { return m.UUID == model.UUID && m.Name == "on-prod" }) {
		t.Errorf("ListModels through the broker: %+v, without on-prod (%s)", models, model.UUID)
	}
	// A model connection through the broker reaches the controller.
	if tag, ok := e.open(t, model.UUID).ModelTag(); !ok || tag.Id() != model.UUID {
		t.Errorf("model connection to on-prod through the broker is to model %q (%v), want %s", tag.Id(), ok, model.UUID)
	}
	// The controller itself, asked directly with the juju client, hosts it.
	if res := runJuju(t, "models", "-c", ciStoreName, "--all", "--format", "json"); !strings.Contains(res.Stdout, model.UUID) {
		t.Errorf("juju models -c %s (the controller directly) does not list on-prod (%s):\n%s", ciStoreName, model.UUID, res)
	}

	// Once the juju client has logged out, its store has no account there.
	runJuju(t, "logout", "-c", ciStoreName, "--force")
	res := runCtl(t, &ctlCLI, "controller-info", ciStoreName, "-o", filepath.Join(dir, "after-logout.yaml"))
	wantCtlRefusal(t, "controller-info after juju logout", res,
		"the juju client store at "+juju.Data+" has no account on controller \""+ciStoreName+"\"")
	res = runCtl(t, &ctlCLI, "controller-info", "juju-north")
	wantCtlRefusal(t, "controller-info of a controller the store does not know", res,
		"controller \"juju-north\" is not in the juju client store at "+juju.Data+"; it knows: "+ciStoreName)
}
