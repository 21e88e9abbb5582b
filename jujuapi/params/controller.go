package params

import "time"

// ControllerVersionResults is the result of Controller.ControllerVersion.
type ControllerVersionResults struct {
	// Version is the controller's Juju version.
	Version string `json:"version"`
	// GitCommit is the commit the controller was built from.
	GitCommit string `json:"git-commit"`
}

// UserAccess is a user's access level on the controller.
type UserAccess struct {
	// UserTag is the user.
	UserTag string `json:"user-tag"`
	// Access is the level, e.g. "login" or "superuser".
	Access string `json:"access"`
}

// UserAccessResult holds a UserAccess or an error.
type UserAccessResult struct {
	// Result is the access information.
	Result *UserAccess `json:"result,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// UserAccessResults is the result of Controller.GetControllerAccess.
type UserAccessResults struct {
	// Results holds one entry per requested user.
	Results []UserAccessResult `json:"results,omitempty"`
}

// ControllerAction is "grant" or "revoke".
type ControllerAction string

// Controller access actions.
const (
	GrantControllerAccess  ControllerAction = "grant"
	RevokeControllerAccess ControllerAction = "revoke"
)

// ModifyControllerAccessRequest is the argument of Controller.ModifyControllerAccess.
type ModifyControllerAccessRequest struct {
	// Changes lists the access changes.
	Changes []ModifyControllerAccess `json:"changes"`
}

// ModifyControllerAccess grants or revokes one user's controller access.
type ModifyControllerAccess struct {
	// UserTag is the user.
	UserTag string `json:"user-tag"`
	// Action is grant or revoke.
	Action ControllerAction `json:"action"`
	// Access is the access level.
	Access string `json:"access"`
}

// ControllerConfigResult is the result of Controller.ControllerConfig.
type ControllerConfigResult struct {
	// Config holds the controller configuration.
	Config map[string]any `json:"config"`
}

// ControllerConfigSet is the argument of Controller.ConfigSet.
type ControllerConfigSet struct {
	// Config holds the attributes to change.
	Config map[string]any `json:"config"`
}

// DestroyControllerArgs is the argument of Controller.DestroyController.
type DestroyControllerArgs struct {
	// DestroyModels also destroys every hosted model.
	DestroyModels bool `json:"destroy-models"`
	// DestroyStorage says whether to destroy or release persistent storage.
	DestroyStorage *bool `json:"destroy-storage,omitempty"`
	// Force ignores errors during removal.
	Force *bool `json:"force,omitempty"`
	// MaxWait bounds each forced removal step.
	MaxWait *time.Duration `json:"max-wait,omitempty"`
	// ModelTimeout bounds the destruction of each model.
	ModelTimeout *time.Duration `json:"model-timeout,omitempty"`
}

// ModelBlockInfo is a model and the types of its blocks
// (Controller.ListBlockedModels).
type ModelBlockInfo struct {
	// Name is the model's name.
	Name string `json:"name"`
	// UUID is the model's UUID.
	UUID string `json:"model-uuid"`
	// OwnerTag is the model owner's tag.
	OwnerTag string `json:"owner-tag"`
	// Blocks lists the block types switched on (BlockDestroy, ...).
	Blocks []string `json:"blocks"`
}

// ModelBlockInfoList is the result of Controller.ListBlockedModels.
type ModelBlockInfoList struct {
	// Models lists the models with blocks.
	Models []ModelBlockInfo `json:"models,omitempty"`
}
