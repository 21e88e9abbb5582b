package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// OIDCConfig is the broker's OpenID Connect identity provider, for people
// (device and browser logins) and service accounts (client credentials).
// An empty Issuer means none: only the bootstrap admin can log in.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL.
	Issuer string
	// ClientID and ClientSecret are the broker's client at the provider.
	ClientID, ClientSecret string
	// Scopes requested at login (default openid, email, profile).
	Scopes []string
	// CACertFile is a PEM file of the CA to trust for the provider's TLS
	// certificate instead of the system roots.
	CACertFile string
	// IdentityClaim names people: "email" (the verified email, default) or
	// "sub".
	IdentityClaim string
}

// noIdentityProvider is the answer to an identity provider login when
// none is configured.
const noIdentityProvider = "no identity provider configured: the broker was started without --oidc-issuer, so only the bootstrap admin can log in"

// Lifetimes of the browser flow's state and of a REST device poll.
const (
	browserLoginTTL = 10 * time.Minute
	devicePollWait  = 20 * time.Second // shorter than jimmctl's request timeout
)

// Additional authenticated data of what the broker seals for clients.
const (
	aadDeviceHandle = "oidc/device-login"
	aadBrowserLogin = "oidc/browser-login"
	browserCookie   = "jimm-oidc-login"
)

// setupOIDC builds the broker's identity provider client, if one is
// configured. It needs the final public address (for the browser flow's
// redirect URL) and contacts nobody: the provider is discovered on first
// use.
func (s *Server) setupOIDC() error {
	c := s.cfg.OIDC
	if c.Issuer == "" {
		if c.ClientID != "" || c.ClientSecret != "" {
			return errors.New("an OIDC client id or secret is given without --oidc-issuer")
		}
		return nil
	}
	var ca []byte
	if c.CACertFile != "" {
		var err error
		if ca, err = os.ReadFile(c.CACertFile); err != nil {
			return fmt.Errorf("OIDC CA certificate: %w", err)
		}
	}
	o, err := authz.NewOIDC(authz.OIDCConfig{
		Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: c.Scopes,
		CACertPEM: ca, IdentityClaim: c.IdentityClaim,
		RedirectURL: "https://" + s.cfg.PublicAddress + restapi.PathAuthCallback,
	})
	if err != nil {
		return err
	}
	s.oidc = o
	return nil
}

// oidcError turns an identity provider error into what a client sees: a
// refusal is unauthorized access with the reason (OIDC errors never hold
// secrets); anything else is the broker's or provider's failure.
func oidcError(err error) error {
	if errors.Is(err, authz.ErrOIDCRefused) {
		return jujuapi.Errorf(jujuapi.CodeUnauthorized, "%s", err.Error())
	}
	return err
}

// checkOIDC is the credential check of a login the identity provider has
// already answered: name (or err) is its answer.
func (s *Server) checkOIDC(name string, err error) credentialCheck {
	return func(ctx context.Context) (*identity, error) {
		if err != nil {
			return nil, oidcError(err)
		}
		return s.touchIdentity(ctx, name)
	}
}

// checkClientCredentials authenticates a service account.
func (s *Server) checkClientCredentials(clientID, clientSecret string) credentialCheck {
	return func(ctx context.Context) (*identity, error) {
		return s.checkOIDC(s.oidc.ClientCredentials(ctx, clientID, clientSecret))(ctx)
	}
}

// loginClientCredentials authenticates a service account from any
// endpoint.
func (s *Server) loginClientCredentials(ctx context.Context, remote, clientID, clientSecret string) (*identity, error) {
	if s.oidc == nil {
		return nil, jujuapi.Errorf(jujuapi.CodeNotSupported, "%s", noIdentityProvider)
	}
	return s.authenticate(ctx, loginByClientCredentials, remote, clientID+authz.ServiceAccountDomain,
		s.checkClientCredentials(clientID, clientSecret))
}

// waitDevice waits for the person to approve a device login and
// authenticates the identity the provider names. pending reports that ctx
// ended before the provider answered, so nothing was checked.
func (s *Server) waitDevice(ctx context.Context, remote string, d *authz.DeviceLogin) (id *identity, pending bool, err error) {
	name, err := s.oidc.WaitDevice(ctx, d)
	if err != nil && ctx.Err() != nil && !errors.Is(err, authz.ErrOIDCRefused) {
		return nil, true, ctx.Err()
	}
	id, err = s.authenticate(ctx, loginByDevice, remote, "", s.checkOIDC(name, err))
	return id, false, err
}

// startDevice starts a device login at the identity provider, for any
// endpoint.
func (s *Server) startDevice(ctx context.Context) (*authz.DeviceLogin, error) {
	if s.oidc == nil {
		return nil, jujuapi.Errorf(jujuapi.CodeNotSupported, "%s", noIdentityProvider)
	}
	d, err := s.oidc.StartDevice(ctx)
	if err != nil {
		s.log.Warn("cannot start a device login", "issuer", s.oidc.Issuer(), "err", err)
		return nil, oidcError(err)
	}
	return d, nil
}

// deviceSessionToken answers Admin(4).GetDeviceSessionToken, on /api or a
// model connection: it waits for the device login d (the connection's,
// nil if none was started) and mints a session for who approved it.
func (s *Server) deviceSessionToken(ctx context.Context, remote string, d *authz.DeviceLogin) (params.GetDeviceSessionTokenResponse, error) {
	if d == nil {
		return params.GetDeviceSessionTokenResponse{}, jujuapi.Errorf(jujuapi.CodeBadRequest, "no device login in progress on this connection: call LoginDevice first")
	}
	id, _, err := s.waitDevice(ctx, remote, d)
	if err != nil {
		return params.GetDeviceSessionTokenResponse{}, err
	}
	token, _, err := s.newSession(ctx, id)
	if err != nil {
		return params.GetDeviceSessionTokenResponse{}, err
	}
	return params.GetDeviceSessionTokenResponse{SessionToken: token}, nil
}

// sealForClient seals v (JSON) with aad for a client to hand back, as
// URL-safe base64; what names it in an error.
func (s *Server) sealForClient(v any, aad, what string) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sealed, err := s.cipher.Seal(raw, aad)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", what, err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openFromClient opens into v what sealForClient sealed with aad. It
// reports whether text is such a value.
func (s *Server) openFromClient(text, aad string, v any) bool {
	sealed, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return false
	}
	raw, err := s.cipher.Open(sealed, aad)
	return err == nil && json.Unmarshal(raw, v) == nil
}

// Admin(4) on /api: the Juju client's device login.

func (a *apiSession) loginDevice(ctx context.Context, _ struct{}) (params.LoginDeviceResponse, error) {
	if a.caller() != nil {
		return params.LoginDeviceResponse{}, jujuapi.ErrLoggedIn
	}
	d, err := a.srv.startDevice(ctx)
	if err != nil {
		return params.LoginDeviceResponse{}, err
	}
	a.mu.Lock()
	a.device = d
	a.mu.Unlock()
	return params.LoginDeviceResponse{VerificationURI: d.VerificationURI, UserCode: d.UserCode}, nil
}

func (a *apiSession) getDeviceSessionToken(ctx context.Context, _ struct{}) (params.GetDeviceSessionTokenResponse, error) {
	a.mu.Lock()
	d := a.device
	a.device = nil
	a.mu.Unlock()
	return a.srv.deviceSessionToken(ctx, a.remote, d)
}

func (a *apiSession) loginWithClientCredentials(ctx context.Context, req params.LoginWithClientCredentialsRequest) (params.LoginResult, error) {
	if a.caller() != nil {
		return params.LoginResult{}, jujuapi.ErrLoggedIn
	}
	id, err := a.srv.loginClientCredentials(ctx, a.remote, req.ClientID, req.ClientSecret)
	if err != nil {
		return params.LoginResult{}, err
	}
	return a.loggedIn(id), nil
}

// REST and browser routes.

// oidcRoutes mounts the identity provider logins: device logins and
// logout under /v1, the browser flow under /auth.
func (s *Server) oidcRoutes(e *echo.Echo, v1 *echo.Group) {
	v1.POST("/login/device", s.restLoginDevice)
	v1.POST("/login/device/token", s.restLoginDeviceToken)
	v1.POST("/logout", s.restLogout, s.restAuth)
	e.GET(restapi.PathAuthLogin, s.authLogin)
	e.GET(restapi.PathAuthCallback, s.authCallback)
	e.GET(restapi.PathAuthWhoAmI, s.authWhoAmI)
	e.GET(restapi.PathAuthLogout, s.authLogout)
	e.POST(restapi.PathAuthLogout, s.authLogout)
}

func errNoIdentityProvider() error {
	return restError(http.StatusNotImplemented, restapi.CodeNoIdentityProvider, noIdentityProvider)
}

// restOIDCError maps an identity provider login failure to an HTTP error.
func restOIDCError(err error) error {
	switch jujuapi.ErrorCode(err) {
	case jujuapi.CodeUnauthorized, jujuapi.CodeSessionTokenInvalid, jujuapi.CodeBadRequest:
		return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, err.Error())
	case jujuapi.CodeNotSupported:
		return errNoIdentityProvider()
	}
	return restError(http.StatusBadGateway, restapi.CodeUnavailable, err.Error())
}

// restLoginClientCredentials is POST /v1/login for a service account.
func (s *Server) restLoginClientCredentials(c echo.Context, req restapi.ClientCredentialsRequest) error {
	id, err := s.loginClientCredentials(c.Request().Context(), c.Request().RemoteAddr, req.ClientID, req.ClientSecret)
	if err != nil {
		return restOIDCError(err)
	}
	return s.restSession(c, id)
}

// restSession mints a session for id and answers with it.
func (s *Server) restSession(c echo.Context, id *identity) error {
	token, expires, err := s.newSession(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restapi.LoginResponse{Token: token, Identity: id.Name, ExpiresAt: expires})
}

func (s *Server) restLoginDevice(c echo.Context) error {
	d, err := s.startDevice(c.Request().Context())
	if err != nil {
		return restOIDCError(err)
	}
	handle, err := s.sealForClient(d, aadDeviceHandle, "device login")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restapi.DeviceLoginResponse{
		VerificationURI: d.VerificationURI, UserCode: d.UserCode, Interval: d.Interval, Handle: handle,
	})
}

func (s *Server) restLoginDeviceToken(c echo.Context) error {
	if s.oidc == nil {
		return errNoIdentityProvider()
	}
	var req restapi.DeviceTokenRequest
	if err := c.Bind(&req); err != nil || req.Handle == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "device login: expected JSON {handle} from POST "+restapi.PathLoginDevice)
	}
	d, err := s.openDeviceHandle(req.Handle)
	if err != nil {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), devicePollWait)
	defer cancel()
	id, pending, err := s.waitDevice(ctx, c.Request().RemoteAddr, d)
	switch {
	case pending && c.Request().Context().Err() == nil:
		return restError(http.StatusBadRequest, restapi.CodeAuthorizationPending, "the device login is not approved yet: ask again")
	case err != nil:
		return restOIDCError(err)
	}
	return s.restSession(c, id)
}

// openDeviceHandle unseals a device login handle.
func (s *Server) openDeviceHandle(handle string) (*authz.DeviceLogin, error) {
	var d authz.DeviceLogin
	if !s.openFromClient(handle, aadDeviceHandle, &d) {
		return nil, errors.New("device login: the handle is not one this broker issued; start again with POST " + restapi.PathLoginDevice)
	}
	if !d.Expiry.IsZero() && time.Now().After(d.Expiry) {
		return nil, fmt.Errorf("device login: the code %s expired at %s; start again with POST %s", d.UserCode, d.Expiry.UTC().Format(time.RFC3339), restapi.PathLoginDevice)
	}
	return &d, nil
}

// restLogout revokes the caller's bearer session token.
func (s *Server) restLogout(c echo.Context) error {
	auth := c.Request().Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, restapi.BearerAuthScheme+" ")
	if !ok {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "logout: only a session (bearer token) can be logged out")
	}
	if err := s.revokeSession(c.Request().Context(), token); err != nil {
		return err
	}
	id := c.Get("identity").(*identity)
	return c.JSON(http.StatusOK, restapi.LogoutResponse{LoggedOut: true, Identity: id.Name})
}

// browserLogin is what the short-lived login cookie carries between
// /auth/login and /auth/callback.
type browserLogin struct {
	State    string    `json:"state"`
	Verifier string    `json:"verifier"`
	Expires  time.Time `json:"expires"`
}

func (s *Server) authLogin(c echo.Context) error {
	if s.oidc == nil {
		return errNoIdentityProvider()
	}
	bl, err := s.oidc.StartBrowser(c.Request().Context())
	if err != nil {
		s.log.Warn("cannot start a browser login", "issuer", s.oidc.Issuer(), "err", err)
		return restOIDCError(oidcError(err))
	}
	sealed, err := s.sealForClient(browserLogin{State: bl.State, Verifier: bl.Verifier, Expires: time.Now().Add(browserLoginTTL)}, aadBrowserLogin, "browser login")
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: browserCookie, Value: sealed, Path: "/auth",
		MaxAge: int(browserLoginTTL / time.Second), HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	return c.Redirect(http.StatusFound, bl.URL)
}

func (s *Server) authCallback(c echo.Context) error {
	if s.oidc == nil {
		return errNoIdentityProvider()
	}
	clearCookie(c, browserCookie, "/auth")
	if e := c.QueryParam("error"); e != "" {
		msg := "browser login refused by the identity provider: " + e
		if d := c.QueryParam("error_description"); d != "" {
			msg += ": " + d
		}
		return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, msg)
	}
	bl, err := s.openBrowserLogin(c)
	if err != nil {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
	}
	if state := c.QueryParam("state"); state == "" || state != bl.State {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "browser login: the state does not match this browser's login; start again at "+restapi.PathAuthLogin)
	}
	code := c.QueryParam("code")
	if code == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "browser login: the identity provider sent no authorization code")
	}
	ctx := c.Request().Context()
	name, ferr := s.oidc.FinishBrowser(ctx, code, bl.Verifier)
	id, err := s.authenticate(ctx, loginByBrowser, c.Request().RemoteAddr, "", s.checkOIDC(name, ferr))
	if err != nil {
		return restOIDCError(err)
	}
	token, expires, err := s.newSession(ctx, id)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: restapi.SessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	return c.Redirect(http.StatusSeeOther, restapi.PathAuthWhoAmI)
}

// openBrowserLogin reads the login cookie /auth/login set.
func (s *Server) openBrowserLogin(c echo.Context) (*browserLogin, error) {
	var bl browserLogin
	ck, err := c.Cookie(browserCookie)
	if err != nil || !s.openFromClient(ck.Value, aadBrowserLogin, &bl) || time.Now().After(bl.Expires) {
		return nil, errors.New("browser login: no login in progress in this browser (or it expired); start again at " + restapi.PathAuthLogin)
	}
	return &bl, nil
}

func clearCookie(c echo.Context, name, path string) {
	c.SetCookie(&http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

// sessionCookie returns the browser's session token, or "".
func sessionCookie(c echo.Context) string {
	ck, err := c.Cookie(restapi.SessionCookie)
	if err != nil {
		return ""
	}
	return ck.Value
}

func (s *Server) authWhoAmI(c echo.Context) error {
	token := sessionCookie(c)
	if token == "" {
		return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, "not logged in: no session cookie; log in at "+restapi.PathAuthLogin)
	}
	id, err := s.authenticate(c.Request().Context(), loginBySessionToken, c.Request().RemoteAddr, "", s.checkSession(token))
	if err != nil {
		return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, err.Error())
	}
	return c.JSON(http.StatusOK, restapi.WhoAmI{Identity: id.Name, Admin: id.Admin})
}

func (s *Server) authLogout(c echo.Context) error {
	token := sessionCookie(c)
	clearCookie(c, restapi.SessionCookie, "/")
	if token == "" {
		return c.JSON(http.StatusOK, restapi.LogoutResponse{})
	}
	if err := s.revokeSession(c.Request().Context(), token); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restapi.LogoutResponse{LoggedOut: true})
}

// Admin(4) on a model connection: the Juju client starts a device login
// wherever its session token is refused, model connections included.

func (p *modelProxy) loginDevice(ctx context.Context) (*params.LoginDeviceResponse, error) {
	d, err := p.srv.startDevice(ctx)
	if err != nil {
		return nil, err
	}
	p.device = d
	return &params.LoginDeviceResponse{VerificationURI: d.VerificationURI, UserCode: d.UserCode}, nil
}

func (p *modelProxy) getDeviceSessionToken(ctx context.Context) (params.GetDeviceSessionTokenResponse, error) {
	d := p.device
	p.device = nil
	return p.srv.deviceSessionToken(ctx, p.remote, d)
}

// checkSessionOrDevice is checkSession for the Juju client's
// LoginWithSessionToken: a login with no token at all is answered "session
// token invalid", the client's cue to start a device login (it sends an
// empty token for an account that has none yet).
func (s *Server) checkSessionOrDevice(token string) credentialCheck {
	if token == "" {
		return func(context.Context) (*identity, error) {
			return nil, jujuapi.Errorf(jujuapi.CodeSessionTokenInvalid, "no session token: log in (LoginDevice)")
		}
	}
	return s.checkSession(token)
}
