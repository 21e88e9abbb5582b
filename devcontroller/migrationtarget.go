package devcontroller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The MigrationTarget facade (versions 1–3, on /api, superusers only): the
// target side of a migration, called by the source controller.
//
//   - Prechecks refuses a model this controller cannot take, naming the
//     rule: the target's version must be at least the model's and the
//     source controller's; the target must host the model's cloud (same
//     name and type) and region; no model of the same owner and name (nor
//     the same UUID) may exist here; every local user of the model must
//     exist here (users with an "@" are external and always known), and
//     neither the owner nor any user may be one removed here (Juju keeps
//     removed users as "permanently deleted"); a model that uses a secret
//     backend of its controller needs the backend with the same id here
//     (checkIncomingSecretBackend).
//     Juju's MigrationModelInfo carries no cloud, users nor secret
//     backend, so a development controller source adds them
//     (migrationPrecheckArgs); when they are absent those rules are
//     checked by Import.
//   - Import checks every rule again against the whole export, then
//     creates the model in "importing" mode: not listed, not found by
//     ModelInfo, logins to it refused, until Activate. Importing again a
//     model that is still importing replaces it.
//   - Activate makes an importing model a normal one; activating an active
//     model again succeeds.
//   - Abort deletes an importing model; aborting a model that is not here
//     succeeds, aborting an active one fails.

// migrationPrecheckArgs is the argument of MigrationTarget.Prechecks:
// Juju's MigrationModelInfo plus what a development controller needs to
// check every rule before any data moves. A Juju target ignores the extra
// fields.
type migrationPrecheckArgs struct {
	params.MigrationModelInfo
	// Cloud, CloudType and CloudRegion are where the model runs.
	Cloud       string `json:"cloud,omitempty"`
	CloudType   string `json:"cloud-type,omitempty"`
	CloudRegion string `json:"cloud-region,omitempty"`
	// Users names the model's users.
	Users []string `json:"users,omitempty"`
	// SecretBackend is the model's config secret-backend and
	// SecretBackendID the id of that backend on the source.
	SecretBackend   string `json:"secret-backend,omitempty"`
	SecretBackendID string `json:"secret-backend-id,omitempty"`
}

// incoming is what the target checks about a model it is asked to take.
// Empty cloud fields and a nil Users skip those rules.
type incoming struct {
	UUID, Name, Owner               string
	AgentVersion, ControllerVersion string
	Cloud, CloudType, Region        string
	Users                           []string
	SecretBackend, SecretBackendID  string
}

// checkIncoming applies the target's rules to a model arriving by
// migration. Nothing changes.
func (c *Controller) checkIncoming(in incoming) error {
	own, _ := parseVersion(c.cfg.AgentVersion)
	if in.AgentVersion != "" {
		v, err := parseVersion(in.AgentVersion)
		if err != nil {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "model %q: %v", in.Name, err)
		}
		if versionLess(own, v) {
			return jujuapi.Errorf(jujuapi.CodeNotSupported, "target controller version %s is older than the model's %s", c.cfg.AgentVersion, in.AgentVersion)
		}
	}
	if in.ControllerVersion != "" {
		v, err := parseVersion(in.ControllerVersion)
		if err != nil {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "source controller: %v", err)
		}
		if versionLess(own, v) {
			return jujuapi.Errorf(jujuapi.CodeNotSupported, "target controller version %s is older than the source controller's %s", c.cfg.AgentVersion, in.ControllerVersion)
		}
	}
	if in.Cloud != "" || in.CloudType != "" || in.Region != "" {
		if in.Cloud != c.cfg.Cloud || (in.CloudType != "" && in.CloudType != c.cfg.CloudType) ||
			(in.Region != "" && !slices.Contains(c.cfg.Regions, in.Region)) {
			return jujuapi.Errorf(jujuapi.CodeNotSupported, "target controller does not host cloud %q (%s) region %q", in.Cloud, in.CloudType, in.Region)
		}
	}
	for _, m := range c.store.Models() {
		switch {
		case m.UUID == in.UUID && m.MigrationMode != store.MigrationModeImporting:
			// An importing model with the UUID is an earlier attempt that
			// was not aborted: Import replaces it.
			return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "model %q (%s) already exists on the target", m.Name, m.UUID)
		case m.UUID != in.UUID && m.Owner == in.Owner && m.Name == in.Name:
			return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "a model named %q owned by %q already exists on the target", in.Name, in.Owner)
		}
	}
	// Juju creates the model, giving it to its owner, before it adds the
	// other users.
	if _, deleted := c.store.DeletedUser(in.Owner); deleted {
		return fmt.Errorf("granting admin permission to the owner: user %q is permanently deleted", in.Owner)
	}
	users := slices.Clone(in.Users)
	sort.Strings(users)
	for _, u := range users {
		if _, deleted := c.store.DeletedUser(u); deleted {
			return fmt.Errorf("granting access to model user %q: user %q is permanently deleted", u, u)
		}
		if _, ok := c.store.User(u); !ok && !isExternal(u) {
			return jujuapi.Errorf(jujuapi.CodeUserNotFound, "model user %q is not known to the target controller", u)
		}
	}
	if _, err := c.checkIncomingSecretBackend(in.SecretBackend, in.SecretBackendID); err != nil {
		return err
	}
	return nil
}

// versionLess reports whether a < b.
func versionLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func (s *session) requireSuperuser() error {
	if !s.isSuperuser() {
		return jujuapi.ErrPerm
	}
	return nil
}

func (s *session) migrationPrechecks(_ context.Context, p migrationPrecheckArgs) (struct{}, error) {
	if err := s.requireSuperuser(); err != nil {
		return struct{}{}, err
	}
	owner, err := jujuapi.ParseUserTag(p.OwnerTag)
	if err != nil {
		return struct{}{}, err
	}
	if p.UUID == "" || p.Name == "" {
		return struct{}{}, jujuapi.Errorf(jujuapi.CodeBadRequest, "prechecks need the model's uuid and name")
	}
	err = s.ctl.checkIncoming(incoming{
		UUID: p.UUID, Name: p.Name, Owner: owner.ID,
		AgentVersion: p.AgentVersion, ControllerVersion: p.ControllerAgentVersion,
		Cloud: p.Cloud, CloudType: p.CloudType, Region: p.CloudRegion, Users: p.Users,
		SecretBackend: p.SecretBackend, SecretBackendID: p.SecretBackendID,
	})
	return struct{}{}, err
}

func (s *session) migrationImport(ctx context.Context, p params.SerializedModel) (struct{}, error) {
	if err := s.requireSuperuser(); err != nil {
		return struct{}{}, err
	}
	m, err := importModel(p.Bytes)
	if err != nil {
		return struct{}{}, err
	}
	if m.Type != "iaas" {
		return struct{}{}, jujuapi.Errorf(jujuapi.CodeNotSupported, "model %q is of type %q: this controller hosts iaas models only", m.Name, m.Type)
	}
	backendID, err := exportedSecretBackendID(p.Bytes)
	if err != nil {
		return struct{}{}, err
	}
	backend, _ := m.Config[secretBackendKey].(string)
	in := incoming{
		UUID: m.UUID, Name: m.Name, Owner: m.Owner, AgentVersion: m.AgentVersion,
		Cloud: m.Cloud, CloudType: m.CloudType, Region: m.Region, Users: sortedKeys(m.Users),
		SecretBackend: backend, SecretBackendID: backendID,
	}
	if err := s.ctl.checkIncoming(in); err != nil {
		return struct{}{}, err
	}
	// As Juju does, the model names the backend as this controller does.
	if name, err := s.ctl.checkIncomingSecretBackend(backend, backendID); err != nil {
		return struct{}{}, err
	} else if name != "" {
		m.Config[secretBackendKey] = name
	}
	if err := s.ctl.importCredential(ctx, m, p.Bytes); err != nil {
		return struct{}{}, err
	}
	archives, err := exportedArchives(p.Bytes)
	if err != nil {
		return struct{}{}, err
	}
	for sha, data := range archives {
		if _, err := s.ctl.writeCharmArchive(data); err != nil {
			return struct{}{}, fmt.Errorf("import model %q: charm archive %s: %w", m.Name, sha, err)
		}
	}
	m.MigrationMode = store.MigrationModeImporting
	// A source that ran no agents sent no agent passwords: the model's
	// agents start here with new ones.
	fillAgentPasswords(m)
	if err := s.ctl.store.PutImportingModel(ctx, m); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			// A model appeared since the check: say which rule it breaks.
			if cerr := s.ctl.checkIncoming(in); cerr != nil {
				return struct{}{}, cerr
			}
		}
		return struct{}{}, fmt.Errorf("import model %q: %w", m.Name, err)
	}
	s.ctl.log.Info("model imported, awaiting activation", "model", m.Name, "uuid", m.UUID, "owner", m.Owner,
		"machines", len(m.Machines), "applications", len(m.Applications), "units", countUnits(m))
	return struct{}{}, nil
}

// targetModel parses a model tag for the MigrationTarget calls.
func (s *session) targetModel(tag string) (string, error) {
	if err := s.requireSuperuser(); err != nil {
		return "", err
	}
	t, err := jujuapi.ParseModelTag(tag)
	if err != nil {
		return "", err
	}
	return t.ID, nil
}

func (s *session) migrationActivate(ctx context.Context, p params.ActivateModelArgs) (struct{}, error) {
	uuid, err := s.targetModel(p.ModelTag)
	if err != nil {
		return struct{}{}, err
	}
	m, ok := s.ctl.store.Model(uuid)
	switch {
	case !ok:
		return struct{}{}, modelNotFound(uuid)
	case m.MigrationMode == store.MigrationModeNone:
		return struct{}{}, nil // activated already
	case m.MigrationMode != store.MigrationModeImporting:
		return struct{}{}, jujuapi.Errorf(jujuapi.CodeNotValid, "model %q is %s, not importing: it cannot be activated", m.Name, m.MigrationMode)
	}
	_, err = s.ctl.store.ActivateModel(ctx, uuid, func(m *store.Model) error {
		m.MigrationMode = store.MigrationModeNone
		m.Status = store.Status{Status: "available", Since: time.Now().UTC()}
		return nil
	})
	if errors.Is(err, store.ErrNotImporting) {
		return struct{}{}, nil // a concurrent Activate won
	}
	if err != nil {
		return struct{}{}, storeErr(err, fmt.Sprintf("model %q", uuid))
	}
	source, _ := jujuapi.ParseControllerTag(p.ControllerTag)
	s.ctl.log.Info("migrated model activated", "model", m.Name, "uuid", uuid, "from-controller", source.ID, "from-alias", p.ControllerAlias)
	from := source.ID
	if p.ControllerAlias != "" {
		from = fmt.Sprintf("%q (%s)", p.ControllerAlias, source.ID)
	}
	s.ctl.modelEvent(uuid, logInfo, "juju.apiserver.migrationtarget", "model %q activated here, migrated from controller %s", m.Name, from)
	return struct{}{}, nil
}

func (s *session) migrationAbort(ctx context.Context, p params.ModelArgs) (struct{}, error) {
	uuid, err := s.targetModel(p.ModelTag)
	if err != nil {
		return struct{}{}, err
	}
	err = s.ctl.store.DeleteImportingModel(ctx, uuid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return struct{}{}, nil // nothing was imported, or aborted already
	case errors.Is(err, store.ErrNotImporting):
		return struct{}{}, jujuapi.Errorf(jujuapi.CodeNotValid, "model %q is not being imported: only an importing model can be aborted", uuid)
	case err != nil:
		return struct{}{}, fmt.Errorf("abort import of model %q: %w", uuid, err)
	}
	s.ctl.log.Info("model import aborted", "uuid", uuid)
	s.ctl.transferred.Delete(uuid)
	if err := s.ctl.logs.Remove(uuid); err != nil {
		s.ctl.log.Warn("cannot remove the log of an aborted import", "uuid", uuid, "err", err)
	}
	return struct{}{}, nil
}

// migrationLatestLogTime answers the time of the newest log record
// transferred for the model (zero when none came), from which the source
// resumes an interrupted transfer.
func (s *session) migrationLatestLogTime(_ context.Context, p params.ModelArgs) (time.Time, error) {
	uuid, err := s.targetModel(p.ModelTag)
	if err != nil {
		return time.Time{}, err
	}
	if _, ok := s.ctl.store.Model(uuid); !ok {
		return time.Time{}, modelNotFound(uuid)
	}
	return s.ctl.latestTransferred(uuid), nil
}

// migrationAdoptResources has nothing to adopt: machines are simulated.
func (s *session) migrationAdoptResources(_ context.Context, p params.AdoptResourcesArgs) (struct{}, error) {
	uuid, err := s.targetModel(p.ModelTag)
	if err != nil {
		return struct{}{}, err
	}
	if _, ok := s.ctl.store.Model(uuid); !ok {
		return struct{}{}, modelNotFound(uuid)
	}
	return struct{}{}, nil
}

// migrationCheckMachines finds no discrepancy: the simulated provider
// always agrees with the model.
func (s *session) migrationCheckMachines(_ context.Context, p params.ModelArgs) (params.ErrorResults, error) {
	uuid, err := s.targetModel(p.ModelTag)
	if err != nil {
		return params.ErrorResults{}, err
	}
	if _, ok := s.ctl.store.Model(uuid); !ok {
		return params.ErrorResults{}, modelNotFound(uuid)
	}
	return params.ErrorResults{Results: []params.ErrorResult{}}, nil
}

func (s *session) migrationCACert(context.Context) (params.BytesResult, error) {
	if err := s.requireSuperuser(); err != nil {
		return params.BytesResult{}, err
	}
	return params.BytesResult{Result: s.ctl.CACertPEM()}, nil
}

// importCredential adds the credential an incoming model uses, if the
// export carries it and this controller lacks it, as Juju's import does.
func (c *Controller) importCredential(ctx context.Context, m *store.Model, raw []byte) error {
	xc, err := exportedCredentialOf(raw)
	if err != nil || xc == nil {
		return err
	}
	ref := credRef{m.Cloud, xc.Owner, xc.Name}
	if _, ok := parseCredentialID(ref.id()); !ok || ref.tagID() != m.Credential {
		return badExport("the model's credential %q is not the one it uses (%q)", ref.id(), m.Credential)
	}
	if _, ok := c.store.Credential(ref.id()); ok {
		return nil
	}
	_, err = c.store.UpdateCredential(ctx, ref.cloud, ref.owner, ref.name, func(cr *store.Credential, exists bool) error {
		if !exists {
			now := time.Now().UTC()
			cr.AuthType, cr.Attributes, cr.CreatedAt, cr.UpdatedAt = xc.AuthType, xc.Attributes, now, now
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add the cloud credential of model %q: %w", m.Name, err)
	}
	c.log.Info("cloud credential added with a migrated model", "credential", ref.id(), "model", m.Name)
	return nil
}
