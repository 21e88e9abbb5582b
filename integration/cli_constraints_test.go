package integration

// CLI cases: item 5,
// set-model-constraints and model-constraints (ModelConfig(3)
// SetModelConstraints and GetModelConstraints on the model connection).

import "testing"

func init() {
	registerCLI(cliCase{"05-model-constraints", "set-and-get", cliConstraints})
}

// cliConstraintsValue is `juju model-constraints --format json|yaml`
// (core/constraints Value).
type cliConstraintsValue struct {
	Arch             string   `json:"arch,omitempty" yaml:"arch,omitempty"`
	Container        string   `json:"container,omitempty" yaml:"container,omitempty"`
	Cores            uint64   `json:"cores,omitempty" yaml:"cores,omitempty"`
	CpuPower         uint64   `json:"cpu-power,omitempty" yaml:"cpu-power,omitempty"`
	Mem              uint64   `json:"mem,omitempty" yaml:"mem,omitempty"`
	RootDisk         uint64   `json:"root-disk,omitempty" yaml:"root-disk,omitempty"`
	RootDiskSource   string   `json:"root-disk-source,omitempty" yaml:"root-disk-source,omitempty"`
	Tags             []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	InstanceRole     string   `json:"instance-role,omitempty" yaml:"instance-role,omitempty"`
	InstanceType     string   `json:"instance-type,omitempty" yaml:"instance-type,omitempty"`
	Spaces           []string `json:"spaces,omitempty" yaml:"spaces,omitempty"`
	VirtType         string   `json:"virt-type,omitempty" yaml:"virt-type,omitempty"`
	Zones            []string `json:"zones,omitempty" yaml:"zones,omitempty"`
	AllocatePublicIP bool     `json:"allocate-public-ip,omitempty" yaml:"allocate-public-ip,omitempty"`
	ImageID          string   `json:"image-id,omitempty" yaml:"image-id,omitempty"`
}

func cliConstraints(t *testing.T, s *cliSuite) {
	name := s.modelName("constraints")
	s.newModel(t, name, "east")
	if res := s.ok(t, nil, "model-constraints", "-m", name); res.Stdout != "\n" {
		t.Errorf("juju model-constraints of a new model printed %q, want an empty line", res.Stdout)
	}
	s.ok(t, nil, "set-model-constraints", "-m", name, "mem=4G", "cores=2", "tags=a,b")
	if res := s.ok(t, nil, "model-constraints", "-m", name); res.Stdout != "cores=2 mem=4096M tags=a,b\n" {
		t.Errorf("juju model-constraints printed %q, want %q", res.Stdout, "cores=2 mem=4096M tags=a,b\n")
	}
	var j, y cliConstraintsValue
	s.json(t, nil, &j, "model-constraints", "-m", name)
	s.yaml(t, nil, &y, "model-constraints", "-m", name)
	want := cliConstraintsValue{Cores: 2, Mem: 4096, Tags: []string{"a", "b"}}
	for format, got := range map[string]cliConstraintsValue{"json": j, "yaml": y} {
		if got.Cores != want.Cores || got.Mem != want.Mem || len(got.Tags) != 2 || got.Tags[0] != "a" || got.Tags[1] != "b" || got.Arch != "" {
			t.Errorf("juju model-constraints --format %s: %+v, want %+v", format, got, want)
		}
	}
	// set-model-constraints replaces the model's constraints.
	s.ok(t, nil, "set-model-constraints", "-m", name, "cores=4")
	if res := s.ok(t, nil, "model-constraints", "-m", name); res.Stdout != "cores=4\n" {
		t.Errorf("after set-model-constraints cores=4, juju model-constraints printed %q", res.Stdout)
	}
	s.usage(t, nil, `bad "mem" constraint: must be a non-negative float with optional M/G/T/P suffix`, "set-model-constraints", "-m", name, "mem=lots")
}
