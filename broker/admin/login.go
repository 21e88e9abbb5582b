package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

// Lifetimes of the browser flow's state and of a REST device poll.
const (
	browserLoginTTL = 10 * time.Minute
	devicePollWait  = 20 * time.Second // shorter than jimmctl's request timeout
)

// Additional authenticated data of what the broker seals for clients, and
// the browser flow's cookie.
const (
	aadDeviceHandle = "oidc/device-login"
	aadBrowserLogin = "oidc/browser-login"
	browserCookie   = "jimm-oidc-login"
)

func errNoIdentityProvider() error {
	return restError(http.StatusNotImplemented, restapi.CodeNoIdentityProvider, identity.NoIdentityProvider)
}

// loginError maps a failed login to an HTTP error.
func loginError(c echo.Context, err error) error {
	if dbfault.IsDatabase(err) {
		return dbError(err, nil) // the broker's failure, not the caller's credentials
	}
	if herr, ok := throttled(c, err); ok {
		return herr
	}
	switch jujuapi.ErrorCode(err) {
	case jujuapi.CodeUnauthorized, jujuapi.CodeSessionTokenInvalid, jujuapi.CodeBadRequest:
		return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, err.Error())
	case jujuapi.CodeNotSupported:
		return errNoIdentityProvider()
	}
	return restError(http.StatusBadGateway, restapi.CodeUnavailable, err.Error())
}

// login is POST /v1/login: a user and password, or a service account's
// client credentials, for a session token.
func (a *API) login(c echo.Context) error {
	var req struct {
		restapi.LoginRequest
		restapi.ClientCredentialsRequest
	}
	if err := bind(c, &req, "login: expected JSON {user, password} or {client-id, client-secret}"); err != nil {
		return err
	}
	if err := checks(input.Text("user", req.User, input.MaxUser), input.Secret("password", req.Password, input.MaxText),
		input.Text("client-id", req.ClientID, input.MaxUser), input.Secret("client-secret", req.ClientSecret, input.MaxText)); err != nil {
		return err
	}
	ctx, remote := c.Request().Context(), c.Request().RemoteAddr
	if req.ClientID != "" {
		id, err := a.identity.ClientCredentials(ctx, remote, req.ClientID, req.ClientSecret)
		if err != nil {
			return loginError(c, err)
		}
		return a.session(c, id)
	}
	id, err := a.identity.Password(ctx, remote, req.User, req.Password)
	if dbfault.IsDatabase(err) {
		return dbError(err, a.log)
	}
	if herr, ok := throttled(c, err); ok {
		return herr // only ever a wrong password, answered as "slow down"
	}
	if err != nil {
		return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, "invalid user name or password")
	}
	return a.session(c, id)
}

// session mints a session for id and answers with it.
func (a *API) session(c echo.Context, id *identity.Identity) error {
	token, expires, err := a.identity.NewSession(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restapi.LoginResponse{Token: token, Identity: id.Name, ExpiresAt: expires})
}

// loginDevice starts a device login; its state travels sealed in the
// handle, so that any replica can finish it.
func (a *API) loginDevice(c echo.Context) error {
	d, err := a.identity.StartDevice(c.Request().Context(), c.Request().RemoteAddr)
	if err != nil {
		if resp, ok := throttled(c, err); ok {
			return resp
		}
		return loginError(c, err)
	}
	handle, err := a.identity.Seal(d, aadDeviceHandle, "device login")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restapi.DeviceLoginResponse{
		VerificationURI: d.VerificationURI, UserCode: d.UserCode, Interval: d.Interval, Handle: handle,
	})
}

func (a *API) loginDeviceToken(c echo.Context) error {
	if !a.identity.HasIdentityProvider() {
		return errNoIdentityProvider()
	}
	var req restapi.DeviceTokenRequest
	usage := "device login: expected JSON {handle} from POST " + restapi.PathLoginDevice
	if err := bind(c, &req, usage); err != nil {
		return err
	}
	if req.Handle == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, usage)
	}
	if err := checks(input.Text("handle", req.Handle, input.MaxCert)); err != nil {
		return err
	}
	d, err := a.openDeviceHandle(req.Handle)
	if err != nil {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), devicePollWait)
	defer cancel()
	id, pending, err := a.identity.WaitDevice(ctx, c.Request().RemoteAddr, d)
	switch {
	case pending && c.Request().Context().Err() == nil:
		return restError(http.StatusBadRequest, restapi.CodeAuthorizationPending, "the device login is not approved yet: ask again")
	case err != nil:
		return loginError(c, err)
	}
	return a.session(c, id)
}

// openDeviceHandle unseals a device login handle.
func (a *API) openDeviceHandle(handle string) (*authz.DeviceLogin, error) {
	var d authz.DeviceLogin
	if !a.identity.Open(handle, aadDeviceHandle, &d) {
		return nil, errors.New("device login: the handle is not one this broker issued; start again with POST " + restapi.PathLoginDevice)
	}
	if !d.Expiry.IsZero() && a.clock.Now().After(d.Expiry) {
		return nil, fmt.Errorf("device login: the code %s expired at %s; start again with POST %s", d.UserCode, d.Expiry.UTC().Format(time.RFC3339), restapi.PathLoginDevice)
	}
	return &d, nil
}

// logout revokes the caller's bearer session token.
func (a *API) logout(c echo.Context) error {
	token, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), restapi.BearerAuthScheme+" ")
	if !ok {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "logout: only a session (bearer token) can be logged out")
	}
	if err := a.identity.RevokeSession(c.Request().Context(), token); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restapi.LogoutResponse{LoggedOut: true, Identity: caller(c).Name})
}

// browserState is what the short-lived login cookie carries between
// /auth/login and /auth/callback.
type browserState struct {
	State    string    `json:"state"`
	Verifier string    `json:"verifier"`
	Expires  time.Time `json:"expires"`
}

func (a *API) browserLogin(c echo.Context) error {
	if !a.identity.HasIdentityProvider() {
		return errNoIdentityProvider()
	}
	bl, err := a.identity.StartBrowser(c.Request().Context())
	if err != nil {
		return loginError(c, err)
	}
	sealed, err := a.identity.Seal(browserState{State: bl.State, Verifier: bl.Verifier, Expires: a.clock.Now().Add(browserLoginTTL)}, aadBrowserLogin, "browser login")
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: browserCookie, Value: sealed, Path: "/auth",
		MaxAge: int(browserLoginTTL / time.Second), HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	return c.Redirect(http.StatusFound, bl.URL)
}

func (a *API) browserCallback(c echo.Context) error {
	if !a.identity.HasIdentityProvider() {
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
	bl, err := a.openBrowserState(c)
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
	id, err := a.identity.FinishBrowser(ctx, c.Request().RemoteAddr, code, bl.Verifier)
	if err != nil {
		return loginError(c, err)
	}
	token, expires, err := a.identity.NewSession(ctx, id)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: restapi.SessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	return c.Redirect(http.StatusSeeOther, restapi.PathAuthWhoAmI)
}

// openBrowserState reads the login cookie /auth/login set.
func (a *API) openBrowserState(c echo.Context) (*browserState, error) {
	var bl browserState
	ck, err := c.Cookie(browserCookie)
	if err != nil || !a.identity.Open(ck.Value, aadBrowserLogin, &bl) || a.clock.Now().After(bl.Expires) {
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

func (a *API) browserWhoAmI(c echo.Context) error {
	token := sessionCookie(c)
	if token == "" {
		return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, "not logged in: no session cookie; log in at "+restapi.PathAuthLogin)
	}
	id, err := a.identity.Session(c.Request().Context(), c.Request().RemoteAddr, token)
	if herr, ok := throttled(c, err); ok {
		return herr
	}
	if err != nil {
		return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, err.Error())
	}
	return c.JSON(http.StatusOK, restapi.WhoAmI{Identity: id.Name, Admin: id.Admin})
}

func (a *API) browserLogout(c echo.Context) error {
	token := sessionCookie(c)
	clearCookie(c, restapi.SessionCookie, "/")
	if token == "" {
		return c.JSON(http.StatusOK, restapi.LogoutResponse{})
	}
	if err := a.identity.RevokeSession(c.Request().Context(), token); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restapi.LogoutResponse{LoggedOut: true})
}
