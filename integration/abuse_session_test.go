package integration

// Sessions end everywhere at once (issue 14, item 2), and connections per
// identity are bounded: against two real replicas on one PostgreSQL, with
// the Juju client, raw WebSockets and a debug-log stream.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/machinemanager"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/api/client/usermanager"
	"github.com/juju/juju/core/model"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

// sessionEndBound is how soon after a session ends (logout, expiry, a
// disabled identity) its connections must be closed, on every replica.
const sessionEndBound = time.Second

// asReplica is where a client reaches one broker replica: each has a CA of
// its own in these tests.
type asReplica struct {
	name, addr, ca string
}

func asReplicaOf(t *testing.T, name string, p *jimmproc.Process) asReplica {
	t.Helper()
	ca, err := os.ReadFile(p.CACertFile)
	if err != nil {
		t.Fatalf("replica %s's CA: %v", name, err)
	}
	return asReplica{name: name, addr: p.Addr, ca: string(ca)}
}

// newSessionEnv starts replica A with args on a database of its own and
// one controller, then replica B on the same database; env is added to
// both replicas' environment.
func newSessionEnv(t *testing.T, env []string, args ...string) (e *brokerEnv, a, b asReplica) {
	t.Helper()
	e = &brokerEnv{t: t, bins: buildBrokerBins(t), ctls: map[string]*controller{}, env: env}
	e.startBroker(newTestDatabase(t), args)
	e.addControllers(t, []ctlSpec{{"ctl-1", "east"}})
	pb := e.startReplica(t, false)
	return e, asReplicaOf(t, "A", e.broker()), asReplicaOf(t, "B", pb)
}

// asLoginResponse is POST /v1/login's answer.
type asLoginResponse struct {
	Token     string    `json:"token"`
	Identity  string    `json:"identity"`
	ExpiresAt time.Time `json:"expires-at"`
}

// asSessionLogin logs in on replica A's admin API with body (a user and
// password, or client credentials) for a session token.
func asSessionLogin(t *testing.T, e *brokerEnv, body any) asLoginResponse {
	t.Helper()
	status, out := e.restDo(t, "", http.MethodPost, "/v1/login", body)
	var res asLoginResponse
	if err := json.Unmarshal([]byte(out), &res); status != http.StatusOK || err != nil || res.Token == "" {
		t.Fatalf("POST /v1/login: HTTP %d %s (%v)", status, out, err)
	}
	return res
}

func asSessionProvider(token string) api.LoginProvider {
	return api.NewSessionTokenLoginProvider(token, io.Discard, func(string) error { return nil })
}

// asOpen opens the Juju client on replica r's /api (modelUUID "") or a
// model, logging in with lp (nil: the admin's password).
func asOpen(r asReplica, lp api.LoginProvider, modelUUID string) (api.Connection, error) {
	info := &api.Info{Addrs: []string{r.addr}, CACert: r.ca}
	if lp == nil {
		info.Tag, info.Password = names.NewUserTag("admin"), brokerAdminPassword
	}
	if modelUUID != "" {
		info.ModelTag = names.NewModelTag(modelUUID)
	}
	opts := dialOpts
	opts.LoginProvider = lp
	return api.Open(info, opts)
}

func asMustOpen(t *testing.T, r asReplica, lp api.LoginProvider, modelUUID string) api.Connection {
	t.Helper()
	conn, err := asOpen(r, lp, modelUUID)
	if err != nil {
		t.Fatalf("login on replica %s (model %q): %v", r.name, modelUUID, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// asDialRaw opens a bare WebSocket to replica r, with header h.
func asDialRaw(t *testing.T, r asReplica, path string, h http.Header) *rawConn {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(r.ca)) {
		t.Fatalf("replica %s's CA holds no certificate", r.name)
	}
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"}, HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial("wss://"+r.addr+path, h)
	if err != nil {
		t.Fatalf("dial wss://%s%s: %v", r.addr, path, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	ws.SetCloseHandler(func(int, string) error { return nil })
	return &rawConn{t: t, ws: ws}
}

// asRawSession opens a raw /api connection on r logged in with a session
// token.
func asRawSession(t *testing.T, r asReplica, token string) *rawConn {
	t.Helper()
	rc := asDialRaw(t, r, "/api", nil)
	if resp := rc.call("Admin", 4, "LoginWithSessionToken", map[string]string{"session-token": token}); resp.Error != "" {
		t.Fatalf("raw LoginWithSessionToken on replica %s: %s (%s)", r.name, resp.Error, resp.ErrorCode)
	}
	return rc
}

// asLogStream opens model uuid's debug log on r as the Juju client does
// (basic auth: an empty user and the session token) and reads its
// initial frame, which must say all is well.
func asLogStream(t *testing.T, r asReplica, uuid, token string) *rawConn {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(":"+token)))
	rc := asDialRaw(t, r, "/model/"+uuid+"/log?backlog=1", h)
	rc.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, first, err := rc.ws.ReadMessage()
	if err != nil || !strings.HasPrefix(string(first), "{}") {
		t.Fatalf("debug log of %s on replica %s: first frame %q, %v", uuid, r.name, first, err)
	}
	return rc
}

// asWatched is a connection whose end a test waits for.
type asWatched struct {
	name   string
	closed chan struct{}
	at     time.Time // when it was seen closed
	code   int       // its close status, for a raw connection
	reason string
}

// asWatchJuju watches a Juju client connection: it ends when the client
// sees its connection die.
func asWatchJuju(name string, conn api.Connection) *asWatched {
	w := &asWatched{name: name, closed: make(chan struct{})}
	go func() {
		<-conn.Broken()
		w.at = time.Now()
		close(w.closed)
	}()
	return w
}

// asWatchRaw watches a raw connection, reading (and dropping) what it
// sends until it closes.
func asWatchRaw(name string, rc *rawConn) *asWatched {
	w := &asWatched{name: name, closed: make(chan struct{})}
	go func() {
		rc.ws.SetReadDeadline(time.Now().Add(5 * time.Minute))
		for {
			_, _, err := rc.ws.ReadMessage()
			if err == nil {
				continue
			}
			w.at = time.Now()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				w.code, w.reason = ce.Code, ce.Text
			} else {
				w.reason = err.Error()
			}
			close(w.closed)
			return
		}
	}()
	return w
}

// asAwaitClosed waits for every watched connection to close, at most
// within after since, and returns the longest time from since to a close.
// A connection closed before since, or not within, fails the test; a raw
// one must close with CloseSessionEnded (1008) and a reason containing
// reason.
func asAwaitClosed(t *testing.T, ws []*asWatched, since time.Time, within time.Duration, reason string) time.Duration {
	t.Helper()
	var worst time.Duration
	for _, w := range ws {
		select {
		case <-w.closed:
		case <-time.After(time.Until(since.Add(within + 5*time.Second))):
			t.Errorf("%s: still open %s after the session ended", w.name, time.Since(since).Round(time.Millisecond))
			continue
		}
		took := w.at.Sub(since)
		switch {
		case took < -50*time.Millisecond:
			t.Errorf("%s: closed %s before the session ended", w.name, -took)
		case took > within:
			t.Errorf("%s: closed %s after the session ended, want within %s", w.name, took.Round(time.Millisecond), within)
		}
		if w.reason != "" || w.code != 0 {
			if w.code != 1008 || !strings.Contains(w.reason, reason) {
				t.Errorf("%s: closed with status %d %q, want 1008 saying %q", w.name, w.code, w.reason, reason)
			}
		}
		t.Logf("%s: closed %s after the session ended", w.name, took.Round(time.Millisecond))
		worst = max(worst, took)
	}
	return worst
}

// asAddMachine adds a machine to a model (a write).
func asAddMachine(mconn api.Connection) error {
	res, err := machinemanager.NewClient(mconn).AddMachines([]params.AddMachineParams{{
		Jobs: []model.MachineJob{model.JobHostUnits}, Base: &params.Base{Name: "ubuntu", Channel: "22.04"},
	}})
	if err == nil && len(res) == 1 && res[0].Error != nil {
		err = res[0].Error
	}
	return err
}

// asPing is one call on a connection.
func asPing(conn api.Connection) error {
	return conn.APICall("Pinger", 1, "", "Ping", nil, nil)
}

// asCreateModel creates a model as the admin (through replica A) and
// closes the admin's connection.
func asCreateModel(t *testing.T, e *brokerEnv, a asReplica, name string) string {
	t.Helper()
	conn := asMustOpen(t, a, nil, "")
	defer conn.Close()
	return createModel(t, e, modelmanager.NewClient(conn), name, "east").UUID
}

// TestAbuseSessionLogout: logging out through replica A closes every
// connection the session opened, /api and model connections and a debug
// log stream, on replicas A and B, within a second; the token is refused
// afterwards; and a detached model connection whose session ended cannot
// log in to its controller again, even when no replica heard of the end.
func TestAbuseSessionLogout(t *testing.T) {
	e, a, b := newSessionEnv(t, nil, "--proxy-detach-after", "1s")
	uuid := asCreateModel(t, e, a, "logout")
	sess := asSessionLogin(t, e, map[string]string{"user": "admin", "password": brokerAdminPassword})
	lp := asSessionProvider(sess.Token)

	var watched []*asWatched
	conns := map[string]api.Connection{}
	for _, r := range []asReplica{a, b} {
		ctl := asMustOpen(t, r, lp, "")
		mdl := asMustOpen(t, r, lp, uuid)
		if _, err := modelmanager.NewClient(ctl).ListModels("admin"); err != nil {
			t.Fatalf("ListModels on replica %s with the session: %v", r.name, err)
		}
		if err := asAddMachine(mdl); err != nil {
			t.Fatalf("AddMachines on replica %s with the session: %v", r.name, err)
		}
		conns["/api on "+r.name] = ctl
		conns["model connection on "+r.name] = mdl
		watched = append(watched,
			asWatchJuju("Juju /api on "+r.name, ctl),
			asWatchJuju("Juju model connection on "+r.name, mdl),
			asWatchRaw("raw /api on "+r.name, asRawSession(t, r, sess.Token)),
			asWatchRaw("debug log on "+r.name, asLogStream(t, r, uuid, sess.Token)))
	}
	// The model connections go idle and detach from their controller.
	eventually(t, 10*time.Second, "replica A's model connection detached", func() error {
		if n := bmMetric(t, e.metricsAddr(), "jimm_proxy_controller_connections"); n != 0 {
			return fmt.Errorf("%v controller connections held", n)
		}
		return nil
	})
	reattaches := bmMetric(t, e.metricsAddr(), "jimm_proxy_reattaches_total")

	// Latencies count from the logout request, its own round trip included.
	loggingOut := time.Now()
	status, out := e.restDo(t, sess.Token, http.MethodPost, "/v1/logout", nil)
	if status != http.StatusOK {
		t.Fatalf("POST /v1/logout: HTTP %d %s", status, out)
	}
	answered := time.Since(loggingOut)
	worst := asAwaitClosed(t, watched, loggingOut, sessionEndBound, "session ended: logged out")
	t.Logf("FIGURE close latency after logout: %s for the slowest of %d connections on 2 replicas, from the logout request (answered in %s)",
		worst.Round(time.Millisecond), len(watched), answered.Round(time.Millisecond))

	for name, conn := range conns {
		if err := asPing(conn); err == nil {
			t.Errorf("%s: a call after logout succeeded", name)
		}
	}
	if n := bmMetric(t, e.metricsAddr(), "jimm_proxy_reattaches_total"); n != reattaches {
		t.Errorf("a model connection logged in to its controller again after logout (%v re-attaches, was %v)", n, reattaches)
	}
	for _, r := range []asReplica{a, b} {
		if conn, err := asOpen(r, lp, uuid); err == nil {
			conn.Close()
			t.Errorf("replica %s: the logged-out token still logs in", r.name)
		}
	}

	// A session that ends with nobody told (its row deleted, as if every
	// notification were lost): a detached model connection's next call
	// needs a new controller token, which is refused.
	t.Run("no token for a dead session", func(t *testing.T) {
		sess := asSessionLogin(t, e, map[string]string{"user": "admin", "password": brokerAdminPassword})
		mdl := asMustOpen(t, a, asSessionProvider(sess.Token), uuid)
		if err := asAddMachine(mdl); err != nil {
			t.Fatalf("AddMachines with a new session: %v", err)
		}
		eventually(t, 10*time.Second, "the model connection detached", func() error {
			if n := bmMetric(t, e.metricsAddr(), "jimm_proxy_controller_connections"); n != 0 {
				return fmt.Errorf("%v controller connections held", n)
			}
			return nil
		})
		reattaches := bmMetric(t, e.metricsAddr(), "jimm_proxy_reattaches_total")
		w := asWatchJuju("the detached model connection", mdl)
		pg, err := sql.Open("pgx", e.broker().Opts.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		if _, err := pg.Exec("DELETE FROM session_tokens WHERE identity = 'admin'"); err != nil {
			t.Fatalf("delete the session behind the broker's back: %v", err)
		}
		err = asAddMachine(mdl)
		if err == nil || !strings.Contains(err.Error(), "session ended") {
			t.Errorf("AddMachines on a detached connection whose session is gone: %v; want refused saying the session ended", err)
		}
		if n := bmMetric(t, e.metricsAddr(), "jimm_proxy_reattaches_total"); n != reattaches {
			t.Errorf("the detached connection logged in to its controller again for a dead session (%v re-attaches, was %v)", n, reattaches)
		}
		select {
		case <-w.closed:
		case <-time.After(5 * time.Second):
			t.Errorf("the connection of a session found dead is still open")
		}
	})
}

// TestAbuseSessionExpiry: with --session-ttl 10s, the session's
// connections on both replicas are closed when it expires, and a write
// 11 s after login fails.
func TestAbuseSessionExpiry(t *testing.T) {
	e, a, b := newSessionEnv(t, nil, "--session-ttl", "10s")
	uuid := asCreateModel(t, e, a, "expiry")
	loginAt := time.Now()
	sess := asSessionLogin(t, e, map[string]string{"user": "admin", "password": brokerAdminPassword})
	lp := asSessionProvider(sess.Token)
	mdlA := asMustOpen(t, a, lp, uuid)
	mdlB := asMustOpen(t, b, lp, uuid)
	ctlB := asMustOpen(t, b, lp, "")
	for name, mdl := range map[string]api.Connection{"A": mdlA, "B": mdlB} {
		if err := asAddMachine(mdl); err != nil {
			t.Fatalf("AddMachines on replica %s at once: %v", name, err)
		}
	}
	watched := []*asWatched{
		asWatchJuju("Juju model connection on A", mdlA),
		asWatchJuju("Juju model connection on B", mdlB),
		asWatchJuju("Juju /api on B", ctlB),
		asWatchRaw("raw /api on A", asRawSession(t, a, sess.Token)),
	}
	worst := asAwaitClosed(t, watched, sess.ExpiresAt, sessionEndBound, "session ended: expired")
	t.Logf("FIGURE close latency after session expiry: %s for the slowest of %d connections on 2 replicas (session of %s)",
		worst.Round(time.Millisecond), len(watched), sess.ExpiresAt.Sub(loginAt).Round(time.Second))

	time.Sleep(time.Until(loginAt.Add(11 * time.Second)))
	for name, mdl := range map[string]api.Connection{"A": mdlA, "B": mdlB} {
		if err := asAddMachine(mdl); err == nil {
			t.Errorf("AddMachines on replica %s %s after login, past the session's expiry, succeeded", name, time.Since(loginAt).Round(time.Second))
		}
	}
	if conn, err := asOpen(a, lp, uuid); err == nil {
		conn.Close()
		t.Errorf("the expired token still logs in")
	}
}

// TestAbuseSessionDisabled: disabling an identity (juju disable-user, as
// a broker administrator) closes all its connections on both replicas,
// those of its sessions and those logged in with its client credentials
// alike, and it cannot log in again until it is enabled.
func TestAbuseSessionDisabled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	idp := startExample(t, ctx)
	e, a, b := newSessionEnv(t, []string{"JIMM_OIDC_CLIENT_SECRET=secret"}, "--oidc-issuer", idp.Issuer, "--oidc-client-id", "web")
	const id, secret = oidcproc.ExampleServiceClientID, oidcproc.ExampleServiceClientSecret
	sa := id + "@serviceaccount"
	uuid := asCreateModel(t, e, a, "disable")
	e.jimmctl(t, "auth", "relation", "add", "serviceaccount:"+id, "writer", "model:"+uuid)

	sess := asSessionLogin(t, e, map[string]string{"client-id": id, "client-secret": secret})
	if sess.Identity != sa {
		t.Fatalf("client credentials logged in as %q, want %q", sess.Identity, sa)
	}
	lp := asSessionProvider(sess.Token)
	creds := api.NewClientCredentialsLoginProvider(id, secret)
	conns := map[string]api.Connection{
		"session /api on A":             asMustOpen(t, a, lp, ""),
		"session model on B":            asMustOpen(t, b, lp, uuid),
		"client-credentials model on A": asMustOpen(t, a, creds, uuid),
		"client-credentials /api on B":  asMustOpen(t, b, creds, ""),
	}
	var watched []*asWatched
	for name, conn := range conns {
		if err := asPing(conn); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		watched = append(watched, asWatchJuju(name, conn))
	}
	watched = append(watched, asWatchRaw("raw session /api on B", asRawSession(t, b, sess.Token)))
	// The admin's own connection is not the service account's: it stays.
	admin := asMustOpen(t, b, nil, "")

	um := usermanager.NewClient(asMustOpen(t, a, nil, ""))
	disabled := time.Now() // latencies count from the request
	if err := um.DisableUser(sa); err != nil {
		t.Fatalf("DisableUser %s: %v", sa, err)
	}
	worst := asAwaitClosed(t, watched, disabled, sessionEndBound, "identity \""+sa+"\" was disabled")
	t.Logf("FIGURE close latency after disabling an identity: %s for the slowest of %d connections on 2 replicas", worst.Round(time.Millisecond), len(watched))
	if err := asPing(admin); err != nil {
		t.Errorf("the admin's connection on B failed after disabling another identity: %v", err)
	}
	for _, r := range []asReplica{a, b} {
		_, err := asOpen(r, creds, uuid)
		if err == nil || !strings.Contains(err.Error(), "disabled") {
			t.Errorf("replica %s: a disabled identity's login: %v; want refused saying it is disabled", r.name, err)
		}
	}
	if err := um.DisableUser("admin"); err == nil {
		t.Errorf("the bootstrap admin was disabled")
	}

	if err := um.EnableUser(sa); err != nil {
		t.Fatalf("EnableUser %s: %v", sa, err)
	}
	eventually(t, 5*time.Second, "the enabled identity logs in on B", func() error {
		conn, err := asOpen(b, creds, uuid)
		if err == nil {
			conn.Close()
		}
		return err
	})
	// Disabling revoked its sessions for good.
	if conn, err := asOpen(a, lp, ""); err == nil {
		conn.Close()
		t.Errorf("a session of the identity from before it was disabled still logs in")
	}
}

// TestAbuseConnsPerIdentity: with --max-conns-per-identity 3, an
// identity's fourth connection to a replica (/api and model connections
// counted together) is refused with a clear error; closing one makes room;
// the other replica counts its own.
func TestAbuseConnsPerIdentity(t *testing.T) {
	const limit = 3
	e, a, b := newSessionEnv(t, nil, "--max-conns-per-identity", fmt.Sprint(limit))
	uuid := asCreateModel(t, e, a, "limit")
	// Wait until the admin's connection that created the model is gone.
	var open []api.Connection
	eventually(t, 5*time.Second, "room for the admin's connections", func() error {
		for _, c := range open {
			c.Close()
		}
		open = open[:0]
		for i := range limit {
			model := ""
			if i%2 == 1 {
				model = uuid
			}
			conn, err := asOpen(a, nil, model)
			if err != nil {
				return err
			}
			open = append(open, conn)
		}
		return nil
	})
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	var refusals []string
	for _, model := range []string{uuid, ""} {
		_, err := asOpen(a, nil, model)
		want := fmt.Sprintf("too many connections for user %q: %d open on this broker (at most %d); close some", "admin", limit, limit)
		if err == nil || errCode(err) != "quota limit exceeded" || !strings.Contains(err.Error(), want) {
			t.Errorf("connection %d of the admin (model %q): %v (code %q); want refused with %q", limit+1, model, err, errCode(err), want)
		}
		if err != nil {
			refusals = append(refusals, err.Error())
		}
	}
	t.Logf("FIGURE connections per identity: %d held on replica A, %d refused past the limit: %q", limit, len(refusals), refusals)
	// The other replica counts its own.
	if conn, err := asOpen(b, nil, uuid); err != nil {
		t.Errorf("replica B refused the admin's first connection there: %v", err)
	} else {
		conn.Close()
	}
	// Closing one makes room.
	open[0].Close()
	open = slices.Delete(open, 0, 1)
	eventually(t, 5*time.Second, "room after closing a connection", func() error {
		conn, err := asOpen(a, nil, uuid)
		if err != nil {
			return err
		}
		open = append(open, conn)
		return nil
	})
}
