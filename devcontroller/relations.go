package devcontroller

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/charm"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Relations (Application.AddRelation and DestroyRelation: juju integrate
// and remove-relation), as Juju's state does them. The endpoints come from
// the applications' charms (an uploaded charm's metadata; an application
// of a charm the controller has no metadata for offers juju-info only),
// every application providing juju-info implicitly. Endpoint names are
// resolved as Juju's InferEndpoints does, with its errors: an unknown
// application ("application \"x\" not found"), an unknown endpoint
// ("application \"x\" has no \"y\" relation"), no compatible pair ("no
// relations found"), or several ("ambiguous relation: ..."), where a
// unique pair is kept after dropping juju-info. A new relation is
// "joining" while its units run their relation hooks (see hooks.go), then
// "joined".

// codeQuotaLimitExceeded is Juju's code for a relation beyond an
// endpoint's limit.
const codeQuotaLimitExceeded = "quota limit exceeded"

// appMeta returns the metadata of an application's charm: the uploaded
// charm's, or for a charm the controller never saw (a Charmhub one) a
// charm with no endpoints but juju-info.
func appMeta(m *store.Model, app *store.Application) *charm.Meta {
	if ch := m.Charms[app.CharmURL]; ch != nil {
		return &ch.Info.Meta
	}
	name, _ := charmName(app.CharmURL)
	return &charm.Meta{Name: name}
}

// endpoint is one end of a relation being resolved.
type endpoint struct {
	app string
	charm.Relation
}

func (e endpoint) String() string { return e.app + ":" + e.Name }

func (e endpoint) implicit() bool {
	return e.Name == charm.JujuInfo.Name && e.Interface == charm.JujuInfo.Interface && e.Role == charm.RoleProvider
}

func counterpart(role string) string {
	switch role {
	case charm.RoleProvider:
		return charm.RoleRequirer
	case charm.RoleRequirer:
		return charm.RoleProvider
	}
	return charm.RolePeer
}

func (e endpoint) canRelateTo(o endpoint) bool {
	return e.app != o.app && e.Interface == o.Interface && e.Role != charm.RolePeer && counterpart(e.Role) == o.Role
}

// relationKey names a relation by its endpoints, requirer first, as Juju
// does.
func relationKey(eps []endpoint) string {
	sorted := append([]endpoint(nil), eps...)
	order := map[string]int{charm.RoleRequirer: 0, charm.RoleProvider: 1, charm.RolePeer: 2}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Role != sorted[j].Role {
			return order[sorted[i].Role] < order[sorted[j].Role]
		}
		return sorted[i].String() < sorted[j].String()
	})
	names := make([]string, len(sorted))
	for i, e := range sorted {
		names[i] = e.String()
	}
	return strings.Join(names, " ")
}

// splitEndpointName reads "app" or "app:endpoint".
func splitEndpointName(name string) (app, rel string, err error) {
	i := strings.Index(name, ":")
	switch {
	case i == -1:
		return name, "", nil
	case i != 0 && i != len(name)-1:
		return name[:i], name[i+1:], nil
	}
	return "", "", fmt.Errorf("invalid endpoint %q", name)
}

// endpointsOf returns the endpoints a name may mean, of those keep keeps.
func endpointsOf(m *store.Model, name string, keep func(endpoint) bool) ([]endpoint, error) {
	appName, relName, err := splitEndpointName(name)
	if err != nil {
		return nil, err
	}
	app := m.Applications[appName]
	if app == nil {
		return nil, jujuapi.NotFoundf("application %q", appName)
	}
	meta := appMeta(m, app)
	var eps []endpoint
	if relName != "" {
		r, ok := meta.Endpoint(relName)
		if !ok {
			return nil, fmt.Errorf("application %q has no %q relation", appName, relName)
		}
		eps = append(eps, endpoint{app: appName, Relation: r})
	} else {
		for _, r := range meta.Endpoints() {
			eps = append(eps, endpoint{app: appName, Relation: r})
		}
	}
	var out []endpoint
	for _, e := range eps {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// inferEndpoints resolves one or two endpoint names to a relation's
// endpoints, as Juju's State.InferEndpoints does.
func inferEndpoints(m *store.Model, names []string) ([]endpoint, error) {
	isPeer := func(e endpoint) bool { return e.Role == charm.RolePeer }
	notPeer := func(e endpoint) bool { return e.Role != charm.RolePeer }
	var candidates [][]endpoint
	switch len(names) {
	case 1:
		eps, err := endpointsOf(m, names[0], isPeer)
		if err != nil {
			return nil, err
		}
		for _, e := range eps {
			candidates = append(candidates, []endpoint{e})
		}
	case 2:
		eps1, err := endpointsOf(m, names[0], notPeer)
		if err != nil {
			return nil, err
		}
		eps2, err := endpointsOf(m, names[1], notPeer)
		if err != nil {
			return nil, err
		}
		for _, e1 := range eps1 {
			for _, e2 := range eps2 {
				if e1.canRelateTo(e2) && containerScopeOK(m, e1, e2) {
					candidates = append(candidates, []endpoint{e1, e2})
				}
			}
		}
	default:
		return nil, fmt.Errorf("cannot relate %d endpoints", len(names))
	}
	switch len(candidates) {
	case 0:
		return nil, fmt.Errorf("no relations found")
	case 1:
		return candidates[0], nil
	}
	var explicit [][]endpoint
outer:
	for _, cand := range candidates {
		for _, e := range cand {
			if e.implicit() {
				continue outer
			}
		}
		explicit = append(explicit, cand)
	}
	if len(explicit) == 1 {
		return explicit[0], nil
	}
	keys := make([]string, len(candidates))
	for i, cand := range candidates {
		keys[i] = fmt.Sprintf("%q", relationKey(cand))
	}
	sort.Strings(keys)
	return nil, fmt.Errorf("ambiguous relation: %q could refer to %s", strings.Join(names, " "), strings.Join(keys, "; "))
}

// containerScopeOK: a container-scoped relation needs a subordinate.
func containerScopeOK(m *store.Model, e1, e2 endpoint) bool {
	if e1.Scope != charm.ScopeContainer && e2.Scope != charm.ScopeContainer {
		return true
	}
	for _, e := range []endpoint{e1, e2} {
		if appMeta(m, m.Applications[e.app]).Subordinate {
			return true
		}
	}
	return false
}

func paramsRelation(r charm.Relation) params.CharmRelation {
	return params.CharmRelation{Name: r.Name, Role: r.Role, Interface: r.Interface, Optional: r.Optional, Limit: r.Limit, Scope: r.Scope}
}

// addRelationTo adds a relation between eps to a model being written.
func addRelationTo(m *store.Model, eps []endpoint, now time.Time) (*store.Relation, error) {
	key := relationKey(eps)
	fail := func(err error) (*store.Relation, error) {
		return nil, fmt.Errorf("cannot add relation %q: %w", key, err)
	}
	for _, r := range m.Relations {
		if r.Key == key {
			return fail(jujuapi.Errorf(jujuapi.CodeAlreadyExists, "relation %s", key))
		}
	}
	// Container scope on one end applies to both.
	if eps[0].Scope == charm.ScopeContainer || (len(eps) > 1 && eps[1].Scope == charm.ScopeContainer) {
		for i := range eps {
			eps[i].Scope = charm.ScopeContainer
		}
	}
	for _, e := range eps {
		if e.Limit == 0 {
			continue
		}
		n := 0
		for _, r := range m.Relations {
			for _, re := range r.Endpoints {
				if re.Application == e.app && re.Name == e.Name {
					n++
				}
			}
		}
		if n+1 > e.Limit {
			return fail(jujuapi.Errorf(codeQuotaLimitExceeded, "establishing a new relation for %s:%s would exceed its maximum relation limit of %d", e.app, e.Name, e.Limit))
		}
	}
	r := &store.Relation{ID: m.NextRelationID, Key: key, Status: store.Status{Status: statusJoining, Since: now}, CreatedAt: now}
	m.NextRelationID++
	for _, e := range eps {
		r.Endpoints = append(r.Endpoints, store.RelationEndpoint{Application: e.app, Relation: e.Relation})
	}
	m.Relations = append(m.Relations, r)
	if len(eps) == 2 {
		for _, e := range eps {
			startHook(m, e.Name+"-relation-joined", now, unitsOf(m, e.app)...)
		}
	}
	return r, nil
}

// addPeerRelations adds the peer relations of a new application, as Juju
// does when it adds the application.
func addPeerRelations(m *store.Model, app string, now time.Time) {
	meta := appMeta(m, m.Applications[app])
	for _, name := range sortedKeys(meta.Peers) {
		addRelationTo(m, []endpoint{{app: app, Relation: meta.Peers[name]}}, now)
	}
}

// removeRelationsOf removes an application's relations from a model being
// written; the units at the other ends run their departed hooks.
func removeRelationsOf(m *store.Model, app string, now time.Time) {
	kept := m.Relations[:0]
	for _, r := range m.Relations {
		involved := false
		for _, e := range r.Endpoints {
			if e.Application == app {
				involved = true
			}
		}
		if !involved {
			kept = append(kept, r)
			continue
		}
		for _, e := range r.Endpoints {
			if e.Application != app {
				startHook(m, e.Name+"-relation-departed", now, unitsOf(m, e.Application)...)
			}
		}
	}
	m.Relations = kept
}

func (s *session) addRelation(ctx context.Context, p params.AddRelation) (params.AddRelationResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.AddRelationResults{}, err
	}
	if err := blockedIn(m, blockChange); err != nil {
		return params.AddRelationResults{}, err
	}
	if _, err := s.connectedModel(store.AccessWrite); err != nil {
		return params.AddRelationResults{}, err
	}
	if err := writable(m); err != nil {
		return params.AddRelationResults{}, err
	}
	out := params.AddRelationResults{Endpoints: map[string]params.CharmRelation{}}
	var added *store.Relation
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := alive(m); err != nil {
			return err
		}
		eps, err := inferEndpoints(m, p.Endpoints)
		if err != nil {
			return err
		}
		for _, cidr := range p.ViaCIDRs {
			if _, _, err := net.ParseCIDR(cidr); err != nil {
				return err
			}
			if cidr == "0.0.0.0/0" {
				return fmt.Errorf("CIDR %q not allowed", cidr)
			}
		}
		if len(p.ViaCIDRs) > 0 {
			// No application here is remote (cross-model).
			return jujuapi.Errorf(jujuapi.CodeNotSupported, "integration via subnets for non cross model relations not supported")
		}
		added, err = addRelationTo(m, eps, time.Now().UTC())
		return err
	})
	if err != nil {
		return params.AddRelationResults{}, err
	}
	for _, e := range added.Endpoints {
		out.Endpoints[e.Application] = paramsRelation(e.Relation)
	}
	s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.application", "added relation %d %q", added.ID, added.Key)
	return out, nil
}

func (s *session) destroyRelation(ctx context.Context, p params.DestroyRelation) (struct{}, error) {
	m, err := s.changeableModel(blockRemove)
	if err != nil {
		return struct{}{}, err
	}
	var removed *store.Relation
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		var err error
		if len(p.Endpoints) > 0 {
			removed, err = inferActiveRelation(m, p.Endpoints)
		} else {
			removed, err = relationByID(m, p.RelationId)
		}
		if err != nil {
			return err
		}
		if len(removed.Endpoints) == 1 && removed.Endpoints[0].Role == charm.RolePeer {
			return fmt.Errorf("cannot destroy relation %q: is a peer relation", removed.Key)
		}
		now := time.Now().UTC()
		kept := m.Relations[:0]
		for _, r := range m.Relations {
			if r.ID != removed.ID {
				kept = append(kept, r)
			}
		}
		m.Relations = kept
		for _, e := range removed.Endpoints {
			startHook(m, e.Name+"-relation-departed", now, unitsOf(m, e.Application)...)
		}
		return nil
	})
	if err != nil {
		return struct{}{}, err
	}
	s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.application", "removed relation %d %q", removed.ID, removed.Key)
	return struct{}{}, nil
}

// inferActiveRelation finds the one relation matching endpoint names, as
// Juju's InferActiveRelation does.
func inferActiveRelation(m *store.Model, names []string) (*store.Relation, error) {
	type cond struct{ app, rel string }
	var conds []cond
	for _, name := range names {
		app, rel, err := splitEndpointName(name)
		if err != nil {
			return nil, fmt.Errorf("can't get relations matching %q: %w", strings.Join(names, " "), err)
		}
		conds = append(conds, cond{app, rel})
	}
	var found []*store.Relation
	for _, r := range m.Relations {
		all := true
		for _, c := range conds {
			match := false
			for _, e := range r.Endpoints {
				if e.Application == c.app && (c.rel == "" || e.Name == c.rel) {
					match = true
				}
			}
			all = all && match
		}
		if all {
			found = append(found, r)
		}
	}
	query := strings.Join(names, " ")
	switch len(found) {
	case 0:
		return nil, jujuapi.NotFoundf("relation matching %q", query)
	case 1:
		return found[0], nil
	}
	keys := make([]string, len(found))
	for i, r := range found {
		keys[i] = fmt.Sprintf("%q", r.Key)
	}
	return nil, fmt.Errorf("ambiguous relation: %q could refer to %s", query, strings.Join(keys, "; "))
}

func relationByID(m *store.Model, id int) (*store.Relation, error) {
	for _, r := range m.Relations {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, jujuapi.NotFoundf("relation %d", id)
}
