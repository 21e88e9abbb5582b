package params

// ConfigValue is a config attribute's value and where it came from.
type ConfigValue struct {
	// Value is the attribute value (any JSON value).
	Value any `json:"value"`
	// Source is "default", "controller", "region", "model", ...
	Source string `json:"source"`
}

// ModelConfigResults is the result of ModelConfig.ModelGet and Controller.ModelConfig.
type ModelConfigResults struct {
	// Config maps attribute names to values.
	Config map[string]ConfigValue `json:"config"`
}

// ModelSet is the argument of ModelConfig.ModelSet.
type ModelSet struct {
	// Config holds the attributes to set.
	Config map[string]any `json:"config"`
}

// ModelUnset is the argument of ModelConfig.ModelUnset.
type ModelUnset struct {
	// Keys lists the attributes to reset.
	Keys []string `json:"keys"`
}
