package devcontroller

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The MachineManager facade: adding machines (which start at once, with
// the hardware their constraints ask for) and removing them, as Juju's
// DestroyMachineWithParams does.

// codeHasAssignedUnits is Juju's error code for removing a machine that
// still has units.
const codeHasAssignedUnits = "machine has assigned units"

// hardwareOf is a simulated machine's hardware: what its constraints ask
// for, else one amd64 core and 1 GiB.
func hardwareOf(mc *store.Machine) (arch string, cores, mem uint64) {
	arch, cores, mem = "amd64", 1, 1024
	if c := mc.Cons; c.Arch != nil && *c.Arch != "" {
		arch = *c.Arch
	}
	if c := mc.Cons; c.CpuCores != nil && *c.CpuCores > 0 {
		cores = *c.CpuCores
	}
	if c := mc.Cons; c.Mem != nil && *c.Mem > 0 {
		mem = *c.Mem
	}
	return arch, cores, mem
}

// machineHardware is the hardware as status shows it.
func machineHardware(mc *store.Machine) string {
	arch, cores, mem := hardwareOf(mc)
	return fmt.Sprintf("arch=%s cores=%d mem=%dM", arch, cores, mem)
}

// machineHardwareParams is the hardware as ModelInfo shows it.
func machineHardwareParams(mc *store.Machine) *params.MachineHardware {
	arch, cores, mem := hardwareOf(mc)
	return &params.MachineHardware{Arch: &arch, Cores: &cores, Mem: &mem}
}

func (s *session) addMachines(ctx context.Context, p params.AddMachines) (params.AddMachinesResults, error) {
	out := params.AddMachinesResults{Machines: make([]params.AddMachinesResult, len(p.MachineParams))}
	m, err := s.connectedModel(store.AccessWrite)
	if err != nil {
		return out, err
	}
	if err := writable(m); err != nil {
		return out, err
	}
	if err := blockedIn(m, blockChange); err != nil {
		return out, err
	}
	for i, mp := range p.MachineParams {
		id, err := s.addOneMachine(ctx, m.UUID, mp)
		out.Machines[i] = params.AddMachinesResult{Machine: id, Error: paramsError(err)}
	}
	return out, nil
}

func (s *session) addOneMachine(ctx context.Context, uuid string, mp params.AddMachineParams) (string, error) {
	base := defaultBase
	if mp.Base != nil && mp.Base.Name != "" {
		base = store.Base{Name: mp.Base.Name, Channel: mp.Base.Channel}
	}
	if mp.ContainerType != "" || mp.Placement != nil {
		return "", jujuapi.Errorf(jujuapi.CodeNotSupported, "containers and placement directives are not supported by the development controller")
	}
	if err := checkConstraints(mp.Constraints); err != nil {
		return "", err
	}
	var mc *store.Machine
	_, err := s.ctl.store.UpdateModel(ctx, uuid, func(m *store.Model) error {
		if err := alive(m); err != nil {
			return err
		}
		mc = s.ctl.addMachine(m, base, mp.Constraints)
		return nil
	})
	if err != nil {
		return "", err
	}
	s.ctl.logMachineStarted(uuid, mc)
	return mc.ID, nil
}

// destroyMachineWithParams answers MachineManager.DestroyMachineWithParams
// (version 10; version 9 takes the same arguments without dry-run). As in
// Juju: write access; refused while removals are blocked; a machine with
// units is removed only with force (its units go too); dry-run only says
// what would go; keep leaves the (simulated) instance, which changes
// nothing here; the controller machine is never removed.
func (s *session) destroyMachineWithParams(ctx context.Context, p params.DestroyMachinesParams) (params.DestroyMachineResults, error) {
	m, err := s.connectedModel(store.AccessWrite)
	if err != nil {
		return params.DestroyMachineResults{}, err
	}
	if err := blockedIn(m, blockRemove); err != nil {
		return params.DestroyMachineResults{}, err
	}
	out := params.DestroyMachineResults{Results: make([]params.DestroyMachineResult, len(p.MachineTags))}
	for i, tag := range p.MachineTags {
		info, err := s.destroyOneMachine(ctx, m.UUID, tag, p)
		out.Results[i] = params.DestroyMachineResult{Info: info, Error: paramsError(err)}
	}
	return out, nil
}

func (s *session) destroyOneMachine(ctx context.Context, uuid, tag string, p params.DestroyMachinesParams) (*params.DestroyMachineInfo, error) {
	t, err := jujuapi.ParseTag(tag)
	if err != nil || t.Kind != jujuapi.KindMachine {
		return nil, jujuapi.Errorf(jujuapi.CodeNotValid, "%q is not a valid machine tag", tag)
	}
	if _, err := strconv.Atoi(t.ID); err != nil {
		return nil, jujuapi.Errorf(jujuapi.CodeNotValid, "%q is not a valid machine tag", tag)
	}
	info := &params.DestroyMachineInfo{MachineId: t.ID}
	var removedUnits []string
	_, err = s.ctl.store.UpdateModel(ctx, uuid, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		if m.Machines[t.ID] == nil {
			return jujuapi.NotFoundf("machine %s", t.ID)
		}
		if m.IsController && t.ID == "0" {
			return fmt.Errorf("controller %s is the only controller", t.ID)
		}
		info.DestroyedUnits, removedUnits = nil, nil
		for _, an := range sortedKeys(m.Applications) {
			app := m.Applications[an]
			for _, un := range sortedKeys(app.Units) {
				if app.Units[un].Machine == t.ID {
					info.DestroyedUnits = append(info.DestroyedUnits, params.Entity{Tag: jujuapi.UnitTag(un).String()})
					removedUnits = append(removedUnits, un)
				}
			}
		}
		if p.DryRun {
			return nil
		}
		if len(removedUnits) > 0 && !p.Force {
			return jujuapi.Errorf(codeHasAssignedUnits, "machine %s has unit %q assigned", t.ID, removedUnits[0])
		}
		for _, un := range removedUnits {
			app, _, _ := cutUnit(un)
			delete(m.Applications[app].Units, un)
		}
		delete(m.Machines, t.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p.DryRun {
		return info, nil
	}
	for _, un := range removedUnits {
		s.ctl.entityLog(uuid, jujuapi.UnitTag(un).String(), logInfo, "juju.worker.uniter", "unit %q shutting down: unit removed with its machine", un)
	}
	keep := ""
	if p.Keep {
		keep = " (instance kept)"
	}
	s.ctl.modelEvent(uuid, logInfo, "juju.worker.provisioner", "machine %s removed%s", t.ID, keep)
	s.ctl.log.Info("machine removed", "uuid", uuid, "machine", t.ID, "force", p.Force, "keep", p.Keep, "by", s.identity())
	return info, nil
}

// cutUnit splits a unit name "app/0" into its application and number.
func cutUnit(name string) (app, num string, ok bool) {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[:i], name[i+1:], true
		}
	}
	return name, "", false
}
