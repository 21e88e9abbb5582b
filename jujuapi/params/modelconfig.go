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

// GetConstraintsResults is the result of ModelConfig.GetModelConstraints.
type GetConstraintsResults struct {
	// Constraints is the model's constraints.
	Constraints Constraints `json:"constraints"`
}

// SetConstraints is the argument of ModelConfig.SetModelConstraints (and
// Application.SetConstraints).
type SetConstraints struct {
	// ApplicationName is the application; empty for the model's.
	ApplicationName string `json:"application"`
	// Constraints replaces the constraints held.
	Constraints Constraints `json:"constraints"`
}

// ModelSequencesResult is the result of ModelConfig.Sequences: the next
// value of each of the model's sequences (e.g. "machine").
type ModelSequencesResult struct {
	// Sequences maps sequence names to their next value.
	Sequences map[string]int `json:"sequences"`
}
