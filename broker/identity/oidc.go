package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/audit"
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

// NoIdentityProvider is the answer to an identity provider login when
// none is configured.
const NoIdentityProvider = "no identity provider configured: the broker was started without --oidc-issuer, so only the bootstrap admin can log in"

// errNoIdentityProvider is NoIdentityProvider as a Juju error.
func errNoIdentityProvider() error {
	return jujuapi.Errorf(jujuapi.CodeNotSupported, "%s", NoIdentityProvider)
}

// setupOIDC builds the identity provider client, if one is configured.
func (s *Service) setupOIDC() error {
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
		RedirectURL: s.cfg.OIDCRedirectURL,
	})
	if err != nil {
		return err
	}
	s.oidc = o
	return nil
}

// HasIdentityProvider reports whether an identity provider is configured.
func (s *Service) HasIdentityProvider() bool { return s.oidc != nil }

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
func (s *Service) checkOIDC(name string, err error) credentialCheck {
	return func(ctx context.Context) (*Identity, error) {
		if err != nil {
			return nil, oidcError(err)
		}
		return s.touchIdentity(ctx, name)
	}
}

// ClientCredentials authenticates a service account, from any endpoint.
func (s *Service) ClientCredentials(ctx context.Context, remote, clientID, clientSecret string) (*Identity, error) {
	if s.oidc == nil {
		return nil, errNoIdentityProvider()
	}
	return s.authenticate(ctx, ByClientCredentials, remote, clientID+authz.ServiceAccountDomain,
		func(ctx context.Context) (*Identity, error) {
			return s.checkOIDC(s.oidc.ClientCredentials(ctx, clientID, clientSecret))(ctx)
		})
}

// StartDevice starts a device login at the identity provider, for any
// endpoint. Anyone may start one, and each asks the provider for a code:
// a source address (remote) may start DeviceLoginBurst at once, then
// DeviceLoginRate per second; past that it gets a *ThrottledError.
func (s *Service) StartDevice(ctx context.Context, remote string) (*authz.DeviceLogin, error) {
	source := audit.Source(remote)
	if ok, retry := s.devices.allow(source); !ok {
		return nil, &ThrottledError{Source: source, RetryAfter: retry, What: "device logins started"}
	}
	if s.oidc == nil {
		return nil, errNoIdentityProvider()
	}
	d, err := s.oidc.StartDevice(ctx)
	if err != nil {
		s.log.Warn("cannot start a device login", "issuer", s.oidc.Issuer(), "err", err)
		return nil, oidcError(err)
	}
	return d, nil
}

// WaitDevice waits for the person to approve a device login and
// authenticates the identity the provider names. pending reports that ctx
// ended before the provider answered, so nothing was checked.
func (s *Service) WaitDevice(ctx context.Context, remote string, d *authz.DeviceLogin) (id *Identity, pending bool, err error) {
	if s.oidc == nil {
		return nil, false, errNoIdentityProvider()
	}
	name, err := s.oidc.WaitDevice(ctx, d)
	if err != nil && ctx.Err() != nil && !errors.Is(err, authz.ErrOIDCRefused) {
		return nil, true, ctx.Err()
	}
	id, err = s.authenticate(ctx, ByDevice, remote, "", s.checkOIDC(name, err))
	return id, false, err
}

// DeviceSessionToken answers Admin(4).GetDeviceSessionToken, on /api or a
// model connection: it waits for the device login d (the connection's,
// nil if none was started) and mints a session for who approved it.
func (s *Service) DeviceSessionToken(ctx context.Context, remote string, d *authz.DeviceLogin) (params.GetDeviceSessionTokenResponse, error) {
	if d == nil {
		return params.GetDeviceSessionTokenResponse{}, jujuapi.Errorf(jujuapi.CodeBadRequest, "no device login in progress on this connection: call LoginDevice first")
	}
	id, _, err := s.WaitDevice(ctx, remote, d)
	if err != nil {
		return params.GetDeviceSessionTokenResponse{}, err
	}
	token, _, err := s.NewSession(ctx, id)
	if err != nil {
		return params.GetDeviceSessionTokenResponse{}, err
	}
	return params.GetDeviceSessionTokenResponse{SessionToken: token}, nil
}

// StartBrowser starts a browser login (authorization code with PKCE).
func (s *Service) StartBrowser(ctx context.Context) (*authz.BrowserLogin, error) {
	if s.oidc == nil {
		return nil, errNoIdentityProvider()
	}
	bl, err := s.oidc.StartBrowser(ctx)
	if err != nil {
		s.log.Warn("cannot start a browser login", "issuer", s.oidc.Issuer(), "err", err)
		return nil, oidcError(err)
	}
	return bl, nil
}

// FinishBrowser completes a browser login with the provider's
// authorization code and the login's PKCE verifier, and authenticates who
// the provider names.
func (s *Service) FinishBrowser(ctx context.Context, remote, code, verifier string) (*Identity, error) {
	if s.oidc == nil {
		return nil, errNoIdentityProvider()
	}
	name, err := s.oidc.FinishBrowser(ctx, code, verifier)
	return s.authenticate(ctx, ByBrowser, remote, "", s.checkOIDC(name, err))
}

// Seal seals v (JSON) with aad for a client to hand back later (a device
// login handle, a browser login cookie), as URL-safe base64; what names it
// in an error.
func (s *Service) Seal(v any, aad, what string) (string, error) {
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

// Open opens into v what Seal sealed with aad. It reports whether text is
// such a value.
func (s *Service) Open(text, aad string, v any) bool {
	sealed, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return false
	}
	raw, err := s.cipher.Open(sealed, aad)
	return err == nil && json.Unmarshal(raw, v) == nil
}
