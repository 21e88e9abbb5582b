package params

import "time"

// ModelCreateArgs is the argument of ModelManager.CreateModel.
type ModelCreateArgs struct {
	// Name is the new model's name.
	Name string `json:"name"`
	// OwnerTag is the user tag of the owner.
	OwnerTag string `json:"owner-tag"`
	// Config holds initial model config attributes.
	Config map[string]any `json:"config,omitempty"`
	// CloudTag is the cloud to use; empty means the controller's cloud.
	CloudTag string `json:"cloud-tag,omitempty"`
	// CloudRegion is the cloud region to use.
	CloudRegion string `json:"region,omitempty"`
	// CloudCredentialTag is the tag of the cloud credential to use.
	CloudCredentialTag string `json:"credential,omitempty"`
}

// Model is the short description of a model used in model lists.
type Model struct {
	// Name is the model name.
	Name string `json:"name"`
	// UUID is the model UUID.
	UUID string `json:"uuid"`
	// Type is "iaas" or "caas".
	Type string `json:"type"`
	// OwnerTag is the owner's user tag.
	OwnerTag string `json:"owner-tag"`
}

// UserModel is a model plus when the user last connected to it.
type UserModel struct {
	// Model describes the model.
	Model Model `json:"model"`
	// LastConnection is the user's last connection time, if any.
	LastConnection *time.Time `json:"last-connection"`
}

// UserModelList is the result of ModelManager.ListModels and Controller.AllModels.
type UserModelList struct {
	// UserModels lists the models.
	UserModels []UserModel `json:"user-models"`
}

// UserAccessPermission is a model access level.
type UserAccessPermission string

// Model access levels.
const (
	ModelAdminAccess UserAccessPermission = "admin"
	ModelReadAccess  UserAccessPermission = "read"
	ModelWriteAccess UserAccessPermission = "write"
)

// ModelInfo is the full description of a model (ModelInfo, CreateModel).
type ModelInfo struct {
	// Name is the model name.
	Name string `json:"name"`
	// Type is "iaas" or "caas".
	Type string `json:"type"`
	// UUID is the model UUID.
	UUID string `json:"uuid"`
	// ControllerUUID is the UUID of the hosting controller.
	ControllerUUID string `json:"controller-uuid"`
	// IsController is true for the controller model.
	IsController bool `json:"is-controller"`
	// ProviderType is the cloud provider type, e.g. "lxd".
	ProviderType string `json:"provider-type,omitempty"`
	// DefaultSeries is the deprecated default series.
	DefaultSeries string `json:"default-series,omitempty"`
	// DefaultBase is the default base, e.g. "ubuntu@22.04".
	DefaultBase string `json:"default-base,omitempty"`
	// CloudTag is the model's cloud tag, e.g. "cloud-lxd".
	CloudTag string `json:"cloud-tag"`
	// CloudRegion is the model's cloud region.
	CloudRegion string `json:"cloud-region,omitempty"`
	// CloudCredentialTag is the tag of the model's cloud credential.
	CloudCredentialTag string `json:"cloud-credential-tag,omitempty"`
	// CloudCredentialValidity tells whether the credential is valid, if known.
	CloudCredentialValidity *bool `json:"cloud-credential-validity,omitempty"`
	// OwnerTag is the owner's user tag.
	OwnerTag string `json:"owner-tag"`
	// Life is one of the Life* constants.
	Life string `json:"life"`
	// Status is the model status.
	Status EntityStatus `json:"status,omitempty"`
	// Users lists users with access to the model.
	Users []ModelUserInfo `json:"users"`
	// Machines lists the model's machines.
	Machines []ModelMachineInfo `json:"machines"`
	// SecretBackends lists the secret backends in use.
	SecretBackends []SecretBackendResult `json:"secret-backends"`
	// Migration is the status of the latest migration, if any.
	Migration *ModelMigrationStatus `json:"migration,omitempty"`
	// SLA is the model's SLA, if any.
	SLA *ModelSLAInfo `json:"sla"`
	// AgentVersion is the model's agent version, e.g. "3.5.4"; Juju
	// rejects anything that is not a version number.
	AgentVersion *string `json:"agent-version"`
	// SupportedFeatures lists features the model supports.
	SupportedFeatures []SupportedFeature `json:"supported-features,omitempty"`
}

// ModelInfoResult holds a ModelInfo or an error.
type ModelInfoResult struct {
	// Result is the model information.
	Result *ModelInfo `json:"result,omitempty"`
	// Error is set when the model could not be described.
	Error *Error `json:"error,omitempty"`
}

// ModelInfoResults is the result of ModelManager.ModelInfo.
type ModelInfoResults struct {
	// Results holds one entry per requested model.
	Results []ModelInfoResult `json:"results"`
}

// ModelUserInfo describes a user's access to a model.
type ModelUserInfo struct {
	// ModelTag is the model's tag.
	ModelTag string `json:"model-tag"`
	// UserName is the user's name, e.g. "admin" or "bob@external".
	UserName string `json:"user"`
	// DisplayName is the user's display name.
	DisplayName string `json:"display-name"`
	// LastConnection is the user's last connection to the model.
	LastConnection *time.Time `json:"last-connection"`
	// Access is the user's access level.
	Access UserAccessPermission `json:"access"`
}

// ModelUserInfoResult holds a ModelUserInfo or an error.
type ModelUserInfoResult struct {
	// Result is the user information.
	Result *ModelUserInfo `json:"result,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// ModelUserInfoResults holds several ModelUserInfoResult values.
type ModelUserInfoResults struct {
	// Results holds one entry per request.
	Results []ModelUserInfoResult `json:"results"`
}

// ModelMachineInfo summarises one machine of a model.
type ModelMachineInfo struct {
	// Id is the machine id.
	Id string `json:"id"`
	// Hardware describes the machine's hardware, if known.
	Hardware *MachineHardware `json:"hardware,omitempty"`
	// InstanceId is the provider instance id.
	InstanceId string `json:"instance-id,omitempty"`
	// DisplayName is the provider's name for the instance.
	DisplayName string `json:"display-name,omitempty"`
	// Status is the machine status value.
	Status string `json:"status,omitempty"`
	// Message is the status message.
	Message string `json:"message,omitempty"`
	// HasVote tells whether a controller machine votes in HA.
	HasVote bool `json:"has-vote,omitempty"`
	// WantsVote tells whether a controller machine should vote.
	WantsVote bool `json:"wants-vote,omitempty"`
	// HAPrimary marks the primary controller machine.
	HAPrimary *bool `json:"ha-primary,omitempty"`
}

// MachineHardware describes a machine's hardware; unknown values are nil.
type MachineHardware struct {
	// Arch is the CPU architecture.
	Arch *string `json:"arch,omitempty"`
	// Mem is the memory in MiB.
	Mem *uint64 `json:"mem,omitempty"`
	// RootDisk is the root disk size in MiB.
	RootDisk *uint64 `json:"root-disk,omitempty"`
	// Cores is the number of CPU cores.
	Cores *uint64 `json:"cores,omitempty"`
	// CpuPower is the CPU power in hundredths of a core.
	CpuPower *uint64 `json:"cpu-power,omitempty"`
	// Tags lists provider tags.
	Tags *[]string `json:"tags,omitempty"`
	// AvailabilityZone is the machine's zone.
	AvailabilityZone *string `json:"availability-zone,omitempty"`
	// VirtType is the virtualisation type.
	VirtType *string `json:"virt-type,omitempty"`
}

// ModelMigrationStatus is the progress of a model's latest migration.
type ModelMigrationStatus struct {
	// Status is a human-readable description of the migration state.
	Status string `json:"status"`
	// Start is when the migration started.
	Start *time.Time `json:"start"`
	// End is when the migration ended, if it has.
	End *time.Time `json:"end,omitempty"`
}

// ModelSLAInfo is a model's service level.
type ModelSLAInfo struct {
	// Level is the SLA level, e.g. "unsupported".
	Level string `json:"level"`
	// Owner is the SLA owner.
	Owner string `json:"owner"`
}

// SupportedFeature is an optional feature a model supports.
type SupportedFeature struct {
	// Name is the feature name.
	Name string `json:"name"`
	// Description says what the feature is.
	Description string `json:"description"`
	// Version is the feature's version, if any.
	Version string `json:"version,omitempty"`
}

// SecretBackendResult describes a secret backend used by a model.
type SecretBackendResult struct {
	// Result is the backend definition.
	Result SecretBackend `json:"result"`
	// ID is the backend id.
	ID string `json:"id"`
	// NumSecrets is the number of secrets stored in the backend.
	NumSecrets int `json:"num-secrets"`
	// Status is the backend status, e.g. "active".
	Status string `json:"status"`
	// Message is the status message.
	Message string `json:"message,omitempty"`
	// Error is set when the backend could not be inspected.
	Error *Error `json:"error,omitempty"`
}

// SecretBackend is a secret backend definition.
type SecretBackend struct {
	// Name is the backend name.
	Name string `json:"name"`
	// BackendType is the backend kind, e.g. "controller" or "vault".
	BackendType string `json:"backend-type"`
	// TokenRotateInterval is how often the backend token is rotated.
	TokenRotateInterval *time.Duration `json:"token-rotate-interval,omitempty"`
	// Config holds the backend's configuration.
	Config map[string]any `json:"config"`
}

// ModelSummariesRequest is the argument of ModelManager.ListModelSummaries.
type ModelSummariesRequest struct {
	// UserTag is the user whose models to list.
	UserTag string `json:"user-tag"`
	// All asks for every model (controller admins only).
	All bool `json:"all,omitempty"`
}

// ListModelSummariesRequest is another name for ModelSummariesRequest.
type ListModelSummariesRequest = ModelSummariesRequest

// ModelSummary describes a model in the ListModelSummaries result.
type ModelSummary struct {
	// Name is the model name.
	Name string `json:"name"`
	// UUID is the model UUID.
	UUID string `json:"uuid"`
	// Type is "iaas" or "caas".
	Type string `json:"type"`
	// ControllerUUID is the UUID of the hosting controller.
	ControllerUUID string `json:"controller-uuid"`
	// IsController is true for the controller model.
	IsController bool `json:"is-controller"`
	// ProviderType is the cloud provider type.
	ProviderType string `json:"provider-type,omitempty"`
	// DefaultSeries is the deprecated default series.
	DefaultSeries string `json:"default-series,omitempty"`
	// CloudTag is the model's cloud tag.
	CloudTag string `json:"cloud-tag"`
	// CloudRegion is the model's cloud region.
	CloudRegion string `json:"cloud-region,omitempty"`
	// CloudCredentialTag is the tag of the model's cloud credential.
	CloudCredentialTag string `json:"cloud-credential-tag,omitempty"`
	// OwnerTag is the owner's user tag.
	OwnerTag string `json:"owner-tag"`
	// Life is one of the Life* constants.
	Life string `json:"life"`
	// Status is the model status.
	Status EntityStatus `json:"status,omitempty"`
	// UserAccess is the requesting user's access level.
	UserAccess UserAccessPermission `json:"user-access"`
	// UserLastConnection is the requesting user's last connection.
	UserLastConnection *time.Time `json:"last-connection"`
	// Counts holds entity counts (machines, cores, units).
	Counts []ModelEntityCount `json:"counts"`
	// Migration is the status of the latest migration, if any.
	Migration *ModelMigrationStatus `json:"migration,omitempty"`
	// SLA is the model's SLA, if any.
	SLA *ModelSLAInfo `json:"sla"`
	// AgentVersion is the model's agent version, e.g. "3.5.4"; Juju
	// rejects anything that is not a version number.
	AgentVersion *string `json:"agent-version"`
}

// CountedEntity names what a ModelEntityCount counts.
type CountedEntity string

// Kinds of counted entities.
const (
	Machines CountedEntity = "machines"
	Cores    CountedEntity = "cores"
	Units    CountedEntity = "units"
)

// ModelEntityCount is the number of entities of one kind in a model.
type ModelEntityCount struct {
	// Entity is the kind being counted.
	Entity CountedEntity `json:"entity"`
	// Count is the number.
	Count int64 `json:"count"`
}

// ModelSummaryResult holds a ModelSummary or an error.
type ModelSummaryResult struct {
	// Result is the summary.
	Result *ModelSummary `json:"result,omitempty"`
	// Error is set when the model could not be summarised.
	Error *Error `json:"error,omitempty"`
}

// ModelSummaryResults is the result of ModelManager.ListModelSummaries.
type ModelSummaryResults struct {
	// Results holds one entry per model.
	Results []ModelSummaryResult `json:"results"`
}

// DestroyModelsParams is the argument of ModelManager.DestroyModels.
type DestroyModelsParams struct {
	// Models lists the models to destroy.
	Models []DestroyModelParams `json:"models"`
}

// DestroyModelParams asks for one model to be destroyed.
type DestroyModelParams struct {
	// ModelTag is the model to destroy.
	ModelTag string `json:"model-tag"`
	// DestroyStorage says whether to destroy (true) or release (false)
	// persistent storage; nil fails if there is any.
	DestroyStorage *bool `json:"destroy-storage,omitempty"`
	// Force ignores errors during removal.
	Force *bool `json:"force,omitempty"`
	// MaxWait bounds each forced removal step (nanoseconds on the wire).
	MaxWait *time.Duration `json:"max-wait,omitempty"`
	// Timeout bounds the whole destruction (nanoseconds on the wire).
	Timeout *time.Duration `json:"timeout,omitempty"`
}

// ModelStatus is the short status of a model (ModelManager/Controller.ModelStatus).
type ModelStatus struct {
	// ModelTag is the model's tag.
	ModelTag string `json:"model-tag"`
	// Life is one of the Life* constants.
	Life string `json:"life"`
	// Type is "iaas" or "caas".
	Type string `json:"type"`
	// HostedMachineCount is the number of non-controller machines.
	HostedMachineCount int `json:"hosted-machine-count"`
	// ApplicationCount is the number of applications.
	ApplicationCount int `json:"application-count"`
	// UnitCount is the number of units.
	UnitCount int `json:"unit-count"`
	// OwnerTag is the owner's user tag.
	OwnerTag string `json:"owner-tag"`
	// Applications lists the applications.
	Applications []ModelApplicationInfo `json:"applications,omitempty"`
	// Machines lists the machines.
	Machines []ModelMachineInfo `json:"machines,omitempty"`
	// Volumes lists the storage volumes.
	Volumes []ModelVolumeInfo `json:"volumes,omitempty"`
	// Filesystems lists the filesystems.
	Filesystems []ModelFilesystemInfo `json:"filesystems,omitempty"`
	// Error is set when the model's status is unavailable (e.g. not found).
	Error *Error `json:"error,omitempty"`
}

// ModelStatusResults is the result of ModelStatus calls.
type ModelStatusResults struct {
	// Results holds one entry per requested model.
	Results []ModelStatus `json:"models"`
}

// ModelApplicationInfo names an application in a ModelStatus.
type ModelApplicationInfo struct {
	// Name is the application name.
	Name string `json:"name"`
}

// ModelVolumeInfo describes a storage volume in a ModelStatus.
type ModelVolumeInfo struct {
	// Id is the volume id.
	Id string `json:"id"`
	// ProviderId is the provider's id for the volume.
	ProviderId string `json:"provider-id,omitempty"`
	// Status is the volume status value.
	Status string `json:"status,omitempty"`
	// Message is the status message.
	Message string `json:"message,omitempty"`
	// Detachable tells whether the volume outlives its machine.
	Detachable bool `json:"detachable,omitempty"`
}

// ModelFilesystemInfo describes a filesystem in a ModelStatus.
type ModelFilesystemInfo struct {
	// Id is the filesystem id.
	Id string `json:"id"`
	// ProviderId is the provider's id for the filesystem.
	ProviderId string `json:"provider-id,omitempty"`
	// Status is the filesystem status value.
	Status string `json:"status,omitempty"`
	// Message is the status message.
	Message string `json:"message,omitempty"`
	// Detachable tells whether the filesystem outlives its machine.
	Detachable bool `json:"detachable,omitempty"`
}

// ModelAction is "grant" or "revoke".
type ModelAction string

// Model access actions.
const (
	GrantModelAccess  ModelAction = "grant"
	RevokeModelAccess ModelAction = "revoke"
)

// ModifyModelAccessRequest is the argument of ModelManager.ModifyModelAccess.
type ModifyModelAccessRequest struct {
	// Changes lists the access changes.
	Changes []ModifyModelAccess `json:"changes"`
}

// ModifyModelAccess grants or revokes one user's access to one model.
type ModifyModelAccess struct {
	// UserTag is the user.
	UserTag string `json:"user-tag"`
	// Action is grant or revoke.
	Action ModelAction `json:"action"`
	// Access is the access level.
	Access UserAccessPermission `json:"access"`
	// ModelTag is the model.
	ModelTag string `json:"model-tag"`
}

// ModelDefaultsResults is the result of ModelManager.ModelDefaultsForClouds.
type ModelDefaultsResults struct {
	// Results holds one entry per requested cloud.
	Results []ModelDefaultsResult `json:"results"`
}

// ModelDefaultsResult holds a cloud's model defaults, by config key, or an
// error.
type ModelDefaultsResult struct {
	// Config maps each config key to its defaults.
	Config map[string]ModelDefaults `json:"config"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// ModelDefaults is one config key's defaults at each level.
type ModelDefaults struct {
	// Default is Juju's own default, if any.
	Default any `json:"default,omitempty"`
	// Controller is the controller-wide default, if set.
	Controller any `json:"controller,omitempty"`
	// Regions lists the per-region defaults set.
	Regions []RegionDefaults `json:"regions,omitempty"`
}

// RegionDefaults is a config key's default in one region.
type RegionDefaults struct {
	// RegionName is the region.
	RegionName string `json:"region-name"`
	// Value is the default in that region.
	Value any `json:"value"`
}

// SetModelDefaults is the argument of ModelManager.SetModelDefaults.
type SetModelDefaults struct {
	// Config lists the defaults to set, per cloud and region.
	Config []ModelDefaultValues `json:"config"`
}

// ModelDefaultValues is default config for a cloud, or one of its
// regions, or (neither set) the whole controller.
type ModelDefaultValues struct {
	// CloudTag is the cloud; empty means the controller's cloud.
	CloudTag string `json:"cloud-tag,omitempty"`
	// CloudRegion is the region; empty means the whole cloud.
	CloudRegion string `json:"cloud-region,omitempty"`
	// Config holds the defaults.
	Config map[string]any `json:"config"`
}

// ModelUnsetKeys names default config keys to remove for a cloud or one
// of its regions.
type ModelUnsetKeys struct {
	// CloudTag is the cloud; empty means the controller's cloud.
	CloudTag string `json:"cloud-tag,omitempty"`
	// CloudRegion is the region; empty means the whole cloud.
	CloudRegion string `json:"cloud-region,omitempty"`
	// Keys lists the keys to remove.
	Keys []string `json:"keys"`
}

// UnsetModelDefaults is the argument of ModelManager.UnsetModelDefaults.
type UnsetModelDefaults struct {
	// Keys lists the keys to remove, per cloud and region.
	Keys []ModelUnsetKeys `json:"keys"`
}

// ChangeModelCredentialParams asks for a model to use another credential.
type ChangeModelCredentialParams struct {
	// ModelTag is the model.
	ModelTag string `json:"model-tag"`
	// CloudCredentialTag is the credential to use.
	CloudCredentialTag string `json:"credential-tag"`
}

// ChangeModelCredentialsParams is the argument of
// ModelManager.ChangeModelCredential.
type ChangeModelCredentialsParams struct {
	// Models lists the changes.
	Models []ChangeModelCredentialParams `json:"model-credentials"`
}
