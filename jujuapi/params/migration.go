package params

import "time"

// InitiateMigrationArgs is the argument of Controller.InitiateMigration.
type InitiateMigrationArgs struct {
	// Specs lists the migrations to start.
	Specs []MigrationSpec `json:"specs"`
}

// MigrationSpec asks for one model to be migrated.
type MigrationSpec struct {
	// ModelTag is the model to migrate.
	ModelTag string `json:"model-tag"`
	// TargetInfo says how to reach the target controller.
	TargetInfo MigrationTargetInfo `json:"target-info"`
}

// MigrationTargetInfo says how to reach and log in to a migration target.
type MigrationTargetInfo struct {
	// ControllerTag is the target controller's tag.
	ControllerTag string `json:"controller-tag"`
	// ControllerAlias is a friendly name for the target controller.
	ControllerAlias string `json:"controller-alias,omitempty"`
	// Addrs lists the target's API addresses as "host:port".
	Addrs []string `json:"addrs"`
	// CACert is the target's CA certificate (PEM).
	CACert string `json:"ca-cert"`
	// AuthTag is the user to log in to the target as.
	AuthTag string `json:"auth-tag"`
	// Password is that user's password, if used.
	Password string `json:"password,omitempty"`
	// Macaroons is a JSON-encoded macaroon slice, if used (a string on the wire).
	Macaroons string `json:"macaroons,omitempty"`
}

// InitiateMigrationResult is the outcome of starting one migration.
type InitiateMigrationResult struct {
	// ModelTag is the model.
	ModelTag string `json:"model-tag"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
	// MigrationId identifies the migration, "<model-uuid>:<attempt>".
	MigrationId string `json:"migration-id"`
}

// InitiateMigrationResults is the result of Controller.InitiateMigration.
type InitiateMigrationResults struct {
	// Results holds one entry per spec.
	Results []InitiateMigrationResult `json:"results"`
}

// MigrationModelInfo is the argument of MigrationTarget.Prechecks.
type MigrationModelInfo struct {
	// UUID is the model UUID.
	UUID string `json:"uuid"`
	// Name is the model name.
	Name string `json:"name"`
	// OwnerTag is the owner's user tag.
	OwnerTag string `json:"owner-tag"`
	// AgentVersion is the model's agent version, e.g. "3.5.4". Juju parses
	// it as a version number, so it must not be empty (Juju sends "0.0.0").
	AgentVersion string `json:"agent-version"`
	// ControllerAgentVersion is the source controller's version (never empty).
	ControllerAgentVersion string `json:"controller-agent-version"`
	// FacadeVersions lists the facades the source controller supports.
	FacadeVersions map[string][]int `json:"facade-versions,omitempty"`
}

// SerializedModel is the argument of MigrationTarget.Import.
type SerializedModel struct {
	// Bytes is the exported model description (base64 on the wire).
	Bytes []byte `json:"bytes"`
	// Charms lists the charm URLs the model uses.
	Charms []string `json:"charms"`
	// Tools lists the agent binaries the model uses.
	Tools []SerializedModelTools `json:"tools"`
	// Resources lists the resources the model uses.
	Resources []SerializedModelResource `json:"resources"`
}

// SerializedModelTools names an agent binary and where to fetch it.
type SerializedModelTools struct {
	// Version is the binary version, e.g. "3.5.4-ubuntu-amd64".
	Version string `json:"version"`
	// URI is the path to download it from the source controller.
	URI string `json:"uri"`
}

// SerializedModelResource describes an application resource and its revisions.
type SerializedModelResource struct {
	// Application is the application name.
	Application string `json:"application"`
	// Name is the resource name.
	Name string `json:"name"`
	// ApplicationRevision is the revision the application uses.
	ApplicationRevision SerializedModelResourceRevision `json:"application-revision"`
	// CharmStoreRevision is the latest known store revision.
	CharmStoreRevision SerializedModelResourceRevision `json:"charmstore-revision"`
	// UnitRevisions maps unit names to the revisions they use.
	UnitRevisions map[string]SerializedModelResourceRevision `json:"unit-revisions"`
}

// SerializedModelResourceRevision is one revision of a resource.
type SerializedModelResourceRevision struct {
	// Revision is the revision number.
	Revision int `json:"revision"`
	// Type is the resource type, e.g. "file".
	Type string `json:"type"`
	// Path is the resource's file name.
	Path string `json:"path"`
	// Description describes the resource.
	Description string `json:"description"`
	// Origin is "upload" or "store".
	Origin string `json:"origin"`
	// FingerprintHex is the SHA-384 of the content, hex-encoded.
	FingerprintHex string `json:"fingerprint"`
	// Size is the content size in bytes.
	Size int64 `json:"size"`
	// Timestamp is when the revision was added.
	Timestamp time.Time `json:"timestamp"`
	// Username is who added it.
	Username string `json:"username,omitempty"`
}

// ModelArgs names one model (MigrationTarget.Abort, LatestLogTime, ...).
type ModelArgs struct {
	// ModelTag is the model's tag.
	ModelTag string `json:"model-tag"`
}

// ActivateModelArgs is the argument of MigrationTarget.Activate (v2+).
type ActivateModelArgs struct {
	// ModelTag is the migrated model.
	ModelTag string `json:"model-tag"`
	// ControllerTag is the source controller's tag.
	ControllerTag string `json:"controller-tag"`
	// ControllerAlias is the source controller's name.
	ControllerAlias string `json:"controller-alias,omitempty"`
	// SourceAPIAddrs lists the source controller's API addresses.
	SourceAPIAddrs []string `json:"source-api-addrs"`
	// SourceCACert is the source controller's CA certificate (PEM).
	SourceCACert string `json:"source-ca-cert"`
	// CrossModelUUIDs lists models related to this one across controllers.
	CrossModelUUIDs []string `json:"cross-model-uuids"`
}

// AdoptResourcesArgs is the argument of MigrationTarget.AdoptResources.
type AdoptResourcesArgs struct {
	// ModelTag is the migrated model.
	ModelTag string `json:"model-tag"`
	// SourceControllerVersion is the source controller's version (never empty).
	SourceControllerVersion string `json:"source-controller-version"`
}
