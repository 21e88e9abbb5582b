package devcontroller

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/charm"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The Application and MachineManager facades: enough to give a model
// machines, applications and units. Machines start at once; units go
// active at once.

// validAppName is Juju's rule for application names.
var validAppName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*$`)

var defaultBase = store.Base{Name: "ubuntu", Channel: "22.04"}

func (s *session) deploy(ctx context.Context, p params.ApplicationsDeploy) (params.ErrorResults, error) {
	m, err := s.connectedModel(store.AccessWrite)
	if err != nil {
		return params.ErrorResults{}, err
	}
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Applications))}
	if err := writable(m); err != nil {
		return out, err
	}
	if err := blockedIn(m, blockChange); err != nil {
		return out, err
	}
	for i, d := range p.Applications {
		out.Results[i].Error = paramsError(s.deployOne(ctx, m.UUID, d))
	}
	return out, nil
}

// validateCharmOrigin checks a deploy's charm origin as Juju's
// ValidateCharmOrigin does.
func validateCharmOrigin(o *params.CharmOrigin) error {
	switch {
	case o == nil:
		return jujuapi.Errorf(jujuapi.CodeBadRequest, "charm origin source required")
	case o.Source == originCharmHub:
		if (o.ID != "" && o.Hash == "") || (o.ID == "" && o.Hash != "") {
			return jujuapi.Errorf(jujuapi.CodeBadRequest, "programming error, both CharmOrigin ID and Hash must be set or neither. See CharmHubRepository GetDownloadURL.")
		}
	case o.Source == originLocal:
	default:
		return jujuapi.Errorf(jujuapi.CodeBadRequest, "%q not a valid charm origin source", o.Source)
	}
	return nil
}

// Charm origin sources.
const (
	originCharmHub = "charm-hub"
	originLocal    = "local"
)

// deployOne deploys one application as Juju's deployApplication does: the
// charm URL must carry a revision; a local charm must have been uploaded
// (its metadata and config options then apply); a Charmhub charm, which
// the controller cannot fetch, is deployed without metadata.
func (s *session) deployOne(ctx context.Context, uuid string, d params.ApplicationDeploy) error {
	if err := validateCharmOrigin(d.CharmOrigin); err != nil {
		return err
	}
	curl, err := charm.ParseURL(d.CharmURL)
	if err != nil {
		return err
	}
	if curl.Revision < 0 {
		return fmt.Errorf("charm url must include revision")
	}
	if d.NumUnits < 0 {
		return jujuapi.Errorf(jujuapi.CodeNotValid, "application %q: negative number of units", d.ApplicationName)
	}
	if err := checkConstraints(d.Constraints); err != nil {
		return err
	}
	for _, space := range d.EndpointBindings {
		if space != "" && space != alphaSpace {
			// As Juju's NewBindings: alpha is the only space here.
			return jujuapi.NotFoundf("space")
		}
	}
	rev := curl.Revision
	if d.CharmOrigin.Revision != nil {
		rev = *d.CharmOrigin.Revision
	}
	var added []newUnit
	_, err = s.ctl.store.UpdateModel(ctx, uuid, func(m *store.Model) error {
		if err := alive(m); err != nil {
			return err
		}
		for _, pl := range d.Placement {
			if pl != nil && pl.Scope == "#" && m.Machines[pl.Directive] == nil {
				return fmt.Errorf("cannot deploy %q to machine %s: %w", d.ApplicationName, pl.Directive, jujuapi.NotFoundf("machine %s", pl.Directive))
			}
		}
		var info *charm.Charm
		if curl.Schema == charm.SchemaLocal {
			ch := m.Charms[d.CharmURL]
			if ch == nil {
				return jujuapi.NotFoundf("charm %q", d.CharmURL)
			}
			info = &ch.Info
		}
		cfg, err := parseConfig(info, d.ApplicationName, d.Config, d.ConfigYAML)
		if err != nil {
			return err
		}
		fail := func(err error) error { return fmt.Errorf("cannot add application %q: %w", d.ApplicationName, err) }
		if !validAppName.MatchString(d.ApplicationName) {
			return fail(errors.New("invalid name"))
		}
		if _, exists := m.Applications[d.ApplicationName]; exists {
			return fail(jujuapi.Errorf(jujuapi.CodeAlreadyExists, "application already exists"))
		}
		base := deployBase(d.CharmOrigin, info)
		now := time.Now().UTC()
		app := &store.Application{
			Name: d.ApplicationName, CharmURL: d.CharmURL, Channel: d.Channel, Revision: rev, Base: base,
			Status: store.Status{Status: "active", Since: now}, Units: map[string]*store.Unit{}, CreatedAt: now,
			Cons: d.Constraints,
		}
		if cfg.trust != nil {
			app.Trust = *cfg.trust
		}
		applyCharmSettings(app, cfg.charm)
		m.Applications[app.Name] = app
		addPeerRelations(m, app.Name, now)
		added, err = s.ctl.addUnits(m, app, d.NumUnits, d.Placement)
		return err
	})
	if err != nil {
		return err
	}
	s.ctl.modelEvent(uuid, logInfo, "juju.apiserver.application", "deployed application %q (charm %s) with %d unit%s", d.ApplicationName, d.CharmURL, d.NumUnits, plural(d.NumUnits))
	s.ctl.logNewUnits(uuid, added)
	return nil
}

// deployBase is the base an application runs on: its origin's, else its
// charm's first, else the default.
func deployBase(o *params.CharmOrigin, ch *charm.Charm) store.Base {
	if o != nil && o.Base.Name != "" {
		return store.Base{Name: o.Base.Name, Channel: strings.TrimSuffix(o.Base.Channel, "/stable")}
	}
	if ch != nil && len(ch.Bases) > 0 {
		return store.Base{Name: ch.Bases[0].Name, Channel: ch.Bases[0].Channel}
	}
	return defaultBase
}

// newUnit is a unit just added, and whether its machine is new too.
type newUnit struct {
	name       string
	machine    *store.Machine
	newMachine bool
}

// logNewUnits writes to the model's log what the provisioner and the
// units' agents log when units (and their machines) start.
func (c *Controller) logNewUnits(uuid string, units []newUnit) {
	for _, u := range units {
		if u.newMachine {
			c.logMachineStarted(uuid, u.machine)
		}
		c.entityLog(uuid, jujuapi.UnitTag(u.name).String(), logInfo, "juju.worker.uniter", "unit %q started", u.name)
	}
}

// logMachineStarted writes what Juju's provisioner logs when a machine
// starts.
func (c *Controller) logMachineStarted(uuid string, mc *store.Machine) {
	c.modelEvent(uuid, logInfo, "juju.worker.provisioner", "started machine %s as instance %s with hardware %q",
		mc.ID, mc.InstanceID, machineHardware(mc))
}

// alive refuses changes to a model that is dying or migrating away.
func alive(m *store.Model) error {
	if err := writable(m); err != nil {
		return err
	}
	if m.Life != store.LifeAlive {
		return jujuapi.Errorf(jujuapi.CodeNotValid, "model %q is %s", m.Name, m.Life)
	}
	return nil
}

// addUnits adds n units of app to m, each on its own new machine unless a
// placement names an existing machine ("#:<id>" or just "<id>").
func (c *Controller) addUnits(m *store.Model, app *store.Application, n int, placement []*params.Placement) ([]newUnit, error) {
	var added []newUnit
	for i := range n {
		var machine *store.Machine
		fresh := false
		if i < len(placement) && placement[i] != nil {
			p := placement[i]
			if p.Scope != "#" && p.Scope != "" && p.Scope != m.UUID {
				return nil, jujuapi.Errorf(jujuapi.CodeNotSupported, "placement %s:%s is not supported: use an existing machine id", p.Scope, p.Directive)
			}
			machine = m.Machines[p.Directive]
			if machine == nil {
				return nil, jujuapi.NotFoundf("machine %s", p.Directive)
			}
		} else {
			machine, fresh = c.addMachine(m, app.Base, app.Cons), true
		}
		name := fmt.Sprintf("%s/%d", app.Name, app.NextUnitID)
		app.NextUnitID++
		now := time.Now().UTC()
		app.Units[name] = &store.Unit{
			Name: name, Machine: machine.ID, Leader: len(app.Units) == 0,
			AgentStatus:    store.Status{Status: "idle", Since: now},
			WorkloadStatus: store.Status{Status: "active", Since: now},
			AgentPassword:  randomPassword(),
		}
		added = append(added, newUnit{name: name, machine: machine, newMachine: fresh})
	}
	return added, nil
}

func (s *session) addUnits(ctx context.Context, p params.AddApplicationUnits) (params.AddApplicationUnitsResults, error) {
	m, err := s.connectedModel(store.AccessWrite)
	if err != nil {
		return params.AddApplicationUnitsResults{}, err
	}
	if err := writable(m); err != nil {
		return params.AddApplicationUnitsResults{}, err
	}
	if err := blockedIn(m, blockChange); err != nil {
		return params.AddApplicationUnitsResults{}, err
	}
	if p.NumUnits < 1 {
		return params.AddApplicationUnitsResults{}, jujuapi.Errorf(jujuapi.CodeNotValid, "must add at least one unit")
	}
	var added []newUnit
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := alive(m); err != nil {
			return err
		}
		app := m.Applications[p.ApplicationName]
		if app == nil {
			return jujuapi.NotFoundf("application %q", p.ApplicationName)
		}
		var err error
		added, err = s.ctl.addUnits(m, app, p.NumUnits, p.Placement)
		return err
	})
	if err != nil {
		return params.AddApplicationUnitsResults{}, err
	}
	s.ctl.logNewUnits(m.UUID, added)
	out := params.AddApplicationUnitsResults{Units: []string{}}
	for _, u := range added {
		out.Units = append(out.Units, u.name)
	}
	return out, nil
}

func (s *session) destroyApplication(ctx context.Context, p params.DestroyApplicationsParams) (params.DestroyApplicationResults, error) {
	out := params.DestroyApplicationResults{Results: make([]params.DestroyApplicationResult, len(p.Applications))}
	m, err := s.connectedModel(store.AccessWrite)
	if err != nil {
		return out, err
	}
	if err := writable(m); err != nil {
		return out, err
	}
	if err := blockedIn(m, blockRemove); err != nil {
		return out, err
	}
	for i, d := range p.Applications {
		info, err := s.destroyOneApplication(ctx, m.UUID, d)
		out.Results[i] = params.DestroyApplicationResult{Info: info, Error: paramsError(err)}
	}
	return out, nil
}

func (s *session) destroyOneApplication(ctx context.Context, uuid string, d params.DestroyApplicationParams) (*params.DestroyApplicationInfo, error) {
	t, err := jujuapi.ParseTag(d.ApplicationTag)
	if err != nil || t.Kind != jujuapi.KindApplication {
		return nil, jujuapi.Errorf(jujuapi.CodeNotValid, "%q is not a valid application tag", d.ApplicationTag)
	}
	info := &params.DestroyApplicationInfo{}
	_, err = s.ctl.store.UpdateModel(ctx, uuid, func(m *store.Model) error {
		info.DestroyedUnits = nil
		if err := writable(m); err != nil {
			return err
		}
		app := m.Applications[t.ID]
		if app == nil {
			return jujuapi.NotFoundf("application %q", t.ID)
		}
		for _, un := range sortedKeys(app.Units) {
			info.DestroyedUnits = append(info.DestroyedUnits, params.Entity{Tag: jujuapi.UnitTag(un).String()})
		}
		if d.DryRun {
			return nil
		}
		// As Juju: the units go, and with them the machines they were
		// alone on; then the relations, and the application.
		for _, un := range sortedKeys(app.Units) {
			removeUnit(m, un)
		}
		removeRelationsOf(m, t.ID, time.Now().UTC())
		delete(m.Applications, t.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !d.DryRun {
		for _, u := range info.DestroyedUnits {
			s.ctl.entityLog(uuid, u.Tag, logInfo, "juju.worker.uniter", "unit %s shutting down: application removed", u.Tag)
		}
		s.ctl.modelEvent(uuid, logInfo, "juju.apiserver.application", "removed application %q", t.ID)
	}
	return info, nil
}
