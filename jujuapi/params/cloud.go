package params

// Cloud describes a cloud known to the controller.
type Cloud struct {
	// Type is the provider type, e.g. "lxd" or "ec2".
	Type string `json:"type"`
	// HostCloudRegion is "<cloud>/<region>" of the cloud hosting a k8s cloud.
	HostCloudRegion string `json:"host-cloud-region,omitempty"`
	// AuthTypes lists the supported credential types.
	AuthTypes []string `json:"auth-types,omitempty"`
	// Endpoint is the cloud's API endpoint.
	Endpoint string `json:"endpoint,omitempty"`
	// IdentityEndpoint is the identity service endpoint.
	IdentityEndpoint string `json:"identity-endpoint,omitempty"`
	// StorageEndpoint is the storage service endpoint.
	StorageEndpoint string `json:"storage-endpoint,omitempty"`
	// Regions lists the cloud's regions.
	Regions []CloudRegion `json:"regions,omitempty"`
	// CACertificates holds extra CA certificates (PEM) for the endpoints.
	CACertificates []string `json:"ca-certificates,omitempty"`
	// SkipTLSVerify disables endpoint certificate checks.
	SkipTLSVerify bool `json:"skip-tls-verify,omitempty"`
	// Config holds cloud-wide model config defaults.
	Config map[string]any `json:"config,omitempty"`
	// RegionConfig holds per-region model config defaults.
	RegionConfig map[string]map[string]any `json:"region-config,omitempty"`
	// IsControllerCloud marks the cloud the controller runs in.
	IsControllerCloud bool `json:"is-controller-cloud,omitempty"`
}

// CloudRegion is one region of a cloud.
type CloudRegion struct {
	// Name is the region name.
	Name string `json:"name"`
	// Endpoint is the region's API endpoint.
	Endpoint string `json:"endpoint,omitempty"`
	// IdentityEndpoint is the region's identity endpoint.
	IdentityEndpoint string `json:"identity-endpoint,omitempty"`
	// StorageEndpoint is the region's storage endpoint.
	StorageEndpoint string `json:"storage-endpoint,omitempty"`
}

// CloudResult holds a Cloud or an error.
type CloudResult struct {
	// Cloud is the cloud definition.
	Cloud *Cloud `json:"cloud,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// CloudResults is the result of Cloud.Cloud.
type CloudResults struct {
	// Results holds one entry per requested cloud.
	Results []CloudResult `json:"results,omitempty"`
}

// CloudsResult is the result of Cloud.Clouds, keyed by cloud tag ("cloud-<name>").
type CloudsResult struct {
	// Clouds maps cloud tags to clouds.
	Clouds map[string]Cloud `json:"clouds,omitempty"`
}

// CloudUserInfo is a user with access to a cloud (Cloud.CloudInfo). Cloud
// admins see every such user; others see only themselves.
type CloudUserInfo struct {
	// UserName is the user's name, e.g. "admin" or "bob@external".
	UserName string `json:"user"`
	// DisplayName is the user's display name.
	DisplayName string `json:"display-name"`
	// Access is the user's access to the cloud: "admin" or "add-model".
	Access string `json:"access"`
}

// CloudDetails is a cloud's definition without its model defaults.
type CloudDetails struct {
	// Type is the provider type, e.g. "lxd".
	Type string `json:"type"`
	// AuthTypes lists the supported credential types.
	AuthTypes []string `json:"auth-types,omitempty"`
	// Endpoint is the cloud's API endpoint.
	Endpoint string `json:"endpoint,omitempty"`
	// IdentityEndpoint is the identity service endpoint.
	IdentityEndpoint string `json:"identity-endpoint,omitempty"`
	// StorageEndpoint is the storage service endpoint.
	StorageEndpoint string `json:"storage-endpoint,omitempty"`
	// Regions lists the cloud's regions.
	Regions []CloudRegion `json:"regions,omitempty"`
}

// CloudInfo is a cloud's details and the users who may use it. The
// details' fields appear inline in the JSON.
type CloudInfo struct {
	CloudDetails
	// Users lists the users with access to the cloud.
	Users []CloudUserInfo `json:"users"`
}

// CloudInfoResult holds a CloudInfo or an error.
type CloudInfoResult struct {
	// Result is the cloud information.
	Result *CloudInfo `json:"result,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// CloudInfoResults is the result of Cloud.CloudInfo.
type CloudInfoResults struct {
	// Results holds one entry per requested cloud.
	Results []CloudInfoResult `json:"results"`
}

// ListCloudsRequest is the argument of Cloud.ListCloudInfo.
type ListCloudsRequest struct {
	// UserTag is the user whose clouds to list.
	UserTag string `json:"user-tag"`
	// All asks for every cloud (controller superusers only).
	All bool `json:"all,omitempty"`
}

// ListCloudInfo is a cloud's details and the user's access to it. The
// details' fields appear inline in the JSON.
type ListCloudInfo struct {
	CloudDetails
	// Access is the user's access to the cloud.
	Access string `json:"user-access"`
}

// ListCloudInfoResult holds a ListCloudInfo or an error.
type ListCloudInfoResult struct {
	// Result is the cloud information.
	Result *ListCloudInfo `json:"result,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// ListCloudInfoResults is the result of Cloud.ListCloudInfo.
type ListCloudInfoResults struct {
	// Results holds one entry per cloud.
	Results []ListCloudInfoResult `json:"results"`
}

// CloudAction is "grant" or "revoke".
type CloudAction string

// Cloud access actions.
const (
	GrantCloudAccess  CloudAction = "grant"
	RevokeCloudAccess CloudAction = "revoke"
)

// ModifyCloudAccessRequest is the argument of Cloud.ModifyCloudAccess.
type ModifyCloudAccessRequest struct {
	// Changes lists the access changes.
	Changes []ModifyCloudAccess `json:"changes"`
}

// ModifyCloudAccess grants or revokes one user's access to one cloud.
type ModifyCloudAccess struct {
	// UserTag is the user.
	UserTag string `json:"user-tag"`
	// CloudTag is the cloud.
	CloudTag string `json:"cloud-tag"`
	// Action is grant or revoke.
	Action CloudAction `json:"action"`
	// Access is "admin" or "add-model".
	Access string `json:"access"`
}

// CloudCredential is a credential's content, its secrets possibly
// redacted.
type CloudCredential struct {
	// AuthType is the credential's authentication type, e.g. "userpass".
	AuthType string `json:"auth-type"`
	// Attributes holds the credential's (non-secret) attributes.
	Attributes map[string]string `json:"attrs,omitempty"`
	// Redacted names the attributes left out because they are secret.
	Redacted []string `json:"redacted,omitempty"`
}

// CloudCredentialResult holds a CloudCredential or an error.
type CloudCredentialResult struct {
	// Result is the credential.
	Result *CloudCredential `json:"result,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// CloudCredentialResults is the result of Cloud.Credential.
type CloudCredentialResults struct {
	// Results holds one entry per requested credential.
	Results []CloudCredentialResult `json:"results,omitempty"`
}

// UserCloud names a user and a cloud, e.g. to list the user's
// credentials for the cloud.
type UserCloud struct {
	// UserTag is the user.
	UserTag string `json:"user-tag"`
	// CloudTag is the cloud.
	CloudTag string `json:"cloud-tag"`
}

// UserClouds is the argument of Cloud.UserCredentials.
type UserClouds struct {
	// UserClouds lists the user/cloud pairs.
	UserClouds []UserCloud `json:"user-clouds,omitempty"`
}

// TaggedCredential is a credential and its tag
// ("cloudcred-<cloud>_<owner>_<name>").
type TaggedCredential struct {
	// Tag is the credential's tag.
	Tag string `json:"tag"`
	// Credential is the credential's content.
	Credential CloudCredential `json:"credential"`
}

// TaggedCredentials is the argument of Cloud.AddCredentials and
// Cloud.CheckCredentialsModels.
type TaggedCredentials struct {
	// Credentials lists the credentials.
	Credentials []TaggedCredential `json:"credentials,omitempty"`
}

// CloudCredentialArg names one of the caller's credentials by cloud and
// name.
type CloudCredentialArg struct {
	// CloudName is the cloud's name.
	CloudName string `json:"cloud-name"`
	// CredentialName is the credential's name.
	CredentialName string `json:"credential-name"`
}

// CloudCredentialArgs is the argument of Cloud.CredentialContents.
type CloudCredentialArgs struct {
	// Credentials lists the credentials; empty means all of the caller's.
	Credentials []CloudCredentialArg `json:"credentials,omitempty"`
	// IncludeSecrets asks for secret attributes too.
	IncludeSecrets bool `json:"include-secrets"`
}

// CredentialContent is a stored credential's content.
type CredentialContent struct {
	// Name is the credential's name.
	Name string `json:"name"`
	// Cloud is the name of the credential's cloud.
	Cloud string `json:"cloud"`
	// AuthType is the authentication type.
	AuthType string `json:"auth-type"`
	// Valid tells whether the credential is valid.
	Valid *bool `json:"valid,omitempty"`
	// Attributes holds the credential's attributes (secrets only when
	// asked for).
	Attributes map[string]string `json:"attrs,omitempty"`
}

// ModelAccess is a model that uses a credential and its owner's access to
// that model.
type ModelAccess struct {
	// Model is the model's name.
	Model string `json:"model,omitempty"`
	// Access is the credential owner's access to the model.
	Access string `json:"access,omitempty"`
}

// ControllerCredentialInfo is what a controller keeps about a credential:
// its content and the models that use it.
type ControllerCredentialInfo struct {
	// Content is the credential's content.
	Content CredentialContent `json:"content,omitempty"`
	// Models lists the models that use the credential.
	Models []ModelAccess `json:"models,omitempty"`
}

// CredentialContentResult holds a ControllerCredentialInfo or an error.
type CredentialContentResult struct {
	// Result is the credential information.
	Result *ControllerCredentialInfo `json:"result,omitempty"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// CredentialContentResults is the result of Cloud.CredentialContents.
type CredentialContentResults struct {
	// Results holds one entry per credential.
	Results []CredentialContentResult `json:"results,omitempty"`
}

// UpdateCredentialModelResult is how a credential update fares with one
// model that uses the credential.
type UpdateCredentialModelResult struct {
	// ModelUUID is the model's UUID.
	ModelUUID string `json:"uuid"`
	// ModelName is the model's name.
	ModelName string `json:"name"`
	// Errors lists what the model found wrong with the new content.
	Errors []ErrorResult `json:"errors,omitempty"`
}

// UpdateCredentialResult is the outcome of updating one credential.
type UpdateCredentialResult struct {
	// CredentialTag is the credential's tag.
	CredentialTag string `json:"tag"`
	// Error is set when the credential was not updated.
	Error *Error `json:"error,omitempty"`
	// Models lists the checks against the models that use the credential.
	Models []UpdateCredentialModelResult `json:"models,omitempty"`
}

// UpdateCredentialResults is the result of Cloud.UpdateCredentialsCheckModels
// and Cloud.CheckCredentialsModels.
type UpdateCredentialResults struct {
	// Results holds one entry per credential.
	Results []UpdateCredentialResult `json:"results,omitempty"`
}

// UpdateCredentialArgs is the argument of Cloud.UpdateCredentialsCheckModels.
type UpdateCredentialArgs struct {
	// Credentials lists the credentials to add or update.
	Credentials []TaggedCredential `json:"credentials"`
	// Force updates even if a model using the credential objects
	// (controller superusers only).
	Force bool `json:"force"`
}

// RevokeCredentialArg names one credential to remove.
type RevokeCredentialArg struct {
	// Tag is the credential's tag.
	Tag string `json:"tag"`
	// Force removes it even if models use it.
	Force bool `json:"force"`
}

// RevokeCredentialArgs is the argument of Cloud.RevokeCredentialsCheckModels.
type RevokeCredentialArgs struct {
	// Credentials lists the credentials to remove.
	Credentials []RevokeCredentialArg `json:"credentials"`
}
