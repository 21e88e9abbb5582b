package integration

// CLI cases: item 17 (issue 12), applications through the broker with the
// stock CLI: juju deploy of the repository's test charm
// (devcontroller/testcharms/demo) as a directory and as a .charm archive
// (the upload goes over the model's HTTP endpoint, which the broker
// relays with the caller's write access checked), add-unit, integrate,
// expose, config, remove-unit, remove-relation and remove-application,
// each read back from juju status --format json.

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api/client/application"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

func init() {
	registerCLI(
		cliCase{"17-applications", "deploy-directory", cliDeployDir},
		cliCase{"17-applications", "deploy-archive", cliDeployArchive},
		cliCase{"17-applications", "add-and-remove-unit", cliAddAndRemoveUnit},
		cliCase{"17-applications", "integrate-and-remove-relation", cliIntegrate},
		cliCase{"17-applications", "expose", cliExpose},
		cliCase{"17-applications", "config", cliAppConfig},
		cliCase{"17-applications", "remove-application", cliRemoveApplication},
		cliCase{"17-applications", "deploy-refused-to-a-reader", cliDeployReader},
		cliCase{"17-applications", "charmhub-offline", cliCharmhubOffline},
	)
}

// cliApp is what the cases read of an application in juju status --format
// json (cmd/juju/status formattedApplication), decoded leniently: status
// prints more than the cases look at.
type cliApp struct {
	Charm       string                     `json:"charm"`
	CharmOrigin string                     `json:"charm-origin"`
	CharmName   string                     `json:"charm-name"`
	CharmRev    int                        `json:"charm-rev"`
	Exposed     bool                       `json:"exposed"`
	Status      cliStatusInfo              `json:"application-status"`
	Relations   map[string][]cliRelatedApp `json:"relations"`
	Units       map[string]cliUnit         `json:"units"`
}

type cliRelatedApp struct {
	RelatedApplication string `json:"related-application"`
	Interface          string `json:"interface"`
	Scope              string `json:"scope"`
}

type cliUnit struct {
	Workload cliStatusInfo `json:"workload-status"`
	Agent    cliStatusInfo `json:"juju-status"`
	Machine  string        `json:"machine"`
}

// apps runs juju status -m model --format json and returns its
// applications.
func (s *cliSuite) apps(t *testing.T, model string) (map[string]cliApp, cliStatus) {
	t.Helper()
	var st cliStatus
	s.json(t, nil, &st, "status", "-m", model)
	out := map[string]cliApp{}
	for name, raw := range st.Applications {
		b, _ := json.Marshal(raw)
		var a cliApp
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("juju status: application %s: %v\n%s", name, err, b)
		}
		out[name] = a
	}
	return out, st
}

// demoCharmDir is the test charm's directory in the repository.
func demoCharmDir(t *testing.T) string {
	t.Helper()
	root, err := devproc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "devcontroller", "testcharms", "demo")
}

// demoCharmArchive packs the test charm as a .charm file (a zip of its
// files, executables kept executable) and returns its path.
func demoCharmArchive(t *testing.T) string {
	t.Helper()
	dir := demoCharmDir(t)
	path := filepath.Join(t.TempDir(), "demo.charm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name, _ = filepath.Rel(dir, p)
		h.Method = zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatalf("pack the demo charm: %v", err)
	}
	return path
}

// deployDemo deploys the test charm's directory as app in model and
// returns the application as status shows it.
func (s *cliSuite) deployDemo(t *testing.T, model, app string, args ...string) cliApp {
	t.Helper()
	res := s.ok(t, nil, append([]string{"deploy", "-m", model, demoCharmDir(t), app}, args...)...)
	if !strings.Contains(res.Stderr, "Deploying \""+app+"\" from local charm \"demo\"") {
		t.Errorf("juju deploy does not say it deploys the local charm:\n%s", res)
	}
	apps, _ := s.apps(t, model)
	a, ok := apps[app]
	if !ok {
		t.Fatalf("juju status after deploy lists applications %v, not %s", keys(apps), app)
	}
	return a
}

// unitNames lists an application's units.
func unitNames(a cliApp) []string { return keys(a.Units) }

func cliDeployDir(t *testing.T, s *cliSuite) {
	name := s.modelName("deploy")
	s.newModel(t, name, "east")
	a := s.deployDemo(t, name, "web")
	if a.CharmName != "demo" || a.CharmOrigin != "local" || !strings.HasPrefix(a.Charm, "local:") || a.CharmRev != 0 {
		t.Errorf("juju status: web is charm %q (name %q, origin %q, revision %d); want the local demo charm, revision 0", a.Charm, a.CharmName, a.CharmOrigin, a.CharmRev)
	}
	if got := unitNames(a); !slices.Equal(got, []string{"web/0"}) {
		t.Fatalf("juju status: web's units %v, want web/0", got)
	}
	u := a.Units["web/0"]
	if u.Machine == "" || u.Workload.Current == "" || u.Agent.Current == "" {
		t.Errorf("juju status: web/0 %+v, want a machine, a workload status and an agent status", u)
	}
	_, st := s.apps(t, name)
	if _, ok := st.Machines[u.Machine]; !ok {
		t.Errorf("juju status: web/0 is on machine %q, which status does not list (%v)", u.Machine, keys(st.Machines))
	}
}

func cliDeployArchive(t *testing.T, s *cliSuite) {
	name := s.modelName("deploy")
	s.newModel(t, name, "east")
	s.deployDemo(t, name, "web")
	// The same charm as an archive is another upload: the next revision.
	res := s.ok(t, nil, "deploy", "-m", name, demoCharmArchive(t), "api", "-n", "2")
	if !strings.Contains(res.Stderr, `Deploying "api" from local charm "demo"`) {
		t.Errorf("juju deploy of a .charm archive:\n%s", res)
	}
	apps, _ := s.apps(t, name)
	a := apps["api"]
	if a.CharmName != "demo" || a.CharmOrigin != "local" || a.CharmRev != 1 {
		t.Errorf("juju status: api is charm %q (name %q, origin %q, revision %d); want the local demo charm, revision 1", a.Charm, a.CharmName, a.CharmOrigin, a.CharmRev)
	}
	if got := unitNames(a); !slices.Equal(got, []string{"api/0", "api/1"}) {
		t.Errorf("juju status: api's units %v, want api/0 and api/1", got)
	}
}

func cliAddAndRemoveUnit(t *testing.T, s *cliSuite) {
	name := s.modelName("units")
	s.newModel(t, name, "east")
	s.deployDemo(t, name, "web")
	s.ok(t, nil, "add-unit", "-m", name, "web", "-n", "2")
	apps, st := s.apps(t, name)
	if got := unitNames(apps["web"]); !slices.Equal(got, []string{"web/0", "web/1", "web/2"}) {
		t.Fatalf("juju status after add-unit -n 2: web's units %v", got)
	}
	if len(st.Machines) != 3 {
		t.Errorf("juju status after add-unit -n 2: %d machines, want 3 (one per unit)", len(st.Machines))
	}
	s.ok(t, nil, "remove-unit", "-m", name, "web/1", "--no-prompt")
	eventually(t, 30*time.Second, "web/1 is gone from status", func() error {
		apps, _ := s.apps(t, name)
		if got := unitNames(apps["web"]); !slices.Equal(got, []string{"web/0", "web/2"}) {
			return fmt.Errorf("web's units %v", got)
		}
		return nil
	})
}

func cliIntegrate(t *testing.T, s *cliSuite) {
	name := s.modelName("integrate")
	s.newModel(t, name, "east")
	s.deployDemo(t, name, "web")
	s.deployDemo(t, name, "api")
	s.ok(t, nil, "integrate", "-m", name, "web:backend", "api:website")
	apps, _ := s.apps(t, name)
	if r := apps["web"].Relations["backend"]; len(r) != 1 || r[0].RelatedApplication != "api" || r[0].Interface != "http" {
		t.Errorf("juju status after integrate: web's backend relations %+v, want api over http", r)
	}
	if r := apps["api"].Relations["website"]; len(r) != 1 || r[0].RelatedApplication != "web" {
		t.Errorf("juju status after integrate: api's website relations %+v, want web", r)
	}
	// Juju's own refusal of a second backend (limit 1) reaches the CLI.
	s.deployDemo(t, name, "other")
	res := s.run(t, nil, "integrate", "-m", name, "web:backend", "other:website")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "maximum relation limit of 1") {
		t.Errorf("juju integrate past the backend's limit:\n%s", res)
	}
	s.ok(t, nil, "remove-relation", "-m", name, "web:backend", "api:website")
	eventually(t, 30*time.Second, "the relation is gone from status", func() error {
		apps, _ := s.apps(t, name)
		if r := apps["web"].Relations["backend"]; len(r) != 0 {
			return fmt.Errorf("web's backend relations %+v", r)
		}
		return nil
	})
}

func cliExpose(t *testing.T, s *cliSuite) {
	name := s.modelName("expose")
	s.newModel(t, name, "east")
	if a := s.deployDemo(t, name, "web"); a.Exposed {
		t.Fatalf("juju status: web exposed before expose")
	}
	s.ok(t, nil, "expose", "-m", name, "web")
	if apps, _ := s.apps(t, name); !apps["web"].Exposed {
		t.Errorf("juju status after expose: web not exposed")
	}
	s.ok(t, nil, "unexpose", "-m", name, "web")
	if apps, _ := s.apps(t, name); apps["web"].Exposed {
		t.Errorf("juju status after unexpose: web still exposed")
	}
}

// cliAppConfigOut is juju config <app> --format json (the charm's settings
// with their sources).
type cliAppConfigOut struct {
	Application string `json:"application"`
	Charm       string `json:"charm"`
	Settings    map[string]struct {
		Value  any    `json:"value"`
		Source string `json:"source"`
		Type   string `json:"type"`
	} `json:"settings"`
}

func cliAppConfig(t *testing.T, s *cliSuite) {
	name := s.modelName("config")
	s.newModel(t, name, "east")
	s.deployDemo(t, name, "web", "--config", "verbose=true")
	s.ok(t, nil, "config", "-m", name, "web", "greeting=bonjour", "port=9090")
	if res := s.ok(t, nil, "config", "-m", name, "web", "greeting"); strings.TrimSpace(res.Stdout) != "bonjour" {
		t.Errorf("juju config web greeting printed %q, want bonjour", res.Stdout)
	}
	var cfg cliAppConfigOut
	res := s.ok(t, nil, "config", "-m", name, "web", "--format", "json")
	if err := json.Unmarshal([]byte(res.Stdout), &cfg); err != nil {
		t.Fatalf("juju config --format json: %v\n%s", err, res)
	}
	for key, want := range map[string]any{"greeting": "bonjour", "port": float64(9090), "verbose": true} {
		if got := cfg.Settings[key]; got.Value != want || got.Source != "user" {
			t.Errorf("juju config: %s is %+v, want %v set by the user", key, got, want)
		}
	}
	s.refused(t, nil, `parsing settings for application: option "port" expected int, got "eighty"`, "config", "-m", name, "web", "port=eighty")
	s.ok(t, nil, "config", "-m", name, "web", "--reset", "greeting")
	if res := s.ok(t, nil, "config", "-m", name, "web", "greeting"); strings.TrimSpace(res.Stdout) != "hello" {
		t.Errorf("juju config web greeting after --reset printed %q, want the default hello", res.Stdout)
	}
	// The application is still there, its unit settled.
	eventually(t, 30*time.Second, "web's unit settles after the config change", func() error {
		apps, _ := s.apps(t, name)
		if u := apps["web"].Units["web/0"]; u.Agent.Current != "idle" {
			return fmt.Errorf("web/0's agent is %q", u.Agent.Current)
		}
		return nil
	})
}

func cliRemoveApplication(t *testing.T, s *cliSuite) {
	name := s.modelName("remove")
	s.newModel(t, name, "east")
	s.deployDemo(t, name, "web")
	s.deployDemo(t, name, "api")
	s.ok(t, nil, "integrate", "-m", name, "web:backend", "api:website")
	s.ok(t, nil, "remove-application", "-m", name, "api", "--no-prompt")
	eventually(t, 30*time.Second, "api is gone from status, with its relation and machine", func() error {
		apps, st := s.apps(t, name)
		switch {
		case len(apps) != 1 || apps["web"].Charm == "":
			return fmt.Errorf("applications %v", keys(apps))
		case len(apps["web"].Relations["backend"]) != 0:
			return fmt.Errorf("web's backend relations %+v", apps["web"].Relations["backend"])
		case len(st.Machines) != 1:
			return fmt.Errorf("%d machines", len(st.Machines))
		}
		return nil
	})
}

// cliDeployReader: a reader of the model cannot deploy (the upload is
// refused by the broker, which checks write access); the model is left
// as it was.
func cliDeployReader(t *testing.T, s *cliSuite) {
	name := s.modelName("readonly")
	s.newModel(t, name, "east")
	reader := cliFirstCommandLogin(t, s, oidcproc.Carol)
	s.ok(t, nil, "grant", oidcproc.Carol.Email, "read", name)
	res := s.run(t, reader, "deploy", "-m", "admin/"+name, demoCharmDir(t), "web")
	// The CLI's reads work for a reader; the charm upload, the first
	// write, is refused by the broker.
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "permission denied") {
		t.Errorf("a reader's juju deploy:\n%s", res)
	}
	t.Logf("a reader's juju deploy: %s", strings.TrimSpace(res.Stderr))
	if apps, _ := s.apps(t, name); len(apps) != 0 {
		t.Errorf("after a reader's refused deploy, the model has applications %v", keys(apps))
	}
}

// cliCharmhubOffline: what needs Charmhub fails with Juju's own error,
// relayed by the broker, not a broker error: juju deploy <name> (the
// CLI's Charms.ResolveCharms) and Application.DeployFromRepository, which
// the Terraform provider calls with the Go client.
func cliCharmhubOffline(t *testing.T, s *cliSuite) {
	name := s.modelName("charmhub")
	mi := s.newModel(t, name, "east")
	res := s.run(t, nil, "deploy", "-m", name, "postgresql")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "charmhub") || strings.Contains(res.Stderr, "not implemented") {
		t.Errorf("juju deploy of a Charmhub charm offline:\n%s", res)
	}
	_, _, errs := application.NewClient(s.e.open(t, mi.UUID)).DeployFromRepository(application.DeployFromRepositoryArg{CharmName: "postgresql", NumUnits: ptr(1)})
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), "charmhub") || strings.Contains(errs[0].Error(), "not implemented") {
		t.Errorf("Application.DeployFromRepository offline: %v; want Juju's Charmhub error", errs)
	}
	t.Logf("juju deploy postgresql: %s; DeployFromRepository: %v", strings.TrimSpace(res.Stderr), errs)
	if apps, _ := s.apps(t, name); len(apps) != 0 {
		t.Errorf("after the refused deploys, the model has applications %v", keys(apps))
	}
}

func ptr[T any](v T) *T { return &v }
