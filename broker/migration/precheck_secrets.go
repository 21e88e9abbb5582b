package migration

import (
	"context"
	"fmt"
	"strings"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// The SecretBackends facade's list call, as Juju 3.5 serves it on the
// controller connection.
type listSecretBackendsArgs struct {
	Names  []string `json:"names"`
	Reveal bool     `json:"reveal"`
}

type secretBackendResult struct {
	Result struct {
		Name        string `json:"name"`
		BackendType string `json:"backend-type"`
	} `json:"result"`
	ID    string         `json:"id"`
	Error *jujuapi.Error `json:"error,omitempty"`
}

type listSecretBackendsResults struct {
	Results []secretBackendResult `json:"results"`
}

// builtinBackend reports whether a model's secret-backend setting names
// one every controller has.
func builtinBackend(name string) bool {
	return name == "" || name == "auto" || name == "internal"
}

// checkSecretBackend refuses a model whose secret backend the target
// lacks: Juju matches a migrated model's backend by id, so the fix is to
// add it on the target with the source's id (add-secret-backend
// --import-id), which the refusal gives.
func (m *Manager) checkSecretBackend(ctx context.Context, model *db.Model, src, target Controller) error {
	if m.modelConfig == nil {
		return nil
	}
	cfg, err := m.modelConfig(ctx, model.Controller.Name, model.UUID)
	if err != nil {
		return fmt.Errorf("read the config of model %q on controller %q: %w", model.Name, model.Controller.Name, err)
	}
	name, _ := cfg["secret-backend"].(string)
	if builtinBackend(name) {
		return nil
	}
	var srcRes listSecretBackendsResults
	if err := src.Call(ctx, "SecretBackends", 1, "ListSecretBackends", listSecretBackendsArgs{Names: []string{name}}, &srcRes); err != nil {
		return fmt.Errorf("list the secret backends of controller %q: %w", model.Controller.Name, err)
	}
	var id, kind string
	for _, r := range srcRes.Results {
		if r.Error == nil && r.Result.Name == name {
			id, kind = r.ID, r.Result.BackendType
		}
	}
	if id == "" {
		return refuse("model %q uses secret backend %q, which its controller %q does not list", model.Name, name, model.Controller.Name)
	}
	var tgtRes listSecretBackendsResults
	if err := target.Call(ctx, "SecretBackends", 1, "ListSecretBackends", listSecretBackendsArgs{}, &tgtRes); err != nil {
		return fmt.Errorf("list the secret backends of the target: %w", err)
	}
	var names []string
	for _, r := range tgtRes.Results {
		if r.Error == nil && r.ID == id {
			return nil
		}
		if r.Error == nil {
			names = append(names, r.Result.Name)
		}
	}
	have := "none but " + strings.Join(names, ", ")
	for _, n := range names {
		if n == name {
			have = fmt.Sprintf("a backend named %q, but with another id", name)
		}
	}
	return refuse("model %q uses secret backend %q (%s, id %s), which the target lacks (it has %s): add it on the target with the same id, "+
		"e.g. juju add-secret-backend %s %s <its config, as juju show-secret-backend %s --reveal shows it on %q> --import-id %s, then migrate again",
		model.Name, name, kind, id, have, name, kind, name, model.Controller.Name, id)
}

// checkCredential refuses a model whose cloud credential is not its
// owner's: the migration guide has the credential belong to the owner.
func checkCredential(model *db.Model) error {
	if model.Credential == "" {
		return nil
	}
	parts := strings.SplitN(model.Credential, "/", 3)
	if len(parts) == 3 && parts[1] != model.Owner {
		return refuse("model %q uses cloud credential %q of %s, not of its owner %s: give the model a credential of its owner "+
			"(juju add-credential as %s, then juju set-credential), then migrate again", model.Name, parts[2], parts[1], model.Owner, model.Owner)
	}
	return nil
}
