package devcontroller

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/jimmbroker/jimm/devcontroller/charm"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The Charms facade (versions 5 to 7, model connections), as Juju 3.5
// answers it for a model whose charms are uploaded ones: CharmInfo
// describes a charm of the model (what juju deploy reads after the upload),
// List lists them, IsMetered and ListCharmResources say there is nothing
// to meter and no resource, CheckCharmPlacement accepts. AddCharm is for
// Charmhub charms only (a local charm is refused with Juju's "unknown
// schema for charm URL"); it and ResolveCharms answer with Charmhub's
// error (charmhub.go).

// paramsCharm describes a stored charm as Charms.CharmInfo does.
func paramsCharm(ch *store.Charm) params.Charm {
	info := ch.Info
	rels := func(in map[string]charm.Relation) map[string]params.CharmRelation {
		if len(in) == 0 {
			return nil
		}
		out := make(map[string]params.CharmRelation, len(in))
		for k, r := range in {
			out[k] = paramsRelation(r)
		}
		return out
	}
	minVersion := info.Meta.MinJujuVersion
	if minVersion == "" {
		minVersion = "0.0.0" // the client parses it as a version
	}
	var extra map[string]string
	if len(info.Meta.ExtraBindings) > 0 {
		extra = map[string]string{}
		for _, b := range info.Meta.ExtraBindings {
			extra[b] = b
		}
	}
	out := params.Charm{
		Revision: info.Revision, URL: ch.URL, Config: map[string]params.CharmOption{},
		Meta: &params.CharmMeta{
			Name: info.Meta.Name, Summary: info.Meta.Summary, Description: info.Meta.Description,
			Subordinate: info.Meta.Subordinate, Provides: rels(info.Meta.Provides), Requires: rels(info.Meta.Requires),
			Peers: rels(info.Meta.Peers), ExtraBindings: extra, Categories: info.Meta.Categories, Tags: info.Meta.Tags,
			Series: info.Meta.Series, Terms: info.Meta.Terms, MinJujuVersion: minVersion,
		},
	}
	if u, err := charm.ParseURL(ch.URL); err == nil && u.Revision >= 0 {
		out.Revision = u.Revision
	}
	for k, o := range info.Config {
		out.Config[k] = params.CharmOption{Type: o.Type, Description: o.Description, Default: o.Default}
	}
	if len(info.Actions) > 0 {
		out.Actions = &params.CharmActions{ActionSpecs: map[string]params.CharmActionSpec{}}
		for name, desc := range info.Actions {
			out.Actions.ActionSpecs[name] = params.CharmActionSpec{Description: desc, Params: map[string]any{}}
		}
	}
	if len(info.Bases) > 0 {
		out.Manifest = &params.CharmManifest{}
		for _, b := range info.Bases {
			out.Manifest.Bases = append(out.Manifest.Bases, params.CharmBase{Name: b.Name, Channel: stableChannel(b.Channel), Architectures: b.Architectures})
		}
	}
	return out
}

func (s *session) charmInfo(_ context.Context, p params.CharmURL) (params.Charm, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.Charm{}, err
	}
	if _, err := charm.ParseURL(p.URL); err != nil {
		return params.Charm{}, err
	}
	ch := m.Charms[p.URL]
	if ch == nil {
		return params.Charm{}, jujuapi.NotFoundf("charm %q", p.URL)
	}
	return paramsCharm(ch), nil
}

func (s *session) listCharms(_ context.Context, p params.CharmsList) (params.CharmsListResult, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.CharmsListResult{}, err
	}
	out := params.CharmsListResult{CharmURLs: []string{}}
	for url := range m.Charms {
		if len(p.Names) == 0 || slices.Contains(p.Names, charmNameOf(url)) {
			out.CharmURLs = append(out.CharmURLs, url)
		}
	}
	sort.Strings(out.CharmURLs)
	return out, nil
}

func (s *session) isMetered(_ context.Context, p params.CharmURL) (params.IsMeteredResult, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.IsMeteredResult{}, err
	}
	if m.Charms[p.URL] == nil {
		return params.IsMeteredResult{}, jujuapi.NotFoundf("charm %q", p.URL)
	}
	return params.IsMeteredResult{Metered: false}, nil
}

func (s *session) checkCharmPlacement(_ context.Context, p params.ApplicationCharmPlacements) (params.ErrorResults, error) {
	if _, err := s.connectedModel(store.AccessRead); err != nil {
		return params.ErrorResults{}, err
	}
	return params.ErrorResults{Results: make([]params.ErrorResult, len(p.Placements))}, nil
}

func (s *session) listCharmResources(ctx context.Context, p params.CharmURLAndOrigins) (params.CharmResourcesResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.CharmResourcesResults{}, err
	}
	out := params.CharmResourcesResults{Results: make([][]params.CharmResourceResult, len(p.Entities))}
	for i, e := range p.Entities {
		if e.Origin.Source == originLocal || m.Charms[e.CharmURL] != nil {
			out.Results[i] = []params.CharmResourceResult{}
			continue
		}
		out.Results[i] = []params.CharmResourceResult{{ErrorResult: params.ErrorResult{Error: paramsError(s.ctl.charmhubError(ctx, m, charmNameOf(e.CharmURL)))}}}
	}
	return out, nil
}

func (s *session) addCharm(ctx context.Context, p params.AddCharmWithOrigin) (params.CharmOriginResult, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.CharmOriginResult{}, err
	}
	if p.Origin.Source != originCharmHub {
		return params.CharmOriginResult{}, fmt.Errorf("unknown schema for charm URL %q", p.URL)
	}
	if p.Origin.Base.Name == "" || p.Origin.Base.Channel == "" {
		return params.CharmOriginResult{}, jujuapi.Errorf(jujuapi.CodeBadRequest, "base required for Charmhub charms")
	}
	if _, err := s.connectedModel(store.AccessWrite); err != nil {
		return params.CharmOriginResult{}, err
	}
	if _, err := charm.ParseURL(p.URL); err != nil {
		return params.CharmOriginResult{}, err
	}
	return params.CharmOriginResult{}, s.ctl.charmhubError(ctx, m, charmNameOf(p.URL))
}

func (s *session) resolveCharms(ctx context.Context, p params.ResolveCharmsWithChannel) (params.ResolveCharmWithChannelResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.ResolveCharmWithChannelResults{}, err
	}
	out := params.ResolveCharmWithChannelResults{Results: make([]params.ResolveCharmWithChannelResult, len(p.Resolve))}
	for i, r := range p.Resolve {
		u, err := charm.ParseURL(r.Reference)
		switch {
		case err != nil:
			out.Results[i].Error = paramsError(err)
		case u.Schema == charm.SchemaLocal:
			out.Results[i].Error = paramsError(fmt.Errorf("unknown schema for charm URL %q", u.String()))
		default:
			out.Results[i].Error = paramsError(s.ctl.charmhubError(ctx, m, u.Name))
		}
	}
	return out, nil
}

// charmNameOf is the name in a charm URL (the URL itself if it does not
// parse).
func charmNameOf(url string) string {
	if u, err := charm.ParseURL(url); err == nil {
		return u.Name
	}
	return url
}
