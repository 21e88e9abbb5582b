package integration

// CLI cases: item 6,
// disable-command, disabled-commands, enable-command (the Block facade,
// version 2, on the model connection; the CLI calls it without a version
// unless the model's login result lists it), and the refusal of a
// disabled command: DestroyModels answers code "operation is blocked"
// with the block's message.

import (
	"strings"
	"testing"
)

func init() {
	registerCLI(
		cliCase{"06-disable-command", "destroy-model", cliBlockDestroy},
		cliCase{"06-disable-command", "all", cliBlockAll},
	)
}

// cliBlock is one entry of `juju disabled-commands --format json|yaml`
// (cmd/juju/block BlockInfo).
type cliBlock struct {
	Commands string `json:"command-set" yaml:"command-set"`
	Message  string `json:"message,omitempty" yaml:"message,omitempty"`
}

func cliBlocks(t *testing.T, s *cliSuite, model string) []cliBlock {
	t.Helper()
	var j, y []cliBlock
	s.json(t, nil, &j, "disabled-commands", "-m", model)
	s.yaml(t, nil, &y, "disabled-commands", "-m", model)
	if len(j) != len(y) {
		t.Errorf("juju disabled-commands: json %+v, yaml %+v", j, y)
	}
	return j
}

func cliBlockDestroy(t *testing.T, s *cliSuite) {
	name := s.modelName("block")
	mi := s.newModel(t, name, "east")
	s.ok(t, nil, "disable-command", "-m", name, "destroy-model", "keep "+name)
	if got := cliBlocks(t, s, name); len(got) != 1 || got[0] != (cliBlock{"destroy-model", "keep " + name}) {
		t.Errorf("juju disabled-commands after disable-command destroy-model: %+v", got)
	}
	res := s.ok(t, nil, "disabled-commands", "-m", name)
	wantFields(t, res, "Disabled", "Disabled", "commands", "Message")
	wantFields(t, res, "destroy-model", "destroy-model", "keep", name)

	refusal := s.refused(t, nil, "cannot destroy model: keep "+name, "destroy-model", name, "--no-prompt")
	if !strings.Contains(refusal.Stderr, "juju enable-command destroy-model") {
		t.Errorf("the refusal does not say how to enable the command:\n%s", refusal)
	}
	if _, ok := s.e.modelsByController(t)[mi.UUID]; !ok {
		t.Fatalf("the model is gone although destroy-model was disabled")
	}
	s.ok(t, nil, "enable-command", "-m", name, "destroy-model")
	if got := cliBlocks(t, s, name); len(got) != 0 {
		t.Errorf("juju disabled-commands after enable-command: %+v", got)
	}
	if res := s.ok(t, nil, "disabled-commands", "-m", name); !strings.Contains(res.Stdout+res.Stderr, "No commands are currently disabled.") {
		t.Errorf("juju disabled-commands with none disabled:\n%s", res)
	}
	s.ok(t, nil, "destroy-model", name, "--no-prompt")
}

// cliBlockAll: with all commands disabled a change is refused, a read is
// not.
func cliBlockAll(t *testing.T, s *cliSuite) {
	name := s.modelName("block")
	s.newModel(t, name, "east")
	s.ok(t, nil, "disable-command", "-m", name, "all", "frozen "+name)
	if got := cliBlocks(t, s, name); len(got) != 1 || got[0] != (cliBlock{"all", "frozen " + name}) {
		t.Errorf("juju disabled-commands after disable-command all: %+v", got)
	}
	res := s.refused(t, nil, "frozen "+name+" (operation is blocked)", "model-config", "-m", name, "logging-config=<root>=DEBUG")
	if !strings.Contains(res.Stderr, "juju enable-command all") {
		t.Errorf("the refusal does not say how to enable changes:\n%s", res)
	}
	s.refused(t, nil, "frozen "+name, "add-machine", "-m", name)
	wantConfig(t, cliConfig(t, s, name), "logging-config", "<root>=INFO", "default")
	s.ok(t, nil, "enable-command", "-m", name, "all")
	s.ok(t, nil, "model-config", "-m", name, "logging-config=<root>=DEBUG")
}
