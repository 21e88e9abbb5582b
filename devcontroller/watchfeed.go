package devcontroller

import (
	"context"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/jimmbroker/jimm/devcontroller/multiwatcher"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The watch feed keeps the controller's multiwatcher store (package
// multiwatcher) in step with its models. Every change to a model document
// (the store's change hook) marks the model; the feed's goroutine then
// reads the model once and records its entities in Juju's delta shapes,
// plus the model's summary (an entity kind of the controller's own, never
// sent to an AllWatcher). Unchanged entities change nothing in the store;
// entities no longer there are removed. A model that is removed, dead,
// being imported or gone after a migration has no entities. The feed is
// driven by changes only: nothing polls.

// kindModelSummary is the internal entity kind holding a model's summary
// for the ModelSummaryWatcher.
const kindModelSummary = "modelSummary"

// modelSummaryInfo is a model's summary and who may see it.
type modelSummaryInfo struct {
	summary params.ModelAbstract
	// users maps each user with access to the model to that access.
	users map[string]string
}

// EntityId implements params.EntityInfo.
func (i *modelSummaryInfo) EntityId() params.EntityId {
	return params.EntityId{Kind: kindModelSummary, ModelUUID: i.summary.UUID, Id: i.summary.UUID}
}

type watchFeed struct {
	c  *Controller
	mw *multiwatcher.Store

	mu    sync.Mutex
	dirty map[string]bool
	wake  chan struct{}
	wg    sync.WaitGroup

	// feeding serialises feeding: the feed's goroutine, and settle.
	feeding sync.Mutex

	// known holds, per model, the ids fed last time; only the goroutine
	// feeding uses it.
	known map[string]map[params.EntityId]bool
}

func newWatchFeed(c *Controller) *watchFeed {
	return &watchFeed{c: c, mw: multiwatcher.NewStore(), dirty: map[string]bool{}, wake: make(chan struct{}, 1),
		known: map[string]map[params.EntityId]bool{}}
}

// modelChanged notes a changed model; it runs under the store's write lock
// and only marks it.
func (f *watchFeed) modelChanged(uuid string) {
	f.mu.Lock()
	f.dirty[uuid] = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// feedAll records every model at once (before serving).
func (f *watchFeed) feedAll() {
	for _, m := range f.c.store.Models() {
		f.feed(m.UUID)
	}
}

// start feeds the changes until ctx ends.
func (f *watchFeed) start(ctx context.Context) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-f.wake:
			}
			f.settle()
		}
	}()
}

// settle feeds every model marked changed, now: a watcher opened after it
// sees every change made before (its first Next answers them).
func (f *watchFeed) settle() {
	f.feeding.Lock()
	defer f.feeding.Unlock()
	f.mu.Lock()
	dirty := f.dirty
	f.dirty = map[string]bool{}
	f.mu.Unlock()
	for uuid := range dirty {
		f.feed(uuid)
	}
}

func (f *watchFeed) wait() { f.wg.Wait() }

// feed records one model's entities as they are now.
func (f *watchFeed) feed(uuid string) {
	var infos []params.EntityInfo
	if m, ok := f.c.store.Model(uuid); ok && m.Life != store.LifeDead && m.MigrationMode != store.MigrationModeImporting {
		infos = f.c.modelEntities(m)
	}
	now := make(map[params.EntityId]bool, len(infos))
	for _, info := range infos {
		now[info.EntityId()] = true
		f.mw.Update(info)
	}
	for id := range f.known[uuid] {
		if !now[id] {
			f.mw.Remove(id)
		}
	}
	if len(now) == 0 {
		delete(f.known, uuid)
	} else {
		f.known[uuid] = now
	}
}

// deltaStatus is a status as a delta carries it.
func deltaStatus(st store.Status, version string) params.StatusInfo {
	since := st.Since
	return params.StatusInfo{Current: st.Status, Message: st.Info, Since: &since, Version: version}
}

// baseDisplay writes a base as Juju's entities do: "ubuntu@22.04".
func baseDisplay(b store.Base) string {
	if b.Name == "" || b.Channel == "" {
		return ""
	}
	return b.Name + "@" + strings.TrimSuffix(b.Channel, "/stable")
}

// modelEntities returns every entity of a model, in Juju's delta shapes.
func (c *Controller) modelEntities(m *store.Model) []params.EntityInfo {
	uuid := m.UUID
	life := m.Life
	if life == "" {
		life = store.LifeAlive
	}
	cfg := map[string]any{}
	for k, v := range c.configValues(m) {
		cfg[k] = v.Value
	}
	out := []params.EntityInfo{&params.ModelUpdate{
		ModelUUID: uuid, Name: m.Name, Life: life, Owner: m.Owner, ControllerUUID: c.UUID(),
		IsController: m.IsController, Config: cfg, Status: deltaStatus(m.Status, ""),
		Constraints: m.Constraints, SLA: params.ModelSLAInfo{Level: "unsupported"}, Type: m.Type,
		Cloud: m.Cloud, CloudRegion: m.Region, Version: m.AgentVersion,
	}}
	for _, id := range sortedMachineIDs(m) {
		mc := m.Machines[id]
		arch, cores, mem := hardwareOf(mc)
		jobs := []params.MachineJob{params.JobHostUnits}
		if m.IsController && id == "0" {
			jobs = []params.MachineJob{params.JobHostUnits, params.JobManageModel}
		}
		out = append(out, &params.MachineInfo{
			ModelUUID: uuid, Id: id, InstanceId: mc.InstanceID,
			AgentStatus:    deltaStatus(mc.AgentStatus, m.AgentVersion),
			InstanceStatus: deltaStatus(mc.InstanceStatus, ""),
			Life:           store.LifeAlive, Base: baseDisplay(mc.Base),
			SupportedContainers: []string{"lxd"}, SupportedContainersKnown: true,
			HardwareCharacteristics: &params.HardwareCharacteristics{Arch: &arch, CpuCores: &cores, Mem: &mem},
			Jobs:                    jobs,
			Addresses:               []params.Address{{Value: mc.Address, Type: params.AddressTypeIPv4, Scope: params.ScopeCloudLocal}},
			HasVote:                 m.IsController && id == "0", WantsVote: m.IsController && id == "0",
			Hostname: mc.Hostname,
		})
	}
	charmURLs := map[string]bool{}
	for _, name := range sortedKeys(m.Applications) {
		app := m.Applications[name]
		charmURLs[app.CharmURL] = true
		var cfg map[string]any
		if len(app.Config) > 0 {
			cfg = map[string]any{}
			for k, v := range app.Config {
				cfg[k] = v
			}
		}
		out = append(out, &params.ApplicationInfo{
			ModelUUID: uuid, Name: name, Exposed: app.Exposed, CharmURL: app.CharmURL,
			Life: store.LifeAlive, Constraints: app.Cons, Config: cfg,
			Status: deltaStatus(applicationStatus(app), ""),
		})
		for _, un := range sortedKeys(app.Units) {
			u := app.Units[un]
			addr := ""
			if mc := m.Machines[u.Machine]; mc != nil {
				addr = mc.Address
			}
			out = append(out, &params.UnitInfo{
				ModelUUID: uuid, Name: un, Application: name, Base: baseDisplay(app.Base), CharmURL: app.CharmURL,
				Life: store.LifeAlive, PublicAddress: addr, PrivateAddress: addr, MachineId: u.Machine,
				Ports: []params.Port{}, PortRanges: []params.PortRange{},
				WorkloadStatus: deltaStatus(u.WorkloadStatus, ""),
				AgentStatus:    deltaStatus(u.AgentStatus, m.AgentVersion),
			})
		}
	}
	for _, r := range m.Relations {
		eps := make([]params.Endpoint, len(r.Endpoints))
		for i, ep := range r.Endpoints {
			eps[i] = params.Endpoint{ApplicationName: ep.Application, Relation: paramsRelation(ep.Relation)}
		}
		out = append(out, &params.RelationInfo{ModelUUID: uuid, Key: r.Key, Id: r.ID, Endpoints: eps})
	}
	for url := range m.Charms {
		charmURLs[url] = true
	}
	for _, url := range slices.Sorted(maps.Keys(charmURLs)) {
		info := &params.CharmInfo{ModelUUID: uuid, CharmURL: url, Life: store.LifeAlive}
		if ch := m.Charms[url]; ch != nil {
			info.CharmVersion = ch.Info.Version
			if d := ch.Info.DefaultSettings(); len(d) > 0 {
				info.DefaultConfig = d
			}
		}
		out = append(out, info)
	}
	for _, tag := range sortedKeys(m.Annotations) {
		if len(m.Annotations[tag]) > 0 {
			out = append(out, &params.AnnotationInfo{ModelUUID: uuid, Tag: tag, Annotations: m.Annotations[tag]})
		}
	}
	for _, t := range sortedKeys(m.Blocks) {
		b := m.Blocks[t]
		out = append(out, &params.BlockInfo{ModelUUID: uuid, Id: b.ID, Type: t, Message: b.Message, Tag: jujuapi.ModelTag(uuid).String()})
	}
	return append(out, c.modelSummary(m))
}

// modelSummary summarises a model as Juju's model cache does for the
// ModelSummaryWatcher: counts, admins, and a status of green, yellow
// (a unit's workload is blocked) or red (an agent is in error), with the
// agents' messages.
func (c *Controller) modelSummary(m *store.Model) *modelSummaryInfo {
	status := "green"
	var messages []params.ModelSummaryMessage
	for id, mc := range m.Machines {
		if mc.AgentStatus.Status == "error" {
			status = "red"
			messages = append(messages, params.ModelSummaryMessage{Agent: id, Message: mc.AgentStatus.Info})
		}
	}
	units := 0
	for _, app := range m.Applications {
		for un, u := range app.Units {
			units++
			switch {
			case u.AgentStatus.Status == "error":
				status = "red"
				messages = append(messages, params.ModelSummaryMessage{Agent: un, Message: u.AgentStatus.Info})
			case u.WorkloadStatus.Status == "blocked":
				if status == "green" {
					status = "yellow"
				}
				messages = append(messages, params.ModelSummaryMessage{Agent: un, Message: u.WorkloadStatus.Info})
			}
		}
	}
	sort.Slice(messages, func(i, j int) bool { return messages[i].Agent < messages[j].Agent })
	var admins []string
	for user, access := range m.Users {
		if access == store.AccessAdmin {
			admins = append(admins, user)
		}
	}
	sort.Strings(admins)
	users := make(map[string]string, len(m.Users))
	for u, a := range m.Users {
		users[u] = a
	}
	var annotations map[string]string
	if a := m.Annotations[jujuapi.ModelTag(m.UUID).String()]; len(a) > 0 {
		annotations = a
	}
	return &modelSummaryInfo{users: users, summary: params.ModelAbstract{
		UUID: m.UUID, Controller: c.cfg.Name, Name: m.Name, Admins: admins,
		Cloud: m.Cloud, Region: m.Region, Credential: credentialID(m.Credential),
		Size: params.ModelSummarySize{
			Machines: len(m.Machines), Applications: len(m.Applications), Units: units, Relations: len(m.Relations),
		},
		Status: status, Messages: messages, Annotations: annotations,
	}}
}

// credentialID turns a model's credential (tag form without prefix,
// "cloud_owner_name") into its id, "cloud/owner/name".
func credentialID(tagID string) string {
	if tagID == "" {
		return ""
	}
	parts := strings.SplitN(tagID, "_", 3)
	for i := range parts {
		parts[i] = strings.ReplaceAll(parts[i], "%5f", "_")
	}
	return strings.Join(parts, "/")
}

// applicationStatus is an application's status: the one its charm set
// or, as Juju derives it when none was set, its units' worst workload
// status.
func applicationStatus(app *store.Application) store.Status {
	if app.Status.Status != "" && app.Status.Status != "unset" {
		return app.Status
	}
	return store.Status{Status: "unset", Since: app.CreatedAt}
}
