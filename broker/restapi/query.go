package restapi

// PathQueryModels runs a jq expression over the status of every model the
// caller may read: POST QueryModelsRequest → QueryModelsResult. A POST,
// not a GET with the expression in the URL: an expression is long and
// full of characters a URL must escape, and URLs end up in access logs.
// An expression that does not compile is refused with 400 (CodeBadRequest,
// gojq's message); 429 (CodeTooManyRequests, with Retry-After) while the
// broker runs as many queries as it allows.
const PathQueryModels = "/v1/query-models"

// QueryModelsRequest is a jq expression (gojq's dialect) to run over each
// model's status.
//
// Its input is the model's status as the Juju API gives it
// (Client.FullStatus: "model", "machines", "applications",
// "remote-applications", "offers", "relations", "branches",
// "controller-timestamp"; an application's "charm" is its charm URL, e.g.
// "ch:amd64/jammy/postgresql-12"), not the juju CLI's
// `status --format json`; with the model's "uuid", "name" and "owner"
// added under "model". The expression sees nothing else: no environment,
// no modules, no other input.
type QueryModelsRequest struct {
	Query string `json:"query"`
}

// QueryModelsResult is what each model gave, by model UUID: every model
// the caller may read (up to a limit, see Omitted), those that gave no
// output included.
type QueryModelsResult struct {
	Models map[string]ModelQueryResult `json:"models" yaml:"models"`
	// Omitted counts the models the caller may read that were not
	// queried: a query covers at most a few thousand models.
	Omitted int `json:"omitted,omitempty" yaml:"omitted,omitempty"`
	// Truncated says that the query's output reached its limit: some
	// models' outputs were dropped (their error says so).
	Truncated bool `json:"truncated,omitempty" yaml:"truncated,omitempty"`
}

// ModelQueryResult is one model's outputs, or why it has none (or not
// all: the outputs before an error are kept).
type ModelQueryResult struct {
	Name  string `json:"name" yaml:"name"`
	Owner string `json:"owner" yaml:"owner"`
	// Controller is the controller hosting the model, for broker
	// administrators only.
	Controller string `json:"controller,omitempty" yaml:"controller,omitempty"`
	// Outputs are the expression's outputs, in order, each a JSON value.
	Outputs []any `json:"outputs" yaml:"outputs"`
	// Error says why the model gave no output, or stopped giving it: its
	// controller did not answer in time, the expression failed or ran too
	// long on its status, the output limit was reached.
	Error string `json:"error,omitempty" yaml:"error,omitempty"`
}
