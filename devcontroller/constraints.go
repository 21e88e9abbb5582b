package devcontroller

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Constraints, as Juju keeps them: the model's (ModelConfig
// GetModelConstraints / SetModelConstraints), an application's, and a
// machine's, which are the model's merged with those the machine was added
// with, as Juju's AddMachine resolves them. Status shows a machine's in
// Juju's string form ("arch=amd64 cores=2 mem=4096M").

// mergeConstraints returns base with every value set in over replacing
// base's; a machine's constraints never hold a container type.
func mergeConstraints(base, over params.Constraints) params.Constraints {
	// Through JSON, so that out shares no pointer with base or over: the
	// keys set in over replace base's.
	var out params.Constraints
	b, _ := json.Marshal(base)
	_ = json.Unmarshal(b, &out)
	b, _ = json.Marshal(over)
	_ = json.Unmarshal(b, &out)
	out.Container = nil
	return out
}

// formatConstraints writes constraints as Juju's constraints.Value.String
// does.
func formatConstraints(c params.Constraints) string {
	var out []string
	add := func(k, v string) { out = append(out, k+"="+strings.ReplaceAll(v, " ", `\ `)) }
	num := func(n uint64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatUint(n, 10)
	}
	if c.Arch != nil {
		add("arch", *c.Arch)
	}
	if c.Container != nil {
		add("container", *c.Container)
	}
	if c.CpuCores != nil {
		add("cores", num(*c.CpuCores))
	}
	if c.CpuPower != nil {
		add("cpu-power", num(*c.CpuPower))
	}
	if c.InstanceRole != nil {
		add("instance-role", *c.InstanceRole)
	}
	if c.InstanceType != nil {
		add("instance-type", *c.InstanceType)
	}
	if c.Mem != nil {
		add("mem", withM(num(*c.Mem)))
	}
	if c.RootDisk != nil {
		add("root-disk", withM(num(*c.RootDisk)))
	}
	if c.RootDiskSource != nil {
		add("root-disk-source", *c.RootDiskSource)
	}
	if c.Tags != nil {
		add("tags", strings.Join(*c.Tags, ","))
	}
	if c.Spaces != nil {
		add("spaces", strings.Join(*c.Spaces, ","))
	}
	if c.VirtType != nil {
		add("virt-type", *c.VirtType)
	}
	if c.Zones != nil {
		add("zones", strings.Join(*c.Zones, ","))
	}
	if c.AllocatePublicIP != nil {
		add("allocate-public-ip", strconv.FormatBool(*c.AllocatePublicIP))
	}
	if c.ImageID != nil {
		add("image-id", *c.ImageID)
	}
	return strings.Join(out, " ")
}

func withM(s string) string {
	if s == "" {
		return s
	}
	return s + "M"
}

// bundleConstraints writes constraints as Juju's export-bundle does: its
// own keys (cpu-cores) and plain numbers of MiB.
func bundleConstraints(c params.Constraints) string {
	var out []string
	str := func(k string, v *string) {
		if v != nil && *v != "" {
			out = append(out, k+"="+*v)
		}
	}
	n := func(k string, v *uint64) {
		if v != nil && *v != 0 {
			out = append(out, k+"="+strconv.FormatUint(*v, 10))
		}
	}
	list := func(k string, v *[]string) {
		if v != nil && len(*v) > 0 {
			out = append(out, k+"="+strings.Join(*v, ","))
		}
	}
	str("arch", c.Arch)
	n("cpu-cores", c.CpuCores)
	n("cpu-power", c.CpuPower)
	n("mem", c.Mem)
	n("root-disk", c.RootDisk)
	str("instance-type", c.InstanceType)
	str("image-id", c.ImageID)
	str("container", c.Container)
	str("virt-type", c.VirtType)
	list("tags", c.Tags)
	list("spaces", c.Spaces)
	list("zones", c.Zones)
	str("root-disk-source", c.RootDiskSource)
	if c.AllocatePublicIP != nil && *c.AllocatePublicIP {
		out = append(out, "allocate-public-ip=true")
	}
	return strings.Join(out, " ")
}

// checkConstraints refuses what Juju's constraints validator refuses in
// any cloud: an unknown architecture or container type, and both an
// instance type and cores, memory or CPU power.
func checkConstraints(c params.Constraints) error {
	if c.Arch != nil {
		switch *c.Arch {
		case "", "amd64", "arm64", "ppc64el", "s390x", "riscv64":
		default:
			return jujuapi.Errorf(jujuapi.CodeNotValid, "invalid constraint value: arch=%s\nvalid values are: [amd64 arm64 ppc64el riscv64 s390x]", *c.Arch)
		}
	}
	if c.Container != nil {
		switch *c.Container {
		case "", "none", "lxd", "kvm":
		default:
			return jujuapi.Errorf(jujuapi.CodeNotValid, "invalid constraint value: container=%s", *c.Container)
		}
	}
	if c.InstanceType != nil && *c.InstanceType != "" {
		for _, conflict := range []struct {
			name string
			set  bool
		}{{"cores", c.CpuCores != nil}, {"cpu-power", c.CpuPower != nil}, {"mem", c.Mem != nil}} {
			if conflict.set {
				return jujuapi.Errorf(jujuapi.CodeNotValid, "ambiguous constraints: %q overlaps with %q", "instance-type", conflict.name)
			}
		}
	}
	return nil
}

func (s *session) getModelConstraints(context.Context) (params.GetConstraintsResults, error) {
	m, err := s.configModel(store.AccessRead)
	if err != nil {
		return params.GetConstraintsResults{}, err
	}
	return params.GetConstraintsResults{Constraints: m.Constraints}, nil
}

func (s *session) setModelConstraints(ctx context.Context, p params.SetConstraints) (struct{}, error) {
	m, err := s.configModel(store.AccessWrite)
	if err != nil {
		return struct{}{}, err
	}
	if err := blockedIn(m, blockChange); err != nil {
		return struct{}{}, err
	}
	if err := checkConstraints(p.Constraints); err != nil {
		return struct{}{}, err
	}
	if err := writable(m); err != nil {
		return struct{}{}, err
	}
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		m.Constraints = p.Constraints
		return nil
	})
	if err != nil {
		return struct{}{}, fmt.Errorf("set constraints of model %q: %w", m.Name, err)
	}
	s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.modelconfig", "model constraints set to %q", formatConstraints(p.Constraints))
	return struct{}{}, nil
}

// applicationConstraints answers Application.GetConstraints.
func (s *session) applicationConstraints(_ context.Context, p params.Entities) (params.ApplicationGetConstraintsResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.ApplicationGetConstraintsResults{}, err
	}
	out := params.ApplicationGetConstraintsResults{Results: make([]params.ApplicationConstraint, len(p.Entities))}
	for i, e := range p.Entities {
		t, err := jujuapi.ParseTag(e.Tag)
		if err != nil || t.Kind != jujuapi.KindApplication {
			out.Results[i].Error = paramsError(jujuapi.Errorf(jujuapi.CodeNotValid, "%q is not a valid application tag", e.Tag))
			continue
		}
		app, ok := m.Applications[t.ID]
		if !ok {
			out.Results[i].Error = paramsError(jujuapi.NotFoundf("application %q", t.ID))
			continue
		}
		out.Results[i].Constraints = app.Cons
	}
	return out, nil
}
