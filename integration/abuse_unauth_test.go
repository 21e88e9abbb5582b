package integration

// Unauthenticated connections are cheap and short-lived (issue 14): a
// connection that never logs in is closed at the login deadline whatever
// it sends; one source address holds a bounded number of connections; at
// the descriptor limit the broker refuses new connections early while
// logged-in clients, new admin logins and /metrics keep answering; the
// epoll set that parks idle connections comes back after an exhaustion;
// and every replica serves a certificate from one shared CA.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelmanager"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
)

// TestAbuseUnauth runs the scenarios in parallel, each on a broker,
// database and controllers of its own.
func TestAbuseUnauth(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{"LoginDeadline", testUnauthLoginDeadline},
		{"PerAddressCap", testUnauthPerAddressCap},
		{"DescriptorLimit", testUnauthDescriptorLimit},
		{"SharedCA", testUnauthSharedCA},
		{"EpollRecreated", testUnauthEpollRecreated},
	})
}

// dialWS opens a bare WebSocket to addr+path trusting caPEM; on a refused
// upgrade it returns the HTTP status and body.
func dialWS(caPEM, addr, path string) (*websocket.Conn, int, string, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	d := websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
		HandshakeTimeout: 10 * time.Second,
	}
	ws, resp, err := d.Dial("wss://"+addr+path, nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return nil, resp.StatusCode, strings.TrimSpace(string(body)), err
		}
		return nil, 0, "", err
	}
	resp.Body.Close()
	ws.SetCloseHandler(func(int, string) error { return nil })
	return ws, http.StatusSwitchingProtocols, "", nil
}

// pingUntilClosed pings ws every interval until the server closes it, and
// returns the close frame (nil if it ended without one) and when.
func pingUntilClosed(ws *websocket.Conn, interval, within time.Duration) (*websocket.CloseError, time.Time, error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(interval):
				ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	ws.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		at := time.Now()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce, at, nil
		}
		return nil, at, err
	}
}

// unknownModelUUID is a model UUID no broker knows.
func unknownModelUUID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:]
}

// testUnauthLoginDeadline: a connection that only sends WebSocket pings
// (to /api, or to a model's /api) is closed with 1008 at the login
// deadline: the pings do not extend it. A client that logged in stays.
func testUnauthLoginDeadline(t *testing.T, bins *brokerBins) {
	const deadline = 3 * time.Second
	e := newBrokerEnv(t, bins, "--login-timeout", deadline.String())
	loggedIn := e.open(t, "")
	for _, path := range []string{"/api", "/model/" + unknownModelUUID() + "/api"} {
		ws, status, body, err := dialWS(e.caPEM, e.broker().Addr, path)
		if err != nil {
			t.Fatalf("dial %s: %v (HTTP %d %s)", path, err, status, body)
		}
		start := time.Now()
		ce, at, err := pingUntilClosed(ws, 200*time.Millisecond, deadline+30*time.Second)
		ws.Close()
		took := at.Sub(start)
		t.Logf("FIGURE %s: a connection that only pings closed %s after the upgrade (login deadline %s)", path, took.Round(time.Millisecond), deadline)
		switch {
		case err != nil:
			t.Errorf("%s: ended without a close frame after %s: %v", path, took, err)
		case ce.Code != websocket.ClosePolicyViolation:
			t.Errorf("%s: closed with %d %q, want %d (policy violation)", path, ce.Code, ce.Text, websocket.ClosePolicyViolation)
		case !strings.Contains(ce.Text, "login"):
			t.Errorf("%s: close reason %q does not say why", path, ce.Text)
		}
		if took < deadline-100*time.Millisecond || took > deadline+2*time.Second {
			t.Errorf("%s: closed %s after the upgrade, want about %s: pings must not extend the deadline", path, took, deadline)
		}
	}
	// Logged in before either: still answering, well past the deadline.
	if _, err := modelmanager.NewClient(loggedIn).ListModels("admin"); err != nil {
		t.Errorf("a logged-in client after the login deadline: %v", err)
	}
	if n := bmMetric(t, e.metricsAddr(), `jimm_connections_refused_total{reason="login-timeout"}`); n < 2 {
		t.Errorf(`jimm_connections_refused_total{reason="login-timeout"} = %v, want at least 2`, n)
	}
}

// testUnauthPerAddressCap: one source address may hold
// --max-conns-per-address WebSocket connections; the next is refused with
// HTTP 429 and a message that says why, before the upgrade; once one
// ends, a new one is taken again.
func testUnauthPerAddressCap(t *testing.T, bins *brokerBins) {
	const limit = 5
	e := newBrokerEnv(t, bins, "--max-conns-per-address", strconv.Itoa(limit), "--login-timeout", "2m")
	var held []*websocket.Conn
	t.Cleanup(func() {
		for _, ws := range held {
			ws.Close()
		}
	})
	for i := range limit {
		ws, status, body, err := dialWS(e.caPEM, e.broker().Addr, "/api")
		if err != nil {
			t.Fatalf("connection %d of %d: %v (HTTP %d %s)", i+1, limit, err, status, body)
		}
		held = append(held, ws)
	}
	start := time.Now()
	_, status, body, err := dialWS(e.caPEM, e.broker().Addr, "/api")
	took := time.Since(start)
	t.Logf("FIGURE connection %d from one address: HTTP %d %q in %s", limit+1, status, body, took.Round(time.Millisecond))
	if err == nil || status != http.StatusTooManyRequests {
		t.Fatalf("connection %d from one address: HTTP %d %q (%v), want 429", limit+1, status, body, err)
	}
	if !strings.Contains(body, "too many connections") || !strings.Contains(body, strconv.Itoa(limit)) {
		t.Errorf("refusal %q does not say why (too many connections, the limit)", body)
	}
	// The Juju client is refused the same way, with the reason.
	if _, err := e.tryOpen(""); err == nil || !strings.Contains(err.Error(), "429") && !strings.Contains(err.Error(), "too many") {
		t.Errorf("Juju client over the cap: %v, want a refusal", err)
	}
	held[0].Close()
	held = held[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws, status, body, err := dialWS(e.caPEM, e.broker().Addr, "/api")
		if err == nil {
			held = append(held, ws)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one connection closed, a new one is still refused: HTTP %d %q", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := bmMetric(t, e.metricsAddr(), `jimm_connections_refused_total{reason="per-address"}`); n < 1 {
		t.Errorf(`jimm_connections_refused_total{reason="per-address"} = %v, want at least 1`, n)
	}
}

// startLimitedBroker is brokerEnv.startBroker with jimmd's open-file
// limit set to maxFiles (ulimit -n), then the three controllers.
func startLimitedBroker(t *testing.T, bins *brokerBins, maxFiles int, args ...string) *brokerEnv {
	t.Helper()
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	opts := jimmproc.Options{
		Bin:           bins.jimmd,
		DataDir:       filepath.Join(t.TempDir(), "jimmd"),
		DSN:           newTestDatabase(t),
		AdminPassword: brokerAdminPassword,
		SecretsKey:    randomHex(32),
		Args:          args,
		MaxOpenFiles:  maxFiles,
	}
	p := startJimmd(t, "jimmd", opts, true)
	e.proc = p
	ca, err := os.ReadFile(p.CACertFile)
	if err != nil {
		t.Fatalf("the broker's generated CA: %v", err)
	}
	e.caPEM = string(ca)
	e.ctl = &jimmproc.Ctl{
		Bin: bins.jimmctl, URL: "https://" + p.Addr, CACert: p.CACertFile,
		User: "admin", Password: brokerAdminPassword, ConfigDir: t.TempDir(),
	}
	t.Cleanup(func() {
		if err := p.Stop(15 * time.Second); err != nil {
			t.Errorf("jimmd (pid %d) did not shut down cleanly on SIGTERM: %v", p.Pid(), err)
		}
	})
	e.addControllers(t, threeControllers)
	return e
}

// openFiles counts the descriptors process pid has open.
func openFiles(t *testing.T, pid int) int {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("count jimmd's descriptors: %v", err)
	}
	return len(fds)
}

// testUnauthDescriptorLimit: jimmd under a low open-file limit, flooded
// with unauthenticated WebSocket connections, refuses new ones with HTTP
// 503 before it runs out of descriptors; meanwhile a client that logged
// in before goes on calling, a new admin login (jimmctl, REST) works, and
// /metrics answers.
func testUnauthDescriptorLimit(t *testing.T, bins *brokerBins) {
	const maxFiles = 256
	e := startLimitedBroker(t, bins, maxFiles, "--login-timeout", "5m", "--max-conns-per-address", "-1")
	pid := e.broker().Pid()
	mm := modelmanager.NewClient(e.open(t, ""))
	base := openFiles(t, pid)

	var held []*websocket.Conn
	t.Cleanup(func() {
		for _, ws := range held {
			ws.Close()
		}
	})
	var refusedIn time.Duration
	status, body := 0, ""
	for len(held) < 2*maxFiles {
		start := time.Now()
		ws, st, b, err := dialWS(e.caPEM, e.broker().Addr, "/api")
		if err != nil {
			refusedIn, status, body = time.Since(start), st, b
			break
		}
		held = append(held, ws)
	}
	atLimit := openFiles(t, pid)
	t.Logf("FIGURE descriptor limit %d: %d unauthenticated connections held (jimmd had %d descriptors open before, %d at the limit); refused with HTTP %d %q in %s",
		maxFiles, len(held), base, atLimit, status, body, refusedIn.Round(time.Millisecond))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("after %d connections: HTTP %d %q, want 503 before the descriptors run out", len(held), status, body)
	}
	if atLimit >= maxFiles {
		t.Errorf("jimmd has %d descriptors open at refusal, want headroom below %d", atLimit, maxFiles)
	}
	// Refusals are quick and stay quick.
	var worst time.Duration
	for range 20 {
		start := time.Now()
		_, st, _, err := dialWS(e.caPEM, e.broker().Addr, "/api")
		took := time.Since(start)
		worst = max(worst, took)
		if err == nil || st != http.StatusServiceUnavailable {
			t.Errorf("at the limit: HTTP %d (%v), want 503", st, err)
		}
	}
	t.Logf("FIGURE at the limit: 20 more connections refused, the slowest in %s", worst.Round(time.Millisecond))

	start := time.Now()
	if _, err := mm.ListModels("admin"); err != nil {
		t.Errorf("at the limit, a logged-in client's call: %v", err)
	}
	callTook := time.Since(start)
	start = time.Now()
	out := e.jimmctl(t, "list-controllers") // a new admin login (REST, password)
	loginTook := time.Since(start)
	if !strings.Contains(out, "ctl-1") {
		t.Errorf("at the limit, jimmctl list-controllers printed %q", out)
	}
	start = time.Now()
	refused := bmMetric(t, e.metricsAddr(), `jimm_connections_refused_total{reason="descriptors"}`)
	metricsTook := time.Since(start)
	if refused < 1 {
		t.Errorf(`jimm_connections_refused_total{reason="descriptors"} = %v, want at least 1`, refused)
	}
	t.Logf("FIGURE at the limit: a logged-in client's call %s, a new admin login (jimmctl) %s, /metrics %s",
		callTook.Round(time.Millisecond), loginTook.Round(time.Millisecond), metricsTook.Round(time.Millisecond))

	// Connections let go: new ones are taken again.
	for _, ws := range held[:len(held)/2] {
		ws.Close()
	}
	held = held[len(held)/2:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, st, b, err := dialWS(e.caPEM, e.broker().Addr, "/api")
		if err == nil {
			held = append(held, ws)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("half the connections closed, a new one still refused: HTTP %d %q", st, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// presented is the certificate chain a server presents, unverified.
func presented(t *testing.T, addr string) []*x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "juju-apiserver"})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates
}

// testUnauthSharedCA: two replicas on one database present certificates
// from the same CA (the same certificate, as they share a public host),
// write the same ca.crt, and a Juju client given one replica's CA logs in
// to the other.
func testUnauthSharedCA(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	b := e.startReplica(t, false)
	chainA, chainB := presented(t, e.broker().Addr), presented(t, b.Addr)
	if len(chainA) < 2 || len(chainB) < 2 {
		t.Fatalf("chains of %d and %d certificates, want the leaf and the CA", len(chainA), len(chainB))
	}
	caA, caB := chainA[len(chainA)-1], chainB[len(chainB)-1]
	t.Logf("FIGURE replica A CA serial %x, replica B CA serial %x; leaves %x and %x", caA.SerialNumber, caB.SerialNumber, chainA[0].SerialNumber, chainB[0].SerialNumber)
	if !caA.Equal(caB) {
		t.Errorf("replicas present different CAs: %s (serial %x) and %s (serial %x)", caA.Subject, caA.SerialNumber, caB.Subject, caB.SerialNumber)
	}
	if !chainA[0].Equal(chainB[0]) {
		t.Errorf("replicas on the same public host present different server certificates")
	}
	caFileB, err := os.ReadFile(b.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(caFileB, []byte(e.caPEM)) {
		t.Errorf("replica B's ca.crt differs from replica A's")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(e.caPEM))
	for who, chain := range map[string][]*x509.Certificate{"A": chainA, "B": chainB} {
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: "juju-apiserver"}); err != nil {
			t.Errorf("replica %s's certificate does not verify against A's ca.crt as juju-apiserver: %v", who, err)
		}
	}
	info := e.apiInfo("")
	info.Addrs = []string{b.Addr} // A's CA
	conn, err := api.Open(info, dialOpts)
	if err != nil {
		t.Fatalf("Juju client with replica A's CA, logging in to replica B: %v", err)
	}
	conn.Close()
}

// testUnauthEpollRecreated: idle model connections park (no goroutine)
// in an epoll set made on first use. If jimmd has no descriptor left
// then, the set is made later, once descriptors are free again: idle
// connections park again without a restart.
func testUnauthEpollRecreated(t *testing.T, bins *brokerBins) {
	const detachAfter = 500 * time.Millisecond
	e := newBrokerEnv(t, bins, "--proxy-detach-after", detachAfter.String())
	mm := modelmanager.NewClient(e.open(t, ""))
	info := createModel(t, e, mm, "parking", "east")
	p := e.broker()
	pid := p.Pid()
	setFiles := func(soft string) {
		t.Helper()
		if out, err := exec.Command("prlimit", "--pid", strconv.Itoa(pid), "--nofile="+soft+":").CombinedOutput(); err != nil {
			t.Fatalf("prlimit --nofile=%s: jimmd: %v: %s", soft, err, out)
		}
	}
	parked := func() float64 { return bmMetric(t, e.metricsAddr(), "jimm_proxy_parked_connections") }
	if n := parked(); n != 0 {
		t.Fatalf("jimm_proxy_parked_connections = %v before any model connection", n)
	}

	// A model connection, used, then idle while jimmd has no descriptor
	// left: it detaches, and cannot park (the first park makes the set).
	a := e.open(t, info.UUID)
	if err := a.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
		t.Fatalf("ping on the model connection: %v", err)
	}
	if _, err := modelmanager.NewClient(e.open(t, "")).ListModels("admin"); err != nil {
		t.Fatal(err)
	}
	restored := sync.OnceFunc(func() { setFiles("20000") })
	setFiles("16") // far below what it has open: every new descriptor fails
	t.Cleanup(restored)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.Output(), "cannot park") {
		if time.Now().After(deadline) {
			restored()
			t.Fatalf("with no descriptor left, no idle connection tried to park within 15 s; jimmd said:\n%s", p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	restored()
	freed := time.Now()

	// Descriptors again: a new idle connection parks.
	b := e.open(t, info.UUID)
	if err := b.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
		t.Fatalf("ping on a model connection after the exhaustion: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for parked() < 1 {
		if ctx.Err() != nil {
			t.Fatalf("20 s after descriptors were free again, no idle connection parked (jimm_proxy_parked_connections = 0); jimmd said:\n%s", p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("FIGURE epoll set made again: an idle connection parked %s after descriptors were free again (detach after %s)",
		time.Since(freed).Round(time.Millisecond), detachAfter)
	if !strings.Contains(p.Output(), "park again") {
		t.Errorf("jimmd did not log that connections park again:\n%s", p.Output())
	}
	if n := strings.Count(p.Output(), "cannot park"); n != 1 {
		t.Errorf("the failure episode was logged %d times, want once", n)
	}
}

// TestAbuseInvalidUTF8: a text frame that is not valid UTF-8 (here inside
// otherwise valid JSON, which a JSON decoder would take) closes its
// connection with status 1007 (RFC 6455), before or after login, and
// another client's connection carries on.
func TestAbuseInvalidUTF8(t *testing.T) {
	t.Parallel()
	bins := buildBrokerBins(t)
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	e.startBroker(newTestDatabase(t), nil)
	other := e.open(t, "")
	frame := []byte("{\"request-id\":1,\"type\":\"Pinger\",\"version\":1,\"request\":\"Ping\",\"params\":{\"x\":\"\xff\xfe\"}}")
	for _, loggedIn := range []bool{false, true} {
		raw := e.dialRaw(t, "/api")
		if loggedIn {
			if res := raw.login(brokerAdminPassword); res.Error != "" {
				t.Fatalf("raw login: %s", res.Error)
			}
		}
		start := time.Now()
		raw.wantClose(websocket.TextMessage, frame, websocket.CloseInvalidFramePayloadData)
		t.Logf("FIGURE invalid UTF-8 in a text frame (logged in: %v): closed in %s", loggedIn, time.Since(start).Round(time.Millisecond))
	}
	if err := other.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
		t.Errorf("another client's ping after the invalid frames: %v", err)
	}
}
