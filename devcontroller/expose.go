package devcontroller

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"

	"github.com/jimmbroker/jimm/devcontroller/charm"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Expose and unexpose (juju expose, unexpose), and what show-application
// and the charm's endpoints read, as Juju 3.5 answers them. Exposing with
// no endpoints opens every endpoint ("") to 0.0.0.0/0 and ::/0; endpoints
// named must be the charm's; spaces must exist (alpha is the only one);
// CIDRs must parse. Unexposing with no endpoints unexposes the
// application; naming endpoints removes their settings, and the
// application stays exposed while any remain.

// Networks an endpoint exposed to everyone is open to.
var allNetworks = []string{"0.0.0.0/0", "::/0"}

func (s *session) expose(ctx context.Context, p params.ApplicationExpose) (struct{}, error) {
	m, err := s.changeableModel(blockChange)
	if err != nil {
		return struct{}{}, err
	}
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		app := m.Applications[p.ApplicationName]
		if app == nil {
			return jujuapi.NotFoundf("application %q", p.ApplicationName)
		}
		settings := map[string]params.ExposedEndpoint{"": {ExposeToCIDRs: allNetworks}}
		if len(p.ExposedEndpoints) > 0 {
			settings = p.ExposedEndpoints
		}
		bindings := endpointBindings(m, app)
		merged := map[string]store.ExposedEndpoint{}
		for k, v := range app.ExposedEndpoints {
			merged[k] = v
		}
		for ep, e := range settings {
			if _, ok := bindings[ep]; !ok {
				return jujuapi.NotFoundf("endpoint %q", ep)
			}
			for _, sp := range e.ExposeToSpaces {
				if sp != alphaSpace {
					return jujuapi.NotFoundf("space %q", sp)
				}
			}
			for _, cidr := range e.ExposeToCIDRs {
				if _, _, err := net.ParseCIDR(cidr); err != nil {
					return fmt.Errorf("unable to parse %q as a CIDR: %w", cidr, err)
				}
			}
			x := store.ExposedEndpoint{Spaces: uniqueSorted(e.ExposeToSpaces), CIDRs: uniqueSorted(e.ExposeToCIDRs)}
			if len(x.Spaces)+len(x.CIDRs) == 0 {
				x.CIDRs = allNetworks
			}
			merged[ep] = x
		}
		app.Exposed, app.ExposedEndpoints = true, merged
		return nil
	})
	if err != nil {
		return struct{}{}, err
	}
	s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.application", "exposed application %q", p.ApplicationName)
	return struct{}{}, nil
}

func uniqueSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

func (s *session) unexpose(ctx context.Context, p params.ApplicationUnexpose) (struct{}, error) {
	m, err := s.changeableModel(blockChange)
	if err != nil {
		return struct{}{}, err
	}
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		app := m.Applications[p.ApplicationName]
		if app == nil {
			return jujuapi.NotFoundf("application %q", p.ApplicationName)
		}
		if len(p.ExposedEndpoints) == 0 {
			app.Exposed, app.ExposedEndpoints = false, nil
			return nil
		}
		bindings := endpointBindings(m, app)
		for _, ep := range p.ExposedEndpoints {
			if _, ok := bindings[ep]; !ok && ep != "" {
				return jujuapi.NotFoundf("endpoint %q", ep)
			}
			if _, ok := app.ExposedEndpoints[ep]; !ok {
				return jujuapi.Errorf(jujuapi.CodeBadRequest, "endpoint %q is not exposed", ep)
			}
			delete(app.ExposedEndpoints, ep)
		}
		app.Exposed = len(app.ExposedEndpoints) > 0
		if !app.Exposed {
			app.ExposedEndpoints = nil
		}
		return nil
	})
	if err != nil {
		return struct{}{}, err
	}
	s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.application", "unexposed application %q", p.ApplicationName)
	return struct{}{}, nil
}

// exposedEndpoints renders an application's expose settings as status
// and show-application give them.
func exposedEndpoints(app *store.Application) map[string]params.ExposedEndpoint {
	if len(app.ExposedEndpoints) == 0 {
		return nil
	}
	out := make(map[string]params.ExposedEndpoint, len(app.ExposedEndpoints))
	for ep, e := range app.ExposedEndpoints {
		out[ep] = params.ExposedEndpoint{ExposeToSpaces: e.Spaces, ExposeToCIDRs: e.CIDRs}
	}
	return out
}

func (s *session) charmRelations(_ context.Context, p params.ApplicationCharmRelations) (params.ApplicationCharmRelationsResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.ApplicationCharmRelationsResults{}, err
	}
	app := m.Applications[p.ApplicationName]
	if app == nil {
		return params.ApplicationCharmRelationsResults{}, jujuapi.NotFoundf("application %q", p.ApplicationName)
	}
	out := params.ApplicationCharmRelationsResults{CharmRelations: []string{}}
	for _, ep := range appMeta(m, app).Endpoints() {
		out.CharmRelations = append(out.CharmRelations, ep.Name)
	}
	sort.Strings(out.CharmRelations)
	return out, nil
}

func (s *session) applicationsInfo(_ context.Context, p params.Entities) (params.ApplicationInfoResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.ApplicationInfoResults{}, err
	}
	out := params.ApplicationInfoResults{Results: make([]params.ApplicationInfoResult, len(p.Entities))}
	for i, e := range p.Entities {
		t, err := jujuapi.ParseTag(e.Tag)
		if err != nil || t.Kind != jujuapi.KindApplication {
			out.Results[i].Error = paramsError(fmt.Errorf("%q is not a valid application tag", e.Tag))
			continue
		}
		app := m.Applications[t.ID]
		if app == nil {
			out.Results[i].Error = paramsError(jujuapi.NotFoundf("application %q", t.ID))
			continue
		}
		out.Results[i].Result = &params.ApplicationResult{
			Tag: e.Tag, Charm: appMeta(m, app).Name,
			Base:    params.Base{Name: app.Base.Name, Channel: stableChannel(app.Base.Channel)},
			Channel: app.Channel, Constraints: app.Cons, Principal: !appMeta(m, app).Subordinate,
			Exposed: app.Exposed, Life: store.LifeAlive, EndpointBindings: endpointBindings(m, app),
			ExposedEndpoints: exposedEndpoints(app),
		}
	}
	return out, nil
}

// charmOrigin is the origin of an application's charm, as Juju records it.
func charmOrigin(app *store.Application) params.CharmOrigin {
	rev := app.Revision
	o := params.CharmOrigin{Source: originCharmHub, Type: "charm", Revision: &rev, Architecture: "amd64",
		Base: params.Base{Name: app.Base.Name, Channel: app.Base.Channel}}
	if u, err := charm.ParseURL(app.CharmURL); err == nil && u.Schema == charm.SchemaLocal {
		o.Source = originLocal
	} else {
		o.Risk = "stable"
	}
	return o
}

func (s *session) getCharmURLOrigin(_ context.Context, p params.ApplicationGet) (params.CharmURLOriginResult, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.CharmURLOriginResult{}, err
	}
	app := m.Applications[p.ApplicationName]
	if app == nil {
		return params.CharmURLOriginResult{Error: paramsError(jujuapi.NotFoundf("application %q", p.ApplicationName))}, nil
	}
	return params.CharmURLOriginResult{URL: app.CharmURL, Origin: charmOrigin(app)}, nil
}
