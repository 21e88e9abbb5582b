// Package integration holds end-to-end tests: real devcontroller processes
// driven with the real Juju Go API client.
package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/juju/errors"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/base"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

// devBin is the devcontroller binary every test runs.
var devBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "jimm-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	defer releasePostgres()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var flags []string
	if raceEnabled {
		// Race-check the controller too: a race it detects makes it
		// exit non-zero, which fails the test that stops it.
		flags = append(flags, "-race")
	}
	devBin, err = devproc.Build(ctx, dir, flags...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	return m.Run()
}

// adminPassword is the admin password every test controller starts with.
const adminPassword = "integration-secret"

// controller is a devcontroller process owned by one test.
type controller struct {
	t testing.TB
	*devproc.Process
	// stopped is set once the test stopped or killed the process itself.
	stopped atomic.Bool
}

// startController starts a devcontroller on a fresh data directory with the
// given extra flags; it is stopped (SIGTERM) when the test ends, and its
// output is logged if the test failed.
func startController(t testing.TB, name string, args ...string) *controller {
	t.Helper()
	opts := devproc.Options{
		Bin:           devBin,
		Name:          name,
		DataDir:       filepath.Join(t.TempDir(), "data"),
		AdminPassword: adminPassword,
		Args:          args,
	}
	return launch(t, opts)
}

func launch(t testing.TB, opts devproc.Options) *controller {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := devproc.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start devcontroller: %v", err)
	}
	c := &controller{t: t, Process: p}
	t.Cleanup(func() {
		if !c.stopped.Load() {
			if err := p.Stop(10 * time.Second); err != nil {
				t.Errorf("controller %s (pid %d) did not shut down cleanly on SIGTERM: %v", opts.Name, p.Pid(), err)
			}
		}
		if out := p.Output(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("controller %s reported a data race", opts.Name)
		}
		if t.Failed() {
			t.Logf("output of controller %s (pid %d):\n%s", opts.Name, p.Pid(), p.Output())
		}
	})
	return c
}

// restart stops the controller with SIGTERM (checking it exits cleanly)
// and starts it again on the same data directory. The new process belongs
// to the test that started the first one.
func (c *controller) restart(t testing.TB) *controller {
	t.Helper()
	c.stopped.Store(true)
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop controller %s with SIGTERM: %v", c.Opts.Name, err)
	}
	return launch(c.t, c.Opts)
}

// crashRestart kills the controller with SIGKILL and starts it again on the
// same data directory.
func (c *controller) crashRestart(t testing.TB) *controller {
	t.Helper()
	c.stopped.Store(true)
	c.Kill()
	return launch(c.t, c.Opts)
}

// info is the api.Info for the controller (modelUUID "" for /api).
func (c *controller) info(modelUUID string) *api.Info {
	info := &api.Info{Addrs: []string{c.Addr}, CACert: c.File.CACert}
	if modelUUID != "" {
		info.ModelTag = names.NewModelTag(modelUUID)
	}
	return info
}

var dialOpts = api.DialOpts{Timeout: 30 * time.Second}

// openAs logs in with a password on /api (modelUUID "") or a model's
// endpoint; the connection is closed when the test ends.
func (c *controller) openAs(t testing.TB, user, password, modelUUID string) api.Connection {
	t.Helper()
	conn, err := c.tryOpen(user, password, modelUUID)
	if err != nil {
		t.Fatalf("login as %s to controller %s (model %q): %v", user, c.Opts.Name, modelUUID, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (c *controller) tryOpen(user, password, modelUUID string) (api.Connection, error) {
	info := c.info(modelUUID)
	info.Tag, info.Password = names.NewUserTag(user), password
	return api.Open(info, dialOpts)
}

// admin logs in as admin.
func (c *controller) admin(t testing.TB, modelUUID string) api.Connection {
	t.Helper()
	return c.openAs(t, "admin", adminPassword, modelUUID)
}

// tokenLogin is an api.LoginProvider that logs in with a JWT, as a broker
// does.
type tokenLogin struct {
	tag   names.UserTag
	token string // base64 of the compact JWS
}

func (p *tokenLogin) Login(_ context.Context, caller base.APICaller) (*api.LoginResultParams, error) {
	var result params.LoginResult
	req := &params.LoginRequest{AuthTag: p.tag.String(), Token: p.token, ClientVersion: "3.5.4"}
	if err := caller.APICall("Admin", 3, "", "Login", req, &result); err != nil {
		return nil, errors.Trace(err)
	}
	return api.NewLoginResultParams(result)
}

func (p *tokenLogin) AuthHeader() (http.Header, error) { return nil, api.ErrorLoginFirst }

func (c *controller) tryOpenToken(user, token, modelUUID string) (api.Connection, error) {
	opts := dialOpts
	opts.LoginProvider = &tokenLogin{tag: names.NewUserTag(user), token: token}
	return api.Open(c.info(modelUUID), opts)
}

// errCode returns the Juju error code of err (from *rpc.RequestError or
// *params.Error), or "".
func errCode(err error) string { return params.ErrCode(err) }

// wantErr fails the test unless err carries code and its message contains
// msg.
func wantErr(t testing.TB, what string, err error, code, msg string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: succeeded, want error %q (code %q)", what, msg, code)
	case errCode(err) != code:
		t.Errorf("%s: error %q has code %q, want %q", what, err, errCode(err), code)
	case !strings.Contains(err.Error(), msg):
		t.Errorf("%s: error %q does not say %q", what, err, msg)
	}
}

// eventually retries f every 50ms until it returns nil or timeout passes,
// then fails with f's last error.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// issuer signs login tokens with ES256 and serves its key set over HTTPS.
type issuer struct {
	key    *ecdsa.PrivateKey
	kid    string
	srv    *httptest.Server
	caPEM  []byte
	caFile string

	mu      sync.Mutex
	jwks    []byte // the key set served
	fetches int    // how many times it was fetched
}

// newIssuer starts an HTTPS JWKS server whose certificate comes from a
// fresh CA (written to a PEM file for --trust-jwks-ca).
func newIssuer(t testing.TB) *issuer {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "integration JWKS CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "jwks"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}

	iss := &issuer{key: newSigningKey(t), kid: "integration-key-1"}
	iss.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	iss.caFile = filepath.Join(t.TempDir(), "jwks-ca.pem")
	if err := os.WriteFile(iss.caFile, iss.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	iss.publish(publicJWK(&iss.key.PublicKey, iss.kid))
	iss.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		iss.mu.Lock()
		jwks := iss.jwks
		iss.fetches++
		iss.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	iss.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}}
	iss.srv.StartTLS()
	t.Cleanup(iss.srv.Close)
	return iss
}

func newSigningKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publish replaces the key set the issuer serves.
func (iss *issuer) publish(keys ...map[string]string) {
	jwks, _ := json.Marshal(map[string]any{"keys": keys})
	iss.mu.Lock()
	iss.jwks = jwks
	iss.mu.Unlock()
}

// fetchCount is how many times the key set was fetched.
func (iss *issuer) fetchCount() int {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.fetches
}

// url is the JWKS URL.
func (iss *issuer) url() string { return iss.srv.URL + "/.well-known/jwks.json" }

// flags are the devcontroller flags that trust this issuer.
func (iss *issuer) flags() []string {
	return []string{"--trust-jwks-url", iss.url(), "--trust-jwks-ca", iss.caFile}
}

func publicJWK(pub *ecdsa.PublicKey, kid string) map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	return map[string]string{"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y), "kid": kid, "use": "sig", "alg": "ES256"}
}

// tokenClaims are the claims of a login token.
type tokenClaims struct {
	Subject  string            `json:"sub"`
	Audience string            `json:"aud"`
	Expiry   int64             `json:"exp"`
	IssuedAt int64             `json:"iat"`
	Issuer   string            `json:"iss"`
	Access   map[string]string `json:"access"`
}

// sign returns the Login "token" field for claims: standard base64 of an
// ES256 compact JWS signed with key under key id kid.
func sign(t testing.TB, key *ecdsa.PrivateKey, kid string, claims tokenClaims) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": kid})
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signingInput := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	jws := signingInput + "." + b64(sig)
	return base64.StdEncoding.EncodeToString([]byte(jws))
}

// token signs claims with the issuer's published key.
func (iss *issuer) token(t testing.TB, claims tokenClaims) string {
	t.Helper()
	return sign(t, iss.key, iss.kid, claims)
}
