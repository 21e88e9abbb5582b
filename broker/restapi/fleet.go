package restapi

// The consistency of the broker's models with its controllers'.
const (
	PathCheck     = "/v1/check"     // GET → ConsistencyReport: every difference, nothing changed
	PathReconcile = "/v1/reconcile" // POST → ReconcileResult: one reconciliation pass now (409 CodeConflict while another replica runs one)
	// PathImport follows PathController + name: POST ImportModelRequest →
	// Model (201): adopt a model the controller hosts and the broker does
	// not know.
	PathImport = "/models"
)

// Difference is one way the broker and its controllers disagree. Kind is
// one of unknown-model (hosted, not known to the broker), missing-model
// (known, not hosted where routed), misrouted-model (hosted elsewhere),
// pending-creation (a model creation not ended), controller-unreachable
// (not compared).
type Difference struct {
	Kind       string `json:"kind" yaml:"kind"`
	Controller string `json:"controller,omitempty" yaml:"controller,omitempty"`
	ModelUUID  string `json:"model-uuid,omitempty" yaml:"model-uuid,omitempty"`
	Model      string `json:"model,omitempty" yaml:"model,omitempty"` // owner/name
	Detail     string `json:"detail" yaml:"detail"`
}

// ConsistencyReport is what GET /v1/check found.
type ConsistencyReport struct {
	Differences []Difference `json:"differences" yaml:"differences"`
}

// ReconcileAction is one thing a reconciliation pass did: adopt-model,
// destroy-orphan, end-creation or clear-dying.
type ReconcileAction struct {
	Action     string `json:"action" yaml:"action"`
	Controller string `json:"controller,omitempty" yaml:"controller,omitempty"`
	ModelUUID  string `json:"model-uuid,omitempty" yaml:"model-uuid,omitempty"`
	Model      string `json:"model,omitempty" yaml:"model,omitempty"`
	Error      string `json:"error,omitempty" yaml:"error,omitempty"`
}

// ReconcileResult is what a pass found, then did.
type ReconcileResult struct {
	Differences []Difference      `json:"differences" yaml:"differences"`
	Actions     []ReconcileAction `json:"actions" yaml:"actions"`
}

// ImportModelRequest names the model to adopt.
type ImportModelRequest struct {
	ModelUUID string `json:"model-uuid"`
}
