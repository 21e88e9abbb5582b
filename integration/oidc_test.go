package integration

// Logins through real OpenID Connect providers: people at dex (device flow
// with jimmctl and with the Juju client, browser flow), service accounts at
// the zitadel OIDC example server (client credentials). The tests play the
// person headlessly (see internal/oidcproc).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/rpc/params"
	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

// providerBin returns the provider binary env names, or skips the test.
func providerBin(t *testing.T, env string) string {
	t.Helper()
	return toolBin(t, env, "the OIDC tests")
}

// toolBin returns the binary of a tool .ci/tools.sh builds, named by env,
// or skips the test (what says which tests need it); under CI, where
// .ci/run provides every tool, a missing one fails the test instead.
func toolBin(t *testing.T, env, what string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" && os.Getenv("CI") != "" {
		t.Fatalf("CI must provide %s (.ci/run builds it with .ci/tools.sh)", env)
	}
	if bin == "" {
		t.Skipf("%s need %s: run eval \"$(bash .ci/tools.sh)\" from the repository root (make integration does)", what, env)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return bin
}

// newOIDCBrokerEnv starts a broker (no controllers) on a database of its
// own, trusting the identity provider at issuer; the broker's client
// secret goes in the environment, as an operator would pass it.
func newOIDCBrokerEnv(t *testing.T, bins *brokerBins, issuer, clientID, clientSecret, caFile string) *brokerEnv {
	t.Helper()
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}, env: []string{"JIMM_OIDC_CLIENT_SECRET=" + clientSecret}}
	args := []string{"--oidc-issuer", issuer, "--oidc-client-id", clientID}
	if caFile != "" {
		args = append(args, "--oidc-ca-cert", caFile)
	}
	e.startBroker(newTestDatabase(t), args)
	return e
}

// personCtl is jimmctl for a person: no admin password, a config of its
// own, kept as long as the broker (not only for a subtest that made it).
func (e *brokerEnv) personCtl(t *testing.T) *jimmproc.Ctl {
	ctl := *e.ctl
	ctl.User, ctl.Password, ctl.ConfigDir = "", "", e.t.TempDir()
	return &ctl
}

// ctlSavedToken is the session token jimmctl saved in its config.
func ctlSavedToken(t *testing.T, ctl *jimmproc.Ctl) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(ctl.ConfigDir, "jimmctl", "config.yaml"))
	if err != nil {
		t.Fatalf("jimmctl's saved config: %v", err)
	}
	var saved struct {
		Token    string `yaml:"token"`
		Identity string `yaml:"identity"`
	}
	if err := yaml.Unmarshal(raw, &saved); err != nil || saved.Token == "" {
		t.Fatalf("jimmctl's saved config has no token (%v):\n%s", err, raw)
	}
	return saved.Token
}

// restWhoAmI asks the broker's /v1/whoami with a bearer token; it returns
// the HTTP status and the body.
func (e *brokerEnv) restWhoAmI(t *testing.T, token string) (int, string) {
	t.Helper()
	return e.restDo(t, token, http.MethodGet, "/v1/whoami", nil)
}

// openWith logs in to the broker's /api with the Juju client and a login
// provider.
func (e *brokerEnv) openWith(lp api.LoginProvider) (api.Connection, error) {
	opts := dialOpts
	opts.LoginProvider = lp
	return api.Open(&api.Info{Addrs: []string{e.broker().Addr}, CACert: e.caPEM}, opts)
}

var deviceLine = regexp.MustCompile(`visit (\S+) and enter (?:the )?code (\S+?)\.?(?:\s|$)`)

// deviceWriter is where the Juju client prints its device login
// instructions; the verification URI and code come out on found.
type deviceWriter struct {
	mu    sync.Mutex
	buf   strings.Builder
	found chan [2]string
}

func (w *deviceWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := deviceLine.FindStringSubmatch(w.buf.String()); m != nil {
		select {
		case w.found <- [2]string{m[1], m[2]}:
		default:
		}
	}
	return len(p), nil
}

func TestOIDCPeople(t *testing.T) {
	dexBin := providerBin(t, oidcproc.DexBinEnv)
	bins := buildBrokerBins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The broker starts first, while dex is down: it discovers dex on
	// first use.
	dexDir := t.TempDir()
	dexAddr := freeAddr(t)
	dexCA, err := oidcproc.PrepareDexTLS(dexDir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "https://" + dexAddr
	e := newOIDCBrokerEnv(t, bins, issuer, oidcproc.BrokerClientID, oidcproc.BrokerClientSecret, dexCA)
	brokerURL := "https://" + e.broker().Addr
	dex := startDexWith(t, ctx, oidcproc.DexOptions{
		Bin: dexBin, Dir: dexDir, Addr: dexAddr,
		RedirectURIs: []string{"https://" + e.broker().PublicAddr + "/auth/callback"},
	})
	newBrowser := func(t *testing.T) *oidcproc.Browser {
		b, err := oidcproc.NewBrowser(dex.CACertPEM, []byte(e.caPEM))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// (a) jimmctl login by device flow; the test plays alice.
	var (
		ctl        *jimmproc.Ctl
		aliceToken string
	)
	t.Run("jimmctl device login", func(t *testing.T) {
		alice := e.deviceLogin(t, ctx, dex, oidcproc.Alice)
		ctl = alice.ctl
		if !strings.HasPrefix(alice.verificationURI, issuer+"/") {
			t.Errorf("verification URI %q is not dex's (%s)", alice.verificationURI, issuer)
		}
		if !strings.Contains(alice.loginOutput, "as alice@example.com") {
			t.Errorf("jimmctl login printed %q, want it to name alice@example.com", alice.loginOutput)
		}
		who, err := ctl.Run(ctx, "whoami", "--format", "json")
		if err != nil || who.ExitCode != 0 {
			t.Fatalf("jimmctl whoami: %v\n%s", err, who)
		}
		var w struct {
			Identity string `json:"identity"`
			Admin    bool   `json:"admin"`
		}
		if err := json.Unmarshal([]byte(who.Stdout), &w); err != nil || w.Identity != "alice@example.com" || w.Admin {
			t.Errorf("jimmctl whoami = %q (%v), want alice@example.com, not admin", who.Stdout, err)
		}
		aliceToken = alice.token
	})
	if aliceToken == "" {
		t.FailNow()
	}

	// (b) The Juju client logs in with that session token and lists models.
	t.Run("Juju client with the session token", func(t *testing.T) {
		conn, err := e.openWith(api.NewSessionTokenLoginProvider(aliceToken, nil, func(string) error { return nil }))
		if err != nil {
			t.Fatalf("Juju client login with alice's session token: %v", err)
		}
		defer conn.Close()
		if tag := conn.AuthTag(); tag == nil || tag.Id() != "alice@example.com" {
			t.Errorf("logged in as %v, want alice@example.com", tag)
		}
		if _, err := modelmanager.NewClient(conn).ListModels("alice@example.com"); err != nil {
			t.Errorf("ListModels as alice: %v", err)
		}
	})

	// (c) jimmctl logout ends the session: the token is refused everywhere.
	t.Run("logout revokes the session", func(t *testing.T) {
		res, err := ctl.Run(ctx, "logout")
		if err != nil || res.ExitCode != 0 || !strings.Contains(res.Stdout, "ended the session of alice@example.com") {
			t.Fatalf("jimmctl logout: %v\n%s", err, res)
		}
		_, err = e.openWith(api.NewSessionTokenLoginProvider(aliceToken, nil, func(string) error { return nil }))
		if err == nil {
			t.Errorf("the Juju client logged in with a revoked session token")
		} else if strings.Contains(err.Error(), aliceToken) {
			t.Errorf("the refusal quotes the token: %v", err)
		}
		// The broker's answer, which makes the Juju client start a device
		// login instead (and fail here, with nowhere to print it): the
		// session token login the client makes, by hand.
		r := e.dialRaw(t, "/api")
		resp := r.call("Admin", 4, "LoginWithSessionToken", map[string]string{"session-token": aliceToken})
		wantRawError(t, "Admin.LoginWithSessionToken with the revoked token", resp, params.CodeSessionTokenInvalid, "unknown session token (revoked by a logout, or never issued by this broker): log in again")
		if status, body := e.restWhoAmI(t, aliceToken); status != http.StatusUnauthorized {
			t.Errorf("GET /v1/whoami with the revoked token: HTTP %d %s, want 401", status, body)
		}
	})

	// (d) The Juju client's own device login through the broker; the test
	// plays bob.
	t.Run("Juju client device login", func(t *testing.T) {
		out := &deviceWriter{found: make(chan [2]string, 1)}
		var gotToken string
		approved := make(chan error, 1)
		go func() {
			select {
			case m := <-out.found:
				approved <- oidcproc.ApproveDevice(ctx, newBrowser(t), m[0], m[1], oidcproc.Bob)
			case <-time.After(time.Minute):
				approved <- fmt.Errorf("the Juju client printed no device login instructions")
			}
		}()
		conn, err := e.openWith(api.NewSessionTokenLoginProvider("", out, func(tok string) error { gotToken = tok; return nil }))
		if aerr := <-approved; aerr != nil {
			t.Fatalf("play bob at dex: %v (client said %q)", aerr, out.buf.String())
		}
		if err != nil {
			t.Fatalf("Juju client device login: %v", err)
		}
		defer conn.Close()
		if tag := conn.AuthTag(); tag == nil || tag.Id() != "bob@example.com" {
			t.Errorf("logged in as %v, want bob@example.com", tag)
		}
		if gotToken == "" {
			t.Fatalf("the Juju client got no session token to save")
		}
		if status, body := e.restWhoAmI(t, gotToken); status != http.StatusOK || !strings.Contains(body, `"bob@example.com"`) {
			t.Errorf("GET /v1/whoami with bob's session token: HTTP %d %s", status, body)
		}
	})

	// (e) The browser flow: /auth/login → dex → /auth/callback →
	// /auth/whoami, then /auth/logout.
	t.Run("browser login", func(t *testing.T) {
		b := newBrowser(t)
		final, status, body, err := oidcproc.BrowserLogin(ctx, b, brokerURL+"/auth/login", oidcproc.Carol)
		if err != nil {
			t.Fatal(err)
		}
		if final.Path != "/auth/whoami" || status != http.StatusOK || !strings.Contains(body, `"carol@example.com"`) {
			t.Fatalf("browser login ended at %s: HTTP %d %s", final, status, body)
		}
		var loginCookie, sessionCookie string
		for _, s := range b.Seen {
			for _, c := range s.SetCookies {
				switch {
				case s.URL.Path == "/auth/login" && strings.HasPrefix(c, "jimm-oidc-login="):
					loginCookie = c
				case s.URL.Path == "/auth/callback" && strings.HasPrefix(c, "jimm-session="):
					sessionCookie = c
				}
			}
		}
		for what, c := range map[string]string{"login state": loginCookie, "session": sessionCookie} {
			if c == "" {
				t.Errorf("no %s cookie was set", what)
				continue
			}
			for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax"} {
				if !strings.Contains(c, attr) {
					t.Errorf("the %s cookie %q lacks %s", what, c[:strings.Index(c, "=")], attr)
				}
			}
		}
		token := strings.TrimPrefix(strings.SplitN(sessionCookie, ";", 2)[0], "jimm-session=")
		if status, body := e.restWhoAmI(t, token); status != http.StatusOK || !strings.Contains(body, "carol@example.com") {
			t.Errorf("the browser's session token on /v1/whoami: HTTP %d %s", status, body)
		}
		_, status, body, err = b.Post(ctx, brokerURL+"/auth/logout", nil)
		if err != nil || status != http.StatusOK || !strings.Contains(body, `"logged-out":true`) {
			t.Fatalf("POST /auth/logout: HTTP %d %s %v", status, body, err)
		}
		if _, status, _, _ := b.Get(ctx, brokerURL+"/auth/whoami"); status != http.StatusUnauthorized {
			t.Errorf("GET /auth/whoami after logout: HTTP %d, want 401", status)
		}
		if status, _ := e.restWhoAmI(t, token); status != http.StatusUnauthorized {
			t.Errorf("the browser's session token still works after logout: HTTP %d", status)
		}
		// A callback without the browser's login state is refused.
		if _, status, body, _ := newBrowser(t).Get(ctx, brokerURL+"/auth/callback?code=x&state=y"); status != http.StatusBadRequest {
			t.Errorf("GET /auth/callback without a login in progress: HTTP %d %s, want 400", status, body)
		}
	})
}

func TestOIDCServiceAccounts(t *testing.T) {
	bins := buildBrokerBins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	idp := startExample(t, ctx)
	e := newOIDCBrokerEnv(t, bins, idp.Issuer, "web", "secret", "")
	const id, secret = oidcproc.ExampleServiceClientID, oidcproc.ExampleServiceClientSecret
	const wrongSecret = "not-the-service-secret-7731"

	t.Run("Juju client", func(t *testing.T) {
		conn, err := e.openWith(api.NewClientCredentialsLoginProvider(id, secret))
		if err != nil {
			t.Fatalf("Juju client login with client credentials: %v", err)
		}
		defer conn.Close()
		if tag := conn.AuthTag(); tag == nil || tag.Id() != id+"@serviceaccount" {
			t.Errorf("logged in as %v, want %s@serviceaccount", tag, id)
		}
		if _, err := modelmanager.NewClient(conn).ListModels(id + "@serviceaccount"); err != nil {
			t.Errorf("ListModels as the service account: %v", err)
		}
		_, err = e.openWith(api.NewClientCredentialsLoginProvider(id, wrongSecret))
		switch {
		case err == nil:
			t.Fatalf("the Juju client logged in with a wrong secret")
		case strings.Contains(err.Error(), wrongSecret):
			t.Errorf("the refusal quotes the secret: %v", err)
		case !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), id):
			t.Errorf("the refusal %q does not say the provider refused service account %s", err, id)
		}
	})

	t.Run("jimmctl", func(t *testing.T) {
		ctl := e.personCtl(t)
		secretFile := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := ctl.Run(ctx, "login", "--client-id", id, "--client-secret-file", secretFile)
		if err != nil || res.ExitCode != 0 || !strings.Contains(res.Stdout, "as "+id+"@serviceaccount") {
			t.Fatalf("jimmctl login --client-id: %v\n%s", err, res)
		}
		who, err := ctl.Run(ctx, "whoami")
		if err != nil || who.ExitCode != 0 || !strings.Contains(who.Stdout, id+"@serviceaccount") {
			t.Fatalf("jimmctl whoami: %v\n%s", err, who)
		}
		bad := *ctl
		bad.ConfigDir = t.TempDir()
		bad.Env = append(bad.Env, "JIMM_CLIENT_SECRET="+wrongSecret)
		res, err = bad.Run(ctx, "login", "--client-id", id)
		if err != nil || res.ExitCode == 0 {
			t.Fatalf("jimmctl login with a wrong secret: %v\n%s", err, res)
		}
		if strings.Contains(res.Stdout+res.Stderr, wrongSecret) {
			t.Errorf("jimmctl's refusal quotes the secret: %s", res)
		}
		if !strings.Contains(res.Stderr, "refused") || !strings.Contains(res.Stderr, "check the client id and secret") {
			t.Errorf("jimmctl's refusal does not say why: %s", res)
		}
		if out := e.broker().Output(); strings.Contains(out, wrongSecret) || strings.Contains(out, secret) || strings.Contains(out, "JIMM_OIDC_CLIENT_SECRET") {
			t.Errorf("the broker's log holds a secret")
		}
	})
}

func TestOIDCNotConfigured(t *testing.T) {
	bins := buildBrokerBins(t)
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	e.startBroker(newTestDatabase(t), nil)
	hc, err := oidcproc.HTTPClient([]byte(e.caPEM))
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + e.broker().Addr
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/login/device", "{}"},
		{http.MethodPost, "/v1/login", `{"client-id":"ci","client-secret":"ci-secret-1234"}`},
		{http.MethodGet, "/auth/login", ""},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), "no identity provider configured") {
			t.Errorf("%s %s without an identity provider: HTTP %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
	if _, err := e.openWith(api.NewClientCredentialsLoginProvider("ci", "ci-secret-1234")); err == nil || !strings.Contains(err.Error(), "no identity provider configured") {
		t.Errorf("Juju client login with client credentials and no identity provider: %v", err)
	}
	// The bootstrap admin still logs in.
	if out := e.jimmctl(t, "whoami"); !strings.Contains(out, "admin") {
		t.Errorf("jimmctl whoami as admin: %q", out)
	}
}
