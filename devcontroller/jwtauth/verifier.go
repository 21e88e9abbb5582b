package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/sync/singleflight"
)

const (
	defaultRefetchCooldown = time.Second
	defaultLeeway          = 5 * time.Second
	defaultMaxKeySetAge    = time.Hour
	// fetchTimeout bounds one JWKS fetch.
	fetchTimeout = 10 * time.Second
	// maxJWKSSize bounds the JWKS document.
	maxJWKSSize = 1 << 20
	// maxTokenSize bounds the (base64) token accepted by Verify.
	maxTokenSize = 64 << 10
	// minRSABits is the smallest RSA key taken from the key set.
	minRSABits = 2048
)

// allowedAlgorithms are the signature algorithms a token may use: asymmetric
// only, never "none" and never an HMAC.
var allowedAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA,
}

// Config configures a Verifier.
type Config struct {
	// JWKSURL is the https URL of the key set the tokens are signed with.
	// Required.
	JWKSURL string
	// CACertPEM optionally holds CA certificates (PEM) trusted for the JWKS
	// URL in addition to the system roots. It must be empty when HTTPClient
	// is set.
	CACertPEM []byte
	// Audience is the value "aud" must contain: this controller's UUID.
	// Required.
	Audience string
	// HTTPClient, when set, is used as is to fetch the key set.
	HTTPClient *http.Client
	// RefetchCooldown is the least time between two fetches of the key set
	// (default 1s; negative for none). Tokens with an unknown key id met
	// within the cooldown fail without a fetch.
	RefetchCooldown time.Duration
	// Leeway is the clock skew tolerated for "nbf" and "iat" (default 5s;
	// negative for none). "exp" is strict.
	Leeway time.Duration
	// MaxKeySetAge is how long a fetched key set is used before it is
	// fetched again, in the background, on the next Verify (default 1h;
	// negative for ever), so that keys the issuer withdraws stop being
	// accepted. While that fetch fails the cached keys stay in use.
	MaxKeySetAge time.Duration
	// Logger receives key set fetch events (default slog.Default()).
	Logger *slog.Logger
	// Now returns the current time (default time.Now). It is used for
	// claim validation and for the cooldown and age of the key set.
	Now func() time.Time
}

// Claims are the verified contents of a token.
type Claims struct {
	// Subject is the user tag, "user-alice" or
	// "user-alice@serviceaccount".
	Subject string
	// Access maps entity tags ("controller-<uuid>", "model-<uuid>",
	// "cloud-<name>") to access levels ("superuser", "admin", "read", ...).
	// Never nil.
	Access map[string]string
	// Expiry is the token's "exp".
	Expiry time.Time
	// KeyID is the id of the key the token was signed with.
	KeyID string
	// Issuer is the unchecked "iss", if any.
	Issuer string
}

// Verifier verifies tokens against a remote key set. It is safe for
// concurrent use.
type Verifier struct {
	url      string
	audience string
	client   *http.Client
	cooldown time.Duration
	leeway   time.Duration
	maxAge   time.Duration
	log      *slog.Logger
	now      func() time.Time

	group      singleflight.Group
	refreshing atomic.Bool // a background refresh is running

	mu          sync.RWMutex
	keys        map[string][]jose.JSONWebKey // by key id; nil until fetched
	fetchedAt   time.Time                    // last successful fetch
	attemptedAt time.Time                    // last fetch attempt
	lastErr     error                        // error of the last attempt
}

// NewVerifier returns a Verifier for cfg. It does not fetch the key set:
// that happens on the first Verify, so a controller can start before the
// issuer is reachable.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.JWKSURL == "" {
		return nil, errors.New("jwtauth: JWKS URL not set")
	}
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: invalid JWKS URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("jwtauth: JWKS URL %q is not an https URL", cfg.JWKSURL)
	}
	if cfg.Audience == "" {
		return nil, errors.New("jwtauth: audience (controller UUID) not set")
	}
	v := &Verifier{
		url:      cfg.JWKSURL,
		audience: cfg.Audience,
		client:   cfg.HTTPClient,
		cooldown: durationOr(cfg.RefetchCooldown, defaultRefetchCooldown),
		leeway:   durationOr(cfg.Leeway, defaultLeeway),
		maxAge:   durationOr(cfg.MaxKeySetAge, defaultMaxKeySetAge),
		log:      cfg.Logger,
		now:      cfg.Now,
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.client != nil && len(cfg.CACertPEM) > 0 {
		return nil, errors.New("jwtauth: set either HTTPClient or CACertPEM, not both")
	}
	if v.client == nil {
		v.client, err = newHTTPClient(cfg.CACertPEM)
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

// durationOr returns d, def when d is zero, or 0 when d is negative.
func durationOr(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

func newHTTPClient(caCertPEM []byte) (*http.Client, error) {
	var pool *x509.CertPool
	if len(caCertPEM) > 0 {
		var err error
		pool, err = x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caCertPEM) {
			return nil, errors.New("jwtauth: CA certificate for the JWKS URL holds no PEM certificate")
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return &http.Client{
		Transport: tr,
		Timeout:   fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return fmt.Errorf("refusing redirect to non-https URL %s", req.URL.Redacted())
			}
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}, nil
}

// Verify checks token (a compact JWS encoded with standard base64, as in the
// "token" field of Admin.Login) and returns its claims. Every error wraps
// ErrInvalidToken and one of the more specific Err* kinds.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > maxTokenSize {
		return nil, newError(ErrMalformedToken, nil, "token is too large (%d bytes)", len(token))
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		if strings.Count(token, ".") == 2 {
			return nil, newError(ErrMalformedToken, nil,
				"token is not base64-encoded (it looks like a bare compact JWS; Juju expects it encoded with standard base64)")
		}
		return nil, newError(ErrMalformedToken, nil, "token is not base64-encoded")
	}
	tok, err := jwt.ParseSigned(string(raw), allowedAlgorithms)
	if err != nil {
		if ua, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, newError(ErrUnsupportedAlgorithm, nil, "unsupported signing algorithm %q", truncate(string(ua.Got)))
		}
		return nil, newError(ErrMalformedToken, err, "token is not a valid compact JWS")
	}
	if len(tok.Headers) != 1 {
		return nil, newError(ErrMalformedToken, nil, "token has %d signatures, want 1", len(tok.Headers))
	}
	kid, alg := tok.Headers[0].KeyID, tok.Headers[0].Algorithm
	if kid == "" {
		return nil, newError(ErrUnknownKey, nil, "token has no key id (kid)")
	}

	keys, err := v.keysFor(ctx, kid)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(tok, keys, kid, alg); err != nil {
		return nil, err
	}

	// The payload is verified: decode the claims from it.
	var std jwt.Claims
	var private struct {
		Access json.RawMessage `json:"access"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&std, &private); err != nil {
		return nil, newError(ErrMalformedToken, err, "token claims are malformed")
	}
	if err := v.validate(&std); err != nil {
		return nil, err
	}
	access := map[string]string{}
	if len(private.Access) > 0 && string(private.Access) != "null" {
		if err := json.Unmarshal(private.Access, &access); err != nil {
			return nil, newError(ErrMalformedToken, nil, `token claim "access" is not an object mapping tags to access levels`)
		}
	}
	return &Claims{
		Subject: std.Subject,
		Access:  access,
		Expiry:  std.Expiry.Time(),
		KeyID:   kid,
		Issuer:  std.Issuer,
	}, nil
}

func verifySignature(tok *jwt.JSONWebToken, keys []jose.JSONWebKey, kid, alg string) error {
	var keyAlg string
	tried := false
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != alg {
			keyAlg = k.Algorithm
			continue
		}
		tried = true
		// Claims with no destination only verifies the signature.
		if err := tok.Claims(k.Key); err == nil {
			return nil
		}
	}
	if !tried {
		return newError(ErrSignatureInvalid, nil, "key %q is for algorithm %s, token is signed with %s", kid, keyAlg, alg)
	}
	return newError(ErrSignatureInvalid, nil, "token signature invalid")
}

func (v *Verifier) validate(c *jwt.Claims) error {
	now := v.now()
	if c.Expiry == nil {
		return newError(ErrMalformedToken, nil, "token has no expiry time (exp)")
	}
	if exp := c.Expiry.Time(); !now.Before(exp) {
		return newError(ErrExpired, nil, "token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if c.NotBefore != nil {
		if nbf := c.NotBefore.Time(); now.Add(v.leeway).Before(nbf) {
			return newError(ErrNotYetValid, nil, "token not valid before %s", nbf.UTC().Format(time.RFC3339))
		}
	}
	if c.IssuedAt != nil {
		if iat := c.IssuedAt.Time(); now.Add(v.leeway).Before(iat) {
			return newError(ErrNotYetValid, nil, "token issued in the future (iat %s)", iat.UTC().Format(time.RFC3339))
		}
	}
	if !c.Audience.Contains(v.audience) {
		return newError(ErrWrongAudience, nil, "token audience %s does not include this controller (%s)",
			formatAudience(c.Audience), v.audience)
	}
	if !strings.HasPrefix(c.Subject, "user-") || len(c.Subject) == len("user-") {
		return newError(ErrInvalidSubject, nil, "token subject %q is not a user tag", truncate(c.Subject))
	}
	return nil
}

func formatAudience(aud jwt.Audience) string {
	const max = 4
	parts := make([]string, 0, max+1)
	for i, a := range aud {
		if i == max {
			parts = append(parts, fmt.Sprintf("(%d more)", len(aud)-max))
			break
		}
		parts = append(parts, fmt.Sprintf("%q", truncate(a)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// truncate shortens claim values quoted in error messages.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// keysFor returns the keys with id kid, fetching the key set when it has
// not been fetched yet or does not hold kid. A key set older than the maximum
// age is still used while it is fetched again in the background, so that an
// unresponsive issuer does not hold up logins with known keys.
func (v *Verifier) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	v.mu.RLock()
	keys := v.keys[kid]
	stale := v.maxAge > 0 && v.now().Sub(v.fetchedAt) >= v.maxAge
	v.mu.RUnlock()
	if len(keys) > 0 {
		if stale && v.refreshing.CompareAndSwap(false, true) {
			go func() {
				defer v.refreshing.Store(false)
				_ = v.refresh(context.WithoutCancel(ctx))
			}()
		}
		return keys, nil
	}

	fetchErr := v.refresh(ctx)

	v.mu.RLock()
	keys = v.keys[kid]
	fetched := v.keys != nil
	v.mu.RUnlock()
	switch {
	case len(keys) > 0:
		return keys, nil
	case fetchErr != nil && !fetched:
		return nil, newError(ErrKeySetUnavailable, fetchErr, "cannot verify token: JWKS unavailable")
	case fetchErr != nil:
		return nil, newError(ErrKeySetUnavailable, fetchErr, "no key with id %q in the cached JWKS, and fetching it again failed", truncate(kid))
	default:
		return nil, newError(ErrUnknownKey, nil, "no key with id %q in JWKS from %s", truncate(kid), v.url)
	}
}

// refresh fetches the key set unless the last attempt was within the
// cooldown, in which case it returns that attempt's error. Concurrent
// callers share one fetch; a caller whose ctx ends stops waiting without
// cancelling the fetch for the others.
func (v *Verifier) refresh(ctx context.Context) error {
	fetchCtx := context.WithoutCancel(ctx)
	ch := v.group.DoChan("jwks", func() (any, error) {
		return nil, v.fetchIfDue(fetchCtx)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (v *Verifier) fetchIfDue(ctx context.Context) error {
	v.mu.Lock()
	now := v.now()
	if !v.attemptedAt.IsZero() && now.Sub(v.attemptedAt) < v.cooldown {
		err := v.lastErr
		v.mu.Unlock()
		return err
	}
	v.attemptedAt = now
	v.mu.Unlock()

	keys, err := v.fetch(ctx)

	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastErr = err
	if err != nil {
		v.log.Warn("fetching JWKS failed", "url", v.url, "err", err)
		return err
	}
	v.keys = keys
	v.fetchedAt = now
	return nil
}

// fetch downloads and parses the key set, keeping only public asymmetric
// signing keys that have a key id.
func (v *Verifier) fetch(ctx context.Context) (map[string][]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS from %s: unexpected status %q", v.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS from %s: %w", v.url, err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("JWKS from %s is larger than %d bytes", v.url, maxJWKSSize)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, fmt.Errorf("JWKS from %s is not a JSON object with a \"keys\" array", v.url)
		}
		return nil, fmt.Errorf("JWKS from %s is not valid JSON: %w", v.url, err)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("JWKS from %s has no \"keys\" member", v.url)
	}
	keys := make(map[string][]jose.JSONWebKey)
	n := 0
	for i, raw := range doc.Keys {
		k, reason := usableKey(raw)
		if reason != "" {
			v.log.Debug("ignoring key in JWKS", "url", v.url, "index", i, "kid", truncate(k.KeyID), "reason", reason)
			continue
		}
		keys[k.KeyID] = append(keys[k.KeyID], k)
		n++
	}
	if n == 0 {
		v.log.Warn("JWKS holds no usable signing key", "url", v.url, "keys", len(doc.Keys))
	} else {
		v.log.Info("fetched JWKS", "url", v.url, "keys", n, "ignored", len(doc.Keys)-n)
	}
	return keys, nil
}

// usableKey decodes one JWK; reason says why it cannot be used.
func usableKey(raw json.RawMessage) (jose.JSONWebKey, string) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return k, "cannot be decoded"
	}
	if k.KeyID == "" {
		return k, "no key id"
	}
	if k.Use != "" && k.Use != "sig" {
		return k, fmt.Sprintf("use is %q", k.Use)
	}
	if !k.Valid() {
		return k, "invalid key"
	}
	if !k.IsPublic() {
		// A private key published by mistake: use only its public part.
		k = k.Public()
		if !k.Valid() {
			return k, "not an asymmetric key"
		}
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return k, fmt.Sprintf("RSA key of %d bits", pub.N.BitLen())
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return k, fmt.Sprintf("unsupported key type %T", k.Key)
	}
	return k, ""
}
