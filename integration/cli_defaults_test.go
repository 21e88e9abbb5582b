package integration

// CLI cases: item 4,
// model-defaults. The broker owns model defaults: it keeps them (for the
// cloud, and per region) and applies them to every model it creates,
// whichever controller it places the model on. Juju 3.5's CLI names the
// cloud and region with --cloud and --region; without them it sets the
// defaults of the controller's (only) cloud, shown in the "controller"
// column. It calls Cloud(7).Clouds and Cloud, then
// ModelManager(10).ModelDefaultsForClouds, SetModelDefaults and
// UnsetModelDefaults.
//
// Defaults are shared by the whole suite: each case uses a key no other
// case looks at and resets it when it ends.

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func init() {
	registerCLI(
		cliCase{"04-model-defaults", "get", cliDefaultsGet},
		cliCase{"04-model-defaults", "controller-wide", cliDefaultsControllerWide},
		cliCase{"04-model-defaults", "cloud", cliDefaultsCloud},
		cliCase{"04-model-defaults", "cloud-region", cliDefaultsRegion},
		cliCase{"04-model-defaults", "file", cliDefaultsFile},
	)
}

// cliDefault is one key of `juju model-defaults --format json`
// (cmd/juju/model defaultAttrs after CoerceFormat).
type cliDefault struct {
	Default    any `json:"default,omitempty" yaml:"default,omitempty"`
	Controller any `json:"controller,omitempty" yaml:"controller,omitempty"`
	Regions    []struct {
		Name  string `json:"name" yaml:"name"`
		Value any    `json:"value" yaml:"value"`
	} `json:"regions,omitempty" yaml:"regions,omitempty"`
}

// cliDefaults is juju model-defaults args... --format json.
func cliDefaults(t *testing.T, s *cliSuite, args ...string) map[string]cliDefault {
	t.Helper()
	var d map[string]cliDefault
	s.json(t, nil, &d, append([]string{"model-defaults"}, args...)...)
	return d
}

// resetDefault resets key (for the cloud, or with flags for a region)
// when the case ends, whatever it did.
func resetDefault(t *testing.T, s *cliSuite, key string, flags ...string) {
	t.Cleanup(func() {
		// Not t.Context(): it is cancelled before cleanups run.
		res, err := s.admin.Run(context.Background(), "", append(append([]string{"model-defaults"}, flags...), "--reset", key)...)
		if err != nil || res.ExitCode != 0 {
			t.Errorf("reset the default of %s %v: %v\n%s", key, flags, err, res)
		}
	})
}

// newModelConfig creates a model in region and returns its config.
func newModelConfig(t *testing.T, s *cliSuite, region string) map[string]cliConfigValue {
	t.Helper()
	name := s.modelName("defaults-" + region)
	s.newModel(t, name, region)
	return cliConfig(t, s, name)
}

func cliDefaultsGet(t *testing.T, s *cliSuite) {
	res := s.ok(t, nil, "model-defaults")
	wantFields(t, res, "Attribute", "Attribute", "Default", "Controller")
	wantFields(t, res, "logging-config", "logging-config", "<root>=INFO", "-")
	d := cliDefaults(t, s)
	if got := d["logging-config"]; got.Default != "<root>=INFO" || got.Controller != nil || len(got.Regions) != 0 {
		t.Errorf("juju model-defaults: logging-config %+v, want default <root>=INFO only", got)
	}
	one := cliDefaults(t, s, "logging-config")
	if len(one) != 1 || one["logging-config"].Default != "<root>=INFO" {
		t.Errorf("juju model-defaults logging-config: %+v", one)
	}
}

// cliDefaultsControllerWide: a default set without --cloud or --region
// applies to new models on every controller, and --reset takes it back.
func cliDefaultsControllerWide(t *testing.T, s *cliSuite) {
	const key = "provisioner-harvest-mode"
	resetDefault(t, s, key)
	s.ok(t, nil, "model-defaults", key+"=none")
	if got := cliDefaults(t, s, key)[key]; got.Default != "destroyed" || got.Controller != "none" {
		t.Errorf("juju model-defaults %s after setting it: %+v, want default destroyed, controller none", key, got)
	}
	for _, region := range []string{"east", "west"} { // ctl-1 or ctl-2, and ctl-3
		wantConfig(t, newModelConfig(t, s, region), key, "none", "controller")
	}
	s.ok(t, nil, "model-defaults", "--reset", key)
	if got := cliDefaults(t, s, key)[key]; got.Controller != nil {
		t.Errorf("juju model-defaults %s after --reset: %+v, want no controller value", key, got)
	}
	wantConfig(t, newModelConfig(t, s, "west"), key, "destroyed", "default")
}

func cliDefaultsCloud(t *testing.T, s *cliSuite) {
	const key = "update-status-hook-interval"
	resetDefault(t, s, key, "--cloud", "localhost")
	s.ok(t, nil, "model-defaults", "--cloud", "localhost", key+"=11m")
	if got := cliDefaults(t, s, "--cloud", "localhost", key)[key]; got.Controller != "11m" {
		t.Errorf("juju model-defaults --cloud localhost %s: %+v, want controller 11m", key, got)
	}
	wantConfig(t, newModelConfig(t, s, "east"), key, "11m", "controller")
	s.ok(t, nil, "model-defaults", "--cloud", "localhost", "--reset", key)
	wantConfig(t, newModelConfig(t, s, "east"), key, "5m", "default")
}

// cliDefaultsRegion: a region's default applies to new models in that
// region only.
func cliDefaultsRegion(t *testing.T, s *cliSuite) {
	const key = "automatically-retry-hooks"
	resetDefault(t, s, key, "--region", "localhost/west")
	s.ok(t, nil, "model-defaults", "--region", "localhost/west", key+"=false")
	got := cliDefaults(t, s, "--region", "localhost/west", key)[key]
	if got.Default != true || len(got.Regions) != 1 || got.Regions[0].Name != "west" || got.Regions[0].Value != false {
		t.Errorf("juju model-defaults --region localhost/west %s: %+v, want default true, region west false", key, got)
	}
	res := s.ok(t, nil, "model-defaults", key)
	wantFields(t, res, "west", "west", "false")
	wantConfig(t, newModelConfig(t, s, "west"), key, false, "region")
	wantConfig(t, newModelConfig(t, s, "east"), key, true, "default")
	s.ok(t, nil, "model-defaults", "--region", "west", "--reset", key) // the region of the current cloud
	if got := cliDefaults(t, s, key)[key]; len(got.Regions) != 0 {
		t.Errorf("juju model-defaults %s after --region west --reset: %+v, want no region value", key, got)
	}
	s.refused(t, nil, `invalid region specified: "north"`, "model-defaults", "--region", "localhost/north", key+"=false")
}

func cliDefaultsFile(t *testing.T, s *cliSuite) {
	const key = "enable-os-upgrade"
	resetDefault(t, s, key)
	file := filepath.Join(t.TempDir(), "defaults.yaml")
	if err := os.WriteFile(file, []byte(key+": false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok(t, nil, "model-defaults", "--file", file)
	if got := cliDefaults(t, s, key)[key]; got.Controller != false {
		t.Errorf("juju model-defaults %s after --file: %+v, want controller false", key, got)
	}
	wantConfig(t, newModelConfig(t, s, "east"), key, false, "controller")
}
