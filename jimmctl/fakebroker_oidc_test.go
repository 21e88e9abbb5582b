package jimmctl

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// fakeIdentityProvider is the fake broker's stand-in for logins through an
// identity provider: device logins that a person approves after a number
// of polls, and service accounts with client secrets.
type fakeIdentityProvider struct {
	devices         map[string]*fakeDevice // handle → device login
	serviceAccounts map[string]string      // client id → secret
	logouts         []string               // identities whose session was revoked
}

// fakeDevice is a device login in progress.
type fakeDevice struct {
	identity string // who approves it; "" refuses it
	pending  int    // polls answered "pending" before the answer
}

const (
	fakeDeviceIdentity = "alice@example.com"
	fakeDeviceCode     = "WDJB-MJHT"
	fakeDeviceURI      = "https://idp.example.com/device"
	fakeClientID       = "ci-bot"
	fakeClientSecret   = "ci-bot-s3cret"
)

// loginBody is what POST /v1/login accepts.
type loginBody struct {
	restapi.LoginRequest
	restapi.ClientCredentialsRequest
}

func (f *fakeBroker) clientCredentialsLogin(w http.ResponseWriter, req restapi.ClientCredentialsRequest) {
	f.mu.Lock()
	secret, ok := f.oidc.serviceAccounts[req.ClientID]
	f.mu.Unlock()
	if !ok || secret != req.ClientSecret {
		writeError(w, http.StatusUnauthorized, restapi.CodeUnauthorized, "service account %q: identity provider refused the login: invalid_client", req.ClientID)
		return
	}
	identity := req.ClientID + "@serviceaccount"
	writeJSON(w, http.StatusOK, restapi.LoginResponse{Token: f.issueToken(identity), Identity: identity, ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second)})
}

// addDevicePlan makes the next device login be approved by identity ("":
// refused) after pending polls.
func (f *fakeBroker) startDevice(w http.ResponseWriter, _ *http.Request) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	handle := "dev-" + hex.EncodeToString(b)
	f.mu.Lock()
	if f.oidc.devices == nil {
		f.oidc.devices = map[string]*fakeDevice{}
	}
	f.oidc.devices[handle] = &fakeDevice{identity: fakeDeviceIdentity, pending: 1}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, restapi.DeviceLoginResponse{VerificationURI: fakeDeviceURI, UserCode: fakeDeviceCode, Handle: handle, Interval: 1})
}

func (f *fakeBroker) deviceToken(w http.ResponseWriter, r *http.Request) {
	var req restapi.DeviceTokenRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Handle == "" {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "device login: expected JSON {handle}")
		return
	}
	f.mu.Lock()
	d, ok := f.oidc.devices[req.Handle]
	pending := ok && d.pending > 0
	if pending {
		d.pending--
	} else if ok {
		delete(f.oidc.devices, req.Handle)
	}
	f.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "device login: the handle is not one this broker issued")
	case pending:
		writeError(w, http.StatusBadRequest, restapi.CodeAuthorizationPending, "the device login is not approved yet: ask again")
	case d.identity == "":
		writeError(w, http.StatusUnauthorized, restapi.CodeUnauthorized, "device login: identity provider refused the login: access_denied")
	default:
		writeJSON(w, http.StatusOK, restapi.LoginResponse{Token: f.issueToken(d.identity), Identity: d.identity, ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second)})
	}
}

func (f *fakeBroker) logout(w http.ResponseWriter, r *http.Request, identity string) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), restapi.BearerAuthScheme+" ")
	if !ok {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "logout: only a session (bearer token) can be logged out")
		return
	}
	f.mu.Lock()
	delete(f.tokens, tok)
	f.oidc.logouts = append(f.oidc.logouts, identity)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, restapi.LogoutResponse{LoggedOut: true, Identity: identity})
}

// tokenValid says whether the broker still accepts tok.
func (f *fakeBroker) tokenValid(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.tokens[tok]
	return ok
}
