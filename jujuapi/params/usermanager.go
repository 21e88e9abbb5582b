package params

import "time"

// UserInfoRequest is the argument of UserManager.UserInfo.
type UserInfoRequest struct {
	// Entities lists the users to describe; empty means all users.
	Entities []Entity `json:"entities"`
	// IncludeDisabled also returns disabled users when listing all.
	IncludeDisabled bool `json:"include-disabled"`
}

// UserInfo describes a controller user.
type UserInfo struct {
	// Username is the user's name.
	Username string `json:"username"`
	// DisplayName is the user's display name.
	DisplayName string `json:"display-name"`
	// Access is the user's controller access level.
	Access string `json:"access"`
	// CreatedBy is the name of the user who created this one.
	CreatedBy string `json:"created-by"`
	// DateCreated is when the user was created.
	DateCreated time.Time `json:"date-created"`
	// LastConnection is the user's last login, if any.
	LastConnection *time.Time `json:"last-connection,omitempty"`
	// Disabled tells whether the user is disabled.
	Disabled bool `json:"disabled"`
}

// UserInfoResult holds a UserInfo or an error.
type UserInfoResult struct {
	// Result is the user information.
	Result *UserInfo `json:"result,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// UserInfoResults is the result of UserManager.UserInfo.
type UserInfoResults struct {
	// Results holds one entry per user.
	Results []UserInfoResult `json:"results"`
}

// AddUsers is the argument of UserManager.AddUser.
type AddUsers struct {
	// Users lists the users to add.
	Users []AddUser `json:"users"`
}

// AddUser describes one user to add.
type AddUser struct {
	// Username is the new user's name.
	Username string `json:"username"`
	// DisplayName is the new user's display name.
	DisplayName string `json:"display-name"`
	// Password is the initial password; empty yields a registration secret key.
	Password string `json:"password,omitempty"`
}

// AddUserResult is the outcome of adding one user.
type AddUserResult struct {
	// Tag is the new user's tag.
	Tag string `json:"tag,omitempty"`
	// SecretKey is the registration key when no password was given.
	SecretKey []byte `json:"secret-key,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// AddUserResults is the result of UserManager.AddUser.
type AddUserResults struct {
	// Results holds one entry per requested user.
	Results []AddUserResult `json:"results"`
}
