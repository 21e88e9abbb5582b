package params

import (
	"errors"
	"fmt"
	"github.com/jimmbroker/jimm/jujuapi"
	"strings"
	"time"
)

// Error is the error of one item of a bulk result (results[i].error): the
// protocol's one error type.
type Error = jujuapi.Error

// ErrorResult is the result of one operation that returns nothing but a
// possible error.
type ErrorResult struct {
	// Error is set when the operation failed.
	Error *Error `json:"error,omitempty"`
}

// ErrorResults holds one ErrorResult per requested operation, in order.
type ErrorResults struct {
	// Results holds the per-operation outcomes.
	Results []ErrorResult `json:"results"`
}

// OneError expects exactly one result and returns its error, if any.
func (r ErrorResults) OneError() error {
	if len(r.Results) != 1 {
		return fmt.Errorf("expected 1 result, got %d", len(r.Results))
	}
	if e := r.Results[0].Error; e != nil {
		return e
	}
	return nil
}

// Combine joins all non-nil errors into one, or returns nil if there are none.
func (r ErrorResults) Combine() error {
	var msgs []string
	for _, res := range r.Results {
		if res.Error != nil {
			msgs = append(msgs, res.Error.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// Entity names one entity by its tag, e.g. "model-<uuid>" or "user-admin".
type Entity struct {
	// Tag is the entity's tag string.
	Tag string `json:"tag"`
}

// Entities is the argument of calls that act on several entities.
type Entities struct {
	// Entities lists the entities to act on.
	Entities []Entity `json:"entities"`
}

// EntityPassword asks for the password of one entity to be set.
type EntityPassword struct {
	// Tag identifies the entity.
	Tag string `json:"tag"`
	// Password is the new password.
	Password string `json:"password"`
}

// EntityPasswords is the argument of SetPassword calls.
type EntityPasswords struct {
	// Changes lists the password changes.
	Changes []EntityPassword `json:"changes"`
}

// StringResult holds a string or an error.
type StringResult struct {
	// Error is set when the call failed.
	Error *Error `json:"error,omitempty"`
	// Result is the returned string.
	Result string `json:"result"`
}

// StringResults holds several StringResult values.
type StringResults struct {
	// Results holds one entry per request.
	Results []StringResult `json:"results"`
}

// StringsResult holds a list of strings or an error.
type StringsResult struct {
	// Error is set when the call failed.
	Error *Error `json:"error,omitempty"`
	// Result is the returned list.
	Result []string `json:"result,omitempty"`
}

// StringsResults holds several StringsResult values.
type StringsResults struct {
	// Results holds one entry per request.
	Results []StringsResult `json:"results"`
}

// BoolResult holds a boolean or an error.
type BoolResult struct {
	// Error is set when the call failed.
	Error *Error `json:"error,omitempty"`
	// Result is the returned value.
	Result bool `json:"result"`
}

// BoolResults holds several BoolResult values.
type BoolResults struct {
	// Results holds one entry per request.
	Results []BoolResult `json:"results"`
}

// BytesResult holds a byte slice, base64-encoded on the wire.
type BytesResult struct {
	// Result is the returned data.
	Result []byte `json:"result"`
}

// Address type values used in Address.Type / HostPort.Type.
const (
	AddressTypeIPv4     = "ipv4"
	AddressTypeIPv6     = "ipv6"
	AddressTypeHostname = "hostname"
)

// Address scope values used in Address.Scope / HostPort.Scope.
const (
	ScopeUnknown      = ""
	ScopePublic       = "public"
	ScopeCloudLocal   = "local-cloud"
	ScopeFanLocal     = "local-fan"
	ScopeMachineLocal = "local-machine"
	ScopeLinkLocal    = "link-local"
)

// Address is a network address with its type and reachability scope.
type Address struct {
	// Value is the IP address or host name.
	Value string `json:"value"`
	// CIDR is the subnet the address belongs to, if known.
	CIDR string `json:"cidr,omitempty"`
	// Type is one of the AddressType* constants.
	Type string `json:"type"`
	// Scope is one of the Scope* constants.
	Scope string `json:"scope"`
	// SpaceName is the name of the network space, if any.
	SpaceName string `json:"space-name,omitempty"`
	// ProviderSpaceID is the provider's id for the space, if any.
	ProviderSpaceID string `json:"space-id,omitempty"`
	// ConfigType tells how the address was configured (dhcp, static, ...).
	ConfigType string `json:"config-type,omitempty"`
	// IsSecondary marks a secondary (virtual) address.
	IsSecondary bool `json:"is-secondary,omitempty"`
}

// HostPort is an address plus a TCP port. API server lists use the
// [][]HostPort shape: one inner slice of addresses per server.
type HostPort struct {
	// Address is the address; its fields appear inline in the JSON.
	Address
	// Port is the TCP port.
	Port int `json:"port"`
}

// Base identifies an operating system and its channel, e.g. ubuntu/22.04.
type Base struct {
	// Name is the OS name, e.g. "ubuntu".
	Name string `json:"name"`
	// Channel is the OS version channel, e.g. "22.04/stable".
	Channel string `json:"channel"`
}

// Life values of an entity.
const (
	LifeAlive = "alive"
	LifeDying = "dying"
	LifeDead  = "dead"
)

// EntityStatus is a status value with its message and timestamp.
type EntityStatus struct {
	// Status is the status value, e.g. "available" or "active".
	Status string `json:"status"`
	// Info is the status message.
	Info string `json:"info"`
	// Data holds extra status details.
	Data map[string]any `json:"data,omitempty"`
	// Since is when the status was set.
	Since *time.Time `json:"since"`
}

// Placement is a placement directive such as {"scope":"#","directive":"0"}.
type Placement struct {
	// Scope is a container type, "#" for machines, or a model/provider name.
	Scope string `json:"scope"`
	// Directive is interpreted according to Scope.
	Directive string `json:"directive"`
}

// Constraints describes the hardware wanted for a machine or application.
// Unset fields mean "no constraint".
type Constraints struct {
	// Arch is the CPU architecture.
	Arch *string `json:"arch,omitempty"`
	// Container is the container type to create.
	Container *string `json:"container,omitempty"`
	// CpuCores is the minimum number of cores.
	CpuCores *uint64 `json:"cores,omitempty"`
	// CpuPower is the minimum CPU power in hundredths of a core.
	CpuPower *uint64 `json:"cpu-power,omitempty"`
	// Mem is the minimum memory in MiB.
	Mem *uint64 `json:"mem,omitempty"`
	// RootDisk is the minimum root disk size in MiB.
	RootDisk *uint64 `json:"root-disk,omitempty"`
	// RootDiskSource names the storage pool for the root disk.
	RootDiskSource *string `json:"root-disk-source,omitempty"`
	// Tags lists required provider tags.
	Tags *[]string `json:"tags,omitempty"`
	// InstanceRole is the cloud role/profile to attach.
	InstanceRole *string `json:"instance-role,omitempty"`
	// InstanceType is the provider instance type.
	InstanceType *string `json:"instance-type,omitempty"`
	// Spaces lists network spaces, "^name" excludes one.
	Spaces *[]string `json:"spaces,omitempty"`
	// VirtType is the virtualisation type.
	VirtType *string `json:"virt-type,omitempty"`
	// Zones lists allowed availability zones.
	Zones *[]string `json:"zones,omitempty"`
	// AllocatePublicIP asks for a public IP address.
	AllocatePublicIP *bool `json:"allocate-public-ip,omitempty"`
	// ImageID is the image to boot.
	ImageID *string `json:"image-id,omitempty"`
}

// StorageConstraints requests storage from a pool. Juju encodes these
// without JSON tags, so the keys are the capitalised Go field names.
type StorageConstraints struct {
	// Pool is the storage pool name.
	Pool string `json:"Pool"`
	// Size is the size in MiB.
	Size uint64 `json:"Size"`
	// Count is the number of instances.
	Count uint64 `json:"Count"`
}
