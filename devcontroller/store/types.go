package store

import "time"

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
}

// Status is an entity's status with when it was set.
type Status struct {
	Status string    `json:"status"`
	Info   string    `json:"info,omitempty"`
	Since  time.Time `json:"since"`
}

// Model is one model and everything in it.
type Model struct {
	UUID          string                  `json:"uuid"`
	Name          string                  `json:"name"`
	Owner         string                  `json:"owner"`
	Type          string                  `json:"type"`
	Cloud         string                  `json:"cloud"`
	CloudType     string                  `json:"cloud-type"`
	Region        string                  `json:"region"`
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
}

// Machine is a simulated machine: it starts the moment it is added.
type Machine struct {
	ID             string    `json:"id"`
	Base           Base      `json:"base"`
	InstanceID     string    `json:"instance-id"`
	Hostname       string    `json:"hostname"`
	Address        string    `json:"address"`
	Constraints    string    `json:"constraints,omitempty"`
	AgentStatus    Status    `json:"agent-status"`
	InstanceStatus Status    `json:"instance-status"`
	CreatedAt      time.Time `json:"created-at"`
}

// Base is an OS and channel, e.g. ubuntu 22.04.
type Base struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
}

// Application is a deployed charm.
type Application struct {
	Name       string           `json:"name"`
	CharmURL   string           `json:"charm-url"`
	Channel    string           `json:"channel,omitempty"`
	Revision   int              `json:"revision"`
	Base       Base             `json:"base"`
	Config     map[string]any   `json:"config,omitempty"`
	Status     Status           `json:"status"`
	Units      map[string]*Unit `json:"units"`
	NextUnitID int              `json:"next-unit-id"`
	CreatedAt  time.Time        `json:"created-at"`
}

// Unit is one unit of an application, on a machine.
type Unit struct {
	Name           string `json:"name"`
	Machine        string `json:"machine"`
	Leader         bool   `json:"leader,omitempty"`
	AgentStatus    Status `json:"agent-status"`
	WorkloadStatus Status `json:"workload-status"`
}
