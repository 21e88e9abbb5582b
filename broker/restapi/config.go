package restapi

// PathConfig follows PathController + name: a registered controller's
// config, as the controller itself reports and checks it (Juju's
// `juju controller-config`). Broker administrators only.
//
//	GET                            → ControllerConfig: every key
//	PATCH ControllerConfigRequest  → ControllerConfig: every key, read back
//	                                 after the change
//
// A PATCH is audited with the controller (in the path) and the names of
// the keys it set, never their values. Errors name the controller: 404
// CodeNotFound when it is not registered, 503 CodeUnavailable when it
// cannot be reached; a refusal by the controller (a value it does not
// take, a key it does not know) is passed on with the controller's own
// Juju error code (e.g. "not valid") and message, under 400 (403 when the
// controller refuses the broker's account the right to change it).
const PathConfig = "/config"

// ControllerConfig is a controller's config.
type ControllerConfig struct {
	Controller string `json:"controller" yaml:"controller"`
	// Config holds every key the controller reports, with its value as
	// the controller sent it: a number, a string (durations such as
	// "250ms" too), a boolean, or a list.
	Config map[string]any `json:"config" yaml:"config"`
}

// ControllerConfigRequest sets some of a controller's config: the
// controller checks every value and takes all of them or none. Values are
// sent as Juju's CLI sends `juju controller-config key=value`: integers
// as numbers, anything else as a string; the controller parses the rest
// (durations, booleans) by its own schema.
type ControllerConfigRequest struct {
	Config map[string]any `json:"config"`
}

// MaxConfigKeys bounds the keys of one ControllerConfigRequest.
const MaxConfigKeys = 64
