package params

import "time"

// Application facade calls beyond Deploy and AddUnits: relations, expose,
// config, unit removal, information and DeployFromRepository, with Juju
// 3.5's JSON names. Several of Juju's types give fields no JSON tag, so
// their keys are the Go names ("Args", "CharmName"...); kept here.

// AddRelation is the argument of Application.AddRelation: one or two
// endpoints, each "application" or "application:endpoint".
type AddRelation struct {
	Endpoints []string `json:"endpoints"`
	ViaCIDRs  []string `json:"via-cidrs,omitempty"`
}

// AddRelationResults is the result of Application.AddRelation: the
// endpoint chosen for each application.
type AddRelationResults struct {
	Endpoints map[string]CharmRelation `json:"endpoints"`
}

// DestroyRelation is the argument of Application.DestroyRelation: the
// relation by its endpoints, or by id when Endpoints is empty.
type DestroyRelation struct {
	Endpoints  []string       `json:"endpoints,omitempty"`
	RelationId int            `json:"relation-id"`
	Force      *bool          `json:"force,omitempty"`
	MaxWait    *time.Duration `json:"max-wait,omitempty"`
}

// ApplicationExpose is the argument of Application.Expose. No endpoints
// exposes them all ("") to every network.
type ApplicationExpose struct {
	ApplicationName  string                     `json:"application"`
	ExposedEndpoints map[string]ExposedEndpoint `json:"exposed-endpoints,omitempty"`
}

// ApplicationUnexpose is the argument of Application.Unexpose. No
// endpoints unexposes the application.
type ApplicationUnexpose struct {
	ApplicationName  string   `json:"application"`
	ExposedEndpoints []string `json:"exposed-endpoints"`
}

// ConfigSetArgs is the argument of Application.SetConfigs.
type ConfigSetArgs struct {
	Args []ConfigSet `json:"Args"`
}

// ConfigSet sets some of an application's config.
type ConfigSet struct {
	ApplicationName string            `json:"application"`
	Generation      string            `json:"generation"`
	Config          map[string]string `json:"config"`
	ConfigYAML      string            `json:"config-yaml"`
}

// ApplicationConfigUnsetArgs is the argument of
// Application.UnsetApplicationsConfig.
type ApplicationConfigUnsetArgs struct {
	Args []ApplicationUnset `json:"Args"`
}

// ApplicationUnset resets options of an application to their defaults.
type ApplicationUnset struct {
	ApplicationName string   `json:"application"`
	BranchName      string   `json:"branch"`
	Options         []string `json:"options"`
}

// ApplicationGetResults is the result of Application.Get: the charm's
// config options and the application's config, each key mapped to
// {"value","source","type","description","default"}.
type ApplicationGetResults struct {
	Application       string            `json:"application"`
	Charm             string            `json:"charm"`
	CharmConfig       map[string]any    `json:"config"`
	ApplicationConfig map[string]any    `json:"application-config,omitempty"`
	Constraints       Constraints       `json:"constraints"`
	Base              Base              `json:"base"`
	Channel           string            `json:"channel"`
	EndpointBindings  map[string]string `json:"endpoint-bindings,omitempty"`
}

// ApplicationCharmRelations is the argument of Application.CharmRelations.
type ApplicationCharmRelations struct {
	ApplicationName string `json:"application"`
}

// ApplicationCharmRelationsResults lists the relation endpoints of an
// application's charm.
type ApplicationCharmRelationsResults struct {
	CharmRelations []string `json:"charm-relations"`
}

// DestroyUnitsParams is the argument of Application.DestroyUnit.
type DestroyUnitsParams struct {
	Units []DestroyUnitParams `json:"units"`
}

// DestroyUnitParams asks for one unit to go.
type DestroyUnitParams struct {
	UnitTag        string         `json:"unit-tag"`
	DestroyStorage bool           `json:"destroy-storage,omitempty"`
	Force          bool           `json:"force,omitempty"`
	MaxWait        *time.Duration `json:"max-wait,omitempty"`
	DryRun         bool           `json:"dry-run,omitempty"`
}

// DestroyUnitResults is the result of Application.DestroyUnit.
type DestroyUnitResults struct {
	Results []DestroyUnitResult `json:"results,omitempty"`
}

// DestroyUnitResult is what removing one unit removes, or an error.
type DestroyUnitResult struct {
	Error *Error           `json:"error,omitempty"`
	Info  *DestroyUnitInfo `json:"info,omitempty"`
}

// DestroyUnitInfo lists the storage removing a unit detaches or destroys.
type DestroyUnitInfo struct {
	DetachedStorage  []Entity `json:"detached-storage,omitempty"`
	DestroyedStorage []Entity `json:"destroyed-storage,omitempty"`
}

// ApplicationInfoResults is the result of Application.ApplicationsInfo.
type ApplicationInfoResults struct {
	Results []ApplicationInfoResult `json:"results"`
}

// ApplicationInfoResult is one application's information, or an error.
type ApplicationInfoResult struct {
	Result *ApplicationResult `json:"result,omitempty"`
	Error  *Error             `json:"error,omitempty"`
}

// ApplicationResult is what show-application shows of an application.
type ApplicationResult struct {
	Tag              string                     `json:"tag"`
	Charm            string                     `json:"charm,omitempty"`
	Base             Base                       `json:"base,omitempty"`
	Channel          string                     `json:"channel,omitempty"`
	Constraints      Constraints                `json:"constraints,omitempty"`
	Principal        bool                       `json:"principal"`
	Exposed          bool                       `json:"exposed"`
	Remote           bool                       `json:"remote"`
	Life             string                     `json:"life"`
	EndpointBindings map[string]string          `json:"endpoint-bindings,omitempty"`
	ExposedEndpoints map[string]ExposedEndpoint `json:"exposed-endpoints,omitempty"`
}

// CharmURLOriginResult is the result of Application.GetCharmURLOrigin.
type CharmURLOriginResult struct {
	URL    string      `json:"url"`
	Origin CharmOrigin `json:"charm-origin"`
	Error  *Error      `json:"error,omitempty"`
}

// DeployFromRepositoryArgs is the argument of
// Application.DeployFromRepository.
type DeployFromRepositoryArgs struct {
	Args []DeployFromRepositoryArg `json:"Args"`
}

// DeployFromRepositoryArg deploys one charm by name from a repository
// (Charmhub).
type DeployFromRepositoryArg struct {
	CharmName        string                        `json:"CharmName"`
	ApplicationName  string                        `json:"ApplicationName"`
	AttachStorage    []string                      `json:"AttachStorage"`
	Base             *Base                         `json:"base,omitempty"`
	Channel          *string                       `json:"channel,omitempty"`
	ConfigYAML       string                        `json:"ConfigYAML"`
	Cons             Constraints                   `json:"Cons"`
	Devices          map[string]DeviceConstraints  `json:"Devices"`
	DryRun           bool                          `json:"DryRun"`
	EndpointBindings map[string]string             `json:"endpoint-bindings,omitempty"`
	Force            bool                          `json:"force,omitempty"`
	NumUnits         *int                          `json:"num-units,omitempty"`
	Placement        []*Placement                  `json:"Placement"`
	Revision         *int                          `json:"revision,omitempty"`
	Resources        map[string]string             `json:"resources,omitempty"`
	Storage          map[string]StorageConstraints `json:"Storage"`
	Trust            bool                          `json:"Trust"`
}

// DeployFromRepositoryResults is the result of
// Application.DeployFromRepository.
type DeployFromRepositoryResults struct {
	Results []DeployFromRepositoryResult `json:"Results"`
}

// DeployFromRepositoryResult is one deployment's outcome: what was
// deployed, or every error found.
type DeployFromRepositoryResult struct {
	Errors                 []*Error                 `json:"Errors"`
	Info                   DeployFromRepositoryInfo `json:"Info"`
	PendingResourceUploads []*PendingResourceUpload `json:"PendingResourceUploads"`
}

// DeployFromRepositoryInfo describes what was deployed.
type DeployFromRepositoryInfo struct {
	Architecture     string  `json:"architecture"`
	Base             Base    `json:"base,omitempty"`
	Channel          string  `json:"channel"`
	EffectiveChannel *string `json:"effective-channel,omitempty"`
	Name             string  `json:"name"`
	Revision         int     `json:"revision"`
}

// PendingResourceUpload is a local resource the client must upload.
type PendingResourceUpload struct {
	Name     string `json:"Name"`
	Filename string `json:"Filename"`
	Type     string `json:"Type"`
}
