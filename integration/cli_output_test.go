package integration

// What the juju 3.5.4 CLI prints with --format json and yaml, as the CLI
// suite decodes it: every key the CLI may print is named (the decoders
// refuse unknown keys, so a renamed or misspelt field fails the decode),
// while parts no case looks into stay untyped. The names are those of
// Juju's cmd/juju output types (listed on each); the types are our own.

// cliModelSet is `juju models` (cmd/juju/controller ModelSummarySet).
type cliModelSet struct {
	Models       []cliModelSummary `json:"models" yaml:"models"`
	CurrentModel string            `json:"current-model,omitempty" yaml:"current-model,omitempty"`
}

// cliModelSummary is one model of `juju models` (ModelSummary).
type cliModelSummary struct {
	Name           string              `json:"name" yaml:"name"`
	ShortName      string              `json:"short-name" yaml:"short-name"`
	UUID           string              `json:"model-uuid" yaml:"model-uuid"`
	Type           string              `json:"model-type" yaml:"model-type"`
	ControllerUUID string              `json:"controller-uuid" yaml:"controller-uuid"`
	ControllerName string              `json:"controller-name" yaml:"controller-name"`
	IsController   bool                `json:"is-controller" yaml:"is-controller"`
	Owner          string              `json:"owner" yaml:"owner"`
	Cloud          string              `json:"cloud" yaml:"cloud"`
	Region         string              `json:"region,omitempty" yaml:"region,omitempty"`
	Credential     *cliModelCredential `json:"credential,omitempty" yaml:"credential,omitempty"`
	ProviderType   string              `json:"type,omitempty" yaml:"type,omitempty"`
	Life           string              `json:"life" yaml:"life"`
	Status         *cliModelStatus     `json:"status,omitempty" yaml:"status,omitempty"`
	Access         string              `json:"access" yaml:"access"`
	LastConnection string              `json:"last-connection" yaml:"last-connection"`
	SLA            string              `json:"sla,omitempty" yaml:"sla,omitempty"`
	SLAOwner       string              `json:"sla-owner,omitempty" yaml:"sla-owner,omitempty"`
	AgentVersion   string              `json:"agent-version,omitempty" yaml:"agent-version,omitempty"`
}

// cliModelInfo is one model of `juju show-model` (cmd/juju/common
// ModelInfo); the output is a map of these by model name.
type cliModelInfo struct {
	Name              string                  `json:"name" yaml:"name"`
	ShortName         string                  `json:"short-name" yaml:"short-name"`
	UUID              string                  `json:"model-uuid" yaml:"model-uuid"`
	Type              string                  `json:"model-type" yaml:"model-type"`
	ControllerUUID    string                  `json:"controller-uuid" yaml:"controller-uuid"`
	ControllerName    string                  `json:"controller-name" yaml:"controller-name"`
	IsController      bool                    `json:"is-controller" yaml:"is-controller"`
	Owner             string                  `json:"owner" yaml:"owner"`
	Cloud             string                  `json:"cloud" yaml:"cloud"`
	Region            string                  `json:"region,omitempty" yaml:"region,omitempty"`
	ProviderType      string                  `json:"type,omitempty" yaml:"type,omitempty"`
	Life              string                  `json:"life" yaml:"life"`
	Status            *cliModelStatus         `json:"status,omitempty" yaml:"status,omitempty"`
	Users             map[string]cliModelUser `json:"users,omitempty" yaml:"users,omitempty"`
	Machines          map[string]any          `json:"machines,omitempty" yaml:"machines,omitempty"`
	SecretBackends    map[string]any          `json:"secret-backends,omitempty" yaml:"secret-backends,omitempty"`
	SLA               string                  `json:"sla,omitempty" yaml:"sla,omitempty"`
	SLAOwner          string                  `json:"sla-owner,omitempty" yaml:"sla-owner,omitempty"`
	AgentVersion      string                  `json:"agent-version,omitempty" yaml:"agent-version,omitempty"`
	Credential        *cliModelCredential     `json:"credential,omitempty" yaml:"credential,omitempty"`
	SupportedFeatures []any                   `json:"supported-features,omitempty" yaml:"supported-features,omitempty"`
}

// cliModelStatus is a model's status in models and show-model
// (ModelStatus), with the migration while one runs.
type cliModelStatus struct {
	Current        string `json:"current,omitempty" yaml:"current,omitempty"`
	Message        string `json:"message,omitempty" yaml:"message,omitempty"`
	Reason         string `json:"reason,omitempty" yaml:"reason,omitempty"`
	Since          string `json:"since,omitempty" yaml:"since,omitempty"`
	Migration      string `json:"migration,omitempty" yaml:"migration,omitempty"`
	MigrationStart string `json:"migration-start,omitempty" yaml:"migration-start,omitempty"`
	MigrationEnd   string `json:"migration-end,omitempty" yaml:"migration-end,omitempty"`
}

// cliModelUser is a user of a model in show-model (ModelUserInfo).
type cliModelUser struct {
	DisplayName    string `json:"display-name,omitempty" yaml:"display-name,omitempty"`
	Access         string `json:"access" yaml:"access"`
	LastConnection string `json:"last-connection" yaml:"last-connection"`
}

// cliModelCredential is a model's credential (ModelCredential).
type cliModelCredential struct {
	Name     string `json:"name" yaml:"name"`
	Owner    string `json:"owner" yaml:"owner"`
	Cloud    string `json:"cloud" yaml:"cloud"`
	Validity string `json:"validity-check,omitempty" yaml:"validity-check,omitempty"`
}

// cliStatus is `juju status` (cmd/juju/status formattedStatus).
type cliStatus struct {
	Model                cliStatusModel        `json:"model" yaml:"model"`
	Machines             map[string]cliMachine `json:"machines" yaml:"machines"`
	Applications         map[string]any        `json:"applications" yaml:"applications"`
	ApplicationEndpoints map[string]any        `json:"application-endpoints,omitempty" yaml:"application-endpoints,omitempty"`
	Offers               map[string]any        `json:"offers,omitempty" yaml:"offers,omitempty"`
	Storage              any                   `json:"storage,omitempty" yaml:"storage,omitempty"`
	Controller           *struct {
		Timestamp string `json:"timestamp,omitempty" yaml:"timestamp,omitempty"`
	} `json:"controller,omitempty" yaml:"controller,omitempty"`
	Branches map[string]any `json:"branches,omitempty" yaml:"branches,omitempty"`
}

// cliMachineList is `juju machines` (formattedMachineStatus).
type cliMachineList struct {
	Model    string                `json:"model" yaml:"model"`
	Machines map[string]cliMachine `json:"machines" yaml:"machines"`
}

// cliStatusModel is status's model (modelStatus).
type cliStatusModel struct {
	Name             string        `json:"name" yaml:"name"`
	Type             string        `json:"type" yaml:"type"`
	Controller       string        `json:"controller" yaml:"controller"`
	Cloud            string        `json:"cloud" yaml:"cloud"`
	Region           string        `json:"region,omitempty" yaml:"region,omitempty"`
	Version          string        `json:"version" yaml:"version"`
	UpgradeAvailable string        `json:"upgrade-available,omitempty" yaml:"upgrade-available,omitempty"`
	Status           cliStatusInfo `json:"model-status,omitempty" yaml:"model-status,omitempty"`
	MeterStatus      any           `json:"meter-status,omitempty" yaml:"meter-status,omitempty"`
	SLA              string        `json:"sla,omitempty" yaml:"sla,omitempty"`
}

// cliStatusInfo is a status in status's output (statusInfoContents).
type cliStatusInfo struct {
	Current string `json:"current,omitempty" yaml:"current,omitempty"`
	Message string `json:"message,omitempty" yaml:"message,omitempty"`
	Reason  string `json:"reason,omitempty" yaml:"reason,omitempty"`
	Since   string `json:"since,omitempty" yaml:"since,omitempty"`
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	Life    string `json:"life,omitempty" yaml:"life,omitempty"`
}

// cliMachine is a machine in status and machines (machineStatus).
type cliMachine struct {
	JujuStatus             cliStatusInfo  `json:"juju-status,omitempty" yaml:"juju-status,omitempty"`
	Hostname               string         `json:"hostname,omitempty" yaml:"hostname,omitempty"`
	DNSName                string         `json:"dns-name,omitempty" yaml:"dns-name,omitempty"`
	IPAddresses            []string       `json:"ip-addresses,omitempty" yaml:"ip-addresses,omitempty"`
	InstanceID             string         `json:"instance-id,omitempty" yaml:"instance-id,omitempty"`
	DisplayName            string         `json:"display-name,omitempty" yaml:"display-name,omitempty"`
	MachineStatus          cliStatusInfo  `json:"machine-status,omitempty" yaml:"machine-status,omitempty"`
	ModificationStatus     cliStatusInfo  `json:"modification-status,omitempty" yaml:"modification-status,omitempty"`
	Base                   any            `json:"base,omitempty" yaml:"base,omitempty"`
	NetworkInterfaces      map[string]any `json:"network-interfaces,omitempty" yaml:"network-interfaces,omitempty"`
	Containers             map[string]any `json:"containers,omitempty" yaml:"containers,omitempty"`
	Constraints            string         `json:"constraints,omitempty" yaml:"constraints,omitempty"`
	Hardware               string         `json:"hardware,omitempty" yaml:"hardware,omitempty"`
	ControllerMemberStatus string         `json:"controller-member-status,omitempty" yaml:"controller-member-status,omitempty"`
	HAPrimary              bool           `json:"ha-primary,omitempty" yaml:"ha-primary,omitempty"`
	LXDProfiles            map[string]any `json:"lxd-profiles,omitempty" yaml:"lxd-profiles,omitempty"`
}

// cliConfigValue is one key of `juju model-config --format json`
// (config.ConfigValues: Juju prints its Go field names).
type cliConfigValue struct {
	Value  any    `json:"Value" yaml:"value"`
	Source string `json:"Source" yaml:"source"`
}

// cliUser is one user of `juju users` and `juju show-user`
// (cmd/juju/user UserInfo).
type cliUser struct {
	UserName       string `json:"user-name" yaml:"user-name"`
	DisplayName    string `json:"display-name,omitempty" yaml:"display-name,omitempty"`
	Access         string `json:"access" yaml:"access"`
	DateCreated    string `json:"date-created,omitempty" yaml:"date-created,omitempty"`
	LastConnection string `json:"last-connection,omitempty" yaml:"last-connection,omitempty"`
	Disabled       bool   `json:"disabled,omitempty" yaml:"disabled,omitempty"`
}

// cliWhoAmI is `juju whoami` (cmd/juju/user whoAmI).
type cliWhoAmI struct {
	Controller string `json:"controller" yaml:"controller"`
	Model      string `json:"model,omitempty" yaml:"model,omitempty"`
	User       string `json:"user" yaml:"user"`
}

// cliShowController is one controller of `juju show-controller`
// (cmd/juju/controller ShowControllerDetails); the output is a map of
// these by controller name.
type cliShowController struct {
	Details struct {
		UUID                   string   `json:"uuid" yaml:"uuid"`
		APIEndpoints           []string `json:"api-endpoints" yaml:"api-endpoints"`
		Cloud                  string   `json:"cloud" yaml:"cloud"`
		Region                 string   `json:"region,omitempty" yaml:"region,omitempty"`
		AgentVersion           string   `json:"agent-version,omitempty" yaml:"agent-version,omitempty"`
		AgentGitCommit         string   `json:"agent-git-commit,omitempty" yaml:"agent-git-commit,omitempty"`
		ControllerModelVersion string   `json:"controller-model-version,omitempty" yaml:"controller-model-version,omitempty"`
		MongoVersion           string   `json:"mongo-version,omitempty" yaml:"mongo-version,omitempty"`
		IdentityURL            string   `json:"identity-url,omitempty" yaml:"identity-url,omitempty"`
		CAFingerprint          string   `json:"ca-fingerprint,omitempty" yaml:"ca-fingerprint,omitempty"`
		CACert                 string   `json:"ca-cert" yaml:"ca-cert"`
	} `json:"details,omitempty" yaml:"details,omitempty"`
	Machines     map[string]any `json:"controller-machines,omitempty" yaml:"controller-machines,omitempty"`
	Nodes        map[string]any `json:"controller-nodes,omitempty" yaml:"controller-nodes,omitempty"`
	Models       map[string]any `json:"models,omitempty" yaml:"models,omitempty"`
	CurrentModel string         `json:"current-model,omitempty" yaml:"current-model,omitempty"`
	Account      *struct {
		User     string `json:"user" yaml:"user"`
		Access   string `json:"access,omitempty" yaml:"access,omitempty"`
		Password string `json:"password,omitempty" yaml:"password,omitempty"`
	} `json:"account,omitempty" yaml:"account,omitempty"`
	Errors []string `json:"errors,omitempty" yaml:"errors,omitempty"`
}
