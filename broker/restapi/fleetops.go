package restapi

import "time"

// Fleet operations: migration planning, evacuation and rebalancing.
const (
	// PathMigrationPlans: POST PlanMigrationRequest → MigrationPlan. With
	// Apply, the advised settings are first set on the target.
	PathMigrationPlans = "/v1/migration-plans"
	// PathEvacuations: POST EvacuateRequest → FleetJob (202; 200 for a
	// dry run, which stores nothing and has ID 0).
	PathEvacuations = "/v1/evacuations"
	// PathRebalances: POST RebalanceRequest → FleetJob (as evacuations).
	PathRebalances = "/v1/rebalances"
	// PathFleetJobs: GET → []FleetJob, newest first.
	PathFleetJobs = "/v1/fleet-jobs"
	// PathFleetJob + id: GET → FleetJob.
	PathFleetJob = "/v1/fleet-jobs/"
)

// Load is what a controller carries: its live models and their sizes as
// last read from the controller's model summaries. Agents are machines
// plus units (subordinates included); each agent holds two API
// connections.
type Load struct {
	Models   int `json:"models" yaml:"models"`
	Machines int `json:"machines" yaml:"machines"`
	Units    int `json:"units" yaml:"units"`
	Agents   int `json:"agents" yaml:"agents"`
}

// AgentLimits are the agent login settings a migration meets, which
// decide how long a migrated model's agents take to reconnect: the
// target's token bucket and the source's wait time.
type AgentLimits struct {
	// RateLimitMax is agent-ratelimit-max: the burst of logins admitted at
	// once (0: no limit).
	RateLimitMax int `json:"agent-ratelimit-max" yaml:"agent-ratelimit-max"`
	// RateLimitRate is agent-ratelimit-rate: one more login is admitted
	// every this long (Go's duration text, "250ms").
	RateLimitRate string `json:"agent-ratelimit-rate" yaml:"agent-ratelimit-rate"`
	// AgentWaitTime is the source's migration-agent-wait-time: how long
	// VALIDATION waits for every agent before the migration fails ("15m0s").
	AgentWaitTime string `json:"migration-agent-wait-time" yaml:"migration-agent-wait-time"`
}

// PlanMigrationRequest asks how long moving a model to a controller would
// keep its agents reconnecting, against the target's settings.
type PlanMigrationRequest struct {
	ModelUUID  string `json:"model-uuid"`
	Controller string `json:"controller"` // the target
	// Apply sets the advised settings on the target first (when the plan
	// does not fit) and answers the plan against them.
	Apply bool `json:"apply,omitempty"`
}

// MigrationPlan is the estimate for moving one model.
type MigrationPlan struct {
	ModelUUID string `json:"model-uuid" yaml:"model-uuid"`
	Model     string `json:"model" yaml:"model"` // owner/name
	Source    string `json:"source" yaml:"source"`
	Target    string `json:"target" yaml:"target"`
	Machines  int    `json:"machines" yaml:"machines"`
	Units     int    `json:"units" yaml:"units"`
	Agents    int    `json:"agents" yaml:"agents"`
	// Logins is how many agent logins the target must admit (two per
	// agent).
	Logins int `json:"logins" yaml:"logins"`
	// Limits are the target's settings the estimate used.
	Limits AgentLimits `json:"limits" yaml:"limits"`
	// EstimateSeconds is how long the agents are expected to take to
	// reconnect to the target (the larger part of VALIDATION).
	EstimateSeconds float64 `json:"estimate-seconds" yaml:"estimate-seconds"`
	// Fits is whether the estimate, with headroom, is within the wait time.
	Fits bool `json:"fits" yaml:"fits"`
	// Advice says what to change when it does not fit ("" when it fits).
	Advice string `json:"advice,omitempty" yaml:"advice,omitempty"`
	// Advised are settings under which it fits (nil when it fits).
	Advised *AgentLimits `json:"advised,omitempty" yaml:"advised,omitempty"`
	// Applied is set when the request applied Advised to the target.
	Applied bool `json:"applied,omitempty" yaml:"applied,omitempty"`
}

// Loads by which rebalancing measures controllers.
const (
	ByModels   = "models"
	ByMachines = "machines"
	ByUnits    = "units"
	ByAgents   = "agents"
)

// EvacuateRequest empties a controller: it is deprecated (takes no new
// models), then every model moves to another controller.
type EvacuateRequest struct {
	Controller string `json:"controller"`
	// To limits the targets (default: every eligible controller).
	To []string `json:"to,omitempty"`
	// Parallel is how many migrations run at once (default 1).
	Parallel int  `json:"parallel,omitempty"`
	DryRun   bool `json:"dry-run,omitempty"`
	// Force starts migrations whose plan does not fit the target's agent
	// wait time.
	Force bool `json:"force,omitempty"`
}

// RebalanceRequest moves models until every controller is within the
// tolerance of the fleet's mean load.
type RebalanceRequest struct {
	By       string `json:"by,omitempty"` // ByModels (default), ByMachines, ByUnits, ByAgents
	MaxMoves int    `json:"max-moves,omitempty"`
	Parallel int    `json:"parallel,omitempty"`
	DryRun   bool   `json:"dry-run,omitempty"`
	Force    bool   `json:"force,omitempty"`
}

// Fleet job kinds and states.
const (
	JobEvacuate  = "evacuate"
	JobRebalance = "rebalance"

	JobRunning = "running"
	JobDone    = "done"    // every move ended; some may have failed
	JobPlanned = "planned" // a dry run: nothing started

	MovePending   = "pending"
	MoveRunning   = "running"
	MoveSucceeded = "succeeded"
	MoveFailed    = "failed"
)

// FleetJob is an evacuation or a rebalance: a plan of migrations run a few
// at a time, carried on by another replica if this one stops.
type FleetJob struct {
	ID         int64      `json:"id" yaml:"id"`
	Kind       string     `json:"kind" yaml:"kind"`
	Controller string     `json:"controller,omitempty" yaml:"controller,omitempty"` // evacuated
	By         string     `json:"by,omitempty" yaml:"by,omitempty"`                 // rebalanced by
	Parallel   int        `json:"parallel" yaml:"parallel"`
	State      string     `json:"state" yaml:"state"`
	CreatedAt  time.Time  `json:"created-at" yaml:"created-at"`
	EndedAt    *time.Time `json:"ended-at,omitempty" yaml:"ended-at,omitempty"`
	Moves      []Move     `json:"moves" yaml:"moves"`
	// Unplaced are the models the plan found no target for, with why.
	Unplaced []Unplaced `json:"unplaced,omitempty" yaml:"unplaced,omitempty"`
	// Before and After are each controller's load now and as planned.
	Before map[string]Load `json:"load-before,omitempty" yaml:"load-before,omitempty"`
	After  map[string]Load `json:"load-after,omitempty" yaml:"load-after,omitempty"`
	// RatioBefore and RatioAfter are the busiest controller's load over
	// the fleet's mean, by the job's measure (rebalance).
	RatioBefore float64 `json:"ratio-before,omitempty" yaml:"ratio-before,omitempty"`
	RatioAfter  float64 `json:"ratio-after,omitempty" yaml:"ratio-after,omitempty"`
}

// Move is one migration of a fleet job.
type Move struct {
	ModelUUID       string  `json:"model-uuid" yaml:"model-uuid"`
	Model           string  `json:"model" yaml:"model"` // owner/name
	Source          string  `json:"source" yaml:"source"`
	Target          string  `json:"target" yaml:"target"`
	Agents          int     `json:"agents" yaml:"agents"`
	EstimateSeconds float64 `json:"estimate-seconds" yaml:"estimate-seconds"`
	State           string  `json:"state" yaml:"state"`
	MigrationID     int64   `json:"migration-id,omitempty" yaml:"migration-id,omitempty"`
	Error           string  `json:"error,omitempty" yaml:"error,omitempty"`
}

// Unplaced is a model a plan could not move.
type Unplaced struct {
	ModelUUID string `json:"model-uuid" yaml:"model-uuid"`
	Model     string `json:"model" yaml:"model"`
	Reason    string `json:"reason" yaml:"reason"`
}
