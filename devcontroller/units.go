package devcontroller

import (
	"context"
	"fmt"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Application.DestroyUnit (juju remove-unit), as Juju 3.5 answers it: write
// access; refused while removals are blocked; each unit by tag, an
// unknown one refused with "unit \"x\" does not exist"; dry-run only says
// what would go (no storage here). A unit goes at once (its simulated
// agent stops), and with it its machine when it was the only unit there,
// as Juju's unit cleanup destroys such a machine (never the controller
// machine).

// removeUnit removes a unit from a model being written, and its machine
// if no other unit is on it. It reports the machine removed, or "".
func removeUnit(m *store.Model, name string) string {
	appName, _, _ := cutUnit(name)
	app := m.Applications[appName]
	if app == nil || app.Units[name] == nil {
		return ""
	}
	machine := app.Units[name].Machine
	delete(app.Units, name)
	if machine == "" || (m.IsController && machine == "0") {
		return ""
	}
	for _, a := range m.Applications {
		for _, u := range a.Units {
			if u.Machine == machine {
				return ""
			}
		}
	}
	if m.Machines[machine] == nil {
		return ""
	}
	delete(m.Machines, machine)
	return machine
}

func (s *session) destroyUnit(ctx context.Context, p params.DestroyUnitsParams) (params.DestroyUnitResults, error) {
	m, err := s.changeableModel(blockRemove)
	if err != nil {
		return params.DestroyUnitResults{}, err
	}
	out := params.DestroyUnitResults{Results: make([]params.DestroyUnitResult, len(p.Units))}
	for i, u := range p.Units {
		if err := s.destroyOneUnit(ctx, m.UUID, u); err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		out.Results[i].Info = &params.DestroyUnitInfo{}
	}
	return out, nil
}

func (s *session) destroyOneUnit(ctx context.Context, uuid string, p params.DestroyUnitParams) error {
	t, err := jujuapi.ParseTag(p.UnitTag)
	if err != nil || t.Kind != jujuapi.KindUnit {
		return fmt.Errorf("%q is not a valid unit tag", p.UnitTag)
	}
	name, err := jujuapi.UnitName(t)
	if err != nil {
		return fmt.Errorf("%q is not a valid unit tag", p.UnitTag)
	}
	var machine string
	_, err = s.ctl.store.UpdateModel(ctx, uuid, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		appName, _, _ := cutUnit(name)
		if app := m.Applications[appName]; app == nil || app.Units[name] == nil {
			return fmt.Errorf("unit %q does not exist", name)
		}
		if p.DryRun {
			return nil
		}
		machine = removeUnit(m, name)
		return nil
	})
	if err != nil || p.DryRun {
		return err
	}
	s.ctl.entityLog(uuid, t.String(), logInfo, "juju.worker.uniter", "unit %q shutting down: unit removed", name)
	if machine != "" {
		s.ctl.modelEvent(uuid, logInfo, "juju.worker.provisioner", "machine %s removed with its last unit %q", machine, name)
	}
	return nil
}
