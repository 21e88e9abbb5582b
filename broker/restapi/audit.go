package restapi

import "time"

// PathAudit lists audit events: GET with the AuditQuery* parameters →
// AuditEvents. It needs broker administrator access or audit_log_viewer on
// controller:jimm.
const PathAudit = "/v1/audit"

// Query parameters of PathAudit. Times are RFC 3339.
const (
	AuditQueryUser   = "user"   // the identity
	AuditQueryModel  = "model"  // a model's UUID
	AuditQueryMethod = "method" // e.g. DestroyModels, password (a login), POST /v1/controllers
	AuditQuerySince  = "since"  // events at or after this time
	AuditQueryUntil  = "until"  // events before this time
	AuditQueryLimit  = "limit"  // page size: default 50, at most 1000
	AuditQueryAfter  = "after"  // the cursor of the page before (AuditEvents.Next)
)

// AuditEvents is one page of audit events, newest first.
type AuditEvents struct {
	Events []AuditEvent `json:"events" yaml:"events"`
	// Next is the cursor of the next page (pass it as "after"); empty on
	// the last page.
	Next string `json:"next" yaml:"next"`
}

// AuditEvent is one login attempt, or one call that changed (or tried to
// change) state. It never holds a secret or a call's parameters.
type AuditEvent struct {
	ID       int64     `json:"id" yaml:"id"`
	Time     time.Time `json:"time" yaml:"time"`
	Identity string    `json:"identity" yaml:"identity"`
	Remote   string    `json:"remote,omitempty" yaml:"remote,omitempty"`
	Model    string    `json:"model,omitempty" yaml:"model,omitempty"`
	// Facade is the Juju API facade, "Admin" for a login, or "REST" for
	// the admin API (whose Method is e.g. "POST /v1/controllers").
	Facade string `json:"facade" yaml:"facade"`
	// Method is the call, or for a login how the caller logged in
	// (password, session-token...).
	Method string `json:"method" yaml:"method"`
	// Result is ok, refused (a login), throttled (a login), error, or the
	// call's error code.
	Result string `json:"result" yaml:"result"`
	Error  string `json:"error,omitempty" yaml:"error,omitempty"`
	// DurationMicros is how long the call took, in microseconds.
	DurationMicros int64 `json:"duration-us" yaml:"duration-us"`
}
