package jwtauth_test

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
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/jimmbroker/jimm/devcontroller/jwtauth"
	"github.com/jimmbroker/jimm/jujuapi/pki"
)

const controllerUUID = "7c6f3b1e-1d2a-4c5b-8e9f-0a1b2c3d4e5f"

// signingKey is a private key with the id and algorithm it signs with.
type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

var (
	keysOnce sync.Once
	ecKey    signingKey
	rsaKey   signingKey
	edKey    signingKey
	ecKey2   signingKey
	strayKey signingKey // never published
)

func testKeys(tb testing.TB) {
	tb.Helper()
	keysOnce.Do(func() {
		ec := func() *ecdsa.PrivateKey {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			return k
		}
		r, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		ecKey = signingKey{"ec1", jose.ES256, ec()}
		rsaKey = signingKey{"rsa1", jose.RS256, r}
		edKey = signingKey{"ed1", jose.EdDSA, ed}
		ecKey2 = signingKey{"ec2", jose.ES256, ec()}
		strayKey = signingKey{"stray", jose.ES256, ec()}
	})
}

// jwksServer is a real HTTPS server, with a certificate from its own CA,
// serving a key set that tests can change, and counting requests.
type jwksServer struct {
	srv      *httptest.Server
	caPEM    []byte
	requests atomic.Int64 // requests begun
	ended    atomic.Int64 // requests answered, or given up by the client

	mu     sync.Mutex
	body   []byte
	status int
	block  chan struct{} // when set, requests wait for it to close
}

func newJWKSServer(t testing.TB, keys ...signingKey) *jwksServer {
	t.Helper()
	ca, err := pki.GenerateCA("jwks test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	s := &jwksServer{caPEM: ca.CertPEM(), status: http.StatusOK}
	s.setKeys(keys...)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected TLS failures
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	defer s.ended.Add(1)
	s.mu.Lock()
	body, status, block := s.body, s.status, s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	if status != http.StatusOK {
		http.Error(w, "unavailable", status)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(body)
}

func (s *jwksServer) setKeys(keys ...signingKey) {
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	s.setBody(set)
}

// setBody serves v: []byte as is, anything else as JSON.
func (s *jwksServer) setBody(v any) {
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *jwksServer) setStatus(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

func (s *jwksServer) url() string { return s.srv.URL + "/.well-known/jwks.json" }

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newVerifier(t testing.TB, s *jwksServer, clk *clock) *jwtauth.Verifier {
	t.Helper()
	v, err := jwtauth.NewVerifier(jwtauth.Config{
		JWKSURL:   s.url(),
		CACertPEM: s.caPEM,
		Audience:  controllerUUID,
		Logger:    quietLogger(),
		Now:       clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// claims are a token's claims; set fields to nil/zero to leave them out.
type claims struct {
	jwt.Claims
	Access any `json:"access,omitempty"`
}

func goodClaims(now time.Time) claims {
	return claims{
		Claims: jwt.Claims{
			Issuer:   "jimm",
			Subject:  "user-alice",
			Audience: jwt.Audience{controllerUUID},
			Expiry:   jwt.NewNumericDate(now.Add(5 * time.Minute)),
			IssuedAt: jwt.NewNumericDate(now),
		},
		Access: map[string]string{
			"controller-" + controllerUUID:               "login",
			"model-0d3e2c3a-4b5c-4d6e-8f70-8192a3b4c5d6": "admin",
			"cloud-aws": "add-model",
		},
	}
}

// compact signs c with k and returns the compact JWS.
func compact(tb testing.TB, k signingKey, c any) string {
	tb.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// token signs c with k and encodes it as Juju does.
func token(tb testing.TB, k signingKey, c any) string {
	return base64.StdEncoding.EncodeToString([]byte(compact(tb, k, c)))
}

// checkErr checks err is a verification error of the given kind whose
// message contains want and does not quote the token.
func checkErr(t *testing.T, err error, kind error, want, tok string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", kind)
	}
	if !errors.Is(err, jwtauth.ErrInvalidToken) {
		t.Errorf("error %q does not wrap ErrInvalidToken", err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if tok == "" {
		return
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	if strings.Contains(msg, tok) {
		t.Errorf("error quotes the token: %q", msg)
	}
	if raw, derr := base64.StdEncoding.DecodeString(tok); derr == nil {
		for _, part := range strings.Split(string(raw), ".") {
			if len(part) > 8 && strings.Contains(msg, part) {
				t.Errorf("error quotes part of the token: %q", msg)
			}
		}
	}
}

func TestVerifyValid(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey, rsaKey, edKey)
	clk := newClock()
	if s.requests.Load() != 0 {
		t.Fatal("server hit before any Verify")
	}
	v := newVerifier(t, s, clk)
	if s.requests.Load() != 0 {
		t.Fatal("NewVerifier fetched the key set")
	}
	for _, k := range []signingKey{ecKey, rsaKey, edKey} {
		t.Run(k.kid, func(t *testing.T) {
			c := goodClaims(clk.Now())
			got, err := v.Verify(context.Background(), token(t, k, c))
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != "user-alice" || got.KeyID != k.kid || got.Issuer != "jimm" {
				t.Errorf("claims %+v", got)
			}
			if !got.Expiry.Equal(c.Expiry.Time()) {
				t.Errorf("expiry %v, want %v", got.Expiry, c.Expiry.Time())
			}
			want := c.Access.(map[string]string)
			if len(got.Access) != len(want) {
				t.Errorf("access %v, want %v", got.Access, want)
			}
			for tag, level := range want {
				if got.Access[tag] != level {
					t.Errorf("access[%s] = %q, want %q", tag, got.Access[tag], level)
				}
			}
		})
	}
	if n := s.requests.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1 (cached)", n)
	}
}

func TestVerifyClaimVariants(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	clk := newClock()
	v := newVerifier(t, s, clk)
	now := clk.Now()
	for name, mutate := range map[string]func(*claims){
		"audience array":    func(c *claims) { c.Audience = jwt.Audience{"other", controllerUUID} },
		"service account":   func(c *claims) { c.Subject = "user-ci@serviceaccount" },
		"nbf within leeway": func(c *claims) { c.NotBefore = jwt.NewNumericDate(now.Add(3 * time.Second)) },
		"nbf past":          func(c *claims) { c.NotBefore = jwt.NewNumericDate(now.Add(-time.Minute)) },
		"no iat":            func(c *claims) { c.IssuedAt = nil },
		"no iss":            func(c *claims) { c.Issuer = "" },
		"no access":         func(c *claims) { c.Access = nil },
	} {
		t.Run(name, func(t *testing.T) {
			c := goodClaims(now)
			mutate(&c)
			got, err := v.Verify(context.Background(), token(t, ecKey, c))
			if err != nil {
				t.Fatal(err)
			}
			if got.Access == nil {
				t.Error("nil Access")
			}
		})
	}
	// A single-string audience is encoded as a JSON string, not an array.
	c := goodClaims(now)
	tok := token(t, ecKey, map[string]any{"sub": "user-bob", "aud": controllerUUID, "exp": c.Expiry})
	if got, err := v.Verify(context.Background(), tok); err != nil || got.Subject != "user-bob" {
		t.Errorf("string aud: %+v, %v", got, err)
	}
}

func TestVerifyRejectsClaims(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	clk := newClock()
	v := newVerifier(t, s, clk)
	now := clk.Now()
	tests := []struct {
		name   string
		mutate func(*claims)
		kind   error
		want   string
	}{{
		name:   "expired",
		mutate: func(c *claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Second)) },
		kind:   jwtauth.ErrExpired,
		want:   "token expired at " + now.Add(-time.Second).UTC().Format(time.RFC3339),
	}, {
		name:   "expires now (exp is strict)",
		mutate: func(c *claims) { c.Expiry = jwt.NewNumericDate(now) },
		kind:   jwtauth.ErrExpired,
		want:   "token expired at",
	}, {
		name:   "no exp",
		mutate: func(c *claims) { c.Expiry = nil },
		kind:   jwtauth.ErrMalformedToken,
		want:   "token has no expiry time (exp)",
	}, {
		name:   "wrong audience",
		mutate: func(c *claims) { c.Audience = jwt.Audience{"x"} },
		kind:   jwtauth.ErrWrongAudience,
		want:   `token audience ["x"] does not include this controller`,
	}, {
		name:   "no audience",
		mutate: func(c *claims) { c.Audience = nil },
		kind:   jwtauth.ErrWrongAudience,
		want:   "does not include this controller",
	}, {
		name:   "nbf in the future",
		mutate: func(c *claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) },
		kind:   jwtauth.ErrNotYetValid,
		want:   "token not valid before",
	}, {
		name:   "iat in the future",
		mutate: func(c *claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Minute)) },
		kind:   jwtauth.ErrNotYetValid,
		want:   "token issued in the future",
	}, {
		name:   "subject not a user",
		mutate: func(c *claims) { c.Subject = "machine-0" },
		kind:   jwtauth.ErrInvalidSubject,
		want:   `token subject "machine-0" is not a user tag`,
	}, {
		name:   "empty user name",
		mutate: func(c *claims) { c.Subject = "user-" },
		kind:   jwtauth.ErrInvalidSubject,
		want:   "is not a user tag",
	}, {
		name:   "access not an object of strings",
		mutate: func(c *claims) { c.Access = map[string]int{"model-x": 1} },
		kind:   jwtauth.ErrMalformedToken,
		want:   `token claim "access" is not an object mapping tags to access levels`,
	}, {
		name:   "access an array",
		mutate: func(c *claims) { c.Access = []string{"model-x"} },
		kind:   jwtauth.ErrMalformedToken,
		want:   `token claim "access" is not an object`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := goodClaims(now)
			tt.mutate(&c)
			tok := token(t, ecKey, c)
			_, err := v.Verify(context.Background(), tok)
			checkErr(t, err, tt.kind, tt.want, tok)
		})
	}

	// Claims of the wrong JSON type.
	for name, c := range map[string]map[string]any{
		"numeric aud": {"sub": "user-a", "aud": 42, "exp": now.Add(time.Minute).Unix()},
		"string exp":  {"sub": "user-a", "aud": controllerUUID, "exp": "tomorrow"},
		"array sub":   {"sub": []string{"user-a"}, "aud": controllerUUID, "exp": now.Add(time.Minute).Unix()},
	} {
		t.Run(name, func(t *testing.T) {
			tok := token(t, ecKey, c)
			_, err := v.Verify(context.Background(), tok)
			checkErr(t, err, jwtauth.ErrMalformedToken, "token claims are malformed", tok)
		})
	}

	// exp is strict whatever the leeway.
	lenient, err := jwtauth.NewVerifier(jwtauth.Config{
		JWKSURL: s.url(), CACertPEM: s.caPEM, Audience: controllerUUID,
		Leeway: time.Hour, Logger: quietLogger(), Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := goodClaims(now)
	c.Expiry = jwt.NewNumericDate(now.Add(-time.Second))
	_, err = lenient.Verify(context.Background(), token(t, ecKey, c))
	checkErr(t, err, jwtauth.ErrExpired, "token expired", "")
	c = goodClaims(now)
	c.NotBefore = jwt.NewNumericDate(now.Add(30 * time.Minute))
	if _, err := lenient.Verify(context.Background(), token(t, ecKey, c)); err != nil {
		t.Errorf("nbf within a 1h leeway: %v", err)
	}
}

func TestVerifyRejectsForgeries(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey, rsaKey)
	clk := newClock()
	v := newVerifier(t, s, clk)
	c := goodClaims(clk.Now())
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(c)

	t.Run("alg none", func(t *testing.T) {
		header := `{"alg":"none","typ":"JWT","kid":"ec1"}`
		tok := base64.StdEncoding.EncodeToString([]byte(b64([]byte(header)) + "." + b64(payload) + "."))
		_, err := v.Verify(context.Background(), tok)
		checkErr(t, err, jwtauth.ErrUnsupportedAlgorithm, `unsupported signing algorithm "none"`, tok)
	})

	for _, alg := range []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512} {
		t.Run(string(alg), func(t *testing.T) {
			// Signed with the RSA public key as the HMAC secret: the classic
			// key-confusion forgery.
			secret, err := x509.MarshalPKIXPublicKey(rsaKey.priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: secret, KeyID: "rsa1"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := jwt.Signed(signer).Claims(c).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			tok := base64.StdEncoding.EncodeToString([]byte(raw))
			_, err = v.Verify(context.Background(), tok)
			checkErr(t, err, jwtauth.ErrUnsupportedAlgorithm, fmt.Sprintf("unsupported signing algorithm %q", alg), tok)
		})
	}

	t.Run("tampered payload", func(t *testing.T) {
		parts := strings.Split(compact(t, ecKey, c), ".")
		forged := goodClaims(clk.Now())
		forged.Access = map[string]string{"controller-" + controllerUUID: "superuser"}
		fp, _ := json.Marshal(forged)
		tok := base64.StdEncoding.EncodeToString([]byte(parts[0] + "." + b64(fp) + "." + parts[2]))
		_, err := v.Verify(context.Background(), tok)
		checkErr(t, err, jwtauth.ErrSignatureInvalid, "token signature invalid", tok)
	})

	t.Run("tampered header", func(t *testing.T) {
		// The same signature presented under another key's id.
		parts := strings.Split(compact(t, ecKey, c), ".")
		header := b64([]byte(`{"alg":"ES256","kid":"rsa1","typ":"JWT"}`))
		tok := base64.StdEncoding.EncodeToString([]byte(header + "." + parts[1] + "." + parts[2]))
		_, err := v.Verify(context.Background(), tok)
		checkErr(t, err, jwtauth.ErrSignatureInvalid, `key "rsa1" is for algorithm RS256, token is signed with ES256`, tok)
	})

	t.Run("algorithm not the key's", func(t *testing.T) {
		// A valid PS256 signature by the RSA key published for RS256.
		tok := token(t, signingKey{"rsa1", jose.PS256, rsaKey.priv}, c)
		_, err := v.Verify(context.Background(), tok)
		checkErr(t, err, jwtauth.ErrSignatureInvalid, "is for algorithm RS256", tok)
	})

	t.Run("signature by another key with a published kid", func(t *testing.T) {
		tok := token(t, signingKey{"ec1", jose.ES256, strayKey.priv}, c)
		_, err := v.Verify(context.Background(), tok)
		checkErr(t, err, jwtauth.ErrSignatureInvalid, "token signature invalid", tok)
	})

	t.Run("no kid", func(t *testing.T) {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ecKey.priv}, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(signer).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		tok := base64.StdEncoding.EncodeToString([]byte(raw))
		_, err = v.Verify(context.Background(), tok)
		checkErr(t, err, jwtauth.ErrUnknownKey, "token has no key id (kid)", tok)
	})
}

func TestVerifyMalformed(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	clk := newClock()
	v := newVerifier(t, s, clk)
	valid := compact(t, ecKey, goodClaims(clk.Now()))
	for _, tt := range []struct{ name, tok, want string }{
		{"not base64", "not base64!", "token is not base64-encoded"},
		{"empty", "", "token is not a valid compact JWS"},
		{"bare compact JWS", valid, "token is not base64-encoded (it looks like a bare compact JWS"},
		{"url-safe base64", base64.URLEncoding.EncodeToString([]byte(valid + "??>>")), "token is not base64-encoded"},
		{"base64 of junk", base64.StdEncoding.EncodeToString([]byte("hello")), "token is not a valid compact JWS"},
		{"base64 of JSON JWS", base64.StdEncoding.EncodeToString([]byte(`{"payload":"e30","signatures":[]}`)), "token is not a valid compact JWS"},
		{"too large", strings.Repeat("A", 100<<10), "token is too large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.tok)
			checkErr(t, err, jwtauth.ErrMalformedToken, tt.want, tt.tok)
		})
	}
	if n := s.requests.Load(); n != 0 {
		t.Errorf("malformed tokens caused %d JWKS fetches", n)
	}
}

func TestUnknownKeyRefetchesOnce(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	clk := newClock()
	v := newVerifier(t, s, clk)
	if _, err := v.Verify(context.Background(), token(t, ecKey, goodClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	if n := s.requests.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	clk.Advance(2 * time.Second) // past the cooldown
	tok := token(t, strayKey, goodClaims(clk.Now()))
	_, err := v.Verify(context.Background(), tok)
	checkErr(t, err, jwtauth.ErrUnknownKey, fmt.Sprintf("no key with id %q in JWKS from %s", "stray", s.url()), tok)
	if n := s.requests.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (one refetch for the unknown key)", n)
	}
	// Within the cooldown: refused without a fetch.
	_, err = v.Verify(context.Background(), tok)
	checkErr(t, err, jwtauth.ErrUnknownKey, "no key with id", tok)
	if n := s.requests.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (cooldown)", n)
	}
	// Known keys still verify.
	if _, err := v.Verify(context.Background(), token(t, ecKey, goodClaims(clk.Now()))); err != nil {
		t.Error(err)
	}
}

func TestKeyRotation(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	clk := newClock()
	v := newVerifier(t, s, clk)
	if _, err := v.Verify(context.Background(), token(t, ecKey, goodClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	s.setKeys(ecKey2, rsaKey) // ec1 retired, ec2 introduced
	clk.Advance(2 * time.Second)
	got, err := v.Verify(context.Background(), token(t, ecKey2, goodClaims(clk.Now())))
	if err != nil {
		t.Fatalf("token with the new key: %v", err)
	}
	if got.KeyID != "ec2" {
		t.Errorf("KeyID %q", got.KeyID)
	}
	if n := s.requests.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
	// The retired key is gone from the cache.
	tok := token(t, ecKey, goodClaims(clk.Now()))
	_, err = v.Verify(context.Background(), tok)
	checkErr(t, err, jwtauth.ErrUnknownKey, `no key with id "ec1"`, tok)
	if _, err := v.Verify(context.Background(), token(t, rsaKey, goodClaims(clk.Now()))); err != nil {
		t.Errorf("other new key: %v", err)
	}
}

func TestRefetchCooldown(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	clk := newClock()
	v := newVerifier(t, s, clk)
	if _, err := v.Verify(context.Background(), token(t, ecKey, goodClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)

	// Many tokens with unknown key ids, concurrently and then in sequence,
	// all within one cooldown period.
	var toks []string
	for i := range 40 {
		toks = append(toks, token(t, signingKey{fmt.Sprintf("unknown-%d", i), jose.ES256, strayKey.priv}, goodClaims(clk.Now())))
	}
	var wg sync.WaitGroup
	for _, tok := range toks {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok)
			if !errors.Is(err, jwtauth.ErrUnknownKey) {
				t.Errorf("got %v, want ErrUnknownKey", err)
			}
		})
	}
	wg.Wait()
	for _, tok := range toks {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, jwtauth.ErrUnknownKey) {
			t.Errorf("got %v, want ErrUnknownKey", err)
		}
	}
	if n := s.requests.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (initial + at most one refetch per cooldown)", n)
	}
	clk.Advance(2 * time.Second)
	v.Verify(context.Background(), toks[0])
	if n := s.requests.Load(); n != 3 {
		t.Errorf("%d fetches after the cooldown, want 3", n)
	}
}

func TestLazyFetchAndUnavailableKeySet(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	s.setStatus(http.StatusServiceUnavailable)
	clk := newClock()
	v := newVerifier(t, s, clk)
	tok := token(t, ecKey, goodClaims(clk.Now()))
	_, err := v.Verify(context.Background(), tok)
	checkErr(t, err, jwtauth.ErrKeySetUnavailable, "503", tok)
	_, err = v.Verify(context.Background(), tok)
	checkErr(t, err, jwtauth.ErrKeySetUnavailable, "cannot verify token: JWKS unavailable", tok)
	if n := s.requests.Load(); n != 1 {
		t.Errorf("%d fetches, want 1 (cooldown applies to failures)", n)
	}
	s.setStatus(http.StatusOK)
	clk.Advance(2 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("after the issuer came up: %v", err)
	}

	// A verifier whose URL is not listening starts fine.
	dead, err := jwtauth.NewVerifier(jwtauth.Config{JWKSURL: "https://127.0.0.1:1/jwks", Audience: controllerUUID, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("NewVerifier with an unreachable URL: %v", err)
	}
	_, err = dead.Verify(context.Background(), tok)
	checkErr(t, err, jwtauth.ErrKeySetUnavailable, "fetching JWKS", tok)
}

func TestBadKeySets(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t)
	clk := newClock()
	v := newVerifier(t, s, clk)
	tok := token(t, ecKey, goodClaims(clk.Now()))
	for _, tt := range []struct {
		name string
		body any
		kind error
		want string
	}{
		{"not a key set", "<html>", jwtauth.ErrKeySetUnavailable, `is not a JSON object with a "keys" array`},
		{"HTML", []byte("<html>"), jwtauth.ErrKeySetUnavailable, "is not valid JSON"},
		{"invalid JSON", []byte(`{"keys":[}`), jwtauth.ErrKeySetUnavailable, "is not valid JSON"},
		{"no keys member", map[string]any{}, jwtauth.ErrKeySetUnavailable, `has no "keys" member`},
		{"only unusable keys", map[string]any{"keys": []any{
			map[string]any{"kty": "oct", "kid": "ec1", "k": "c2VjcmV0"}, // HMAC secret
			map[string]any{"kty": "EC", "kid": "ec1", "crv": "P-256"},   // broken
			map[string]any{"kty": "weird", "kid": "ec1"},
			func() jose.JSONWebKey { k := ecKey.jwk(); k.Use = "enc"; return k }(),
		}}, jwtauth.ErrUnknownKey, `no key with id "ec1"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s.setBody(tt.body)
			clk.Advance(2 * time.Second)
			_, err := v.Verify(context.Background(), tok)
			checkErr(t, err, tt.kind, tt.want, tok)
		})
	}
	// A usable key next to unusable ones is used.
	s.setBody(map[string]any{"keys": []any{map[string]any{"kty": "weird", "kid": "x"}, ecKey.jwk()}})
	clk.Advance(2 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Error(err)
	}
}

func TestMaxKeySetAge(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	clk := newClock()
	v := newVerifier(t, s, clk)
	if _, err := v.Verify(context.Background(), token(t, ecKey, goodClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	// The issuer hangs when the key set gets old: cached keys stay in use,
	// without waiting for the refresh.
	block := make(chan struct{})
	s.mu.Lock()
	s.block = block
	s.status = http.StatusInternalServerError
	s.mu.Unlock()
	clk.Advance(time.Hour + time.Second)
	for range 10 {
		if _, err := v.Verify(context.Background(), token(t, ecKey, goodClaims(clk.Now()))); err != nil {
			t.Fatalf("stale keys while the issuer is down: %v", err)
		}
	}
	// The issuer holds the refresh until block closes (or the verifier
	// gives up on it): had a verification waited for it, it would have
	// ended by now.
	if n := s.ended.Load(); n != 1 {
		t.Errorf("%d key set requests ended before the verifications returned, want 1 (the first fetch): a verification waited for the refresh", n)
	}
	waitFor(t, func() bool { return s.requests.Load() == 2 }, "background refresh")
	s.mu.Lock()
	s.block = nil
	s.mu.Unlock()
	close(block)

	// The issuer withdraws the key: once the key set is fetched again the
	// key is no longer accepted.
	s.setStatus(http.StatusOK)
	s.setKeys(ecKey2)
	clk.Advance(2 * time.Second)
	tok := token(t, ecKey, goodClaims(clk.Now()))
	var err error
	waitFor(t, func() bool {
		_, err = v.Verify(context.Background(), tok)
		return err != nil
	}, "withdrawn key refused")
	checkErr(t, err, jwtauth.ErrUnknownKey, `no key with id "ec1"`, tok)
	if _, err := v.Verify(context.Background(), token(t, ecKey2, goodClaims(clk.Now()))); err != nil {
		t.Error(err)
	}
	if n := s.requests.Load(); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTrust(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	clk := newClock()
	tok := token(t, ecKey, goodClaims(clk.Now()))

	// Without the CA, the server is not trusted.
	v, err := jwtauth.NewVerifier(jwtauth.Config{JWKSURL: s.url(), Audience: controllerUUID, Logger: quietLogger(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), tok)
	checkErr(t, err, jwtauth.ErrKeySetUnavailable, "certificate", tok)
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); !ok {
		t.Errorf("error %v is not an x509.UnknownAuthorityError", err)
	}

	// Another CA does not help.
	other, err := pki.GenerateCA("other")
	if err != nil {
		t.Fatal(err)
	}
	v, err = jwtauth.NewVerifier(jwtauth.Config{JWKSURL: s.url(), CACertPEM: other.CertPEM(), Audience: controllerUUID, Logger: quietLogger(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), tok)
	checkErr(t, err, jwtauth.ErrKeySetUnavailable, "certificate", tok)

	// A caller's own HTTP client.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	v, err = jwtauth.NewVerifier(jwtauth.Config{JWKSURL: s.url(), HTTPClient: client, Audience: controllerUUID, Logger: quietLogger(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Error(err)
	}
}

func TestContextCancelled(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey)
	block := make(chan struct{})
	s.mu.Lock()
	s.block = block
	s.mu.Unlock()
	t.Cleanup(func() { close(block) }) // before the server closes
	clk := newClock()
	v := newVerifier(t, s, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tok := token(t, ecKey, goodClaims(clk.Now()))
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, tok)
		done <- err
	}()
	// The issuer holds the fetch; only the context can end Verify.
	waitFor(t, func() bool { return s.requests.Load() == 1 }, "the key set fetch")
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Verify still waiting a minute after its context was cancelled")
	}
	checkErr(t, err, jwtauth.ErrKeySetUnavailable, "context canceled", tok)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

func TestNewVerifierConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  jwtauth.Config
		want string
	}{
		{"no URL", jwtauth.Config{Audience: controllerUUID}, "JWKS URL not set"},
		{"http URL", jwtauth.Config{JWKSURL: "http://x/jwks", Audience: controllerUUID}, "not an https URL"},
		{"bad URL", jwtauth.Config{JWKSURL: "https://x:bad/", Audience: controllerUUID}, "invalid JWKS URL"},
		{"no audience", jwtauth.Config{JWKSURL: "https://x/jwks"}, "audience"},
		{"bad CA", jwtauth.Config{JWKSURL: "https://x/jwks", Audience: controllerUUID, CACertPEM: []byte("junk")}, "no PEM certificate"},
		{"client and CA", jwtauth.Config{JWKSURL: "https://x/jwks", Audience: controllerUUID, CACertPEM: []byte("junk"), HTTPClient: http.DefaultClient}, "not both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jwtauth.NewVerifier(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConcurrentVerify(t *testing.T) {
	testKeys(t)
	s := newJWKSServer(t, ecKey, rsaKey, edKey)
	clk := newClock()
	v := newVerifier(t, s, clk) // cold cache: the first fetch is raced for
	good := []string{
		token(t, ecKey, goodClaims(clk.Now())),
		token(t, rsaKey, goodClaims(clk.Now())),
		token(t, edKey, goodClaims(clk.Now())),
	}
	expired := goodClaims(clk.Now())
	expired.Expiry = jwt.NewNumericDate(clk.Now().Add(-time.Minute))
	bad := []string{token(t, ecKey, expired), token(t, strayKey, goodClaims(clk.Now()))}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 30 {
				if (g+i)%5 == 0 {
					if _, err := v.Verify(context.Background(), bad[i%len(bad)]); !errors.Is(err, jwtauth.ErrInvalidToken) {
						t.Errorf("bad token: %v", err)
					}
					continue
				}
				c, err := v.Verify(context.Background(), good[(g+i)%len(good)])
				if err != nil || c.Subject != "user-alice" {
					t.Errorf("good token: %+v, %v", c, err)
				}
			}
		})
	}
	wg.Wait()
	if n := s.requests.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func BenchmarkVerify(b *testing.B) {
	testKeys(b)
	s := newJWKSServer(b, ecKey, rsaKey, edKey)
	clk := newClock()
	v := newVerifier(b, s, clk)
	for _, k := range []signingKey{ecKey, rsaKey, edKey} {
		b.Run(string(k.alg), func(b *testing.B) {
			tok := token(b, k, goodClaims(clk.Now()))
			if _, err := v.Verify(context.Background(), tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(context.Background(), tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
