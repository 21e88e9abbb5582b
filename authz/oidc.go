package authz

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Identity claims an [OIDC] provider's people are named by.
const (
	// ClaimEmail names a person by the verified "email" claim of their ID
	// token (the default).
	ClaimEmail = "email"
	// ClaimSubject names a person by the "sub" claim of their ID token.
	ClaimSubject = "sub"
)

// ServiceAccountDomain ends the identity of every service account:
// "<client-id>@serviceaccount".
const ServiceAccountDomain = "@serviceaccount"

// ErrOIDCRefused is wrapped by every [OIDC] error that is the caller's: the
// provider refused the credentials or the person's consent, the device code
// expired, or the ID token names no acceptable identity. Other errors are
// the broker's or the provider's failure.
var ErrOIDCRefused = errors.New("identity provider refused the login")

// OIDCConfig says which OpenID Connect provider the broker trusts and how
// it is the provider's client.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL, e.g. https://dex.example.com/dex.
	Issuer string
	// ClientID and ClientSecret are the broker's client at the provider.
	ClientID, ClientSecret string
	// Scopes are requested on every login; "openid" is always added.
	// Default: openid, email, profile.
	Scopes []string
	// CACertPEM, if set, is the only CA trusted for the provider's TLS
	// certificate (instead of the system roots).
	CACertPEM []byte
	// IdentityClaim is ClaimEmail (default) or ClaimSubject.
	IdentityClaim string
	// RedirectURL is where the provider sends the browser back after an
	// authorization-code login, e.g. https://jimm.example.com/auth/callback.
	RedirectURL string
	// DiscoveryTimeout bounds each discovery attempt (default 10s).
	DiscoveryTimeout time.Duration
}

// OIDC is the broker's client of one OpenID Connect provider: device
// logins, browser (authorization code with PKCE) logins, and service
// accounts (client credentials). The provider is discovered on first use,
// and again on each use until discovery succeeds, so the broker starts
// while the provider is down. An OIDC is safe for concurrent use. Its
// errors never contain secrets, codes or tokens.
type OIDC struct {
	cfg OIDCConfig
	hc  *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

// NewOIDC checks cfg and returns a client of its provider. It does not
// contact the provider.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("OIDC: the issuer URL is required")
	}
	if !strings.HasPrefix(cfg.Issuer, "https://") && !strings.HasPrefix(cfg.Issuer, "http://") {
		return nil, fmt.Errorf("OIDC issuer %q: want an https:// URL", cfg.Issuer)
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("OIDC issuer %s: the broker's client id is required", cfg.Issuer)
	}
	switch cfg.IdentityClaim {
	case "":
		cfg.IdentityClaim = ClaimEmail
	case ClaimEmail, ClaimSubject:
	default:
		return nil, fmt.Errorf("OIDC identity claim %q: want %q or %q", cfg.IdentityClaim, ClaimEmail, ClaimSubject)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.DiscoveryTimeout <= 0 {
		cfg.DiscoveryTimeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.CACertPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CACertPEM) {
			return nil, fmt.Errorf("OIDC issuer %s: the CA certificate holds no PEM certificate", cfg.Issuer)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &OIDC{cfg: cfg, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Issuer is the provider's issuer URL.
func (o *OIDC) Issuer() string { return o.cfg.Issuer }

// clientContext makes the provider's HTTP client (and its CA) the one
// go-oidc and oauth2 use under ctx.
func (o *OIDC) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.hc)
}

// discover returns the provider, discovering it if no earlier attempt
// succeeded.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	dctx, cancel := context.WithTimeout(o.clientContext(ctx), o.cfg.DiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover OIDC provider %s: %w", o.cfg.Issuer, err)
	}
	o.provider = p
	return p, nil
}

// oauth2Config is the broker's client at the provider.
func (o *OIDC) oauth2Config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret,
		Endpoint: p.Endpoint(), Scopes: o.cfg.Scopes, RedirectURL: o.cfg.RedirectURL,
	}
}

// DeviceLogin is a device authorization in progress: the person visits
// VerificationURI and enters UserCode; DeviceCode, Expiry and Interval are
// the broker's to poll with, and must not be shown to the person.
type DeviceLogin struct {
	VerificationURI         string    `json:"verification_uri"`
	VerificationURIComplete string    `json:"verification_uri_complete,omitempty"`
	UserCode                string    `json:"user_code"`
	DeviceCode              string    `json:"device_code"`
	Expiry                  time.Time `json:"expiry"`
	Interval                int64     `json:"interval,omitempty"`
}

// StartDevice starts a device authorization (RFC 8628).
func (o *OIDC) StartDevice(ctx context.Context) (*DeviceLogin, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return nil, err
	}
	if p.Endpoint().DeviceAuthURL == "" {
		return nil, fmt.Errorf("OIDC provider %s has no device authorization endpoint", o.cfg.Issuer)
	}
	var opts []oauth2.AuthCodeOption
	if o.cfg.ClientSecret != "" {
		// A confidential client authenticates the device request too
		// (oauth2 sends only the client id; dex, for one, wants both).
		opts = append(opts, oauth2.SetAuthURLParam("client_secret", o.cfg.ClientSecret))
	}
	da, err := o.oauth2Config(p).DeviceAuth(o.clientContext(ctx), opts...)
	if err != nil {
		return nil, fmt.Errorf("start device login at %s: %w", o.cfg.Issuer, tokenError(err))
	}
	return &DeviceLogin{
		VerificationURI: da.VerificationURI, VerificationURIComplete: da.VerificationURIComplete,
		UserCode: da.UserCode, DeviceCode: da.DeviceCode, Expiry: da.Expiry, Interval: da.Interval,
	}, nil
}

// WaitDevice polls the provider until the person has approved the device
// login (or refused it, or it expired, or ctx ends) and returns the
// identity the verified ID token names.
func (o *OIDC) WaitDevice(ctx context.Context, d *DeviceLogin) (string, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	if !d.Expiry.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Expiry)
		defer cancel()
	}
	da := &oauth2.DeviceAuthResponse{DeviceCode: d.DeviceCode, UserCode: d.UserCode,
		VerificationURI: d.VerificationURI, Expiry: d.Expiry, Interval: d.Interval}
	tok, err := o.oauth2Config(p).DeviceAccessToken(o.clientContext(ctx), da)
	if err != nil {
		if !d.Expiry.IsZero() && errors.Is(ctx.Err(), context.DeadlineExceeded) && !time.Now().Before(d.Expiry) {
			return "", fmt.Errorf("device login at %s: the code expired before it was approved: %w", o.cfg.Issuer, ErrOIDCRefused)
		}
		return "", fmt.Errorf("device login at %s: %w", o.cfg.Issuer, tokenError(err))
	}
	return o.identityFromToken(ctx, p, tok)
}

// BrowserLogin is an authorization-code login in progress: send the
// browser to URL, and keep State and Verifier (PKCE) for the callback.
type BrowserLogin struct {
	URL, State, Verifier string
}

// StartBrowser builds the provider's authorization URL for a login with
// the authorization code, PKCE (S256) and a random state.
func (o *OIDC) StartBrowser(ctx context.Context) (*BrowserLogin, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return nil, err
	}
	if o.cfg.RedirectURL == "" {
		return nil, fmt.Errorf("OIDC provider %s: the broker has no redirect URL for browser logins", o.cfg.Issuer)
	}
	state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	u := o.oauth2Config(p).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	return &BrowserLogin{URL: u, State: state, Verifier: verifier}, nil
}

// FinishBrowser exchanges the authorization code the provider sent the
// browser back with for tokens, using the login's PKCE verifier, and
// returns the identity the verified ID token names.
func (o *OIDC) FinishBrowser(ctx context.Context, code, verifier string) (string, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	tok, err := o.oauth2Config(p).Exchange(o.clientContext(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return "", fmt.Errorf("browser login at %s: exchange the authorization code: %w", o.cfg.Issuer, tokenError(err))
	}
	return o.identityFromToken(ctx, p, tok)
}

// ClientCredentials authenticates a service account: the provider's token
// endpoint must grant clientID a token for clientSecret (the client
// credentials grant). The identity is "<client-id>@serviceaccount".
func (o *OIDC) ClientCredentials(ctx context.Context, clientID, clientSecret string) (string, error) {
	if clientID == "" || clientSecret == "" {
		return "", fmt.Errorf("service account login: a client id and a client secret are required: %w", ErrOIDCRefused)
	}
	if strings.ContainsAny(clientID, "@ \t\r\n/") {
		return "", fmt.Errorf("service account login: client id %q is not a valid client id: %w", clientID, ErrOIDCRefused)
	}
	p, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: clientSecret, TokenURL: p.Endpoint().TokenURL}
	tok, err := cc.Token(o.clientContext(ctx))
	if err != nil {
		return "", fmt.Errorf("service account %q: %w", clientID, tokenError(err))
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("service account %q: the provider %s granted no access token", clientID, o.cfg.Issuer)
	}
	return clientID + ServiceAccountDomain, nil
}

// tokenError turns an error of the token or device endpoint into one that
// says whether the caller was refused, without the provider's raw answer
// (which could echo what was sent).
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		var ue *url.Error
		if errors.As(err, &ue) {
			// Keep the cause, not the URL (its query could hold a code).
			return fmt.Errorf("cannot reach the identity provider: %w", ue.Err)
		}
		return err
	}
	switch {
	case re.ErrorCode != "" && re.Response != nil && re.Response.StatusCode >= 500:
		return fmt.Errorf("the identity provider failed (HTTP %d, %s)", re.Response.StatusCode, re.ErrorCode)
	case re.ErrorCode != "":
		msg := re.ErrorCode
		if re.ErrorDescription != "" {
			msg += ": " + re.ErrorDescription
		}
		return fmt.Errorf("%w: %s", ErrOIDCRefused, msg)
	case re.Response != nil && (re.Response.StatusCode == http.StatusUnauthorized || re.Response.StatusCode == http.StatusBadRequest || re.Response.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%w (HTTP %d)", ErrOIDCRefused, re.Response.StatusCode)
	case re.Response != nil:
		return fmt.Errorf("the identity provider failed (HTTP %d)", re.Response.StatusCode)
	}
	return errors.New("the identity provider's token endpoint failed")
}

// identityFromToken verifies the ID token that came with tok (issuer,
// audience = the broker's client id, expiry, signature) and maps its
// claims to an identity.
func (o *OIDC) identityFromToken(ctx context.Context, p *oidc.Provider, tok *oauth2.Token) (string, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", fmt.Errorf("OIDC provider %s returned no ID token (is the openid scope allowed for client %q?)", o.cfg.Issuer, o.cfg.ClientID)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID}).Verify(o.clientContext(ctx), raw)
	if err != nil {
		return "", fmt.Errorf("verify the ID token from %s: %w: %v", o.cfg.Issuer, ErrOIDCRefused, err)
	}
	var claims IDClaims
	if err := idt.Claims(&claims); err != nil {
		return "", fmt.Errorf("read the ID token's claims from %s: %w", o.cfg.Issuer, err)
	}
	return IdentityFromClaims(o.cfg.IdentityClaim, claims)
}

// IDClaims are the ID token claims an identity is taken from.
type IDClaims struct {
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified *bool  `json:"email_verified"`
}

// IdentityFromClaims maps an ID token's claims to an identity: the
// verified email (claim ClaimEmail) or the subject (ClaimSubject). Names
// that would pass for the bootstrap admin or a service account are refused.
func IdentityFromClaims(claim string, c IDClaims) (string, error) {
	var name string
	switch claim {
	case ClaimEmail, "":
		if c.Email == "" {
			return "", fmt.Errorf("the ID token of subject %q has no email claim (request the email scope, or name people by sub): %w", c.Subject, ErrOIDCRefused)
		}
		if c.EmailVerified == nil || !*c.EmailVerified {
			return "", fmt.Errorf("the email %q of the ID token is not verified by the identity provider: %w", c.Email, ErrOIDCRefused)
		}
		name = c.Email
	case ClaimSubject:
		if c.Subject == "" {
			return "", fmt.Errorf("the ID token has no sub claim: %w", ErrOIDCRefused)
		}
		name = c.Subject
	default:
		return "", fmt.Errorf("unknown identity claim %q", claim)
	}
	switch {
	case strings.HasSuffix(strings.ToLower(name), ServiceAccountDomain):
		return "", fmt.Errorf("identity %q is reserved for service accounts: %w", name, ErrOIDCRefused)
	case strings.EqualFold(name, "admin"):
		return "", fmt.Errorf("identity %q is reserved for the bootstrap admin: %w", name, ErrOIDCRefused)
	case strings.ContainsAny(name, " \t\r\n/"):
		return "", fmt.Errorf("identity %q holds characters a Juju user name cannot: %w", name, ErrOIDCRefused)
	}
	return name, nil
}
