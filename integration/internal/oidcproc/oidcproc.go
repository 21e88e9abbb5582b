// Package oidcproc runs real OpenID Connect providers for the integration
// tests, and plays the person at them: dex (device and browser logins of
// people from a static password database) over HTTPS with a certificate
// the test makes, and the zitadel OIDC example server (service accounts
// with the client-credentials grant). ApproveDevice and BrowserLogin fill
// in dex's pages headlessly, with net/http and a cookie jar.
package oidcproc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jimmbroker/jimm/integration/internal/proc"
)

// Environment variables naming the providers' binaries (see .ci/tools.sh).
const (
	DexBinEnv     = "JIMM_DEX_BIN"
	ExampleBinEnv = "JIMM_OIDC_EXAMPLE_BIN"
)

// User is a person in dex's password database.
type User struct {
	Email, Username, Password string
}

// Users are dex's people.
var (
	Alice = User{Email: "alice@example.com", Username: "alice", Password: "alice-dex-pw-41"}
	Bob   = User{Email: "bob@example.com", Username: "bob", Password: "bob-dex-pw-42"}
	Carol = User{Email: "carol@example.com", Username: "carol", Password: "carol-dex-pw-43"}
	Users = []User{Alice, Bob, Carol}
)

// The clients dex knows.
const (
	// BrokerClientID and BrokerClientSecret are the broker's confidential
	// client (device and authorization-code grants).
	BrokerClientID     = "jimm"
	BrokerClientSecret = "jimm-dex-client-secret"
	// CLIClientID is a public client for command-line tools.
	CLIClientID = "jimmctl"
)

// The zitadel example server's built-in service account (client
// credentials grant), from its storage package.
const (
	ExampleServiceClientID     = "sid1"
	ExampleServiceClientSecret = "verysecret"
)

// Dex is a running dex.
type Dex struct {
	// Issuer is dex's issuer URL, https://127.0.0.1:<port>.
	Issuer string
	// CACertFile and CACertPEM are the CA of dex's certificate.
	CACertFile string
	CACertPEM  []byte
	*proc.Process
}

// DexOptions say how to run dex.
type DexOptions struct {
	Bin  string // the dex binary (required)
	Dir  string // for its configuration and certificate (required)
	Addr string // 127.0.0.1:<port> to serve HTTPS on (required)
	// RedirectURIs are added to the broker client's, e.g. the broker's
	// https://<address>/auth/callback.
	RedirectURIs []string
}

// StartDex writes a dex configuration (memory storage, the password
// database with Users, the broker's and the CLI's clients), starts dex and
// waits until it serves its discovery document.
func StartDex(ctx context.Context, opts DexOptions) (*Dex, error) {
	if opts.Bin == "" || opts.Dir == "" || opts.Addr == "" {
		return nil, errors.New("oidcproc: Bin, Dir and Addr are required")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("dex address %q: %w", opts.Addr, err)
	}
	caFile, err := PrepareDexTLS(opts.Dir, host)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(opts.Dir, "tls.crt"), filepath.Join(opts.Dir, "tls.key")
	// dex sends device logins back to /device/callback at the root, whatever
	// the issuer's path: serve it at the root.
	issuer := "https://" + opts.Addr
	var users strings.Builder
	for i, u := range Users {
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), 10)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&users, "- email: %q\n  hash: %q\n  username: %q\n  userID: \"user-%d-%s\"\n", u.Email, hash, u.Username, i, u.Username)
	}
	redirects := append([]string{"/device/callback"}, opts.RedirectURIs...)
	cfg := fmt.Sprintf(`issuer: %s
storage:
  type: memory
web:
  https: %s
  tlsCert: %s
  tlsKey: %s
logger:
  level: info
oauth2:
  skipApprovalScreen: false
  grantTypes:
  - authorization_code
  - refresh_token
  - "urn:ietf:params:oauth:grant-type:device_code"
  responseTypes: ["code"]
expiry:
  deviceRequests: 5m
enablePasswordDB: true
staticClients:
- id: %s
  secret: %s
  name: jimm broker
  redirectURIs: %s
- id: %s
  public: true
  name: jimmctl
  redirectURIs: ["/device/callback"]
staticPasswords:
%s`, issuer, opts.Addr, certFile, keyFile, BrokerClientID, BrokerClientSecret, yamlList(redirects), CLIClientID, users.String())
	cfgFile := filepath.Join(opts.Dir, "dex.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	p, err := startReady(ctx, "dex", opts.Bin, []string{"serve", cfgFile}, nil, issuer+"/.well-known/openid-configuration", caPEM)
	if err != nil {
		return nil, err
	}
	return &Dex{Issuer: issuer, CACertFile: caFile, CACertPEM: caPEM, Process: p}, nil
}

// PrepareDexTLS makes (once) the CA and the certificate dex will serve in
// dir for host, and returns the CA's file: a broker can be told to trust
// dex before dex runs.
func PrepareDexTLS(dir, host string) (string, error) {
	caFile := filepath.Join(dir, "ca.crt")
	if _, err := os.Stat(caFile); err == nil {
		return caFile, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	caPEM, _, _, err := makeCert(dir, host)
	if err != nil {
		return "", err
	}
	return caFile, os.WriteFile(caFile, caPEM, 0o600)
}

func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Example is a running zitadel OIDC example server.
type Example struct {
	// Issuer is its issuer URL, http://localhost:<port>/.
	Issuer string
	*proc.Process
}

// StartExample starts the zitadel OIDC example server on port (it listens
// on every interface; its issuer is http://localhost:<port>/) and waits
// until it serves its discovery document.
func StartExample(ctx context.Context, bin string, port int) (*Example, error) {
	if bin == "" {
		return nil, errors.New("oidcproc: the example server's binary is required")
	}
	issuer := fmt.Sprintf("http://localhost:%d/", port)
	env := append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	p, err := startReady(ctx, "zitadel OIDC example server", bin, nil, env, issuer+".well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	return &Example{Issuer: issuer, Process: p}, nil
}

var readyLine = regexp.MustCompile(`^oidcproc: starting$`)

// startReady starts a process that prints nothing when it is ready (so
// through a shell that prints a start line first) and waits until
// readyURL answers 200.
func startReady(ctx context.Context, name, bin string, args, env []string, readyURL string, caPEM []byte) (*proc.Process, error) {
	p, _, err := proc.Start(ctx, proc.Spec{
		Name:      name,
		Bin:       "/bin/sh",
		Args:      append([]string{"-c", `echo "oidcproc: starting"; exec "$0" "$@"`, bin}, args...),
		Env:       env,
		StartLine: readyLine,
	})
	if err != nil {
		return nil, err
	}
	hc, err := HTTPClient(caPEM)
	if err != nil {
		p.Kill()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyURL, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if p.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			p.Kill()
			return nil, fmt.Errorf("%s did not serve %s within 30s (last: %v); output:\n%s", name, readyURL, err, p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// HTTPClient is an HTTP client that trusts caPEM (nil: the system roots)
// and does not follow redirects.
func HTTPClient(caPEM []byte) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("oidcproc: no certificate in the CA PEM")
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// makeCert writes a new CA and a server certificate for host into dir and
// returns the CA's PEM and the certificate's and key's files.
func makeCert(dir, host string) (caPEM []byte, certFile, keyFile string, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oidcproc test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, "", "", err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, "", "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, "", "", err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), certFile, keyFile, nil
}
