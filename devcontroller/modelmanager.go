package devcontroller

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// visibleModels returns the live models a user may see: every model when
// all is set, the caller's own view when user is the caller, and for another
// user (asked by a superuser) the models that user was granted.
func (s *session) visibleModels(user string, all bool) []*store.Model {
	var out []*store.Model
	self := user == s.identity()
	for _, m := range s.ctl.store.Models() {
		switch {
		case m.Life == store.LifeDead, m.MigrationMode == store.MigrationModeImporting:
		case all, self && s.modelAccess(m) != "", !self && m.Users[user] != "":
			out = append(out, m)
		}
	}
	return out
}

// forUser checks that the caller may list the models of the user named by
// tag (itself, or anyone for a superuser) and returns the user's name.
func (s *session) forUser(tag string) (string, error) {
	t, err := jujuapi.ParseUserTag(tag)
	if err != nil {
		return "", err
	}
	if t.ID != s.identity() && !s.isSuperuser() {
		return "", jujuapi.ErrPerm
	}
	return t.ID, nil
}

func (s *session) listModels(_ context.Context, p params.Entity) (params.UserModelList, error) {
	user, err := s.forUser(p.Tag)
	if err != nil {
		return params.UserModelList{}, err
	}
	out := params.UserModelList{UserModels: []params.UserModel{}}
	for _, m := range s.visibleModels(user, false) {
		out.UserModels = append(out.UserModels, params.UserModel{
			Model:          params.Model{Name: m.Name, UUID: m.UUID, Type: m.Type, OwnerTag: jujuapi.UserTag(m.Owner).String()},
			LastConnection: s.ctl.lastConnection(user),
		})
	}
	return out, nil
}

func (s *session) listModelSummaries(_ context.Context, p params.ListModelSummariesRequest) (params.ModelSummaryResults, error) {
	user, err := s.forUser(p.UserTag)
	if err != nil {
		return params.ModelSummaryResults{}, err
	}
	if p.All && !s.isSuperuser() {
		return params.ModelSummaryResults{}, jujuapi.ErrPerm
	}
	out := params.ModelSummaryResults{Results: []params.ModelSummaryResult{}}
	for _, m := range s.visibleModels(user, p.All) {
		access := m.Users[user]
		if user == s.identity() {
			access = s.modelAccess(m)
		}
		out.Results = append(out.Results, params.ModelSummaryResult{Result: s.ctl.summary(m, access, user)})
	}
	return out, nil
}

func (c *Controller) summary(m *store.Model, access, user string) *params.ModelSummary {
	since := m.Status.Since
	return &params.ModelSummary{
		Name: m.Name, UUID: m.UUID, Type: m.Type, ControllerUUID: c.UUID(), IsController: m.IsController,
		ProviderType: m.CloudType, CloudTag: jujuapi.CloudTag(m.Cloud).String(), CloudRegion: m.Region,
		CloudCredentialTag: credentialTag(m), OwnerTag: jujuapi.UserTag(m.Owner).String(), Life: m.Life,
		Status:             params.EntityStatus{Status: m.Status.Status, Info: m.Status.Info, Since: &since},
		UserAccess:         params.UserAccessPermission(access),
		UserLastConnection: c.lastConnection(user),
		Counts: []params.ModelEntityCount{
			{Entity: params.Machines, Count: int64(len(m.Machines))},
			{Entity: params.Cores, Count: coreCount(m)},
			{Entity: params.Units, Count: int64(countUnits(m))},
		},
		SLA:          &params.ModelSLAInfo{Level: "unsupported", Owner: m.Owner},
		AgentVersion: &m.AgentVersion,
		Migration:    migrationStatus(m),
	}
}

func credentialTag(m *store.Model) string {
	if m.Credential == "" {
		return ""
	}
	return jujuapi.CredentialTag(m.Credential).String()
}

func (s *session) modelInfo(_ context.Context, p params.Entities) (params.ModelInfoResults, error) {
	out := params.ModelInfoResults{Results: make([]params.ModelInfoResult, len(p.Entities))}
	for i, e := range p.Entities {
		m, err := s.modelFromTag(e.Tag, store.AccessRead)
		if err != nil {
			if t, terr := jujuapi.ParseModelTag(e.Tag); terr == nil && jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
				if rerr := s.redirectFor(t.ID); rerr != nil {
					err = rerr
				}
			}
			out.Results[i].Error = paramsError(err)
			continue
		}
		out.Results[i].Result = s.ctl.info(m, s.modelAccess(m) == store.AccessAdmin, s.identity())
	}
	return out, nil
}

// info renders a model; only a model admin sees every user, others see
// themselves.
func (c *Controller) info(m *store.Model, admin bool, caller string) *params.ModelInfo {
	since := m.Status.Since
	info := &params.ModelInfo{
		Name: m.Name, Type: m.Type, UUID: m.UUID, ControllerUUID: c.UUID(), IsController: m.IsController,
		ProviderType: m.CloudType, DefaultBase: "ubuntu@22.04",
		CloudTag: jujuapi.CloudTag(m.Cloud).String(), CloudRegion: m.Region, CloudCredentialTag: credentialTag(m),
		CloudCredentialValidity: c.credentialValidity(m),
		OwnerTag:                jujuapi.UserTag(m.Owner).String(), Life: m.Life,
		Status:         params.EntityStatus{Status: m.Status.Status, Info: m.Status.Info, Since: &since},
		Users:          []params.ModelUserInfo{},
		Machines:       []params.ModelMachineInfo{},
		SecretBackends: []params.SecretBackendResult{},
		SLA:            &params.ModelSLAInfo{Level: "unsupported", Owner: m.Owner},
		AgentVersion:   &m.AgentVersion,
		Migration:      migrationStatus(m),
	}
	for _, name := range sortedKeys(m.Users) {
		if !admin && name != caller {
			continue
		}
		info.Users = append(info.Users, params.ModelUserInfo{
			ModelTag: jujuapi.ModelTag(m.UUID).String(), UserName: name, DisplayName: c.displayName(name),
			LastConnection: c.lastConnection(name), Access: params.UserAccessPermission(m.Users[name]),
		})
	}
	for _, id := range sortedMachineIDs(m) {
		mc := m.Machines[id]
		info.Machines = append(info.Machines, params.ModelMachineInfo{
			Id: mc.ID, InstanceId: mc.InstanceID, DisplayName: mc.Hostname, Status: mc.AgentStatus.Status,
			Hardware: machineHardwareParams(mc),
		})
	}
	return info
}

// coreCount is the number of cores of a model's machines.
func coreCount(m *store.Model) int64 {
	var n int64
	for _, mc := range m.Machines {
		_, cores, _ := hardwareOf(mc)
		n += int64(cores)
	}
	return n
}

// validModelName is Juju's rule for model names.
var validModelName = regexp.MustCompile(`^[a-z0-9]+[a-z0-9-]*$`)

func (s *session) createModel(ctx context.Context, p params.ModelCreateArgs) (params.ModelInfo, error) {
	if !validModelName.MatchString(p.Name) {
		return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeNotValid, "%q is not a valid name: model names may only contain lowercase letters, digits and hyphens", p.Name)
	}
	owner, err := jujuapi.ParseUserTag(p.OwnerTag)
	if err != nil {
		return params.ModelInfo{}, err
	}
	if owner.ID != s.identity() && !s.isSuperuser() {
		return params.ModelInfo{}, jujuapi.ErrPerm
	}
	if s.cloudAccess() == "" {
		return params.ModelInfo{}, jujuapi.ErrPerm
	}
	if p.CloudTag != "" {
		cloud, err := jujuapi.ParseCloudTag(p.CloudTag)
		if err != nil {
			return params.ModelInfo{}, err
		}
		if cloud.ID != s.ctl.cfg.Cloud {
			return params.ModelInfo{}, jujuapi.NotFoundf("cloud %q", cloud.ID)
		}
	}
	region := p.CloudRegion
	if region == "" {
		region = s.ctl.cfg.Regions[0]
	}
	if !slices.Contains(s.ctl.cfg.Regions, region) {
		return params.ModelInfo{}, jujuapi.NotFoundf("region %q of cloud %q", region, s.ctl.cfg.Cloud)
	}
	credential, err := s.ctl.modelCredential(p.CloudCredentialTag, owner.ID)
	if err != nil {
		return params.ModelInfo{}, err
	}
	m := s.ctl.newModel(p.Name, owner.ID, region)
	m.Credential = credential
	if err := s.ctl.coerceConfig(p.Config); err != nil {
		return params.ModelInfo{}, err
	}
	for k, v := range p.Config {
		if fixedConfig[k] {
			return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeNotValid, "model config %q cannot be set at creation", k)
		}
		if err := checkDevConfig(k, v); err != nil {
			return params.ModelInfo{}, err
		}
	}
	m.Config = s.ctl.composeNewModelConfig(region, p.Config)
	if err := s.ctl.store.CreateModel(ctx, m); err != nil {
		return params.ModelInfo{}, storeErr(err, fmt.Sprintf("model %q for %s", p.Name, owner))
	}
	s.ctl.log.Info("model created", "model", m.Name, "uuid", m.UUID, "owner", m.Owner)
	s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.modelmanager", "model %q created by %s on %s/%s", m.Name, s.identity(), m.Cloud, m.Region)
	if d := s.ctl.cfg.ModelCreateDelay; d > 0 {
		select {
		case <-ctx.Done():
			return params.ModelInfo{}, ctx.Err()
		case <-time.After(d):
		}
	}
	return *s.ctl.info(m, true, s.identity()), nil
}

func (s *session) destroyModels(ctx context.Context, p params.DestroyModelsParams) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Models))}
	for i, d := range p.Models {
		out.Results[i].Error = paramsError(s.destroyModel(ctx, d.ModelTag))
	}
	return out, nil
}

func (s *session) destroyModel(ctx context.Context, tag string) error {
	m, err := s.modelFromTag(tag, store.AccessAdmin)
	if err != nil {
		return err
	}
	if m.IsController {
		return jujuapi.Errorf(jujuapi.CodeNotSupported, "model %q is the controller model: destroy the controller instead", m.Name)
	}
	if err := writable(m); err != nil {
		return err
	}
	if err := blockedIn(m, blockDestroy); err != nil {
		return err
	}
	if m.Life != store.LifeAlive {
		return nil // already dying: destroying again is not an error in Juju
	}
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		if err := blockedIn(m, blockDestroy); err != nil {
			return err
		}
		now := time.Now().UTC()
		m.Life, m.DyingSince = store.LifeDying, now
		m.Status = store.Status{Status: "destroying", Info: "the model is being destroyed", Since: now}
		return nil
	})
	if err != nil {
		return storeErr(err, fmt.Sprintf("model %q", m.UUID))
	}
	s.ctl.log.Info("model dying", "model", m.Name, "uuid", m.UUID)
	s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.modelmanager", "model %q is being destroyed by %s", m.Name, s.identity())
	s.ctl.scheduleRemoval(m.UUID, s.ctl.cfg.ModelDestroyDelay)
	return nil
}

// scheduleRemoval removes a dying model after delay.
func (c *Controller) scheduleRemoval(uuid string, delay time.Duration) {
	t := time.AfterFunc(delay, func() {
		defer c.timers.Delete(uuid)
		select {
		case <-c.closing:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.store.DeleteModel(ctx, uuid); err != nil {
			c.log.Error("cannot remove dying model", "uuid", uuid, "err", err)
			return
		}
		if err := c.logs.Remove(uuid); err != nil {
			c.log.Warn("cannot remove the log of a removed model", "uuid", uuid, "err", err)
		}
		c.log.Info("model removed", "uuid", uuid)
	})
	c.timers.Store(uuid, t)
}

// resumeDyingModels finishes destroying models that were dying when the
// controller stopped.
func (c *Controller) resumeDyingModels() {
	for _, m := range c.store.Models() {
		if m.Life == store.LifeDying {
			c.scheduleRemoval(m.UUID, max(0, c.cfg.ModelDestroyDelay-time.Since(m.DyingSince)))
		}
	}
}

func (s *session) modelStatus(_ context.Context, p params.Entities) (params.ModelStatusResults, error) {
	out := params.ModelStatusResults{Results: make([]params.ModelStatus, len(p.Entities))}
	for i, e := range p.Entities {
		out.Results[i].ModelTag = e.Tag
		// As Juju, a model's status is for its admins.
		m, err := s.modelFromTag(e.Tag, store.AccessAdmin)
		if err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		st := params.ModelStatus{
			ModelTag: e.Tag, Life: m.Life, Type: m.Type, OwnerTag: jujuapi.UserTag(m.Owner).String(),
			HostedMachineCount: len(m.Machines), ApplicationCount: len(m.Applications), UnitCount: countUnits(m),
		}
		for _, id := range sortedMachineIDs(m) {
			mc := m.Machines[id]
			st.Machines = append(st.Machines, params.ModelMachineInfo{Id: mc.ID, InstanceId: mc.InstanceID, Status: mc.AgentStatus.Status, Hardware: machineHardwareParams(mc)})
		}
		out.Results[i] = st
	}
	return out, nil
}

func (s *session) modifyModelAccess(ctx context.Context, p params.ModifyModelAccessRequest) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Changes))}
	for i, ch := range p.Changes {
		out.Results[i].Error = paramsError(s.modifyOne(ctx, ch))
	}
	return out, nil
}

func (s *session) modifyOne(ctx context.Context, ch params.ModifyModelAccess) error {
	m, err := s.modelFromTag(ch.ModelTag, store.AccessAdmin)
	if err != nil {
		return err
	}
	user, err := jujuapi.ParseUserTag(ch.UserTag)
	if err != nil {
		return err
	}
	access := string(ch.Access)
	if accessLevel(access) == 0 {
		return jujuapi.Errorf(jujuapi.CodeNotValid, "%q is not a model access level (read, write, admin)", access)
	}
	if _, ok := s.ctl.store.User(user.ID); !ok && !isExternal(user.ID) {
		return jujuapi.Errorf(jujuapi.CodeUserNotFound, "user %q not found", user.ID)
	}
	if err := writable(m); err != nil {
		return err
	}
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		cur := m.Users[user.ID]
		switch ch.Action {
		case "grant":
			if accessLevel(cur) >= accessLevel(access) {
				return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "user already has %q access or greater", access)
			}
			m.Users[user.ID] = access
		case "revoke":
			// Revoking a level leaves the level below it, as in Juju.
			switch access {
			case store.AccessAdmin:
				m.Users[user.ID] = store.AccessWrite
			case store.AccessWrite:
				m.Users[user.ID] = store.AccessRead
			default:
				delete(m.Users, user.ID)
			}
			if cur == "" {
				return jujuapi.Errorf(jujuapi.CodeNotFound, "user %q has no access to model %q", user.ID, m.Name)
			}
		default:
			return jujuapi.Errorf(jujuapi.CodeNotValid, "unknown action %q (grant or revoke)", ch.Action)
		}
		return nil
	})
	return err
}

// isExternal reports whether a user name belongs to an external identity
// provider ("alice@canonical.com"), which the controller need not know.
func isExternal(name string) bool { return strings.Contains(name, "@") }
