package authz

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// TokenClaims is what a controller token says.
type TokenClaims struct {
	// Subject is the user tag the broker acts for, e.g. "user-alice"
	// ("sub"). Required.
	Subject string
	// Audience is the UUID of the controller the token is for ("aud").
	// Required.
	Audience string
	// Access maps entity tags to the subject's access level, e.g.
	// {"controller-<uuid>": "login", "model-<uuid>": "write",
	// "cloud-<name>": "add-model"} (private claim "access").
	Access map[string]string
	// TTL is how long the token is valid from the time it is minted.
	// It must be positive; keep it short (a minute or so).
	TTL time.Duration
	// Issuer is the optional "iss", e.g. the broker's public URL.
	Issuer string
}

// accessClaims is the private part of a controller token.
type accessClaims struct {
	Access map[string]string `json:"access"`
}

// Mint returns a controller token for c: a JWT signed by the key current at
// now (see [KeySet.Current]), with "kid" in its header, claims "sub", "aud",
// "iat" and "nbf" (now), "exp" (now + TTL), "iss" (when set), a random "jti"
// and "access", in compact JWS form encoded with standard base64, as Juju
// expects in the "token" field of Admin.Login.
//
// The token is a bearer credential: do not log it.
func (ks *KeySet) Mint(now time.Time, c TokenClaims) (string, error) {
	if c.Subject == "" {
		return "", errors.New("mint controller token: no subject")
	}
	if !strings.HasPrefix(c.Subject, "user-") || len(c.Subject) == len("user-") {
		return "", fmt.Errorf("mint controller token: subject %q is not a user tag", c.Subject)
	}
	if c.Audience == "" {
		return "", fmt.Errorf("mint controller token for %s: no audience (controller UUID)", c.Subject)
	}
	if c.TTL <= 0 {
		return "", fmt.Errorf("mint controller token for %s: TTL %v is not positive", c.Subject, c.TTL)
	}
	e := ks.load().currentAt(now)
	if e == nil {
		return "", fmt.Errorf("mint controller token for %s: no current signing key (every key is retired, or there are none)", c.Subject)
	}

	var jti [16]byte
	_, _ = rand.Read(jti[:]) // never fails (crypto/rand crashes the program instead)
	issued := jwt.NewNumericDate(now)
	std := jwt.Claims{
		Subject:   c.Subject,
		Audience:  jwt.Audience{c.Audience},
		Issuer:    c.Issuer,
		IssuedAt:  issued,
		NotBefore: issued,
		Expiry:    jwt.NewNumericDate(now.Add(c.TTL)),
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	access := c.Access
	if access == nil {
		access = map[string]string{}
	}
	raw, err := jwt.Signed(e.signer).Claims(std).Claims(accessClaims{Access: access}).Serialize()
	if err != nil {
		return "", fmt.Errorf("mint controller token for %s with key %q: %w", c.Subject, e.key.ID, err)
	}
	return base64.StdEncoding.EncodeToString([]byte(raw)), nil
}
