package restapi

import "time"

// Paths of the admin API.
const (
	PathLogin        = "/v1/login"        // POST LoginRequest → LoginResponse
	PathWhoAmI       = "/v1/whoami"       // GET → WhoAmI
	PathControllers  = "/v1/controllers"  // GET → []Controller; POST AddControllerRequest → Controller
	PathController   = "/v1/controllers/" // + name: GET → Controller; DELETE (?force=true)
	PathDeprecated   = "/deprecated"      // PathController + name + PathDeprecated: PUT SetDeprecatedRequest → Controller
	PathModels       = "/v1/models"       // GET → []Model (every model, for admins)
	PathModel        = "/v1/models/"      // + uuid: GET → Model
	PathMigrated     = "/migrated"        // PathModel + uuid + PathMigrated: PUT UpdateMigratedRequest → Model
	PathMigrations   = "/v1/migrations"   // GET → []Migration; POST MigrateRequest → Migration (202)
	PathMigration    = "/v1/migrations/"  // + id or model uuid (its latest): GET → Migration
	HeaderRequestID  = "X-Request-Id"
	ContentTypeJSON  = "application/json"
	BearerAuthScheme = "Bearer"
)

// Error is the body of every error response.
type Error struct {
	// Message says what failed, on which object.
	Message string `json:"error"`
	// Code is a short machine-readable reason, e.g. "not found".
	Code string `json:"code,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Error codes.
const (
	CodeNotFound      = "not found"
	CodeAlreadyExists = "already exists"
	CodeBadRequest    = "bad request"
	CodeUnauthorized  = "unauthorized"
	CodeForbidden     = "forbidden"
	CodeConflict      = "conflict"
	CodeMigrating     = "migration running" // the model already has a migration running
	CodeUnavailable   = "unavailable"
	// CodeTooManyRequests: slow down; the response's Retry-After header
	// says after how many seconds to try again (HTTP 429).
	CodeTooManyRequests = "too many requests"
	// CodeTooLarge: the request's body is over the limit (HTTP 413).
	CodeTooLarge = "request too large"
	// CodeMethodNotAllowed: the path exists, not with this method; the
	// Allow header lists those it has (HTTP 405).
	CodeMethodNotAllowed = "method not allowed"
)

// LoginRequest logs in with a user name and password.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoginResponse carries a session token for later requests.
type LoginResponse struct {
	Token     string    `json:"token"`
	Identity  string    `json:"identity"`
	ExpiresAt time.Time `json:"expires-at"`
}

// WhoAmI says who the caller is.
type WhoAmI struct {
	Identity string `json:"identity"`
	Admin    bool   `json:"admin"`
}

// Controller statuses.
const (
	StatusUp         = "up"
	StatusDown       = "down"
	StatusDeprecated = "deprecated"
)

// Controller is a registered controller as the broker sees it.
type Controller struct {
	Name          string    `json:"name" yaml:"name"`
	UUID          string    `json:"uuid" yaml:"uuid"`
	Status        string    `json:"status" yaml:"status"`
	StatusSince   time.Time `json:"status-since,omitzero" yaml:"status-since,omitempty"`
	StatusMessage string    `json:"status-message,omitempty" yaml:"status-message,omitempty"`
	Deprecated    bool      `json:"deprecated" yaml:"deprecated"`
	AgentVersion  string    `json:"agent-version" yaml:"agent-version"`
	Cloud         string    `json:"cloud" yaml:"cloud"`
	CloudType     string    `json:"cloud-type" yaml:"cloud-type"`
	Regions       []string  `json:"regions" yaml:"regions"`
	Addresses     []string  `json:"api-addresses" yaml:"api-addresses"`
	Priority      int       `json:"priority" yaml:"priority"`
	ModelCount    int       `json:"model-count" yaml:"model-count"`
	// Machines, Units and Agents are the sizes of the controller's live
	// models, as last read from its model summaries (see Load).
	Machines int       `json:"machines" yaml:"machines"`
	Units    int       `json:"units" yaml:"units"`
	Agents   int       `json:"agents" yaml:"agents"`
	AddedAt  time.Time `json:"added-at" yaml:"added-at"`
}

// AddControllerRequest registers a controller: the fields of the
// controller.yaml a development controller writes (and that an operator
// writes for a real one). The broker dials it with the pinned CA, logs in,
// and reads its version, cloud and regions before storing it.
type AddControllerRequest struct {
	Name          string   `json:"name" yaml:"name"`
	UUID          string   `json:"uuid" yaml:"uuid"`
	APIAddresses  []string `json:"api-addresses" yaml:"api-addresses"`
	CACert        string   `json:"ca-cert" yaml:"ca-cert"`
	TLSServerName string   `json:"tls-server-name,omitempty" yaml:"tls-server-name,omitempty"`
	AdminUser     string   `json:"admin-user" yaml:"admin-user"`
	AdminPassword string   `json:"admin-password" yaml:"admin-password"`
	Priority      int      `json:"priority,omitempty" yaml:"priority,omitempty"`
}

// SetDeprecatedRequest deprecates a controller (no new models) or undoes it.
type SetDeprecatedRequest struct {
	Deprecated bool `json:"deprecated"`
}

// Model is a model in the routing table. Broker administrators see every
// model and the controller hosting it; other callers see the models they
// have access to, with their access (read, write or admin), and no
// controller.
type Model struct {
	UUID       string    `json:"uuid" yaml:"uuid"`
	Name       string    `json:"name" yaml:"name"`
	Owner      string    `json:"owner" yaml:"owner"`
	Controller string    `json:"controller,omitempty" yaml:"controller,omitempty"`
	Cloud      string    `json:"cloud" yaml:"cloud"`
	Region     string    `json:"region" yaml:"region"`
	Life       string    `json:"life" yaml:"life"`
	CreatedAt  time.Time `json:"created-at" yaml:"created-at"`
	Access     string    `json:"access,omitempty" yaml:"access,omitempty"`
}

// MigrateRequest asks the broker to move a model to another controller.
type MigrateRequest struct {
	ModelUUID  string `json:"model-uuid"`
	Controller string `json:"controller"` // the target
	// Force starts the migration even when its plan says the model's
	// agents would not reconnect to the target within its wait time.
	Force bool `json:"force,omitempty"`
}

// Migration results.
const (
	MigrationRunning   = "running"
	MigrationSucceeded = "succeeded"
	MigrationFailed    = "failed"
)

// Migration is one move of a model between controllers, as the broker
// follows it. Phase is Juju's (QUIESCE, IMPORT, PROCESSRELATIONS,
// VALIDATION, SUCCESS, LOGTRANSFER, REAP, DONE; ABORT, ABORTDONE), or
// INITIATING before the source controller has accepted it.
type Migration struct {
	ID             int64      `json:"id" yaml:"id"`
	ModelUUID      string     `json:"model-uuid" yaml:"model-uuid"`
	ModelName      string     `json:"model-name" yaml:"model-name"`
	Owner          string     `json:"owner" yaml:"owner"`
	Source         string     `json:"source" yaml:"source"`
	Target         string     `json:"target" yaml:"target"`
	ControllerID   string     `json:"controller-migration-id,omitempty" yaml:"controller-migration-id,omitempty"`
	Phase          string     `json:"phase" yaml:"phase"`
	Message        string     `json:"message,omitempty" yaml:"message,omitempty"`
	Result         string     `json:"result" yaml:"result"`
	StartedAt      time.Time  `json:"started-at" yaml:"started-at"`
	PhaseChangedAt time.Time  `json:"phase-changed-at" yaml:"phase-changed-at"`
	EndedAt        *time.Time `json:"ended-at,omitempty" yaml:"ended-at,omitempty"`
	// Plan is the estimate the broker made before starting (absent for
	// migrations it did not plan).
	Plan *MigrationPlan `json:"plan,omitempty" yaml:"plan,omitempty"`
}

// UpdateMigratedRequest tells the broker a model now lives on Controller,
// moved there outside the broker.
type UpdateMigratedRequest struct {
	Controller string `json:"controller"`
}
