package devcontroller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The SecretBackends facade (version 1, on /api), as a Juju 3.5 controller
// serves it: the controller's secret backends, which `juju
// add-secret-backend`, `secret-backends`, `show-secret-backend`,
// `update-secret-backend` and `remove-secret-backend` manage.
//
//   - Superusers add, update and remove backends; any user lists them,
//     but only a superuser may ask for the sensitive config (reveal).
//   - The types are Juju's "vault" and "kubernetes". Their config is kept
//     as given; vault's is checked as Juju checks it (endpoint is required,
//     client-cert and client-key go together, endpoint cannot change), and
//     no backend is ever contacted: every backend's status is "active".
//   - The built-in backend "internal" (type "controller", id the
//     controller's UUID) is always listed; it and "auto" are reserved
//     names. A backend added with an id (`add-secret-backend --import-id`)
//     keeps it; otherwise it gets a new one, 24 hex digits as Juju's are.
//
// Model config secret-backend names the backend a model uses: "auto" (the
// default), "internal", or a backend of the controller. A migrating model
// that uses a backend must find one with the same id on the target (see
// checkIncomingSecretBackend), as Juju's model import requires.

// Backend names with a fixed meaning, and the built-in backend's type.
const (
	secretBackendAuto     = "auto"
	secretBackendInternal = "internal"
	internalBackendType   = "controller"
	secretBackendKey      = "secret-backend"
)

// The backend types a client may add.
const (
	backendTypeVault      = "vault"
	backendTypeKubernetes = "kubernetes"
)

// vaultSensitive are vault config keys a list shows only on reveal.
var vaultSensitive = []string{"token", "client-key"}

// vaultStringKeys are the vault config keys that, when present, must be
// strings (the schema of Juju's vault provider).
var vaultStringKeys = []string{"endpoint", "token", "namespace", "ca-cert", "client-cert", "client-key", "tls-server-name"}

// minTokenRotateInterval is the shortest token rotation Juju accepts.
const minTokenRotateInterval = time.Hour

// The facade's arguments and results, with Juju's JSON names (rpc/params
// secrets.go). params.SecretBackend and params.SecretBackendResult are
// shared with ModelManager.ModelInfo.

// addSecretBackendArgs is the argument of AddSecretBackends.
type addSecretBackendArgs struct {
	Args []addSecretBackendArg `json:"args"`
}

// addSecretBackendArg is one backend to add; ID, when set, is the id it
// keeps (imported from another controller).
type addSecretBackendArg struct {
	params.SecretBackend
	ID string `json:"id,omitempty"`
}

// listSecretBackendsArgs is the argument of ListSecretBackends: the names
// wanted (all when empty) and whether to include sensitive config.
type listSecretBackendsArgs struct {
	Names  []string `json:"names"`
	Reveal bool     `json:"reveal"`
}

// listSecretBackendsResults is the result of ListSecretBackends.
type listSecretBackendsResults struct {
	Results []params.SecretBackendResult `json:"results"`
}

// updateSecretBackendArgs is the argument of UpdateSecretBackends.
type updateSecretBackendArgs struct {
	Args []updateSecretBackendArg `json:"args"`
}

// updateSecretBackendArg changes the backend Name: its name (NameChange),
// token rotation (0 clears it), config (merged) and config keys to reset.
// Force skips the reachability check, which this controller never makes.
type updateSecretBackendArg struct {
	Name                string         `json:"name"`
	NameChange          *string        `json:"name-change,omitempty"`
	TokenRotateInterval *time.Duration `json:"token-rotate-interval"`
	Config              map[string]any `json:"config"`
	Reset               []string       `json:"reset"`
	Force               bool           `json:"force,omitempty"`
}

// removeSecretBackendArgs is the argument of RemoveSecretBackends.
type removeSecretBackendArgs struct {
	Args []removeSecretBackendArg `json:"args"`
}

// removeSecretBackendArg names a backend to remove. Force would remove a
// backend that holds secrets; none here does.
type removeSecretBackendArg struct {
	Name  string `json:"name"`
	Force bool   `json:"force,omitempty"`
}

func (s *session) addSecretBackends(ctx context.Context, p addSecretBackendArgs) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Args))}
	if err := s.requireSuperuser(); err != nil {
		return out, err
	}
	for i, a := range p.Args {
		out.Results[i].Error = paramsError(s.addSecretBackend(ctx, a))
	}
	return out, nil
}

func (s *session) addSecretBackend(ctx context.Context, a addSecretBackendArg) error {
	if err := checkBackendName(a.Name); err != nil {
		return err
	}
	if err := checkBackendType(a.BackendType); err != nil {
		return err
	}
	cfg := maps.Clone(a.Config)
	if cfg == nil {
		cfg = map[string]any{}
	}
	if err := checkBackendConfig(a.BackendType, nil, cfg); err != nil {
		return err
	}
	if err := checkTokenRotate(a.BackendType, a.TokenRotateInterval); err != nil {
		return err
	}
	id := a.ID
	if id == "" {
		id = newBackendID()
	} else if id == s.ctl.UUID() {
		// The built-in backend's id.
		return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "secret backend with ID %q already exists", a.ID)
	}
	now := time.Now().UTC()
	b := &store.SecretBackend{
		ID: id, Name: a.Name, BackendType: a.BackendType, Config: cfg, CreatedAt: now, UpdatedAt: now,
	}
	if a.TokenRotateInterval != nil && *a.TokenRotateInterval > 0 {
		b.TokenRotateInterval = a.TokenRotateInterval
	}
	if err := s.ctl.store.CreateSecretBackend(ctx, b); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			// Juju words a clash of names and a clash of ids alike,
			// naming the id asked for ("" when none was).
			return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "secret backend with ID %q already exists", a.ID)
		}
		return fmt.Errorf("add secret backend %q: %w", a.Name, err)
	}
	s.ctl.log.Info("secret backend added", "backend", b, "imported-id", a.ID != "", "by", s.identity())
	return nil
}

func (s *session) listSecretBackends(_ context.Context, p listSecretBackendsArgs) (listSecretBackendsResults, error) {
	if p.Reveal {
		if err := s.requireSuperuser(); err != nil {
			return listSecretBackendsResults{}, err
		}
	}
	all := append([]*store.SecretBackend{{ID: s.ctl.UUID(), Name: secretBackendInternal, BackendType: internalBackendType}},
		s.ctl.store.SecretBackends()...)
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	out := listSecretBackendsResults{Results: []params.SecretBackendResult{}}
	for _, b := range all {
		if len(p.Names) > 0 && !slices.Contains(p.Names, b.Name) {
			continue
		}
		cfg := maps.Clone(b.Config)
		if cfg == nil {
			cfg = map[string]any{}
		}
		if b.BackendType == backendTypeVault && !p.Reveal {
			for _, k := range vaultSensitive {
				delete(cfg, k)
			}
		}
		out.Results = append(out.Results, params.SecretBackendResult{
			Result: params.SecretBackend{Name: b.Name, BackendType: b.BackendType, TokenRotateInterval: b.TokenRotateInterval, Config: cfg},
			ID:     b.ID, NumSecrets: 0, Status: "active",
		})
	}
	return out, nil
}

func (s *session) updateSecretBackends(ctx context.Context, p updateSecretBackendArgs) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Args))}
	if err := s.requireSuperuser(); err != nil {
		return out, err
	}
	for i, a := range p.Args {
		out.Results[i].Error = paramsError(s.updateSecretBackend(ctx, a))
	}
	return out, nil
}

func (s *session) updateSecretBackend(ctx context.Context, a updateSecretBackendArg) error {
	if err := checkBackendName(a.Name); err != nil {
		return err
	}
	if a.NameChange != nil {
		if err := checkBackendName(*a.NameChange); err != nil {
			return err
		}
	}
	existing, ok := s.ctl.store.SecretBackendByName(a.Name)
	if !ok {
		return jujuapi.NotFoundf("secret backend %q", a.Name)
	}
	cfg := maps.Clone(existing.Config)
	if cfg == nil {
		cfg = map[string]any{}
	}
	maps.Copy(cfg, a.Config)
	for _, k := range a.Reset {
		delete(cfg, k)
	}
	if err := checkBackendConfig(existing.BackendType, existing.Config, cfg); err != nil {
		return err
	}
	if err := checkTokenRotate(existing.BackendType, a.TokenRotateInterval); err != nil {
		return err
	}
	b, err := s.ctl.store.UpdateSecretBackend(ctx, existing.ID, func(b *store.SecretBackend) error {
		if a.NameChange != nil {
			b.Name = *a.NameChange
		}
		if a.TokenRotateInterval != nil {
			b.TokenRotateInterval = nil
			if *a.TokenRotateInterval > 0 {
				b.TokenRotateInterval = a.TokenRotateInterval
			}
		}
		b.Config, b.UpdatedAt = cfg, time.Now().UTC()
		return nil
	})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "secret backend %q already exists", *a.NameChange)
	case errors.Is(err, store.ErrNotFound):
		return jujuapi.NotFoundf("secret backend %q", a.Name) // removed meanwhile
	case err != nil:
		return fmt.Errorf("update secret backend %q: %w", a.Name, err)
	}
	s.ctl.log.Info("secret backend updated", "backend", b, "was", a.Name,
		"config-keys-set", sortedKeys(a.Config), "config-keys-reset", a.Reset, "by", s.identity())
	return nil
}

func (s *session) removeSecretBackends(ctx context.Context, p removeSecretBackendArgs) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Args))}
	if err := s.requireSuperuser(); err != nil {
		return out, err
	}
	for i, a := range p.Args {
		out.Results[i].Error = paramsError(s.removeSecretBackend(ctx, a))
	}
	return out, nil
}

// removeSecretBackend removes a backend; removing one that is not there
// succeeds, as in Juju. As in Juju, models whose secret-backend names it
// keep the setting.
func (s *session) removeSecretBackend(ctx context.Context, a removeSecretBackendArg) error {
	if err := checkBackendName(a.Name); err != nil {
		return err
	}
	b, ok := s.ctl.store.SecretBackendByName(a.Name)
	if !ok {
		return nil
	}
	err := s.ctl.store.DeleteSecretBackend(ctx, b.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("remove secret backend %q: %w", a.Name, err)
	}
	s.ctl.log.Info("secret backend removed", "backend", b, "by", s.identity())
	return nil
}

// checkBackendName refuses an empty name and the reserved ones.
func checkBackendName(name string) error {
	switch name {
	case "":
		return jujuapi.Errorf(jujuapi.CodeNotValid, "missing backend name not valid")
	case secretBackendInternal, secretBackendAuto:
		return jujuapi.Errorf(jujuapi.CodeNotValid, "backend %q not valid", name)
	}
	return nil
}

// checkBackendType refuses a type a client cannot add.
func checkBackendType(t string) error {
	switch t {
	case backendTypeVault, backendTypeKubernetes:
		return nil
	case internalBackendType:
		return jujuapi.Errorf(jujuapi.CodeNotSupported, "creating backend provider type %q: the controller's only backend of this type is %q", t, secretBackendInternal)
	}
	return jujuapi.Errorf(jujuapi.CodeNotFound, "creating backend provider type %q: no registered provider for %q", t, t)
}

// checkBackendConfig checks a backend's new config (and, for an update,
// what changed from old) as Juju's provider does. Kubernetes config is
// not checked.
func checkBackendConfig(backendType string, old, cfg map[string]any) error {
	if backendType != backendTypeVault {
		return nil
	}
	invalid := func(code, format string, args ...any) error {
		return jujuapi.Errorf(code, "invalid config for provider %q: %s", backendType, fmt.Sprintf(format, args...))
	}
	for _, k := range vaultStringKeys {
		v, present := cfg[k]
		switch {
		case !present && k == "endpoint":
			return invalid("", "endpoint: expected string, got nothing")
		case !present:
		case v == nil:
			return invalid("", "%s: expected string, got nothing", k)
		default:
			if _, ok := v.(string); !ok {
				return invalid("", "%s: expected string, got %T(%#v)", k, v, v)
			}
		}
	}
	if _, err := url.Parse(cfg["endpoint"].(string)); err != nil {
		return invalid("", "%v", err)
	}
	cert, _ := cfg["client-cert"].(string)
	key, _ := cfg["client-key"].(string)
	switch {
	case cert != "" && key == "":
		return invalid(jujuapi.CodeNotValid, "vault config missing client key not valid")
	case cert == "" && key != "":
		return invalid(jujuapi.CodeNotValid, "vault config missing client certificate not valid")
	}
	if old != nil && old["endpoint"] != cfg["endpoint"] {
		return invalid("", "cannot change immutable field %q", "endpoint")
	}
	return nil
}

// checkTokenRotate checks a token rotation interval: only vault rotates
// tokens, at most once an hour.
func checkTokenRotate(backendType string, d *time.Duration) error {
	if d == nil || *d <= 0 {
		return nil
	}
	if backendType != backendTypeVault {
		return jujuapi.Errorf(jujuapi.CodeNotSupported, "token refresh on secret backend of type %q not supported", backendType)
	}
	if *d < minTokenRotateInterval {
		return jujuapi.Errorf(jujuapi.CodeNotValid, "token rotate interval %q less than 1h not valid", d.String())
	}
	return nil
}

// newBackendID returns a new backend id: 24 hex digits, as Juju's are
// (never UUID-shaped: the Juju client takes a UUID for a built-in
// backend's id).
func newBackendID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// checkSecretBackendSetting checks a model config secret-backend being
// set: "auto", "internal" or the name of a backend of the controller, as
// Juju's ModelConfig.ModelSet does.
func (c *Controller) checkSecretBackendSetting(cfg map[string]any) error {
	v, ok := cfg[secretBackendKey]
	if !ok {
		return nil
	}
	name, ok := v.(string)
	switch {
	case !ok:
		return jujuapi.Errorf(jujuapi.CodeNotValid, "%q config value is not a string", secretBackendKey)
	case name == "":
		return jujuapi.Errorf(jujuapi.CodeNotValid, "empty %q config value not valid", secretBackendKey)
	case name == secretBackendAuto || name == secretBackendInternal:
		return nil
	}
	if _, ok := c.store.SecretBackendByName(name); !ok {
		return jujuapi.NotFoundf("secret backend %q", name)
	}
	return nil
}

// modelSecretBackend names the backend model m uses (its config
// secret-backend, "" when unset) and, for a backend of the controller,
// its id ("" for "auto", "internal", or a name no backend has).
func (c *Controller) modelSecretBackend(m *store.Model) (name, id string) {
	name, _ = m.Config[secretBackendKey].(string)
	if name == "" || name == secretBackendAuto || name == secretBackendInternal {
		return name, ""
	}
	if b, ok := c.store.SecretBackendByName(name); ok {
		return name, b.ID
	}
	return name, ""
}

// checkIncomingSecretBackend checks that this controller has the backend
// a model arriving by migration uses, as Juju's model import does: by id,
// which the export carries. It returns the backend's name here ("" when
// the model uses none of the controller's), which the model takes.
func (c *Controller) checkIncomingSecretBackend(name, id string) (string, error) {
	if name == "" || name == secretBackendAuto || name == secretBackendInternal {
		return "", nil
	}
	if id == "" {
		return "", jujuapi.NotFoundf("secret backend: secret backend config %q in model export", name)
	}
	b, ok := c.store.SecretBackend(id)
	if !ok {
		return "", jujuapi.NotFoundf("secret backend: cannot load secret backend %q: secret backend %q", id, id)
	}
	return b.Name, nil
}

// exportedSecretBackendID reads the id of the secret backend an export's
// model uses ("" when it names none).
func exportedSecretBackendID(raw []byte) (string, error) {
	var doc struct {
		Model struct {
			SecretBackendID string `json:"secret-backend-id"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", badExport("%v", err)
	}
	return doc.Model.SecretBackendID, nil
}
