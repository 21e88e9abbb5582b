package authz_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/devcontroller/jwtauth"
	"github.com/jimmbroker/jimm/jujuapi/pki"
)

const (
	ctlUUID   = "7c6f3b1e-1d2a-4c5b-8e9f-0a1b2c3d4e5f"
	otherUUID = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"
	modelUUID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
)

// jwksServer serves ks at authz.JWKSPath over TLS with a certificate from a
// fresh development CA, and returns the key set URL and the CA's PEM.
func jwksServer(t *testing.T, ks *authz.KeySet) (url string, caPEM []byte) {
	t.Helper()
	ca, err := pki.GenerateCA("test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(authz.JWKSPath, ks)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + authz.JWKSPath, ca.CertPEM()
}

// newVerifier returns the development controller's verifier for audience,
// with no refetch cooldown so that tests can rotate keys quickly.
func newVerifier(t *testing.T, url string, caPEM []byte, audience string) *jwtauth.Verifier {
	t.Helper()
	v, err := jwtauth.NewVerifier(jwtauth.Config{
		JWKSURL:         url,
		CACertPEM:       caPEM,
		Audience:        audience,
		RefetchCooldown: -1,
		Logger:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustKey(t testing.TB, now time.Time) *authz.SigningKey {
	t.Helper()
	k, err := authz.GenerateSigningKey(now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tokenHeader decodes the protected header of a minted token.
func tokenHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("token is not standard base64: %v", err)
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a compact JWS: %d parts", len(parts))
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(hb, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// tokenPayload decodes the (unverified) claims of a minted token.
func tokenPayload(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, _ := base64.StdEncoding.DecodeString(token)
	parts := strings.Split(string(raw), ".")
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(pb, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMintVerifiesWithDevController(t *testing.T) {
	now := time.Now()
	key := mustKey(t, now.Add(-time.Hour))
	ks := authz.NewKeySet(key)
	url, caPEM := jwksServer(t, ks)

	aliceAccess := map[string]string{
		"controller-" + ctlUUID: "login",
		"model-" + modelUUID:    "write",
		"cloud-lxd":             "add-model",
	}
	tests := []struct {
		name     string
		audience string // the verifier's
		now      time.Time
		claims   authz.TokenClaims
		wantErr  error // a jwtauth.Err* kind, or nil
	}{{
		name:     "user with model access",
		audience: ctlUUID,
		now:      now,
		claims:   authz.TokenClaims{Subject: "user-alice", Audience: ctlUUID, Access: aliceAccess, TTL: time.Minute, Issuer: "https://jimm.example.com"},
	}, {
		name:     "superuser",
		audience: ctlUUID,
		now:      now,
		claims: authz.TokenClaims{Subject: "user-admin", Audience: ctlUUID, TTL: time.Minute,
			Access: map[string]string{"controller-" + ctlUUID: "superuser", "model-" + modelUUID: "admin", "cloud-aws": "admin"}},
	}, {
		name:     "no access map",
		audience: ctlUUID,
		now:      now,
		claims:   authz.TokenClaims{Subject: "user-bob@external", Audience: ctlUUID, TTL: time.Minute},
	}, {
		name:     "wrong audience",
		audience: otherUUID,
		now:      now,
		claims:   authz.TokenClaims{Subject: "user-alice", Audience: ctlUUID, Access: aliceAccess, TTL: time.Minute},
		wantErr:  jwtauth.ErrWrongAudience,
	}, {
		name:     "expired",
		audience: ctlUUID,
		now:      now.Add(-10 * time.Minute),
		claims:   authz.TokenClaims{Subject: "user-alice", Audience: ctlUUID, Access: aliceAccess, TTL: time.Minute},
		wantErr:  jwtauth.ErrExpired,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, err := ks.Mint(tt.now, tt.claims)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			v := newVerifier(t, url, caPEM, tt.audience)
			got, err := v.Verify(context.Background(), token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Subject != tt.claims.Subject {
				t.Errorf("subject = %q, want %q", got.Subject, tt.claims.Subject)
			}
			wantAccess := tt.claims.Access
			if wantAccess == nil {
				wantAccess = map[string]string{}
			}
			if !maps.Equal(got.Access, wantAccess) {
				t.Errorf("access = %v, want %v", got.Access, wantAccess)
			}
			if got.KeyID != key.ID {
				t.Errorf("kid = %q, want %q", got.KeyID, key.ID)
			}
			if got.Issuer != tt.claims.Issuer {
				t.Errorf("issuer = %q, want %q", got.Issuer, tt.claims.Issuer)
			}
			if want := tt.now.Add(tt.claims.TTL).Truncate(time.Second); !got.Expiry.Equal(want) {
				t.Errorf("expiry = %v, want %v", got.Expiry, want)
			}
		})
	}
}

func TestMintClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ks := authz.NewKeySet(mustKey(t, now))
	c := authz.TokenClaims{Subject: "user-alice", Audience: ctlUUID, TTL: 90 * time.Second, Issuer: "jimm",
		Access: map[string]string{"model-" + modelUUID: "read"}}
	tok1, err := ks.Mint(now, c)
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := ks.Mint(now, c)
	if err != nil {
		t.Fatal(err)
	}
	h := tokenHeader(t, tok1)
	if h["alg"] != "ES256" || h["kid"] != ks.Current().ID || h["typ"] != "JWT" {
		t.Errorf("header = %v", h)
	}
	p1, p2 := tokenPayload(t, tok1), tokenPayload(t, tok2)
	want := map[string]any{
		"sub": "user-alice", "aud": ctlUUID, "iss": "jimm",
		"iat": float64(now.Unix()), "nbf": float64(now.Unix()), "exp": float64(now.Unix() + 90),
	}
	for k, v := range want {
		if p1[k] != v {
			t.Errorf("claim %q = %v, want %v", k, p1[k], v)
		}
	}
	if acc, _ := p1["access"].(map[string]any); acc["model-"+modelUUID] != "read" || len(acc) != 1 {
		t.Errorf("access claim = %v", p1["access"])
	}
	jti1, _ := p1["jti"].(string)
	jti2, _ := p2["jti"].(string)
	if jti1 == "" || jti1 == jti2 {
		t.Errorf("jti not random: %q, %q", jti1, jti2)
	}
}

func TestMintRefuses(t *testing.T) {
	now := time.Now()
	valid := authz.TokenClaims{Subject: "user-alice", Audience: ctlUUID, TTL: time.Minute}
	retired := mustKey(t, now.Add(-time.Hour))
	retired.RetireAt = now.Add(-time.Minute)
	tests := []struct {
		name    string
		ks      *authz.KeySet
		modify  func(*authz.TokenClaims)
		wantMsg string
	}{
		{"empty subject", authz.NewKeySet(mustKey(t, now)), func(c *authz.TokenClaims) { c.Subject = "" }, "no subject"},
		{"subject not a user tag", authz.NewKeySet(mustKey(t, now)), func(c *authz.TokenClaims) { c.Subject = "alice" }, "not a user tag"},
		{"bare user- prefix", authz.NewKeySet(mustKey(t, now)), func(c *authz.TokenClaims) { c.Subject = "user-" }, "not a user tag"},
		{"empty audience", authz.NewKeySet(mustKey(t, now)), func(c *authz.TokenClaims) { c.Audience = "" }, "no audience"},
		{"zero TTL", authz.NewKeySet(mustKey(t, now)), func(c *authz.TokenClaims) { c.TTL = 0 }, "TTL"},
		{"negative TTL", authz.NewKeySet(mustKey(t, now)), func(c *authz.TokenClaims) { c.TTL = -time.Second }, "TTL"},
		{"no keys", authz.NewKeySet(), nil, "no current signing key"},
		{"zero KeySet", &authz.KeySet{}, nil, "no current signing key"},
		{"only retired keys", authz.NewKeySet(retired), nil, "no current signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			if tt.modify != nil {
				tt.modify(&c)
			}
			tok, err := tt.ks.Mint(now, c)
			if err == nil {
				t.Fatalf("Mint succeeded: %q", tok)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	now := time.Now()
	a := mustKey(t, now.Add(-2*time.Hour))
	ks := authz.NewKeySet(a)
	url, caPEM := jwksServer(t, ks)
	claims := authz.TokenClaims{Subject: "user-alice", Audience: ctlUUID, TTL: 10 * time.Minute,
		Access: map[string]string{"model-" + modelUUID: "admin"}}
	ctx := context.Background()

	tokA, err := ks.Mint(now, claims)
	if err != nil {
		t.Fatal(err)
	}
	long := newVerifier(t, url, caPEM, ctlUUID) // lives across the rotation
	if _, err := long.Verify(ctx, tokA); err != nil {
		t.Fatalf("token by A before rotation: %v", err)
	}

	// Rotate: A retired but still published, B new.
	b := mustKey(t, now.Add(-time.Minute))
	aRetired := *a
	aRetired.RetireAt = now.Add(-time.Second)
	ks.Replace([]*authz.SigningKey{&aRetired, b})
	if cur := ks.Current(); cur == nil || cur.ID != b.ID {
		t.Fatalf("Current() = %v, want key B %q", cur, b.ID)
	}
	tokB, err := ks.Mint(now, claims)
	if err != nil {
		t.Fatal(err)
	}
	if kid := tokenHeader(t, tokB)["kid"]; kid != b.ID {
		t.Fatalf("token after rotation has kid %v, want B %q", kid, b.ID)
	}
	fresh := newVerifier(t, url, caPEM, ctlUUID)
	for _, tc := range []struct {
		name    string
		v       *jwtauth.Verifier
		token   string
		wantKid string
	}{
		{"A on verifier from before", long, tokA, a.ID},
		{"B on verifier from before (unknown kid: refetch)", long, tokB, b.ID},
		{"A on fresh verifier", fresh, tokA, a.ID},
		{"B on fresh verifier", fresh, tokB, b.ID},
	} {
		got, err := tc.v.Verify(ctx, tc.token)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.KeyID != tc.wantKid || got.Access["model-"+modelUUID] != "admin" {
			t.Errorf("%s: kid %q access %v", tc.name, got.KeyID, got.Access)
		}
	}

	// Withdraw A: a fresh verifier no longer knows it.
	ks.Replace([]*authz.SigningKey{b})
	v := newVerifier(t, url, caPEM, ctlUUID)
	if _, err := v.Verify(ctx, tokA); !errors.Is(err, jwtauth.ErrUnknownKey) {
		t.Fatalf("token by withdrawn key A: error %v, want ErrUnknownKey", err)
	}
	if _, err := v.Verify(ctx, tokB); err != nil {
		t.Fatalf("token by B after withdrawing A: %v", err)
	}
}

func TestCurrent(t *testing.T) {
	now := time.Now()
	old := mustKey(t, now.Add(-48*time.Hour))
	mid := mustKey(t, now.Add(-24*time.Hour))
	newest := mustKey(t, now.Add(-time.Hour))
	retire := func(k *authz.SigningKey, at time.Time) *authz.SigningKey {
		c := *k
		c.RetireAt = at
		return &c
	}
	tests := []struct {
		name string
		keys []*authz.SigningKey
		want string // key id, "" for nil
	}{
		{"empty", nil, ""},
		{"one", []*authz.SigningKey{old}, old.ID},
		{"newest wins whatever the order", []*authz.SigningKey{mid, newest, old}, newest.ID},
		{"retired newest skipped", []*authz.SigningKey{old, mid, retire(newest, now.Add(-time.Minute))}, mid.ID},
		{"retirement in the future not yet effective", []*authz.SigningKey{mid, retire(newest, now.Add(time.Hour))}, newest.ID},
		{"all retired", []*authz.SigningKey{retire(old, now.Add(-time.Minute))}, ""},
		{"invalid keys left out", []*authz.SigningKey{nil, {ID: "x", Algorithm: "ES256"}, old}, old.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := authz.NewKeySet(tt.keys...).Current()
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("Current() = %q, want nil", got.ID)
			case tt.want != "" && (got == nil || got.ID != tt.want):
				t.Errorf("Current() = %v, want %q", got, tt.want)
			}
		})
	}
}

func TestReplaceCopiesKeys(t *testing.T) {
	k := mustKey(t, time.Now())
	ks := authz.NewKeySet(k)
	k.RetireAt = time.Now().Add(-time.Minute) // must not affect the set
	if cur := ks.Current(); cur == nil || cur.ID != k.ID {
		t.Fatalf("Current() = %v after changing the caller's key", cur)
	}
	ks.Current().RetireAt = time.Now().Add(-time.Minute) // nor must this
	if ks.Current() == nil {
		t.Fatal("changing Current()'s result changed the set")
	}
}

// jwksDoc decodes a JWKS into generic JSON objects.
func jwksDoc(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, b)
	}
	if doc.Keys == nil {
		t.Fatalf("JWKS has no keys array: %s", b)
	}
	return doc.Keys
}

func TestJWKS(t *testing.T) {
	now := time.Now()
	ec := mustKey(t, now.Add(-time.Hour))
	retired := mustKey(t, now.Add(-2*time.Hour))
	retired.RetireAt = now.Add(-time.Minute)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk := &authz.SigningKey{ID: "rsa-1", Algorithm: "RS256", Private: rsaPriv, CreatedAt: now.Add(-3 * time.Hour)}
	ek := &authz.SigningKey{ID: "ed-1", Algorithm: "EdDSA", Private: edPriv, CreatedAt: now.Add(-4 * time.Hour)}

	tests := []struct {
		name string
		keys []*authz.SigningKey
		want map[string]string // kid -> alg
	}{
		{"empty", nil, map[string]string{}},
		{"generated key", []*authz.SigningKey{ec}, map[string]string{ec.ID: "ES256"}},
		{"retired key still published", []*authz.SigningKey{ec, retired}, map[string]string{ec.ID: "ES256", retired.ID: "ES256"}},
		{"every key type", []*authz.SigningKey{ec, rk, ek}, map[string]string{ec.ID: "ES256", "rsa-1": "RS256", "ed-1": "EdDSA"}},
	}
	// Members of a JWK that hold private key material (RFC 7517, 7518, 8037).
	private := []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := authz.NewKeySet(tt.keys...).JWKS()
			keys := jwksDoc(t, raw)
			got := map[string]string{}
			for _, k := range keys {
				for _, m := range private {
					if _, ok := k[m]; ok {
						t.Errorf("JWK %v holds private member %q", k["kid"], m)
					}
				}
				if k["use"] != "sig" {
					t.Errorf("JWK %v: use = %v, want sig", k["kid"], k["use"])
				}
				kid, _ := k["kid"].(string)
				alg, _ := k["alg"].(string)
				got[kid] = alg
				// And it parses as a public key go-jose accepts.
				b, _ := json.Marshal(k)
				var jwk jose.JSONWebKey
				if err := jwk.UnmarshalJSON(b); err != nil || !jwk.IsPublic() || !jwk.Valid() {
					t.Errorf("JWK %v does not parse as a valid public key: %v", kid, err)
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("JWKS keys = %v, want %v", got, tt.want)
			}
			for _, k := range tt.keys {
				if d, ok := k.Private.(*ecdsa.PrivateKey); ok {
					if strings.Contains(string(raw), base64.RawURLEncoding.EncodeToString(d.D.FillBytes(make([]byte, 32)))) {
						t.Error("JWKS contains an ECDSA private scalar")
					}
				}
			}
		})
	}

	t.Run("JWKS returns a copy", func(t *testing.T) {
		ks := authz.NewKeySet(ec)
		b := ks.JWKS()
		b[0] = 'X'
		if ks.JWKS()[0] != '{' {
			t.Fatal("changing the returned JWKS changed the set")
		}
	})
}

func TestJWKSHandler(t *testing.T) {
	ks := authz.NewKeySet(mustKey(t, time.Now()))
	tests := []struct {
		method     string
		wantStatus int
		wantBody   bool
	}{
		{http.MethodGet, http.StatusOK, true},
		{http.MethodHead, http.StatusOK, false},
		{http.MethodPost, http.StatusMethodNotAllowed, false},
		{http.MethodPut, http.StatusMethodNotAllowed, false},
		{http.MethodDelete, http.StatusMethodNotAllowed, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ks.ServeHTTP(rec, httptest.NewRequest(tt.method, authz.JWKSPath, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed {
				if allow := res.Header.Get("Allow"); allow != "GET, HEAD" {
					t.Errorf("Allow = %q", allow)
				}
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=60") {
				t.Errorf("Cache-Control = %q", cc)
			}
			if tt.wantBody {
				if string(body) != string(ks.JWKS()) {
					t.Errorf("body = %s, want the JWKS", body)
				}
			} else if len(body) != 0 {
				t.Errorf("HEAD returned a body: %s", body)
			}
		})
	}
}

func TestSigningKeyMarshalParse(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	gen := mustKey(t, now)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der := func(s crypto.Signer) []byte {
		k := &authz.SigningKey{ID: "x", Private: s}
		b, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	genDER, err := gen.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		id, alg string
		der     []byte
		wantErr string
	}{
		{"generated ES256", gen.ID, "ES256", genDER, ""},
		{"ES384", "p384", "ES384", der(p384), ""},
		{"RS256", "rsa", "RS256", der(rsaPriv), ""},
		{"PS256", "rsa", "PS256", der(rsaPriv), ""},
		{"EdDSA", "ed", "EdDSA", der(edPriv), ""},
		{"empty id", "", "ES256", genDER, "empty key id"},
		{"not DER", "bad", "ES256", []byte("not a key"), "not a PKCS #8 private key"},
		{"ES384 alg on a P-256 key", "k", "ES384", genDER, "does not fit"},
		{"RS256 alg on an EC key", "k", "RS256", genDER, "does not fit"},
		{"ES256 alg on an RSA key", "k", "ES256", der(rsaPriv), "does not fit"},
		{"small RSA key", "k", "RS256", der(smallRSA), "too small"},
		{"HS256", "k", "HS256", genDER, "unsupported algorithm"},
		{"none", "k", "none", genDER, "unsupported algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := authz.ParseSigningKey(tt.id, tt.alg, tt.der, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != tt.id || k.Algorithm != tt.alg || !k.CreatedAt.Equal(now) || !k.RetireAt.IsZero() {
				t.Errorf("parsed key = %+v", k)
			}
			type equaler interface{ Equal(crypto.PublicKey) bool }
			want, _ := x509ParsePub(t, tt.der)
			if !k.Private.Public().(equaler).Equal(want) {
				t.Error("parsed key differs from the marshalled one")
			}
		})
	}

	// Every supported key type mints tokens the controller accepts.
	t.Run("verify", func(t *testing.T) {
		var keys []*authz.SigningKey
		for i, tt := range tests[:5] {
			k, err := authz.ParseSigningKey(tt.id+string(rune('a'+i)), tt.alg, tt.der, now)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		ks := authz.NewKeySet()
		url, caPEM := jwksServer(t, ks)
		v := newVerifier(t, url, caPEM, ctlUUID)
		for _, k := range keys {
			ks.Replace([]*authz.SigningKey{k})
			tok, err := ks.Mint(time.Now(), authz.TokenClaims{Subject: "user-alice", Audience: ctlUUID, TTL: time.Minute})
			if err != nil {
				t.Fatalf("%s: %v", k.Algorithm, err)
			}
			got, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("%s: %v", k.Algorithm, err)
			}
			if got.KeyID != k.ID {
				t.Errorf("%s: kid %q, want %q", k.Algorithm, got.KeyID, k.ID)
			}
		}
	})

	t.Run("generated key id is the JWK thumbprint", func(t *testing.T) {
		jwk := jose.JSONWebKey{Key: gen.Private.Public()}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(tp); gen.ID != want || gen.Algorithm != "ES256" {
			t.Errorf("generated key id %q alg %q, want %q ES256", gen.ID, gen.Algorithm, want)
		}
		if other := mustKey(t, now); other.ID == gen.ID {
			t.Error("two generated keys share an id")
		}
	})
}

// TestKeySetConcurrent mints, serves and rotates at once (run with -race).
func TestKeySetConcurrent(t *testing.T) {
	now := time.Now()
	a, b := mustKey(t, now.Add(-time.Hour)), mustKey(t, now)
	ks := authz.NewKeySet(a)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := ks.Mint(now, authz.TokenClaims{Subject: "user-alice", Audience: ctlUUID, TTL: time.Minute}); err != nil {
					t.Error(err)
					return
				}
				rec := httptest.NewRecorder()
				ks.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, authz.JWKSPath, nil))
				_ = ks.Current()
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			if i%2 == 0 {
				ks.Replace([]*authz.SigningKey{a, b})
			} else {
				ks.Replace([]*authz.SigningKey{a})
			}
		}
	})
	wg.Wait()
}

func BenchmarkMint(b *testing.B) {
	now := time.Now()
	ks := authz.NewKeySet(mustKey(b, now))
	c := authz.TokenClaims{
		Subject:  "user-alice",
		Audience: ctlUUID,
		Access: map[string]string{
			"controller-" + ctlUUID: "login",
			"model-" + modelUUID:    "write",
			"cloud-lxd":             "add-model",
		},
		TTL: time.Minute,
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.Mint(now, c); err != nil {
			b.Fatal(err)
		}
	}
}

// x509ParsePub returns the public key of a PKCS #8 DER private key.
func x509ParsePub(t *testing.T, der []byte) (crypto.PublicKey, error) {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer).Public(), nil
}

// TestActivateAt: a key published ahead of its activation does not sign
// until then; the key it replaces signs until it retires.
func TestActivateAt(t *testing.T) {
	now := time.Now()
	a, b := mustKey(t, now.Add(-time.Hour)), mustKey(t, now)
	b.ActivateAt = now.Add(time.Hour)
	a.RetireAt = b.ActivateAt
	ks := authz.NewKeySet(a, b)
	if got := ks.Current(); got == nil || got.ID != a.ID {
		t.Fatalf("before b activates, current = %v, want a", got)
	}
	if !strings.Contains(string(ks.JWKS()), b.ID) {
		t.Fatal("b is not published ahead of its activation")
	}
	tok, err := ks.Mint(now.Add(2*time.Hour), authz.TokenClaims{Subject: "user-x", Audience: "c", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if kid := tokenHeader(t, tok)["kid"]; kid != b.ID {
		t.Fatalf("after b activates and a retires, tokens are signed by %v, want b", kid)
	}
}
