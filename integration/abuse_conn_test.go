package integration

// Connections that abuse the broker's memory or leave calls hanging (issue
// 14): a read-only user who sends 60,000 calls without reading a
// response, a client that stops reading with responses queued, and a call
// in flight on a controller that stops answering.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api/client/modelmanager"

	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

// acDial opens a bare WebSocket to the broker at path. A positive rcvbuf
// is the client socket's receive buffer (set before it connects, so that
// the TCP window stays that small): a client that does not read then
// leaves the broker's writes waiting almost at once.
func acDial(t testing.TB, e *brokerEnv, path string, rcvbuf int) *websocket.Conn {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(e.caPEM)) {
		t.Fatal("the broker's CA file holds no certificate")
	}
	nd := &net.Dialer{Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	d := websocket.Dialer{
		NetDialContext:   nd.DialContext,
		TLSClientConfig:  &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
		HandshakeTimeout: 10 * time.Second,
	}
	addr := e.broker().Addr
	ws, resp, err := d.Dial("wss://"+addr+path, nil)
	if err != nil {
		t.Fatalf("dial wss://%s%s: %v", addr, path, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	return ws
}

// acRequest is one request frame.
func acRequest(id uint64, facade string, version int, method string, params any) map[string]any {
	if params == nil {
		params = map[string]any{}
	}
	return map[string]any{"request-id": id, "type": facade, "version": version, "request": method, "params": params}
}

// acCall sends a request and reads its response within the wait.
func acCall(ws *websocket.Conn, id uint64, facade string, version int, method string, params any, wait time.Duration) (rawResponse, error) {
	ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteJSON(acRequest(id, facade, version, method, params)); err != nil {
		return rawResponse{}, fmt.Errorf("send %s.%s: %w", facade, method, err)
	}
	ws.SetReadDeadline(time.Now().Add(wait))
	var resp rawResponse
	if err := ws.ReadJSON(&resp); err != nil {
		return resp, fmt.Errorf("read the response to %s.%s: %w", facade, method, err)
	}
	if resp.RequestID != id {
		return resp, fmt.Errorf("response to request %d, want %d", resp.RequestID, id)
	}
	return resp, nil
}

// acLogin logs a bare connection in, as the broker's admin (clientID "")
// or as a service account with client credentials.
func acLogin(t testing.TB, ws *websocket.Conn, clientID, clientSecret string) {
	t.Helper()
	var resp rawResponse
	var err error
	if clientID == "" {
		resp, err = acCall(ws, 1, "Admin", 3, "Login", map[string]any{
			"auth-tag": "user-admin", "credentials": brokerAdminPassword, "client-version": "3.5.4",
		}, 20*time.Second)
	} else {
		resp, err = acCall(ws, 1, "Admin", 4, "LoginWithClientCredentials", map[string]any{
			"client-id": clientID, "client-secret": clientSecret,
		}, 20*time.Second)
	}
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if resp.Error != "" {
		t.Fatalf("login refused: %s (%s)", resp.Error, resp.ErrorCode)
	}
}

// acPinger pings the broker on a connection of its own every interval
// until stopped, timing each answer.
type acPinger struct {
	mu    sync.Mutex
	rtts  []time.Duration
	fails []error
	stop  chan struct{}
	done  chan struct{}
}

func acStartPinger(ws *websocket.Conn, interval time.Duration) *acPinger {
	p := &acPinger{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for id := uint64(100); ; id++ {
			start := time.Now()
			resp, err := acCall(ws, id, "Pinger", 1, "Ping", nil, 10*time.Second)
			if err == nil && resp.Error != "" {
				err = fmt.Errorf("ping refused: %s", resp.Error)
			}
			p.mu.Lock()
			if err != nil {
				p.fails = append(p.fails, err)
			} else {
				p.rtts = append(p.rtts, time.Since(start))
			}
			p.mu.Unlock()
			if err != nil && len(p.fails) > 3 {
				return
			}
			select {
			case <-p.stop:
				return
			case <-time.After(interval):
			}
		}
	}()
	return p
}

// finish stops the pinger and returns its round trips (sorted) and
// failures.
func (p *acPinger) finish() ([]time.Duration, []error) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	slices.Sort(p.rtts)
	return p.rtts, p.fails
}

func acQuantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// acServiceAccountBroker starts a broker whose identity provider is the
// OIDC example server (its service account logs in with client
// credentials), with one controller, ctl-1.
func acServiceAccountBroker(t *testing.T, args ...string) *brokerEnv {
	bins := buildBrokerBins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	idp := startExample(t, ctx)
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}, env: []string{"JIMM_OIDC_CLIENT_SECRET=secret"}}
	e.startBroker(newTestDatabase(t), append([]string{"--oidc-issuer", idp.Issuer, "--oidc-client-id", "web"}, args...))
	e.addControllers(t, []ctlSpec{{"ctl-1", "east"}})
	return e
}

// TestAbuseConnUnreadCalls: one connection of a user with read access
// sends 60,000 FullStatus calls and reads no response. The broker reads
// only as many as its bounds on calls in flight allow, then stops reading
// (the rest wait in the client's socket), and closes the connection once
// a response has waited the write timeout: its heap grows by well under
// 64 MB, and another client's pings are answered throughout.
func TestAbuseConnUnreadCalls(t *testing.T) {
	const (
		calls        = 60000
		writeTimeout = 10 * time.Second
		maxGrowth    = 64 << 20
	)
	e := acServiceAccountBroker(t, "--write-timeout", writeTimeout.String())
	mm := modelmanager.NewClient(e.open(t, ""))
	info := createModel(t, e, mm, "abused", "east")
	// Enough units that a FullStatus response takes tens of KB, as on a
	// real model: the pooled buffers the broker reads frames into grow to
	// that size.
	deploy(t, e.open(t, info.UUID), "db", 30)
	e.jimmctl(t, "auth", "relation", "add", "serviceaccount:"+oidcproc.ExampleServiceClientID, "reader", "model:"+info.UUID)
	path := "/model/" + info.UUID + "/api"

	// The other client: the broker's admin on the same model.
	other := acDial(t, e, path, 0)
	acLogin(t, other, "", "")

	resp, err := acCall(other, 2, "Client", 7, "FullStatus", map[string]any{"patterns": nil}, 20*time.Second)
	if err != nil || resp.Error != "" {
		t.Fatalf("FullStatus as the broker's admin: %v %s", err, resp.Error)
	}
	statusSize := len(resp.Response)

	heap := func() float64 { return bmMetric(t, e.metricsAddr(), "go_memstats_heap_inuse_bytes") }
	var base float64
	for range 5 {
		base += heap() / 5
		time.Sleep(200 * time.Millisecond)
	}
	modelConns := `jimm_connections_open{endpoint="model"}`
	connsBefore := bmMetric(t, e.metricsAddr(), modelConns)

	abuser := acDial(t, e, path, 0)
	acLogin(t, abuser, oidcproc.ExampleServiceClientID, oidcproc.ExampleServiceClientSecret)
	if n := bmMetric(t, e.metricsAddr(), modelConns); n != connsBefore+1 {
		t.Fatalf("%s = %v with the abuser connected, want %v", modelConns, n, connsBefore+1)
	}
	pinger := acStartPinger(other, 100*time.Millisecond)

	var sent atomic.Int64
	writerDone := make(chan error, 1)
	start := time.Now()
	go func() {
		for i := range calls {
			abuser.SetWriteDeadline(time.Now().Add(writeTimeout + 30*time.Second))
			if err := abuser.WriteJSON(acRequest(uint64(i+2), "Client", 7, "FullStatus", map[string]any{"patterns": nil})); err != nil {
				writerDone <- err
				return
			}
			sent.Add(1)
		}
		writerDone <- nil
	}()

	// Sample the broker's heap until the abuser's connection is closed
	// (and a little after), or for at most the write timeout and a
	// minute.
	peak := base
	var writerErr error
	writerEnded, closedAt := false, time.Time{}
	deadline := start.Add(writeTimeout + time.Minute)
	for time.Now().Before(deadline) {
		if h := heap(); h > peak {
			peak = h
		}
		if !writerEnded {
			select {
			case writerErr = <-writerDone:
				writerEnded = true
			default:
			}
		}
		if closedAt.IsZero() && bmMetric(t, e.metricsAddr(), modelConns) == connsBefore {
			closedAt = time.Now()
		}
		if !closedAt.IsZero() && time.Since(closedAt) > 2*time.Second {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	rtts, fails := pinger.finish()
	growth := peak - base
	t.Logf("FIGURE heap growth for %d unread FullStatus calls (responses of %d KB) from one read-only user: %.1f MB (heap in use %.1f MB before, peak %.1f MB; limit %d MB); the client got %d of them written (into the broker's socket) before its connection was closed",
		calls, statusSize>>10, growth/(1<<20), base/(1<<20), peak/(1<<20), maxGrowth>>20, sent.Load())
	if !closedAt.IsZero() {
		t.Logf("FIGURE the abuser's connection was closed %s after it began sending (write timeout %s)", closedAt.Sub(start).Round(time.Millisecond), writeTimeout)
	}
	t.Logf("FIGURE another client's pings during the abuse: %d answered, p50 %s, p99 %s, max %s; %d failed",
		len(rtts), acQuantile(rtts, 0.5), acQuantile(rtts, 0.99), acQuantile(rtts, 1), len(fails))
	if growth >= maxGrowth {
		t.Errorf("the broker's heap grew by %.1f MB for one connection's unread calls, want under %d MB", growth/(1<<20), maxGrowth>>20)
	}
	if closedAt.IsZero() {
		t.Errorf("the connection of a client that reads no response was not closed within %s", writeTimeout+time.Minute)
	}
	// The broker stopped reading from the client at its bound of calls
	// in flight, rather than take every request it was sent.
	if n, ok := bmTryMetric(t, e.metricsAddr(), "jimm_proxy_reads_paused_total"); !ok || n < 1 {
		t.Errorf("jimm_proxy_reads_paused_total = %v (found: %v): the broker never stopped reading from a client with %d calls in flight", n, ok, calls)
	}
	if writerEnded && writerErr == nil {
		t.Logf("all %d calls were written (the kernel's buffers took them)", calls)
	}
	if len(fails) > 0 {
		t.Errorf("another client's pings failed during the abuse: %v", fails)
	}
	if len(rtts) < 10 {
		t.Errorf("another client's pings: only %d answered", len(rtts))
	} else if p99 := acQuantile(rtts, 0.99); p99 > 2*time.Second {
		t.Errorf("another client's pings took up to %s (p99) during the abuse", p99)
	}
	// The other client's connection still works.
	if resp, err := acCall(other, 99999, "Client", 7, "FullStatus", map[string]any{"patterns": nil}, 20*time.Second); err != nil || resp.Error != "" {
		t.Errorf("FullStatus on the other connection after the abuse: %v %s", err, resp.Error)
	}
}

// acTxQueue reads, from /proc/net/tcp, the bytes the socket from local to
// remote (IPv4) has queued for sending, unacknowledged or not yet sent;
// ok is false when no such connection is established.
func acTxQueue(local, remote net.Addr) (int64, bool) {
	hexAddr := func(a net.Addr) string {
		ta, ok := a.(*net.TCPAddr)
		if !ok || ta.IP.To4() == nil {
			return ""
		}
		ip := ta.IP.To4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ta.Port)
	}
	l, r := hexAddr(local), hexAddr(remote)
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil || l == "" || r == "" {
		return 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != l || f[2] != r || f[3] != "01" { // 01: established
			continue
		}
		tx, _, _ := strings.Cut(f[4], ":")
		n, err := strconv.ParseInt(tx, 16, 64)
		return n, err == nil
	}
	return 0, false
}

// TestAbuseConnStopsReading: a client that stops reading with responses
// queued is closed once a response has waited --write-timeout, on a model
// connection and on /api alike; its connection is then gone from the
// broker, and the client's next write fails.
//
// The client's socket takes almost nothing (a 4 KB receive buffer), but
// the broker's kernel takes a few MB of responses before a write of the
// broker's waits: the close latency is timed from when the broker's
// socket stopped taking bytes (its send queue, read from /proc/net/tcp,
// stopped growing).
func TestAbuseConnStopsReading(t *testing.T) {
	const writeTimeout = 3 * time.Second
	bins := buildBrokerBins(t)
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	e.startBroker(newTestDatabase(t), []string{"--write-timeout", writeTimeout.String()})
	e.addControllers(t, []ctlSpec{{"ctl-1", "east"}})
	mm := modelmanager.NewClient(e.open(t, ""))
	info := createModel(t, e, mm, "unread", "east")
	deploy(t, e.open(t, info.UUID), "db", 3)

	for _, tc := range []struct {
		name, path, endpoint string
		n                    int
		request              func(id uint64) map[string]any
	}{
		{"model", "/model/" + info.UUID + "/api", "model", 3000, func(id uint64) map[string]any {
			return acRequest(id, "Client", 7, "FullStatus", map[string]any{"patterns": nil})
		}},
		// Unbounded in effect: the client sends until the broker stops
		// reading. A fixed count of small answers could fit whole in the
		// broker's send buffer (the kernel grows it to a few MB), and no
		// write of the broker's would ever wait.
		{"api", "/api", "api", 10_000_000, func(id uint64) map[string]any {
			return acRequest(id, "ModelManager", 9, "ListModelSummaries", map[string]any{"user-tag": "user-admin", "all": true})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			series := `jimm_connections_open{endpoint="` + tc.endpoint + `"}`
			before := bmMetric(t, e.metricsAddr(), series)
			ws := acDial(t, e, tc.path, 4096)
			acLogin(t, ws, "", "")
			ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := ws.WriteJSON(tc.request(2)); err != nil {
				t.Fatalf("send a first call: %v", err)
			}
			ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			var first rawResponse
			if err := ws.ReadJSON(&first); err != nil || first.Error != "" {
				t.Fatalf("a first call: %v %s", err, first.Error)
			}
			if n := bmMetric(t, e.metricsAddr(), series); n != before+1 {
				t.Fatalf("%s = %v with the client connected, want %v", series, n, before+1)
			}
			// Send the requests until the broker stops taking them (or
			// closes the connection), and read nothing.
			sent := make(chan error, 1)
			go func() {
				for i := range tc.n {
					ws.SetWriteDeadline(time.Now().Add(writeTimeout + time.Minute))
					if err := ws.WriteJSON(tc.request(uint64(i + 3))); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			brokerEnd, clientEnd := ws.UnderlyingConn().RemoteAddr(), ws.UnderlyingConn().LocalAddr()
			start := time.Now()
			lastTx, lastChange, seen := int64(-1), time.Time{}, false
			var closedAt time.Time
			for closedAt.IsZero() {
				if tx, ok := acTxQueue(brokerEnd, clientEnd); ok {
					seen = true
					if tx != lastTx {
						lastTx, lastChange = tx, time.Now()
					}
				}
				if bmMetric(t, e.metricsAddr(), series) == before {
					closedAt = time.Now()
				}
				if time.Since(start) > writeTimeout+time.Minute {
					// Where jimmd is stuck: its goroutines, in its output
					// (printed below), from Go's SIGQUIT dump.
					p := e.broker()
					syscall.Kill(p.Pid(), syscall.SIGQUIT)
					select {
					case <-p.Done():
					case <-time.After(5 * time.Second):
					}
					e.mu.Lock()
					e.stopped = true
					e.mu.Unlock()
					t.Fatalf("a client that stopped reading with responses queued is still connected %s later (write timeout %s); the broker's send queue to it holds %d bytes, unchanged for %s",
						time.Since(start).Round(time.Millisecond), writeTimeout, lastTx, time.Since(lastChange).Round(time.Millisecond))
				}
				time.Sleep(25 * time.Millisecond)
			}
			if !seen {
				t.Fatalf("the broker's socket to the client (%s to %s) is not in /proc/net/tcp", brokerEnd, clientEnd)
			}
			closed := closedAt.Sub(lastChange)
			t.Logf("FIGURE close latency of a client that stopped reading (%s connection, write timeout %s): %s after the broker's socket stopped taking its responses (%d bytes queued in the kernel; %s after the client began sending)",
				tc.name, writeTimeout, closed.Round(time.Millisecond), lastTx, closedAt.Sub(start).Round(time.Millisecond))
			// The kernel's send queue may keep growing a little after the
			// broker's write began to wait (TCP grows its buffer), so the
			// lower bound is loose: not closed long before the timeout.
			if closed < writeTimeout/2 || closed > writeTimeout+3*time.Second {
				t.Errorf("the connection was closed %s after the broker's writes stopped, want the write timeout (%s) and a little", closed, writeTimeout)
			}
			// The client finds its connection gone.
			select {
			case <-sent:
			case <-time.After(10 * time.Second):
				t.Errorf("the client's writes still wait 10s after the broker closed its connection")
			}
			var werr error
			for end := time.Now().Add(5 * time.Second); werr == nil && time.Now().Before(end); {
				ws.SetWriteDeadline(time.Now().Add(time.Second))
				werr = ws.WriteMessage(websocket.PingMessage, nil)
				time.Sleep(100 * time.Millisecond)
			}
			if werr == nil {
				t.Errorf("the client can still write 5s after the broker closed its connection")
			}
		})
	}
	// The broker still serves others.
	if _, err := mm.ListModelSummaries("admin", true); err != nil {
		t.Errorf("ListModelSummaries after the slow readers: %v", err)
	}
}

// TestAbuseConnFrozenController: a call in flight on a model connection
// whose controller stops answering (SIGSTOP) is answered "try again",
// naming the controller's state, as soon as the health check marks the
// controller down; a call made while it stays down is answered too; once
// the controller answers again the same connection works.
func TestAbuseConnFrozenController(t *testing.T) {
	bins := buildBrokerBins(t)
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	e.startBroker(newTestDatabase(t), nil)
	e.addControllers(t, []ctlSpec{{"ctl-1", "east"}})
	mm := modelmanager.NewClient(e.open(t, ""))
	info := createModel(t, e, mm, "frozen", "east")
	deploy(t, e.open(t, info.UUID), "db", 2)
	ws := acDial(t, e, "/model/"+info.UUID+"/api", 0)
	acLogin(t, ws, "", "")
	fullStatus := func(id uint64, wait time.Duration) (rawResponse, error) {
		return acCall(ws, id, "Client", 7, "FullStatus", map[string]any{"patterns": nil}, wait)
	}
	if resp, err := fullStatus(2, 10*time.Second); err != nil || resp.Error != "" {
		t.Fatalf("FullStatus before the freeze: %v %s", err, resp.Error)
	}

	// Watch for the health check's verdict while the call waits.
	up := `jimm_controller_up{controller="ctl-1"}`
	markedDown := make(chan time.Time, 1)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if v, ok := bmTryMetric(t, e.metricsAddr(), up); ok && v == 0 {
				markedDown <- time.Now()
				return
			}
		}
	}()

	thaw := freeze(t, e.ctls["ctl-1"].Pid())
	defer thaw()
	frozen := time.Now()
	resp, err := fullStatus(3, 60*time.Second)
	answered := time.Since(frozen)
	if err != nil {
		t.Fatalf("a call in flight on a frozen controller got no answer within %s: %v", answered.Round(time.Millisecond), err)
	}
	var down time.Duration
	select {
	case at := <-markedDown:
		down = at.Sub(frozen)
	case <-time.After(10 * time.Second):
		t.Errorf("the health check did not mark the frozen controller down")
	}
	t.Logf("FIGURE time to answer a call in flight on a frozen controller: %s after SIGSTOP (the health check marked it down after about %s): %s (%q)",
		answered.Round(time.Millisecond), down.Round(100*time.Millisecond), resp.Error, resp.ErrorCode)
	if resp.ErrorCode != "try again" || !strings.Contains(resp.Error, "stopped answering") || !strings.Contains(resp.Error, `"frozen"`) {
		t.Errorf("a call in flight on a frozen controller was answered %q (%s); want %q saying that the controller hosting model \"frozen\" stopped answering",
			resp.Error, resp.ErrorCode, "try again")
	}
	e.checkNoLeak(t, "the error of a call on a frozen controller", []byte(resp.Error))
	if answered > 12*time.Second {
		t.Errorf("the call was answered %s after the controller froze, want within the health check's detection (about 4s) and a few seconds", answered)
	}

	// While it stays frozen, a new call is answered too (the broker
	// cannot log in there again).
	start := time.Now()
	resp, err = fullStatus(4, 30*time.Second)
	took := time.Since(start)
	t.Logf("FIGURE time to answer a call made while the controller stays frozen: %s: %s (%q)", took.Round(time.Millisecond), resp.Error, resp.ErrorCode)
	if err != nil || resp.ErrorCode != "try again" {
		t.Errorf("a call made while the controller is frozen: %v, %q (%s); want %q", err, resp.Error, resp.ErrorCode, "try again")
	}
	if took > 10*time.Second {
		t.Errorf("a call made while the controller is frozen took %s to answer", took)
	}

	thaw()
	e.waitStatus(t, "ctl-1", "up", 15*time.Second)
	id := uint64(5)
	eventually(t, 15*time.Second, "FullStatus on the same connection once the controller answers again", func() error {
		id++
		resp, err := fullStatus(id, 20*time.Second)
		if err != nil {
			t.Fatalf("the connection broke: %v", err)
		}
		if resp.Error != "" {
			return fmt.Errorf("%s (%s)", resp.Error, resp.ErrorCode)
		}
		var st struct {
			Model struct {
				Name string `json:"name"`
			} `json:"model"`
		}
		if err := json.Unmarshal(resp.Response, &st); err != nil || st.Model.Name != "frozen" {
			return fmt.Errorf("status %.200s names no model frozen (%v)", resp.Response, err)
		}
		return nil
	})
}
