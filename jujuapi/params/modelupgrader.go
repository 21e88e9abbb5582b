package params

// ModelParam names one model (ModelUpgrader.AbortModelUpgrade).
type ModelParam struct {
	// ModelTag is the model's tag.
	ModelTag string `json:"model-tag"`
}

// UpgradeModelParams is the argument of ModelUpgrader.UpgradeModel.
type UpgradeModelParams struct {
	// ModelTag is the model to upgrade.
	ModelTag string `json:"model-tag"`
	// TargetVersion is the agent version wanted, e.g. "3.5.5"; "0.0.0"
	// (Juju's zero version) asks for the newest available.
	TargetVersion string `json:"target-version"`
	// AgentStream is the agent stream to look in, e.g. "released".
	AgentStream string `json:"agent-stream,omitempty"`
	// IgnoreAgentVersions skips checking the agents' versions.
	IgnoreAgentVersions bool `json:"ignore-agent-versions,omitempty"`
	// DryRun only checks and reports the version that would be chosen.
	DryRun bool `json:"dry-run,omitempty"`
}

// UpgradeModelResult is the result of ModelUpgrader.UpgradeModel.
type UpgradeModelResult struct {
	// ChosenVersion is the agent version the model is (or would be)
	// upgraded to.
	ChosenVersion string `json:"chosen-version"`
	// Error is set when the upgrade is refused.
	Error *Error `json:"error,omitempty"`
}
