package params

// ExportBundleParams is the argument of Bundle.ExportBundle.
type ExportBundleParams struct {
	// IncludeCharmDefaults also exports config values left at the charm's
	// defaults.
	IncludeCharmDefaults bool `json:"include-charm-defaults,omitempty"`
	// IncludeSeries exports series as well as bases.
	IncludeSeries bool `json:"include-series,omitempty"`
}

// BundleChangesParams is the argument of Bundle.GetChanges and
// Bundle.GetChangesMapArgs.
type BundleChangesParams struct {
	// BundleDataYAML is the bundle, YAML-encoded.
	BundleDataYAML string `json:"yaml"`
	// BundleURL is where the bundle came from, if anywhere.
	BundleURL string `json:"bundleURL"`
}

// BundleChangesResults is the result of Bundle.GetChanges.
type BundleChangesResults struct {
	// Changes lists the changes that deploy the bundle; omitted when the
	// bundle does not verify.
	Changes []*BundleChange `json:"changes,omitempty"`
	// Errors lists the bundle's verification errors.
	Errors []string `json:"errors,omitempty"`
}

// BundleChange is one change that deploying a bundle makes, its
// arguments in order.
type BundleChange struct {
	// Id identifies the change, e.g. "addCharm-0".
	Id string `json:"id"`
	// Method is what the change does, e.g. "addCharm".
	Method string `json:"method"`
	// Args holds the method's arguments.
	Args []any `json:"args"`
	// Requires lists the ids of the changes to apply before this one.
	Requires []string `json:"requires"`
}

// BundleChangesMapArgsResults is the result of Bundle.GetChangesMapArgs.
type BundleChangesMapArgsResults struct {
	// Changes lists the changes that deploy the bundle; omitted when the
	// bundle does not verify.
	Changes []*BundleChangesMapArgs `json:"changes,omitempty"`
	// Errors lists the bundle's verification errors.
	Errors []string `json:"errors,omitempty"`
}

// BundleChangesMapArgs is one change that deploying a bundle makes, its
// arguments by name.
type BundleChangesMapArgs struct {
	// Id identifies the change, e.g. "addCharm-0".
	Id string `json:"id"`
	// Method is what the change does, e.g. "addCharm".
	Method string `json:"method"`
	// Args holds the method's arguments by name.
	Args map[string]any `json:"args"`
	// Requires lists the ids of the changes to apply before this one.
	Requires []string `json:"requires"`
}
