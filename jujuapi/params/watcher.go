package params

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// The watchers a client drives with Next and Stop on a server-side object
// named by the request's "id": the AllWatcher (Client.WatchAll, one
// model) and the AllModelWatcher (Controller.WatchAllModels, every
// model); the ModelSummaryWatcher's types are in summarywatcher.go. The
// entity shapes are Juju 3.5's (its rpc/params/multiwatcher.go), key for
// key.

// AllWatcherId is the result of Client.WatchAll and
// Controller.WatchAllModels: the id to send Next and Stop to.
type AllWatcherId struct {
	// AllWatcherId is the watcher's id on this connection.
	AllWatcherId string `json:"watcher-id"`
}

// AllWatcherNextResults is the result of AllWatcher.Next and
// AllModelWatcher.Next.
type AllWatcherNextResults struct {
	// Deltas lists the entities changed or removed since the last Next
	// (everything there is, on the first).
	Deltas []Delta `json:"deltas"`
}

// Entity kinds of a Delta.
const (
	KindModel             = "model"
	KindMachine           = "machine"
	KindApplication       = "application"
	KindUnit              = "unit"
	KindRelation          = "relation"
	KindCharm             = "charm"
	KindAnnotation        = "annotation"
	KindBlock             = "block"
	KindRemoteApplication = "remoteApplication"
	KindApplicationOffer  = "applicationOffer"
	KindAction            = "action"
	KindBranch            = "branch"
)

// EntityInfo is the entity of a Delta: one of the *Info types below, or
// *ModelUpdate.
type EntityInfo interface {
	// EntityId identifies the entity among all entities of all models.
	EntityId() EntityId
}

// EntityId identifies an entity: its kind, model and id within both.
type EntityId struct {
	Kind      string `json:"kind"`
	ModelUUID string `json:"model-uuid"`
	Id        string `json:"id"`
}

// Delta is one change: on the wire a three-element array
// [kind, "change"|"remove", entity].
type Delta struct {
	// Removed is set when the entity is gone; Entity is then its last
	// state.
	Removed bool
	// Entity is the entity's state.
	Entity EntityInfo
}

// MarshalJSON writes the delta as Juju does: ["unit","change",{...}].
func (d Delta) MarshalJSON() ([]byte, error) {
	if d.Entity == nil {
		return nil, fmt.Errorf("delta without an entity")
	}
	body, err := json.Marshal(d.Entity)
	if err != nil {
		return nil, err
	}
	op := "change"
	if d.Removed {
		op = "remove"
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "[%q,%q,", d.Entity.EntityId().Kind, op)
	buf.Write(body)
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads a delta of the kinds this package knows.
func (d *Delta) UnmarshalJSON(data []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return err
	}
	if len(parts) != 3 {
		return fmt.Errorf("delta: expected 3 elements, got %d", len(parts))
	}
	var kind, op string
	if err := json.Unmarshal(parts[0], &kind); err != nil {
		return fmt.Errorf("delta kind: %w", err)
	}
	if err := json.Unmarshal(parts[1], &op); err != nil {
		return fmt.Errorf("delta operation: %w", err)
	}
	switch op {
	case "change":
		d.Removed = false
	case "remove":
		d.Removed = true
	default:
		return fmt.Errorf("delta: unexpected operation %q", op)
	}
	var e EntityInfo
	switch kind {
	case KindModel:
		e = new(ModelUpdate)
	case KindMachine:
		e = new(MachineInfo)
	case KindApplication:
		e = new(ApplicationInfo)
	case KindUnit:
		e = new(UnitInfo)
	case KindRelation:
		e = new(RelationInfo)
	case KindCharm:
		e = new(CharmInfo)
	case KindAnnotation:
		e = new(AnnotationInfo)
	case KindBlock:
		e = new(BlockInfo)
	default:
		return fmt.Errorf("delta: unexpected entity kind %q", kind)
	}
	if err := json.Unmarshal(parts[2], e); err != nil {
		return fmt.Errorf("delta %s entity: %w", kind, err)
	}
	d.Entity = e
	return nil
}

// StatusInfo is an entity's status in a delta.
type StatusInfo struct {
	// Err is set when the status could not be read.
	Err *Error `json:"err,omitempty"`
	// Current is the status value, e.g. "active" or "idle".
	Current string `json:"current"`
	// Message is the status message.
	Message string `json:"message"`
	// Since is when the status was set.
	Since *time.Time `json:"since,omitempty"`
	// Version is the agent's (or workload's) version.
	Version string `json:"version"`
	// Data holds extra status details.
	Data map[string]any `json:"data,omitempty"`
}

// ModelUpdate is the "model" entity.
type ModelUpdate struct {
	ModelUUID      string         `json:"model-uuid"`
	Name           string         `json:"name"`
	Life           string         `json:"life"`
	Owner          string         `json:"owner"`
	ControllerUUID string         `json:"controller-uuid"`
	IsController   bool           `json:"is-controller"`
	Config         map[string]any `json:"config,omitempty"`
	Status         StatusInfo     `json:"status"`
	Constraints    Constraints    `json:"constraints"`
	SLA            ModelSLAInfo   `json:"sla"`
	Type           string         `json:"type"`
	Cloud          string         `json:"cloud"`
	CloudRegion    string         `json:"cloud-region"`
	Version        string         `json:"version"`
}

// EntityId implements EntityInfo.
func (i *ModelUpdate) EntityId() EntityId {
	return EntityId{Kind: KindModel, ModelUUID: i.ModelUUID, Id: i.ModelUUID}
}

// MachineInfo is the "machine" entity.
type MachineInfo struct {
	ModelUUID                string                   `json:"model-uuid"`
	Id                       string                   `json:"id"`
	InstanceId               string                   `json:"instance-id"`
	AgentStatus              StatusInfo               `json:"agent-status"`
	InstanceStatus           StatusInfo               `json:"instance-status"`
	Life                     string                   `json:"life"`
	Config                   map[string]any           `json:"config,omitempty"`
	Base                     string                   `json:"base"`
	ContainerType            string                   `json:"container-type"`
	SupportedContainers      []string                 `json:"supported-containers"`
	SupportedContainersKnown bool                     `json:"supported-containers-known"`
	HardwareCharacteristics  *HardwareCharacteristics `json:"hardware-characteristics,omitempty"`
	CharmProfiles            []string                 `json:"charm-profiles,omitempty"`
	Jobs                     []MachineJob             `json:"jobs"`
	Addresses                []Address                `json:"addresses"`
	HasVote                  bool                     `json:"has-vote"`
	WantsVote                bool                     `json:"wants-vote"`
	Hostname                 string                   `json:"hostname,omitempty"`
}

// EntityId implements EntityInfo.
func (i *MachineInfo) EntityId() EntityId {
	return EntityId{Kind: KindMachine, ModelUUID: i.ModelUUID, Id: i.Id}
}

// ApplicationInfo is the "application" entity.
type ApplicationInfo struct {
	ModelUUID       string         `json:"model-uuid"`
	Name            string         `json:"name"`
	Exposed         bool           `json:"exposed"`
	CharmURL        string         `json:"charm-url"`
	OwnerTag        string         `json:"owner-tag"`
	Life            string         `json:"life"`
	MinUnits        int            `json:"min-units"`
	Constraints     Constraints    `json:"constraints"`
	Config          map[string]any `json:"config,omitempty"`
	Subordinate     bool           `json:"subordinate"`
	Status          StatusInfo     `json:"status"`
	WorkloadVersion string         `json:"workload-version"`
}

// EntityId implements EntityInfo.
func (i *ApplicationInfo) EntityId() EntityId {
	return EntityId{Kind: KindApplication, ModelUUID: i.ModelUUID, Id: i.Name}
}

// Port is an open port.
type Port struct {
	Protocol string `json:"protocol"`
	Number   int    `json:"number"`
}

// PortRange is a range of open ports.
type PortRange struct {
	FromPort int    `json:"from-port"`
	ToPort   int    `json:"to-port"`
	Protocol string `json:"protocol"`
}

// UnitInfo is the "unit" entity.
type UnitInfo struct {
	ModelUUID      string      `json:"model-uuid"`
	Name           string      `json:"name"`
	Application    string      `json:"application"`
	Base           string      `json:"base"`
	CharmURL       string      `json:"charm-url"`
	Life           string      `json:"life"`
	PublicAddress  string      `json:"public-address"`
	PrivateAddress string      `json:"private-address"`
	MachineId      string      `json:"machine-id"`
	Ports          []Port      `json:"ports"`
	PortRanges     []PortRange `json:"port-ranges"`
	Principal      string      `json:"principal"`
	Subordinate    bool        `json:"subordinate"`
	WorkloadStatus StatusInfo  `json:"workload-status"`
	AgentStatus    StatusInfo  `json:"agent-status"`
}

// EntityId implements EntityInfo.
func (i *UnitInfo) EntityId() EntityId {
	return EntityId{Kind: KindUnit, ModelUUID: i.ModelUUID, Id: i.Name}
}

// Endpoint is one end of a relation: an application and its charm's
// relation.
type Endpoint struct {
	ApplicationName string        `json:"application-name"`
	Relation        CharmRelation `json:"relation"`
}

// RelationInfo is the "relation" entity.
type RelationInfo struct {
	ModelUUID string     `json:"model-uuid"`
	Key       string     `json:"key"`
	Id        int        `json:"id"`
	Endpoints []Endpoint `json:"endpoints"`
}

// EntityId implements EntityInfo.
func (i *RelationInfo) EntityId() EntityId {
	return EntityId{Kind: KindRelation, ModelUUID: i.ModelUUID, Id: i.Key}
}

// Profile is a charm's LXD profile in a delta.
type Profile struct {
	Config      map[string]string            `json:"config,omitempty"`
	Description string                       `json:"description,omitempty"`
	Devices     map[string]map[string]string `json:"devices,omitempty"`
}

// CharmInfo is the "charm" entity.
type CharmInfo struct {
	ModelUUID     string         `json:"model-uuid"`
	CharmURL      string         `json:"charm-url"`
	CharmVersion  string         `json:"charm-version"`
	Life          string         `json:"life"`
	LXDProfile    *Profile       `json:"profile"`
	DefaultConfig map[string]any `json:"config,omitempty"`
}

// EntityId implements EntityInfo.
func (i *CharmInfo) EntityId() EntityId {
	return EntityId{Kind: KindCharm, ModelUUID: i.ModelUUID, Id: i.CharmURL}
}

// AnnotationInfo is the "annotation" entity: the annotations of one
// entity of the model.
type AnnotationInfo struct {
	ModelUUID   string            `json:"model-uuid"`
	Tag         string            `json:"tag"`
	Annotations map[string]string `json:"annotations"`
}

// EntityId implements EntityInfo.
func (i *AnnotationInfo) EntityId() EntityId {
	return EntityId{Kind: KindAnnotation, ModelUUID: i.ModelUUID, Id: i.Tag}
}

// BlockInfo is the "block" entity: a set of commands switched off.
type BlockInfo struct {
	ModelUUID string `json:"model-uuid"`
	Id        string `json:"id"`
	Type      string `json:"type"`
	Message   string `json:"message"`
	Tag       string `json:"tag"`
}

// EntityId implements EntityInfo.
func (i *BlockInfo) EntityId() EntityId {
	return EntityId{Kind: KindBlock, ModelUUID: i.ModelUUID, Id: i.Id}
}
