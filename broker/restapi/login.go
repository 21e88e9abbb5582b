package restapi

// Paths of logins through the broker's identity provider (OIDC) and of
// logout.
const (
	PathLogout           = "/v1/logout"             // POST (bearer session token) → LogoutResponse: the token is revoked
	PathLoginDevice      = "/v1/login/device"       // POST → DeviceLoginResponse
	PathLoginDeviceToken = "/v1/login/device/token" // POST DeviceTokenRequest → LoginResponse (or CodeAuthorizationPending: ask again)
)

// Browser login paths (not under /v1: a person's browser follows them).
const (
	PathAuthLogin    = "/auth/login"    // GET: redirect to the identity provider
	PathAuthCallback = "/auth/callback" // GET: the identity provider sends the browser back here
	PathAuthWhoAmI   = "/auth/whoami"   // GET → WhoAmI, from the session cookie
	PathAuthLogout   = "/auth/logout"   // GET or POST → LogoutResponse: revoke the cookie's session
	// SessionCookie holds a browser's session token.
	SessionCookie = "jimm-session"
)

// Error codes of identity provider logins.
const (
	// CodeAuthorizationPending: the person has not approved the device
	// login yet; ask again.
	CodeAuthorizationPending = "authorization pending"
	// CodeNoIdentityProvider: the broker has no identity provider
	// configured, so it cannot do this kind of login.
	CodeNoIdentityProvider = "no identity provider"
)

// ClientCredentialsRequest logs a service account in (POST PathLogin, in
// place of a user and password). The identity is "<client-id>@serviceaccount".
type ClientCredentialsRequest struct {
	ClientID     string `json:"client-id"`
	ClientSecret string `json:"client-secret"`
}

// DeviceLoginResponse starts a device login: the person visits
// VerificationURI and enters UserCode; the client then posts Handle to
// PathLoginDeviceToken until it gets a session token.
type DeviceLoginResponse struct {
	VerificationURI string `json:"verification-uri"`
	UserCode        string `json:"user-code"`
	// Handle is opaque: the device login, sealed by the broker, so that
	// any replica can finish it.
	Handle string `json:"handle"`
	// Interval is how many seconds the client should wait between polls
	// after a CodeAuthorizationPending answer.
	Interval int64 `json:"interval,omitempty"`
}

// DeviceTokenRequest asks for the session token of a device login.
type DeviceTokenRequest struct {
	Handle string `json:"handle"`
}

// LogoutResponse says a session was revoked.
type LogoutResponse struct {
	LoggedOut bool   `json:"logged-out"`
	Identity  string `json:"identity,omitempty"`
}
