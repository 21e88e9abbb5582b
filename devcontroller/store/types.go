package store

import (
	"log/slog"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/charm"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Access levels, as Juju names them.
const (
	AccessSuperuser = "superuser"
	AccessLogin     = "login"
	AccessAdmin     = "admin"
	AccessWrite     = "write"
	AccessRead      = "read"
	AccessAddModel  = "add-model"
)

// Model life.
const (
	LifeAlive = "alive"
	LifeDying = "dying"
	LifeDead  = "dead"
)

// Meta is the controller's identity, fixed at first start.
type Meta struct {
	UUID      string    `json:"uuid"`
	CreatedAt time.Time `json:"created-at"`
	// CloudAccess maps a user name to its access on the controller's cloud
	// (admin or add-model).
	CloudAccess map[string]string `json:"cloud-access,omitempty"`
	// Config holds the controller config settings made on this controller
	// (agent-ratelimit-max, ...), by key; keys not set take their defaults.
	Config map[string]any `json:"config,omitempty"`
	// CloudDefaults holds the model config defaults set for the cloud
	// (what Juju's model-defaults calls "controller"), and RegionDefaults
	// those set per region, by region name. Models take them when created.
	CloudDefaults  map[string]any            `json:"cloud-defaults,omitempty"`
	RegionDefaults map[string]map[string]any `json:"region-defaults,omitempty"`
}

// User is a local user of the controller.
type User struct {
	Name         string    `json:"name"`
	DisplayName  string    `json:"display-name,omitempty"`
	PasswordHash string    `json:"password-hash,omitempty"`
	Access       string    `json:"access"` // controller access: superuser or login
	CreatedBy    string    `json:"created-by,omitempty"`
	CreatedAt    time.Time `json:"created-at"`
	Disabled     bool      `json:"disabled,omitempty"`
	// SecretKey is the registration key of a user added without a
	// password (what `juju register` presents); a credential.
	SecretKey []byte `json:"secret-key,omitempty"`
}

// Credential is a cloud credential a user keeps on the controller. Its
// attributes may hold secrets: it must never be logged whole (LogValue
// leaves them out).
type Credential struct {
	Cloud      string            `json:"cloud"`
	Owner      string            `json:"owner"`
	Name       string            `json:"name"`
	AuthType   string            `json:"auth-type"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// Invalid and InvalidReason mark a credential the cloud refuses.
	Invalid       bool      `json:"invalid,omitempty"`
	InvalidReason string    `json:"invalid-reason,omitempty"`
	CreatedAt     time.Time `json:"created-at"`
	UpdatedAt     time.Time `json:"updated-at"`
}

// CredentialID is a credential's id, as Juju writes it:
// "cloud/owner/name".
func CredentialID(cloud, owner, name string) string {
	return cloud + "/" + owner + "/" + name
}

// ID is the credential's id, "cloud/owner/name".
func (c *Credential) ID() string { return CredentialID(c.Cloud, c.Owner, c.Name) }

// TagID is the credential as a model records it: its tag without the
// "cloudcred-" prefix, "cloud_owner_name" with underscores in the parts
// escaped as Juju escapes them.
func (c *Credential) TagID() string { return CredentialTagID(c.Cloud, c.Owner, c.Name) }

// CredentialTagID is the tag form of a credential id, without the
// "cloudcred-" prefix.
func CredentialTagID(cloud, owner, name string) string {
	q := func(s string) string { return strings.ReplaceAll(s, "_", "%5f") }
	return q(cloud) + "_" + q(owner) + "_" + q(name)
}

// LogValue keeps the attributes (secrets) out of logs.
func (c *Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", c.ID()), slog.String("auth-type", c.AuthType))
}

// Block is a set of commands switched off on a model (Juju's
// disable-command).
type Block struct {
	ID      string `json:"id"`
	Message string `json:"message,omitempty"`
}

// Status is an entity's status with when it was set.
type Status struct {
	Status string    `json:"status"`
	Info   string    `json:"info,omitempty"`
	Since  time.Time `json:"since"`
}

// Model is one model and everything in it.
type Model struct {
	UUID      string `json:"uuid"`
	Name      string `json:"name"`
	Owner     string `json:"owner"`
	Type      string `json:"type"`
	Cloud     string `json:"cloud"`
	CloudType string `json:"cloud-type"`
	Region    string `json:"region"`
	// Credential is the model's cloud credential in tag form without the
	// "cloudcred-" prefix (see CredentialTagID), or "" for none.
	Credential    string                  `json:"credential,omitempty"`
	IsController  bool                    `json:"is-controller,omitempty"`
	Life          string                  `json:"life"`
	Status        Status                  `json:"status"`
	AgentVersion  string                  `json:"agent-version"`
	CreatedAt     time.Time               `json:"created-at"`
	DyingSince    time.Time               `json:"dying-since,omitzero"`
	Config        map[string]any          `json:"config"`
	Users         map[string]string       `json:"users"` // user name → admin, write or read
	Machines      map[string]*Machine     `json:"machines"`
	Applications  map[string]*Application `json:"applications"`
	NextMachineID int                     `json:"next-machine-id"`
	// MigrationMode is "" for a normal model, MigrationModeExporting while
	// a migration moves it away (writes are refused), and
	// MigrationModeImporting while it arrives from another controller (it is
	// invisible and refuses logins until activated).
	MigrationMode string `json:"migration-mode,omitempty"`
	// Migration is the latest migration of the model away from this
	// controller, running or ended; nil if there has been none.
	Migration *Migration `json:"migration,omitempty"`
	// Constraints are the model's constraints (set-model-constraints).
	Constraints params.Constraints `json:"constraints,omitzero"`
	// Blocks are the command sets switched off, by Juju block type
	// (BlockDestroy, BlockRemove, BlockChange); NextBlockID numbers them.
	Blocks      map[string]Block `json:"blocks,omitempty"`
	NextBlockID int              `json:"next-block-id,omitempty"`
	// Annotations holds the annotations of the model's entities, by tag.
	Annotations map[string]map[string]string `json:"annotations,omitempty"`
	// Charms are the charms uploaded to the model, by charm URL (with its
	// revision); CharmRevisions holds, per charm URL without revision, the
	// revision the next upload of that charm gets at least.
	Charms         map[string]*Charm `json:"charms,omitempty"`
	CharmRevisions map[string]int    `json:"charm-revisions,omitempty"`
	// Relations are the relations between the model's applications, by
	// id order; NextRelationID numbers them.
	Relations      []*Relation `json:"relations,omitempty"`
	NextRelationID int         `json:"next-relation-id,omitempty"`
}

// Charm is a charm uploaded to a model. Its archive is kept outside the
// state file, by SHA256.
type Charm struct {
	URL        string    `json:"url"`
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	UploadedAt time.Time `json:"uploaded-at"`
	// Info is what the archive says of the charm.
	Info charm.Charm `json:"info"`
}

// Relation is a relation between two applications (or one application's
// peers).
type Relation struct {
	ID int `json:"id"`
	// Key names the relation as Juju does: its endpoints
	// ("app:endpoint"), requirer first, separated by a space.
	Key       string             `json:"key"`
	Endpoints []RelationEndpoint `json:"endpoints"`
	Status    Status             `json:"status"`
	CreatedAt time.Time          `json:"created-at"`
}

// RelationEndpoint is one end of a relation: an application and the
// charm relation it takes part with.
type RelationEndpoint struct {
	Application string `json:"application"`
	charm.Relation
}

// ExposedEndpoint says to which spaces and CIDRs an endpoint is open.
type ExposedEndpoint struct {
	Spaces []string `json:"spaces,omitempty"`
	CIDRs  []string `json:"cidrs,omitempty"`
}

// Migration modes of a model.
const (
	MigrationModeNone      = ""
	MigrationModeExporting = "exporting"
	MigrationModeImporting = "importing"
)

// Migration is one attempt to move a model to another controller.
type Migration struct {
	// ID is "<model-uuid>:<attempt>", attempts counting from 0.
	ID      string `json:"id"`
	Attempt int    `json:"attempt"`
	// Phase is the phase name as Juju spells it: QUIESCE, IMPORT, ...,
	// DONE, or ABORT, ABORTDONE.
	Phase string `json:"phase"`
	// StatusMessage is the human-readable progress, as ModelInfo shows it.
	StatusMessage string    `json:"status-message"`
	InitiatedBy   string    `json:"initiated-by"`
	Start         time.Time `json:"start"`
	PhaseChanged  time.Time `json:"phase-changed"`
	// End is set once the migration reaches DONE or ABORTDONE.
	End time.Time `json:"end,omitzero"`
	// FailedPhase and Failure say which phase failed and why, for a
	// migration that aborted.
	FailedPhase string `json:"failed-phase,omitempty"`
	Failure     string `json:"failure,omitempty"`
	// ActivateSent is set (and committed) just before the target is asked
	// to activate the model: from then on the model may be live there.
	ActivateSent bool `json:"activate-sent,omitempty"`
	// PriorStatus is the model's status when the migration started.
	PriorStatus Status `json:"prior-status"`
	// Target says where the model goes. Its password is cleared once the
	// migration has ended.
	Target MigrationTarget `json:"target"`
}

// MigrationTarget says how to reach and log in to a migration target.
type MigrationTarget struct {
	ControllerUUID  string   `json:"controller-uuid"`
	ControllerAlias string   `json:"controller-alias,omitempty"`
	Addrs           []string `json:"addrs"`
	CACert          string   `json:"ca-cert"`
	AuthTag         string   `json:"auth-tag"`
	// Password is the target user's password: a credential of the target
	// controller, never to be logged.
	Password string `json:"password,omitempty"`
}

// LogValue keeps the password out of logs.
func (t MigrationTarget) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("controller-uuid", t.ControllerUUID),
		slog.String("controller-alias", t.ControllerAlias),
		slog.Any("addrs", t.Addrs),
		slog.String("auth-tag", t.AuthTag),
	)
}

// Redirect records a model that migrated away: where it went, so that
// logins to it can be redirected. It outlives the model's document.
type Redirect struct {
	ModelUUID  string `json:"model-uuid"`
	ModelName  string `json:"model-name"`
	ModelOwner string `json:"model-owner"`
	// Users are the model's users and their access when it left: only
	// they (and superusers) are told where it went.
	Users           map[string]string `json:"users"`
	ControllerUUID  string            `json:"controller-uuid"`
	ControllerAlias string            `json:"controller-alias,omitempty"`
	Addrs           []string          `json:"addrs"`
	CACert          string            `json:"ca-cert"`
	// Migration is the migration that moved the model, as it ended.
	Migration *Migration `json:"migration,omitempty"`
}

// Machine is a simulated machine: it starts the moment it is added.
type Machine struct {
	ID         string `json:"id"`
	Base       Base   `json:"base"`
	InstanceID string `json:"instance-id"`
	Hostname   string `json:"hostname"`
	Address    string `json:"address"`
	// Constraints is the machine's constraints in Juju's string form
	// (what status shows); Cons holds them as values.
	Constraints    string             `json:"constraints,omitempty"`
	Cons           params.Constraints `json:"cons,omitzero"`
	AgentStatus    Status             `json:"agent-status"`
	InstanceStatus Status             `json:"instance-status"`
	CreatedAt      time.Time          `json:"created-at"`
	// AgentPassword is the password of the machine's agent: what the
	// agent logs in with (its agent.conf, simulated) and what the
	// controller checks. Random and high-entropy; a credential.
	AgentPassword string `json:"agent-password,omitempty"`
}

// Base is an OS and channel, e.g. ubuntu 22.04.
type Base struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
}

// Application is a deployed charm.
type Application struct {
	Name     string         `json:"name"`
	CharmURL string         `json:"charm-url"`
	Channel  string         `json:"channel,omitempty"`
	Revision int            `json:"revision"`
	Base     Base           `json:"base"`
	Config   map[string]any `json:"config,omitempty"`
	// Cons holds the application's constraints.
	Cons       params.Constraints `json:"cons,omitzero"`
	Status     Status             `json:"status"`
	Units      map[string]*Unit   `json:"units"`
	NextUnitID int                `json:"next-unit-id"`
	CreatedAt  time.Time          `json:"created-at"`
	// Exposed is set once the application is exposed; ExposedEndpoints
	// says to whom, by endpoint ("" for all of them).
	Exposed          bool                       `json:"exposed,omitempty"`
	ExposedEndpoints map[string]ExposedEndpoint `json:"exposed-endpoints,omitempty"`
	// Trust is the application config setting trust.
	Trust bool `json:"trust,omitempty"`
}

// Unit is one unit of an application, on a machine.
type Unit struct {
	Name           string `json:"name"`
	Machine        string `json:"machine"`
	Leader         bool   `json:"leader,omitempty"`
	AgentStatus    Status `json:"agent-status"`
	WorkloadStatus Status `json:"workload-status"`
	// AgentPassword is the password of the unit's agent, as for machines.
	AgentPassword string `json:"agent-password,omitempty"`
}
