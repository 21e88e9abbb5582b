package devcontroller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// exportVersion is the version of the model export format this controller
// writes and reads.
const exportVersion = 1

// modelExport is the model description a development controller sends in
// MigrationTarget.Import (SerializedModel.bytes): its own format, not
// Juju's, so only another development controller can import it. It is a
// JSON object
//
//	{"version": 1, "model": {...}}
//
// where "version" is exportVersion (a target refuses versions it does not
// know) and "model" holds, with timestamps in RFC 3339:
//
//	uuid, name, owner (user name), type ("iaas"), cloud, cloud-type, region,
//	credential, agent-version, created-at,
//	status           {status, info, since}: the model's status before the
//	                 migration started,
//	config           {key: value}: the settings made on the model (not the
//	                 defaults every model has),
//	users            [{name, access}], access being admin, write or read;
//	                 names with an "@" are external users,
//	machines         [{id, base {name, channel}, instance-id, hostname,
//	                 address, constraints, agent-status, instance-status,
//	                 created-at, agent-password}], sorted by id,
//	next-machine-id  the id the next machine gets,
//	applications     [{name, charm-url, channel, revision, base, config,
//	                 status, created-at, next-unit-id,
//	                 units [{name, machine, leader, agent-status,
//	                 workload-status, agent-password}], constraints}],
//	                 sorted by name, units by name,
//	constraints      the model's constraints (Juju's JSON names),
//	blocks           {type: {id, message}}: the blocks switched on,
//	annotations      {tag: {key: value}},
//	cloud-credential {name, owner, auth-type, attributes}: the model's
//	                 credential, which the target adds if it lacks it,
//	charms           [{url, sha256, size, uploaded-at, info, archive}]: the
//	                 charms uploaded to the model, what their archives say
//	                 (info) and the archives (base64),
//	charm-revisions  {url without revision: next revision},
//	relations        [{id, key, endpoints [{application, name, role,
//	                 interface, optional, limit, scope}], status,
//	                 created-at}], next-relation-id,
//	secret-backend-id the id of the secret backend that config
//	                 secret-backend names, when it names one of the
//	                 source's backends.
//
// The last nine (and applications' constraints, exposed,
// exposed-endpoints and trust) are optional: a target takes an export
// without them. Charm archives travel inside the export, so a model whose
// charms are larger than what the target takes in one frame
// (--max-frame-size) cannot migrate: the migration aborts in IMPORT.
//
// Statuses are {status, info, since}. Everything a client can see of the
// model travels, so that it looks the same on the target, and so do the
// agents' passwords (agent-password, see agents.go), so that the agents log
// in to the target with the credentials they have; the migration's own
// record (with the target's credentials) does not.
type modelExport struct {
	Version int             `json:"version"`
	Model   exportedModelV1 `json:"model"`
}

type exportedModelV1 struct {
	UUID           string                       `json:"uuid"`
	Name           string                       `json:"name"`
	Owner          string                       `json:"owner"`
	Type           string                       `json:"type"`
	Cloud          string                       `json:"cloud"`
	CloudType      string                       `json:"cloud-type"`
	Region         string                       `json:"region"`
	Credential     string                       `json:"credential,omitempty"`
	AgentVersion   string                       `json:"agent-version"`
	CreatedAt      time.Time                    `json:"created-at"`
	Status         store.Status                 `json:"status"`
	Config         map[string]any               `json:"config"`
	Users          []exportedUser               `json:"users"`
	Machines       []*store.Machine             `json:"machines"`
	NextMachineID  int                          `json:"next-machine-id"`
	Applications   []exportedApplication        `json:"applications"`
	Constraints    params.Constraints           `json:"constraints,omitzero"`
	Blocks         map[string]store.Block       `json:"blocks,omitempty"`
	Annotations    map[string]map[string]string `json:"annotations,omitempty"`
	CloudCred      *exportedCredential          `json:"cloud-credential,omitempty"`
	Charms         []exportedCharm              `json:"charms,omitempty"`
	CharmRevisions map[string]int               `json:"charm-revisions,omitempty"`
	Relations      []*store.Relation            `json:"relations,omitempty"`
	NextRelationID int                          `json:"next-relation-id,omitempty"`
	// SecretBackendID is the id of the backend the model's config
	// secret-backend names, as Juju's export carries it.
	SecretBackendID string `json:"secret-backend-id,omitempty"`
}

// exportedCharm is an uploaded charm and its archive.
type exportedCharm struct {
	store.Charm
	Archive []byte `json:"archive"`
}

// exportedCredential is a model's cloud credential, secrets and all, as
// Juju's model export carries it.
type exportedCredential struct {
	Name       string            `json:"name"`
	Owner      string            `json:"owner"`
	AuthType   string            `json:"auth-type"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

type exportedUser struct {
	Name   string `json:"name"`
	Access string `json:"access"`
}

type exportedApplication struct {
	Name             string                           `json:"name"`
	CharmURL         string                           `json:"charm-url"`
	Channel          string                           `json:"channel,omitempty"`
	Revision         int                              `json:"revision"`
	Base             store.Base                       `json:"base"`
	Config           map[string]any                   `json:"config,omitempty"`
	Status           store.Status                     `json:"status"`
	CreatedAt        time.Time                        `json:"created-at"`
	NextUnitID       int                              `json:"next-unit-id"`
	Units            []*store.Unit                    `json:"units"`
	Constraints      params.Constraints               `json:"constraints,omitzero"`
	Exposed          bool                             `json:"exposed,omitempty"`
	ExposedEndpoints map[string]store.ExposedEndpoint `json:"exposed-endpoints,omitempty"`
	Trust            bool                             `json:"trust,omitempty"`
}

// exportModel writes m in the export format. status is the model status to
// record (the one it had before the migration).
func exportModel(m *store.Model, status store.Status) ([]byte, error) {
	return exportModelWith(m, status, nil, nil, "")
}

// exportModelWith is exportModel with the model's credential, its
// charms' archives (by SHA256) and the id of its secret backend.
func exportModelWith(m *store.Model, status store.Status, cred *store.Credential, archives map[string][]byte, secretBackendID string) ([]byte, error) {
	x := exportedModelV1{
		UUID: m.UUID, Name: m.Name, Owner: m.Owner, Type: m.Type,
		Cloud: m.Cloud, CloudType: m.CloudType, Region: m.Region, Credential: m.Credential,
		AgentVersion: m.AgentVersion, CreatedAt: m.CreatedAt, Status: status,
		Config: m.Config, NextMachineID: m.NextMachineID,
		Users: []exportedUser{}, Machines: []*store.Machine{}, Applications: []exportedApplication{},
		Constraints: m.Constraints, Blocks: m.Blocks, Annotations: m.Annotations,
		CharmRevisions: m.CharmRevisions, Relations: m.Relations, NextRelationID: m.NextRelationID,
		SecretBackendID: secretBackendID,
	}
	for _, url := range sortedKeys(m.Charms) {
		ch := m.Charms[url]
		x.Charms = append(x.Charms, exportedCharm{Charm: *ch, Archive: archives[ch.SHA256]})
	}
	if cred != nil {
		x.CloudCred = &exportedCredential{Name: cred.Name, Owner: cred.Owner, AuthType: cred.AuthType, Attributes: cred.Attributes}
	}
	if x.Config == nil {
		x.Config = map[string]any{}
	}
	for _, name := range sortedKeys(m.Users) {
		x.Users = append(x.Users, exportedUser{Name: name, Access: m.Users[name]})
	}
	for _, id := range sortedMachineIDs(m) {
		x.Machines = append(x.Machines, m.Machines[id])
	}
	for _, name := range sortedKeys(m.Applications) {
		app := m.Applications[name]
		xa := exportedApplication{
			Name: app.Name, CharmURL: app.CharmURL, Channel: app.Channel, Revision: app.Revision,
			Base: app.Base, Config: app.Config, Status: app.Status, CreatedAt: app.CreatedAt,
			NextUnitID: app.NextUnitID, Units: []*store.Unit{}, Constraints: app.Cons,
			Exposed: app.Exposed, ExposedEndpoints: app.ExposedEndpoints, Trust: app.Trust,
		}
		for _, un := range sortedKeys(app.Units) {
			xa.Units = append(xa.Units, app.Units[un])
		}
		x.Applications = append(x.Applications, xa)
	}
	return json.Marshal(modelExport{Version: exportVersion, Model: x})
}

// importModel reads an export into a new model document, checking that it
// is whole and consistent. The document is not yet importing or active:
// the caller decides.
func importModel(raw []byte) (*store.Model, error) {
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, badExport("not a JSON object: %v", err)
	}
	if head.Version != exportVersion {
		return nil, badExport("format version %d is not supported (this controller reads version %d)", head.Version, exportVersion)
	}
	var doc modelExport
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, badExport("%v", err)
	}
	x := doc.Model
	switch {
	case x.UUID == "" || x.Name == "" || x.Owner == "":
		return nil, badExport("the model lacks a uuid, name or owner")
	case !validModelName.MatchString(x.Name):
		return nil, badExport("%q is not a valid model name", x.Name)
	case x.Cloud == "" || x.CloudType == "" || x.Region == "":
		return nil, badExport("model %q lacks its cloud, cloud type or region", x.Name)
	}
	if _, err := parseVersion(x.AgentVersion); err != nil {
		return nil, badExport("model %q: %v", x.Name, err)
	}
	m := &store.Model{
		UUID: x.UUID, Name: x.Name, Owner: x.Owner, Type: x.Type,
		Cloud: x.Cloud, CloudType: x.CloudType, Region: x.Region, Credential: x.Credential,
		Life: store.LifeAlive, Status: x.Status, AgentVersion: x.AgentVersion, CreatedAt: x.CreatedAt,
		Config: x.Config, Users: map[string]string{}, Machines: map[string]*store.Machine{},
		Applications: map[string]*store.Application{}, NextMachineID: x.NextMachineID,
		Constraints: x.Constraints, Blocks: x.Blocks, Annotations: x.Annotations,
		CharmRevisions: x.CharmRevisions, NextRelationID: x.NextRelationID,
	}
	for _, b := range m.Blocks {
		if n, err := strconv.Atoi(b.ID[strings.LastIndexByte(b.ID, ':')+1:]); err == nil && n >= m.NextBlockID {
			m.NextBlockID = n + 1
		}
	}
	if m.Type == "" {
		m.Type = "iaas"
	}
	if m.Config == nil {
		m.Config = map[string]any{}
	}
	for k := range m.Config {
		if fixedConfig[k] {
			return nil, badExport("model config %q cannot be imported: it is derived from the model", k)
		}
	}
	for _, u := range x.Users {
		if accessLevel(u.Access) == 0 {
			return nil, badExport("user %q has access %q, not read, write or admin", u.Name, u.Access)
		}
		m.Users[u.Name] = u.Access
	}
	if m.Users[m.Owner] == "" {
		return nil, badExport("the owner %q is not a user of model %q", m.Owner, m.Name)
	}
	for _, mc := range x.Machines {
		if mc == nil || mc.ID == "" {
			return nil, badExport("a machine of model %q has no id", m.Name)
		}
		if _, dup := m.Machines[mc.ID]; dup {
			return nil, badExport("machine %s appears twice", mc.ID)
		}
		m.Machines[mc.ID] = mc
	}
	for _, xa := range x.Applications {
		if !validAppName.MatchString(xa.Name) {
			return nil, badExport("%q is not a valid application name", xa.Name)
		}
		if _, dup := m.Applications[xa.Name]; dup {
			return nil, badExport("application %s appears twice", xa.Name)
		}
		app := &store.Application{
			Name: xa.Name, CharmURL: xa.CharmURL, Channel: xa.Channel, Revision: xa.Revision, Base: xa.Base,
			Config: xa.Config, Status: xa.Status, Units: map[string]*store.Unit{}, NextUnitID: xa.NextUnitID,
			CreatedAt: xa.CreatedAt, Cons: xa.Constraints,
			Exposed: xa.Exposed, ExposedEndpoints: xa.ExposedEndpoints, Trust: xa.Trust,
		}
		for _, u := range xa.Units {
			if u == nil || u.Name == "" {
				return nil, badExport("a unit of application %s has no name", xa.Name)
			}
			if _, ok := m.Machines[u.Machine]; !ok {
				return nil, badExport("unit %s is on machine %q, which the model does not have", u.Name, u.Machine)
			}
			if _, dup := app.Units[u.Name]; dup {
				return nil, badExport("unit %s appears twice", u.Name)
			}
			app.Units[u.Name] = u
		}
		m.Applications[xa.Name] = app
	}
	for _, r := range x.Relations {
		if r == nil || len(r.Endpoints) == 0 || len(r.Endpoints) > 2 {
			return nil, badExport("a relation of model %q has no endpoints or more than two", m.Name)
		}
		for _, e := range r.Endpoints {
			if m.Applications[e.Application] == nil {
				return nil, badExport("relation %q names application %q, which the model does not have", r.Key, e.Application)
			}
		}
		m.Relations = append(m.Relations, r)
	}
	for _, xc := range x.Charms {
		if xc.URL == "" || xc.SHA256 == "" {
			return nil, badExport("a charm of model %q has no url or sha256", m.Name)
		}
		if m.Charms == nil {
			m.Charms = map[string]*store.Charm{}
		}
		ch := xc.Charm
		m.Charms[xc.URL] = &ch
	}
	return m, nil
}

// exportedArchives returns the charm archives an export carries, by
// SHA256, checking each against its hash.
func exportedArchives(raw []byte) (map[string][]byte, error) {
	var doc struct {
		Model struct {
			Charms []exportedCharm `json:"charms"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, badExport("%v", err)
	}
	out := map[string][]byte{}
	for _, c := range doc.Model.Charms {
		if len(c.Archive) == 0 {
			return nil, badExport("charm %q comes without its archive", c.URL)
		}
		sum := sha256.Sum256(c.Archive)
		if hex.EncodeToString(sum[:]) != c.SHA256 {
			return nil, badExport("the archive of charm %q does not match its sha256", c.URL)
		}
		out[c.SHA256] = c.Archive
	}
	return out, nil
}

// exportedCredentialOf returns the credential an export carries, if any.
func exportedCredentialOf(raw []byte) (*exportedCredential, error) {
	var doc struct {
		Model struct {
			Credential *exportedCredential `json:"cloud-credential"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, badExport("%v", err)
	}
	return doc.Model.Credential, nil
}

func badExport(format string, args ...any) error {
	return jujuapi.Errorf(jujuapi.CodeBadRequest, "invalid model export: "+format, args...)
}
