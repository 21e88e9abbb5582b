package params

import (
	"encoding/json"
	"time"
)

// LoginRequest is the argument of Admin.Login (versions 3 and 4).
type LoginRequest struct {
	// AuthTag is the tag of the entity logging in, e.g. "user-admin".
	AuthTag string `json:"auth-tag"`
	// Credentials is the password.
	Credentials string `json:"credentials"`
	// Nonce is the machine nonce, used by machine agents only.
	Nonce string `json:"nonce"`
	// Macaroons holds macaroon slices; each element is one JSON array of macaroons.
	Macaroons []json.RawMessage `json:"macaroons"`
	// BakeryVersion is the macaroon bakery version the client speaks.
	BakeryVersion int `json:"bakery-version,omitempty"`
	// Token is a base64-encoded JWT, used by brokers logging in to controllers.
	Token string `json:"token,omitempty"`
	// CLIArgs is the command line of the client, for auditing.
	CLIArgs string `json:"cli-args,omitempty"`
	// UserData is opaque client data.
	UserData string `json:"user-data"`
	// ClientVersion is the client's Juju version.
	ClientVersion string `json:"client-version,omitempty"`
}

// LoginResult is the result of a successful login (or a discharge request).
type LoginResult struct {
	// DischargeRequired is a (bakery v1) macaroon to discharge before logging in again.
	DischargeRequired json.RawMessage `json:"discharge-required,omitempty"`
	// BakeryDischargeRequired is a bakery macaroon to discharge before logging in again.
	BakeryDischargeRequired json.RawMessage `json:"bakery-discharge-required,omitempty"`
	// DischargeRequiredReason says why a discharge is needed.
	DischargeRequiredReason string `json:"discharge-required-error,omitempty"`
	// Servers lists the API addresses, one slice per server.
	Servers [][]HostPort `json:"servers,omitempty"`
	// PublicDNSName is a host name with a publicly trusted certificate, if any.
	PublicDNSName string `json:"public-dns-name,omitempty"`
	// ModelTag is the tag of the connected model; empty on a controller connection.
	ModelTag string `json:"model-tag,omitempty"`
	// ControllerTag is the tag of the controller.
	ControllerTag string `json:"controller-tag,omitempty"`
	// UserInfo describes the logged-in user.
	UserInfo *AuthUserInfo `json:"user-info,omitempty"`
	// Facades lists the facades and versions the server offers.
	Facades []FacadeVersions `json:"facades,omitempty"`
	// ServerVersion is the server's Juju version.
	ServerVersion string `json:"server-version,omitempty"`
}

// AuthUserInfo describes the authenticated user in a LoginResult.
type AuthUserInfo struct {
	// DisplayName is the user's display name.
	DisplayName string `json:"display-name"`
	// Identity is the user's tag, e.g. "user-admin".
	Identity string `json:"identity"`
	// LastConnection is the user's previous login time, if known.
	LastConnection *time.Time `json:"last-connection,omitempty"`
	// Credentials is an optional opaque credential for the client to keep.
	Credentials *string `json:"credentials,omitempty"`
	// ControllerAccess is the user's controller access level ("" if none).
	ControllerAccess string `json:"controller-access"`
	// ModelAccess is the user's access level on the connected model.
	ModelAccess string `json:"model-access"`
}

// FacadeVersions names a facade and the versions the server supports.
type FacadeVersions struct {
	// Name is the facade name.
	Name string `json:"name"`
	// Versions lists the supported versions.
	Versions []int `json:"versions"`
}

// RedirectInfoResult is the result of Admin.RedirectInfo.
type RedirectInfoResult struct {
	// Servers lists the addresses of the target controller, one slice per server.
	Servers [][]HostPort `json:"servers"`
	// CACert is the target controller's CA certificate (PEM).
	CACert string `json:"ca-cert"`
}

// RedirectErrorInfo is the error-info of a "redirection required" error.
type RedirectErrorInfo struct {
	// Servers lists the addresses of the target controller, one slice per server.
	Servers [][]HostPort `json:"servers"`
	// CACert is the target controller's CA certificate (PEM).
	CACert string `json:"ca-cert"`
	// ControllerTag is the tag of the target controller.
	ControllerTag string `json:"controller-tag,omitempty"`
	// ControllerAlias is a friendly name for the target controller.
	ControllerAlias string `json:"controller-alias,omitempty"`
}

// AsMap converts the info into the map form used in Error.Info.
func (r RedirectErrorInfo) AsMap() map[string]any {
	return toMap(r)
}

// DischargeRequiredErrorInfo is the error-info of a "macaroon discharge
// required" error.
type DischargeRequiredErrorInfo struct {
	// Macaroon is a (bakery v1) macaroon to discharge.
	Macaroon json.RawMessage `json:"macaroon,omitempty"`
	// BakeryMacaroon is a bakery macaroon to discharge.
	BakeryMacaroon json.RawMessage `json:"bakery-macaroon,omitempty"`
	// MacaroonPath is the URL path the macaroon is valid for.
	MacaroonPath string `json:"macaroon-path,omitempty"`
}

// AsMap converts the info into the map form used in Error.Info.
func (d DischargeRequiredErrorInfo) AsMap() map[string]any {
	return toMap(d)
}

// toMap round-trips v through JSON into a generic map.
func toMap(v any) map[string]any {
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil
	}
	return m
}

// LoginDeviceResponse is the result of Admin(4).LoginDevice: the user must
// visit VerificationURI and enter UserCode.
type LoginDeviceResponse struct {
	// VerificationURI is the identity provider page to visit.
	VerificationURI string `json:"verification-uri"`
	// UserCode is the code to enter there.
	UserCode string `json:"user-code"`
}

// GetDeviceSessionTokenResponse is the result of Admin(4).GetDeviceSessionToken.
type GetDeviceSessionTokenResponse struct {
	// SessionToken is the token to use with LoginWithSessionToken.
	SessionToken string `json:"session-token"`
}

// DeviceSessionTokenResult is another name for GetDeviceSessionTokenResponse.
type DeviceSessionTokenResult = GetDeviceSessionTokenResponse

// LoginWithSessionTokenRequest is the argument of Admin(4).LoginWithSessionToken.
type LoginWithSessionTokenRequest struct {
	// SessionToken is the token from GetDeviceSessionToken.
	SessionToken string `json:"session-token"`
}

// SessionTokenLoginRequest is another name for LoginWithSessionTokenRequest.
type SessionTokenLoginRequest = LoginWithSessionTokenRequest

// LoginWithClientCredentialsRequest is the argument of
// Admin(4).LoginWithClientCredentials (service accounts).
type LoginWithClientCredentialsRequest struct {
	// ClientID is the service account's client id.
	ClientID string `json:"client-id"`
	// ClientSecret is the service account's secret.
	ClientSecret string `json:"client-secret"`
}
