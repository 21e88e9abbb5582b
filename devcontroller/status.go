package devcontroller

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// fullStatus answers Client.FullStatus for the connection's model. Patterns
// select applications (by name, or a unit name) and machines (by id); no
// patterns selects everything.
func (s *session) fullStatus(_ context.Context, p params.StatusParams) (params.FullStatus, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.FullStatus{}, err
	}
	match := func(names ...string) bool {
		if len(p.Patterns) == 0 {
			return true
		}
		for _, pat := range p.Patterns {
			if slices.Contains(names, pat) {
				return true
			}
		}
		return false
	}
	now := time.Now().UTC()
	out := params.FullStatus{
		Model: params.ModelStatusInfo{
			Name: m.Name, Type: m.Type, CloudTag: jujuapi.CloudTag(m.Cloud).String(), CloudRegion: m.Region,
			Version: m.AgentVersion, AvailableVersion: s.ctl.availableVersion(m),
			ModelStatus: detailed(m.Status, m.Life), SLA: "unsupported",
		},
		Machines:            map[string]params.MachineStatus{},
		Applications:        map[string]params.ApplicationStatus{},
		RemoteApplications:  map[string]params.RemoteApplicationStatus{},
		Offers:              map[string]params.ApplicationOfferStatus{},
		Relations:           []params.RelationStatus{},
		Branches:            map[string]params.BranchStatus{},
		ControllerTimestamp: &now,
	}
	usedMachines := map[string]bool{}
	related := appRelations(m)
	for name, app := range m.Applications {
		units := map[string]params.UnitStatus{}
		for un, u := range app.Units {
			if !match(name, un) {
				continue
			}
			usedMachines[u.Machine] = true
			addr := ""
			if mc := m.Machines[u.Machine]; mc != nil {
				addr = mc.Address
			}
			units[un] = params.UnitStatus{
				AgentStatus: agentDetailed(u.AgentStatus, m.AgentVersion), WorkloadStatus: detailed(u.WorkloadStatus, ""),
				Machine: u.Machine, PublicAddress: addr, Address: addr, Charm: "", Leader: u.Leader,
				OpenedPorts: []string{}, Subordinates: map[string]params.UnitStatus{},
			}
		}
		if len(units) == 0 && !match(name) {
			continue
		}
		version := ""
		if ch := appCharm(m, app); ch != nil {
			version = ch.Version
		}
		rels := related[name]
		if rels == nil {
			rels = map[string][]string{}
		}
		out.Applications[name] = params.ApplicationStatus{
			Charm: app.CharmURL, CharmVersion: version, CharmChannel: app.Channel, Base: params.Base(app.Base), Life: "",
			Exposed: app.Exposed, ExposedEndpoints: exposedEndpoints(app),
			Relations: rels, SubordinateTo: []string{}, Units: units,
			MeterStatuses: map[string]params.MeterStatus{}, Status: detailed(app.Status, ""),
			EndpointBindings: endpointBindings(m, app),
		}
	}
	for _, r := range m.Relations {
		if len(p.Patterns) > 0 {
			shown := false
			for _, e := range r.Endpoints {
				_, shown = out.Applications[e.Application]
				if shown {
					break
				}
			}
			if !shown {
				continue
			}
		}
		rs := params.RelationStatus{Id: r.ID, Key: r.Key, Endpoints: []params.EndpointStatus{}, Status: detailed(r.Status, "")}
		for _, e := range r.Endpoints {
			rs.Interface, rs.Scope = e.Interface, e.Scope
			rs.Endpoints = append(rs.Endpoints, params.EndpointStatus{
				ApplicationName: e.Application, Name: e.Name, Role: e.Role,
				Subordinate: m.Applications[e.Application] != nil && appMeta(m, m.Applications[e.Application]).Subordinate,
			})
		}
		out.Relations = append(out.Relations, rs)
	}
	for id, mc := range m.Machines {
		if !match(id) && !usedMachines[id] {
			continue
		}
		out.Machines[id] = params.MachineStatus{
			AgentStatus: agentDetailed(mc.AgentStatus, m.AgentVersion), InstanceStatus: detailed(mc.InstanceStatus, ""),
			ModificationStatus: detailed(store.Status{Status: "idle", Since: mc.CreatedAt}, ""),
			Hostname:           mc.Hostname, DNSName: mc.Address, IPAddresses: []string{mc.Address},
			InstanceId: mc.InstanceID, Base: params.Base(mc.Base), Id: id,
			Containers: map[string]params.MachineStatus{}, Constraints: mc.Constraints,
			Hardware: machineHardware(mc), Jobs: []params.MachineJob{params.JobHostUnits},
			HasVote: m.IsController && id == "0", WantsVote: m.IsController && id == "0",
		}
	}
	return out, nil
}

// appRelations maps each application's endpoints to the applications
// related to it there (itself for a peer relation), sorted.
func appRelations(m *store.Model) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	add := func(app, ep, other string) {
		if out[app] == nil {
			out[app] = map[string][]string{}
		}
		if !slices.Contains(out[app][ep], other) {
			out[app][ep] = append(out[app][ep], other)
			slices.Sort(out[app][ep])
		}
	}
	for _, r := range m.Relations {
		if len(r.Endpoints) == 1 {
			e := r.Endpoints[0]
			add(e.Application, e.Name, e.Application)
			continue
		}
		for i, e := range r.Endpoints {
			add(e.Application, e.Name, r.Endpoints[1-i].Application)
		}
	}
	return out
}

// agentDetailed is an agent's status, with its version as Juju reports it.
func agentDetailed(st store.Status, version string) params.DetailedStatus {
	d := detailed(st, "")
	d.Version = version
	return d
}

func detailed(st store.Status, life string) params.DetailedStatus {
	since := st.Since
	return params.DetailedStatus{Status: st.Status, Info: st.Info, Since: &since, Life: life, Data: map[string]any{}}
}

// sortedMachineIDs returns machine ids in numeric order.
func sortedMachineIDs(m *store.Model) []string {
	ids := make([]string, 0, len(m.Machines))
	for id := range m.Machines {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, _ := strconv.Atoi(ids[i])
		b, _ := strconv.Atoi(ids[j])
		return a < b
	})
	return ids
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// charmName extracts the charm's name and revision from a charm URL such as
// "ch:amd64/jammy/postgresql-12", "ch:postgresql" or "local:foo-3".
func charmName(url string) (string, int) {
	if _, rest, ok := strings.Cut(url, ":"); ok {
		url = rest
	}
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		url = url[i+1:]
	}
	if i := strings.LastIndexByte(url, '-'); i > 0 {
		if rev, err := strconv.Atoi(url[i+1:]); err == nil {
			return url[:i], rev
		}
	}
	return url, -1
}
