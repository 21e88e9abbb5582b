package params

import (
	"encoding/json"
	"time"
)

// StatusParams is the argument of Client.FullStatus.
type StatusParams struct {
	// Patterns filters the result; nil means everything.
	Patterns []string `json:"patterns"`
	// IncludeStorage asks for storage, filesystem and volume details.
	IncludeStorage bool `json:"include-storage,omitempty"`
}

// FullStatus is the result of Client.FullStatus.
type FullStatus struct {
	// Model describes the model itself.
	Model ModelStatusInfo `json:"model"`
	// Machines maps machine ids to top-level machines.
	Machines map[string]MachineStatus `json:"machines"`
	// Applications maps application names to applications.
	Applications map[string]ApplicationStatus `json:"applications"`
	// RemoteApplications maps names to consumed cross-model applications.
	RemoteApplications map[string]RemoteApplicationStatus `json:"remote-applications"`
	// Offers maps offer names to offers made from this model.
	Offers map[string]ApplicationOfferStatus `json:"offers"`
	// Relations lists the relations.
	Relations []RelationStatus `json:"relations"`
	// ControllerTimestamp is the controller's clock when the status was taken.
	ControllerTimestamp *time.Time `json:"controller-timestamp"`
	// Branches maps branch names to model generations.
	Branches map[string]BranchStatus `json:"branches"`
	// Storage holds storage instance details, passed through unparsed.
	Storage []json.RawMessage `json:"storage,omitempty"`
	// Filesystems holds filesystem details, passed through unparsed.
	Filesystems []json.RawMessage `json:"filesystems,omitempty"`
	// Volumes holds volume details, passed through unparsed.
	Volumes []json.RawMessage `json:"volumes,omitempty"`
}

// ModelStatusInfo is the model section of FullStatus.
type ModelStatusInfo struct {
	// Name is the model name.
	Name string `json:"name"`
	// Type is "iaas" or "caas".
	Type string `json:"type"`
	// CloudTag is the model's cloud tag.
	CloudTag string `json:"cloud-tag"`
	// CloudRegion is the model's cloud region.
	CloudRegion string `json:"region,omitempty"`
	// Version is the model's agent version.
	Version string `json:"version"`
	// AvailableVersion is a newer agent version, if any.
	AvailableVersion string `json:"available-version"`
	// ModelStatus is the model's status.
	ModelStatus DetailedStatus `json:"model-status"`
	// MeterStatus is the model's metering status.
	MeterStatus MeterStatus `json:"meter-status"`
	// SLA is the model's SLA level.
	SLA string `json:"sla"`
}

// DetailedStatus is a status value with its context, as used in FullStatus.
type DetailedStatus struct {
	// Status is the status value, e.g. "active" or "started".
	Status string `json:"status"`
	// Info is the status message.
	Info string `json:"info"`
	// Data holds extra status details.
	Data map[string]any `json:"data"`
	// Since is when the status was set.
	Since *time.Time `json:"since"`
	// Kind is the kind of entity the status is for.
	Kind string `json:"kind"`
	// Version is the relevant version (agent or workload).
	Version string `json:"version"`
	// Life is one of the Life* constants.
	Life string `json:"life"`
	// Err is set when the status could not be read.
	Err *Error `json:"err,omitempty"`
}

// MeterStatus is a metering status colour and message.
type MeterStatus struct {
	// Color is "green", "amber" or "red".
	Color string `json:"color"`
	// Message explains the status.
	Message string `json:"message"`
}

// MachineJob is a responsibility of a machine.
type MachineJob string

// Machine jobs.
const (
	JobHostUnits   MachineJob = "JobHostUnits"
	JobManageModel MachineJob = "JobManageModel"
)

// MachineStatus describes a machine or container in FullStatus.
type MachineStatus struct {
	// AgentStatus is the machine agent's status.
	AgentStatus DetailedStatus `json:"agent-status"`
	// InstanceStatus is the provider instance's status.
	InstanceStatus DetailedStatus `json:"instance-status"`
	// ModificationStatus is the status of changes applied to the machine.
	ModificationStatus DetailedStatus `json:"modification-status"`
	// Hostname is the machine's host name.
	Hostname string `json:"hostname,omitempty"`
	// DNSName is the machine's preferred public address.
	DNSName string `json:"dns-name"`
	// IPAddresses lists the machine's addresses.
	IPAddresses []string `json:"ip-addresses,omitempty"`
	// InstanceId is the provider instance id.
	InstanceId string `json:"instance-id"`
	// DisplayName is the provider's name for the instance.
	DisplayName string `json:"display-name"`
	// Base is the machine's OS.
	Base Base `json:"base"`
	// Id is the machine id.
	Id string `json:"id"`
	// NetworkInterfaces maps interface names to interfaces.
	NetworkInterfaces map[string]NetworkInterface `json:"network-interfaces,omitempty"`
	// Containers maps container ids to containers on this machine.
	Containers map[string]MachineStatus `json:"containers"`
	// Constraints is the machine's constraints in text form.
	Constraints string `json:"constraints"`
	// Hardware is the machine's hardware in text form.
	Hardware string `json:"hardware"`
	// Jobs lists the machine's jobs.
	Jobs []MachineJob `json:"jobs"`
	// HasVote tells whether a controller machine votes in HA.
	HasVote bool `json:"has-vote"`
	// WantsVote tells whether a controller machine should vote.
	WantsVote bool `json:"wants-vote"`
	// LXDProfiles maps profile names to LXD profiles applied to the machine.
	LXDProfiles map[string]LXDProfile `json:"lxd-profiles,omitempty"`
	// PrimaryControllerMachine marks the HA primary.
	PrimaryControllerMachine *bool `json:"primary-controller-machine,omitempty"`
}

// NetworkInterface is one network interface of a machine.
type NetworkInterface struct {
	// IPAddresses lists the interface's addresses.
	IPAddresses []string `json:"ip-addresses"`
	// MACAddress is the hardware address.
	MACAddress string `json:"mac-address"`
	// Gateway is the default gateway.
	Gateway string `json:"gateway,omitempty"`
	// DNSNameservers lists the DNS servers.
	DNSNameservers []string `json:"dns-nameservers,omitempty"`
	// Space is the network space.
	Space string `json:"space,omitempty"`
	// IsUp tells whether the interface is up.
	IsUp bool `json:"is-up"`
}

// LXDProfile is an LXD profile applied by a charm.
type LXDProfile struct {
	// Config holds the profile's config keys.
	Config map[string]string `json:"config"`
	// Description describes the profile.
	Description string `json:"description"`
	// Devices maps device names to device settings.
	Devices map[string]map[string]string `json:"devices"`
}

// ApplicationStatus describes an application in FullStatus.
type ApplicationStatus struct {
	// Err is set when the application's status could not be read.
	Err *Error `json:"err,omitempty"`
	// Charm is the charm URL.
	Charm string `json:"charm"`
	// CharmVersion is the charm's version string.
	CharmVersion string `json:"charm-version"`
	// CharmProfile is the charm's LXD profile name.
	CharmProfile string `json:"charm-profile"`
	// CharmChannel is the channel the charm tracks.
	CharmChannel string `json:"charm-channel,omitempty"`
	// Base is the application's OS.
	Base Base `json:"base"`
	// Exposed tells whether the application is exposed.
	Exposed bool `json:"exposed"`
	// ExposedEndpoints maps endpoint names to expose settings.
	ExposedEndpoints map[string]ExposedEndpoint `json:"exposed-endpoints,omitempty"`
	// Life is one of the Life* constants.
	Life string `json:"life"`
	// Relations maps endpoint names to related application names.
	Relations map[string][]string `json:"relations"`
	// CanUpgradeTo names a newer charm revision, if any.
	CanUpgradeTo string `json:"can-upgrade-to"`
	// SubordinateTo lists the principals of a subordinate application.
	SubordinateTo []string `json:"subordinate-to"`
	// Units maps unit names to units.
	Units map[string]UnitStatus `json:"units"`
	// MeterStatuses maps unit names to metering status.
	MeterStatuses map[string]MeterStatus `json:"meter-statuses"`
	// Status is the application's status.
	Status DetailedStatus `json:"status"`
	// WorkloadVersion is the workload's version.
	WorkloadVersion string `json:"workload-version"`
	// EndpointBindings maps endpoint names to spaces.
	EndpointBindings map[string]string `json:"endpoint-bindings"`
	// Scale is the desired unit count of a k8s application (key "int" on the wire).
	Scale int `json:"int,omitempty"`
	// ProviderId is the k8s provider id.
	ProviderId string `json:"provider-id,omitempty"`
	// PublicAddress is the application's public address (k8s).
	PublicAddress string `json:"public-address"`
}

// ExposedEndpoint says who may reach an exposed endpoint.
type ExposedEndpoint struct {
	// ExposeToSpaces lists the allowed spaces.
	ExposeToSpaces []string `json:"expose-to-spaces,omitempty"`
	// ExposeToCIDRs lists the allowed CIDRs.
	ExposeToCIDRs []string `json:"expose-to-cidrs,omitempty"`
}

// UnitStatus describes a unit in FullStatus.
type UnitStatus struct {
	// AgentStatus is the unit agent's status.
	AgentStatus DetailedStatus `json:"agent-status"`
	// WorkloadStatus is the workload's status.
	WorkloadStatus DetailedStatus `json:"workload-status"`
	// WorkloadVersion is the workload's version.
	WorkloadVersion string `json:"workload-version"`
	// Machine is the id of the machine hosting the unit.
	Machine string `json:"machine"`
	// OpenedPorts lists open ports, e.g. "80/tcp".
	OpenedPorts []string `json:"opened-ports"`
	// PublicAddress is the unit's public address.
	PublicAddress string `json:"public-address"`
	// Charm is the unit's charm URL if it differs from the application's.
	Charm string `json:"charm"`
	// Subordinates maps unit names to subordinate units.
	Subordinates map[string]UnitStatus `json:"subordinates"`
	// Leader marks the application leader.
	Leader bool `json:"leader,omitempty"`
	// ProviderId is the k8s provider id.
	ProviderId string `json:"provider-id,omitempty"`
	// Address is the unit's k8s address.
	Address string `json:"address,omitempty"`
}

// RemoteApplicationStatus describes a consumed cross-model application.
type RemoteApplicationStatus struct {
	// Err is set when the status could not be read.
	Err *Error `json:"err,omitempty"`
	// OfferURL is the offer's URL.
	OfferURL string `json:"offer-url"`
	// OfferName is the offer's name.
	OfferName string `json:"offer-name"`
	// Endpoints lists the offered endpoints.
	Endpoints []RemoteEndpoint `json:"endpoints"`
	// Life is one of the Life* constants.
	Life string `json:"life"`
	// Relations maps endpoint names to related application names.
	Relations map[string][]string `json:"relations"`
	// Status is the remote application's status.
	Status DetailedStatus `json:"status"`
}

// RemoteEndpoint is an endpoint of an offered application.
type RemoteEndpoint struct {
	// Name is the endpoint name.
	Name string `json:"name"`
	// Role is "provider", "requirer" or "peer".
	Role string `json:"role"`
	// Interface is the relation interface.
	Interface string `json:"interface"`
	// Limit is the maximum number of relations.
	Limit int `json:"limit"`
}

// ApplicationOfferStatus describes an offer made from the model.
type ApplicationOfferStatus struct {
	// Err is set when the status could not be read.
	Err *Error `json:"err,omitempty"`
	// OfferName is the offer's name.
	OfferName string `json:"offer-name"`
	// ApplicationName is the offered application.
	ApplicationName string `json:"application-name"`
	// CharmURL is the offered application's charm.
	CharmURL string `json:"charm"`
	// Endpoints maps endpoint names to offered endpoints.
	Endpoints map[string]RemoteEndpoint `json:"endpoints"`
	// ActiveConnectedCount is the number of active connections.
	ActiveConnectedCount int `json:"active-connected-count"`
	// TotalConnectedCount is the total number of connections.
	TotalConnectedCount int `json:"total-connected-count"`
}

// RelationStatus describes a relation in FullStatus.
type RelationStatus struct {
	// Id is the relation id.
	Id int `json:"id"`
	// Key is the relation key, e.g. "wordpress:db mysql:db".
	Key string `json:"key"`
	// Interface is the relation interface.
	Interface string `json:"interface"`
	// Scope is "global" or "container".
	Scope string `json:"scope"`
	// Endpoints lists the relation's endpoints.
	Endpoints []EndpointStatus `json:"endpoints"`
	// Status is the relation's status.
	Status DetailedStatus `json:"status"`
}

// EndpointStatus is one end of a relation.
type EndpointStatus struct {
	// ApplicationName is the application.
	ApplicationName string `json:"application"`
	// Name is the endpoint name.
	Name string `json:"name"`
	// Role is "provider", "requirer" or "peer".
	Role string `json:"role"`
	// Subordinate tells whether the endpoint belongs to a subordinate.
	Subordinate bool `json:"subordinate"`
}

// BranchStatus describes a model generation (branch).
type BranchStatus struct {
	// AssignedUnits maps application names to units tracking the branch.
	AssignedUnits map[string][]string `json:"assigned-units"`
	// Created is the creation time in Unix seconds.
	Created int64 `json:"created"`
	// CreatedBy is the user who created the branch.
	CreatedBy string `json:"created-by"`
}
