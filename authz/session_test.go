package authz_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
)

const (
	sessIssuer   = "jimm-broker"
	sessAudience = "0c1d2e3f-0000-4000-8000-000000000001"
)

func sessionKeys(t *testing.T) (*authz.KeySet, *authz.SigningKey) {
	t.Helper()
	k, err := authz.GenerateSigningKey(time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return authz.NewKeySet(k), k
}

func TestSessionTokenRoundTrip(t *testing.T) {
	ks, _ := sessionKeys(t)
	now := time.Now()
	tok, exp, err := ks.MintSession(now, authz.SessionClaims{Subject: "alice@example.com", Issuer: sessIssuer, Audience: sessAudience}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d := exp.Sub(now); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expires in %s, want an hour", d)
	}
	c, err := ks.VerifySession(now, tok, sessIssuer, sessAudience)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice@example.com" || !c.Expires.Equal(exp) {
		t.Fatalf("claims %+v", c)
	}
	tok2, _, _ := ks.MintSession(now, authz.SessionClaims{Subject: "alice@example.com", Issuer: sessIssuer, Audience: sessAudience}, time.Hour)
	if tok2 == tok {
		t.Fatal("two sessions got the same token (no jti?)")
	}
	// Expired: refused, and the error says so.
	_, err = ks.VerifySession(exp.Add(time.Second), tok, sessIssuer, sessAudience)
	if !errors.Is(err, authz.ErrSessionExpired) || !errors.Is(err, authz.ErrSessionToken) {
		t.Fatalf("expired token: %v", err)
	}
}

// segments splits a compact JWS and decodes its header and payload.
func segments(t *testing.T, tok string) (header, payload map[string]any, sig string) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("token has %d segments", len(p))
	}
	dec := func(s string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return dec(p[0]), dec(p[1]), p[2]
}

func enc(t *testing.T, v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestForgedSessionTokensAreRefused(t *testing.T) {
	ks, key := sessionKeys(t)
	now := time.Now()
	good, _, err := ks.MintSession(now, authz.SessionClaims{Subject: "bob@example.com", Issuer: sessIssuer, Audience: sessAudience}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	header, payload, sig := segments(t, good)

	other, _ := sessionKeys(t) // a key the broker does not have
	foreign, _, _ := other.MintSession(now, authz.SessionClaims{Subject: "bob@example.com", Issuer: sessIssuer, Audience: sessAudience}, time.Hour)
	wrongAud, _, _ := ks.MintSession(now, authz.SessionClaims{Subject: "bob@example.com", Issuer: sessIssuer, Audience: "another-controller"}, time.Hour)
	wrongIss, _, _ := ks.MintSession(now, authz.SessionClaims{Subject: "bob@example.com", Issuer: "someone-else", Audience: sessAudience}, time.Hour)

	tampered := func() string {
		p := map[string]any{}
		for k, v := range payload {
			p[k] = v
		}
		p["sub"] = "admin"
		return enc(t, header) + "." + enc(t, p) + "." + sig
	}()
	none := enc(t, map[string]any{"alg": "none", "typ": "JWT", "kid": key.ID}) + "." + enc(t, payload) + "."
	hs := func() string {
		h := enc(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": key.ID}) + "." + enc(t, payload)
		m := hmac.New(sha256.New, []byte(key.ID))
		m.Write([]byte(h))
		return h + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()
	for _, c := range []struct{ name, token, want string }{
		{"alg none", none, "accepted algorithm"},
		{"HMAC", hs, "accepted algorithm"},
		{"unknown key id", foreign, "unknown key"},
		{"wrong audience", wrongAud, "audience"},
		{"wrong issuer", wrongIss, "issuer"},
		{"tampered payload", tampered, "signature does not verify"},
		{"garbage", "not-a-token", "not a signed JWT"},
	} {
		_, err := ks.VerifySession(now, c.token, sessIssuer, sessAudience)
		if !errors.Is(err, authz.ErrSessionToken) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an ErrSessionToken saying %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), c.token) || strings.Contains(err.Error(), sig) {
			t.Errorf("%s: the error repeats the token: %v", c.name, err)
		}
	}
}
