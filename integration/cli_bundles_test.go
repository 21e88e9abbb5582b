package integration

// CLI cases: item 7,
// export-bundle (Bundle(6).ExportBundle on the model connection) and
// diff-bundle of what it exported. As in Juju, a model without
// applications has nothing to export.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func init() {
	registerCLI(cliCase{"07-export-bundle", "export-and-diff", cliBundle})
}

// cliBundleDoc is what a case reads of an exported bundle. A bundle has
// many optional keys, so it is decoded leniently; the case checks what it
// names.
type cliBundleDoc struct {
	DefaultBase  string `yaml:"default-base"`
	Series       string `yaml:"series"`
	Applications map[string]struct {
		Charm    string   `yaml:"charm"`
		Channel  string   `yaml:"channel"`
		NumUnits int      `yaml:"num_units"`
		To       []string `yaml:"to"`
	} `yaml:"applications"`
	Machines map[string]any `yaml:"machines"`
}

func cliBundle(t *testing.T, s *cliSuite) {
	name := s.modelName("bundle")
	mi := s.newModel(t, name, "east")
	s.refused(t, nil, "nothing to export as there are no applications", "export-bundle", "-m", name)

	deploy(t, s.e.open(t, mi.UUID), "pg", 1)
	res := s.ok(t, nil, "export-bundle", "-m", name)
	var b cliBundleDoc
	if err := yaml.Unmarshal([]byte(res.Stdout), &b); err != nil {
		t.Fatalf("juju export-bundle printed no bundle: %v\n%s", err, res)
	}
	app, ok := b.Applications["pg"]
	if !ok || app.Charm != "postgresql" || app.NumUnits != 1 || len(app.To) != 1 || len(b.Machines) != 1 || !strings.HasPrefix(b.DefaultBase, "ubuntu@22.04") {
		t.Errorf("juju export-bundle: %+v; want application pg (postgresql, 1 unit on a machine), default-base ubuntu@22.04", b)
	}
	s.e.checkNoLeak(t, "juju export-bundle", res.Stdout)

	dir := t.TempDir()
	file := filepath.Join(dir, "bundle.yaml")
	res = s.ok(t, nil, "export-bundle", "-m", name, "--filename", file, "--include-series")
	if !strings.Contains(res.Stdout+res.Stderr, "Bundle successfully exported to "+file) {
		t.Errorf("juju export-bundle --filename does not say where it wrote:\n%s", res)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var fb cliBundleDoc
	if err := yaml.Unmarshal(raw, &fb); err != nil || fb.Series != "jammy" || fb.Applications["pg"].Charm != "postgresql" {
		t.Errorf("the exported file (--include-series): %v, %+v\n%s", err, fb, raw)
	}
	// The model is what it exported: no difference.
	if res := s.ok(t, nil, "diff-bundle", file, "-m", name); strings.TrimSpace(res.Stdout) != "{}" {
		t.Errorf("juju diff-bundle of the model's own export shows differences:\n%s", res)
	}
	// A bundle with two units of pg differs in num_units.
	two := filepath.Join(dir, "two.yaml")
	if err := os.WriteFile(two, []byte(strings.Replace(string(raw), "num_units: 1", "num_units: 2", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	res = s.ok(t, nil, "diff-bundle", two, "-m", name)
	var diff struct {
		Applications map[string]struct {
			NumUnits struct {
				Bundle int `yaml:"bundle"`
				Model  int `yaml:"model"`
			} `yaml:"num_units"`
		} `yaml:"applications"`
	}
	if err := yaml.Unmarshal([]byte(res.Stdout), &diff); err != nil || diff.Applications["pg"].NumUnits.Bundle != 2 || diff.Applications["pg"].NumUnits.Model != 1 {
		t.Errorf("juju diff-bundle of a bundle with 2 units of pg (%v):\n%s", err, res)
	}
}
