package params

import "time"

// ApplicationsDeploy is the argument of Application.Deploy.
type ApplicationsDeploy struct {
	// Applications lists the applications to deploy.
	Applications []ApplicationDeploy `json:"applications"`
}

// ApplicationDeploy describes one application to deploy.
type ApplicationDeploy struct {
	// ApplicationName is the new application's name.
	ApplicationName string `json:"application"`
	// CharmURL is the charm to deploy, e.g. "ch:amd64/jammy/postgresql-345".
	CharmURL string `json:"charm-url"`
	// CharmOrigin says where the charm came from.
	CharmOrigin *CharmOrigin `json:"charm-origin,omitempty"`
	// Channel is the charm channel.
	Channel string `json:"channel"`
	// NumUnits is the number of units to add.
	NumUnits int `json:"num-units"`
	// Config holds config values; they win over ConfigYAML.
	Config map[string]string `json:"config,omitempty"`
	// ConfigYAML holds config in YAML form.
	ConfigYAML string `json:"config-yaml"`
	// Constraints holds the application's constraints.
	Constraints Constraints `json:"constraints"`
	// Placement holds placement directives for the units.
	Placement []*Placement `json:"placement,omitempty"`
	// Policy is the placement policy.
	Policy string `json:"policy,omitempty"`
	// Storage maps storage names to storage constraints.
	Storage map[string]StorageConstraints `json:"storage,omitempty"`
	// Devices maps device names to device constraints.
	Devices map[string]DeviceConstraints `json:"devices,omitempty"`
	// AttachStorage lists existing storage tags to attach.
	AttachStorage []string `json:"attach-storage,omitempty"`
	// EndpointBindings maps endpoint names to spaces.
	EndpointBindings map[string]string `json:"endpoint-bindings,omitempty"`
	// Resources maps resource names to resource ids.
	Resources map[string]string `json:"resources,omitempty"`
	// Force skips some checks. Juju gives this field no JSON tag, hence "Force".
	Force bool `json:"Force"`
}

// CharmOrigin says where a charm came from and which revision it is.
type CharmOrigin struct {
	// Source is "charm-hub" or "local".
	Source string `json:"source"`
	// Type is "charm" or "bundle".
	Type string `json:"type"`
	// ID is the Charmhub id.
	ID string `json:"id"`
	// Hash is the Charmhub hash.
	Hash string `json:"hash,omitempty"`
	// Risk is the channel risk, e.g. "stable".
	Risk string `json:"risk,omitempty"`
	// Revision is the charm revision.
	Revision *int `json:"revision,omitempty"`
	// Track is the channel track.
	Track *string `json:"track,omitempty"`
	// Branch is the channel branch.
	Branch *string `json:"branch,omitempty"`
	// Architecture is the charm's architecture.
	Architecture string `json:"architecture,omitempty"`
	// Base is the charm's OS base.
	Base Base `json:"base,omitempty"`
	// InstanceKey is a per-application key reported to Charmhub.
	InstanceKey string `json:"instance-key,omitempty"`
}

// DeviceConstraints requests devices (e.g. GPUs). Juju encodes these
// without JSON tags, so the keys are the capitalised Go field names.
type DeviceConstraints struct {
	// Type is the device type, e.g. "nvidia.com/gpu".
	Type string `json:"Type"`
	// Count is the number of devices.
	Count int64 `json:"Count"`
	// Attributes holds extra device selectors.
	Attributes map[string]string `json:"Attributes"`
}

// AddApplicationUnits is the argument of Application.AddUnits.
type AddApplicationUnits struct {
	// ApplicationName is the application.
	ApplicationName string `json:"application"`
	// NumUnits is the number of units to add.
	NumUnits int `json:"num-units"`
	// Placement holds placement directives.
	Placement []*Placement `json:"placement"`
	// Policy is the placement policy.
	Policy string `json:"policy,omitempty"`
	// AttachStorage lists existing storage tags to attach.
	AttachStorage []string `json:"attach-storage,omitempty"`
}

// AddApplicationUnitsResults is the result of Application.AddUnits.
type AddApplicationUnitsResults struct {
	// Units lists the names of the new units.
	Units []string `json:"units"`
}

// DestroyApplicationsParams is the argument of Application.DestroyApplication.
type DestroyApplicationsParams struct {
	// Applications lists the applications to destroy.
	Applications []DestroyApplicationParams `json:"applications"`
}

// DestroyApplicationParams asks for one application to be destroyed.
type DestroyApplicationParams struct {
	// ApplicationTag is the application's tag.
	ApplicationTag string `json:"application-tag"`
	// DestroyStorage also destroys the units' storage.
	DestroyStorage bool `json:"destroy-storage,omitempty"`
	// Force ignores errors during removal.
	Force bool `json:"force"`
	// MaxWait bounds each forced removal step.
	MaxWait *time.Duration `json:"max-wait,omitempty"`
	// DryRun only reports what would be destroyed.
	DryRun bool `json:"dry-run,omitempty"`
}

// DestroyApplicationResults is the result of Application.DestroyApplication.
type DestroyApplicationResults struct {
	// Results holds one entry per requested application.
	Results []DestroyApplicationResult `json:"results,omitempty"`
}

// DestroyApplicationResult holds what destroying one application removes, or an error.
type DestroyApplicationResult struct {
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
	// Info lists what is (or would be) removed.
	Info *DestroyApplicationInfo `json:"info,omitempty"`
}

// DestroyApplicationInfo lists what destroying an application removes.
type DestroyApplicationInfo struct {
	// DetachedStorage lists storage that is detached but kept.
	DetachedStorage []Entity `json:"detached-storage,omitempty"`
	// DestroyedStorage lists storage that is destroyed.
	DestroyedStorage []Entity `json:"destroyed-storage,omitempty"`
	// DestroyedUnits lists units that are destroyed.
	DestroyedUnits []Entity `json:"destroyed-units,omitempty"`
}

// ApplicationGet names one application (and model branch), for
// Application.CharmConfig and Application.Get.
type ApplicationGet struct {
	// ApplicationName is the application.
	ApplicationName string `json:"application"`
	// BranchName is the model branch ("master" for none).
	BranchName string `json:"branch"`
}

// ApplicationGetArgs is the argument of Application.CharmConfig.
type ApplicationGetArgs struct {
	// Args lists the applications.
	Args []ApplicationGet `json:"args"`
}

// ConfigResult is one application's charm config, each key mapped to
// {"value","source","type","description",...}, or an error.
type ConfigResult struct {
	// Config maps config keys to their details.
	Config map[string]any `json:"config"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// ApplicationGetConfigResults is the result of Application.CharmConfig.
// Juju gives its one field no JSON tag, hence the key "Results".
type ApplicationGetConfigResults struct {
	// Results holds one entry per requested application.
	Results []ConfigResult `json:"Results"`
}

// ApplicationConstraint is one application's constraints, or an error.
type ApplicationConstraint struct {
	// Constraints is the application's constraints.
	Constraints Constraints `json:"constraints"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// ApplicationGetConstraintsResults is the result of
// Application.GetConstraints.
type ApplicationGetConstraintsResults struct {
	// Results holds one entry per requested application.
	Results []ApplicationConstraint `json:"results"`
}
