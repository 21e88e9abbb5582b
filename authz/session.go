package authz

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Session tokens are what a client holds after logging in (jimmctl login,
// the device flow, a browser login): JWTs the broker signs with its signing
// keys, whose audience is the broker itself, so that no controller takes
// one. They are checked without the database (signature, key, issuer,
// audience, expiry); the broker also keeps each token's hash, so that
// logging out revokes it.

// ErrSessionToken is wrapped by every reason a session token is refused.
var ErrSessionToken = errors.New("invalid session token")

// ErrSessionExpired is wrapped (with ErrSessionToken) when the only thing
// wrong with a token is that it has expired.
var ErrSessionExpired = errors.New("session token expired")

// SessionClaims are what a session token says.
type SessionClaims struct {
	Subject  string    // the identity's name, e.g. "alice@example.com"
	Issuer   string    // the broker, e.g. "jimm-<uuid>"
	Audience string    // the broker's UUID
	Expires  time.Time // when it stops being accepted
}

// MintSession returns a session token for c.Subject, valid for ttl from now,
// signed by the key current at now.
//
// The token is a bearer credential: never log it, store only its hash
// ([HashSessionToken]).
func (ks *KeySet) MintSession(now time.Time, c SessionClaims, ttl time.Duration) (string, time.Time, error) {
	if c.Subject == "" || c.Issuer == "" || c.Audience == "" {
		return "", time.Time{}, errors.New("mint session token: subject, issuer and audience are required")
	}
	if ttl <= 0 {
		return "", time.Time{}, fmt.Errorf("mint session token for %q: lifetime %v is not positive", c.Subject, ttl)
	}
	e := ks.load().currentAt(now)
	if e == nil {
		return "", time.Time{}, fmt.Errorf("mint session token for %q: no current signing key", c.Subject)
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // never fails (crypto/rand crashes the program instead)
	expires := now.Add(ttl).Truncate(time.Second)
	std := jwt.Claims{
		Subject:   c.Subject,
		Issuer:    c.Issuer,
		Audience:  jwt.Audience{c.Audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(expires),
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	raw, err := jwt.Signed(e.signer).Claims(std).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mint session token for %q with key %q: %w", c.Subject, e.key.ID, err)
	}
	return raw, expires, nil
}

// sessionAlgorithms are the only algorithms a session token may name:
// those the broker signs with. "none" and HMAC are never accepted.
var sessionAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.EdDSA}

// VerifySession checks a session token at now: a compact JWS with one
// signature by a key in the set (named by its "kid"), in an algorithm the
// broker signs with, with the given issuer and audience, not expired. Every
// error wraps ErrSessionToken and says what was wrong, never the token.
func (ks *KeySet) VerifySession(now time.Time, token, issuer, audience string) (SessionClaims, error) {
	bad := func(format string, args ...any) (SessionClaims, error) {
		return SessionClaims{}, fmt.Errorf("%w: "+format, append([]any{ErrSessionToken}, args...)...)
	}
	tok, err := jwt.ParseSigned(token, sessionAlgorithms)
	if err != nil {
		return bad("not a signed JWT in an accepted algorithm (%s)", joseReason(err))
	}
	if len(tok.Headers) != 1 {
		return bad("want exactly one signature")
	}
	kid := tok.Headers[0].KeyID
	var key *keyEntry
	st := ks.load()
	for i := range st.keys {
		if st.keys[i].key.ID == kid {
			key = &st.keys[i]
			break
		}
	}
	if key == nil {
		return bad("signed by an unknown key %q", kid)
	}
	if tok.Headers[0].Algorithm != key.key.Algorithm {
		return bad("algorithm %s does not match key %q (%s)", tok.Headers[0].Algorithm, kid, key.key.Algorithm)
	}
	var std jwt.Claims
	if err := tok.Claims(key.key.Private.Public(), &std); err != nil {
		return bad("signature does not verify with key %q", kid)
	}
	if std.Issuer != issuer {
		return bad("issuer %q is not this broker", std.Issuer)
	}
	if !std.Audience.Contains(audience) || len(std.Audience) != 1 {
		return bad("audience %q is not this broker", []string(std.Audience))
	}
	if std.Subject == "" {
		return bad("no subject")
	}
	if std.Expiry == nil {
		return bad("no expiry")
	}
	if std.NotBefore != nil && now.Before(std.NotBefore.Time().Add(-time.Minute)) {
		return bad("not valid before %s", std.NotBefore.Time().UTC().Format(time.RFC3339))
	}
	c := SessionClaims{Subject: std.Subject, Issuer: std.Issuer, Audience: audience, Expires: std.Expiry.Time()}
	if !now.Before(c.Expires) {
		return c, fmt.Errorf("%w: %w at %s", ErrSessionToken, ErrSessionExpired, c.Expires.UTC().Format(time.RFC3339))
	}
	return c, nil
}

// joseReason shortens a go-jose parse error to what a caller can act on.
func joseReason(err error) string {
	var s string
	if err != nil {
		s = err.Error()
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// HashSessionToken returns the SHA-256 hash of token, the form in which
// session tokens are stored and looked up.
func HashSessionToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
