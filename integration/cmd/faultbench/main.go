// Command faultbench runs the abuse cases of the broker's hardening
// against real processes and prints what each costs the broker and the
// clients that behave:
//
//   - the broker's heap growth while one read-only user sends -calls
//     (60,000) FullStatus requests on a model connection without reading
//     a response (target: under 64 MB);
//   - the broker's heap growth during one unauthenticated -body-mb (100)
//     MB POST /v1/login (target: under 8 MB);
//   - during each, another client's ping p50/p99 through the broker, as a
//     ratio to the same client's idle baseline measured in the same run;
//   - at the open-file limit (-nofile, set on the broker): how many
//     unauthenticated connections it holds before refusing, how long the
//     refusal takes, and whether logged-in clients, a new login and
//     /metrics keep answering.
//
// It needs PostgreSQL (-dsn or JIMM_TEST_DSN) and dex (-dex or
// JIMM_DEX_BIN, built by .ci/tools.sh), for the read-only user's login.
//
//	cd integration && go run ./cmd/faultbench
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/modelmanager"
	apicharm "github.com/juju/juju/api/common/charm"
	corebase "github.com/juju/juju/core/base"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/benchenv"
	"github.com/jimmbroker/jimm/integration/internal/devproc"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

func main() {
	var o options
	flag.StringVar(&o.dsn, "dsn", os.Getenv("JIMM_TEST_DSN"), "PostgreSQL server DSN (a database is created on it)")
	flag.StringVar(&o.dex, "dex", os.Getenv(oidcproc.DexBinEnv), "dex binary")
	flag.StringVar(&o.jimmd, "jimmd", "", "jimmd binary (default: build it)")
	flag.StringVar(&o.ctl, "devcontroller", "", "devcontroller binary (default: build it)")
	flag.IntVar(&o.calls, "calls", 60000, "FullStatus requests the read-only user sends without reading")
	flag.IntVar(&o.bodyMB, "body-mb", 100, "size of the unauthenticated login request, in MB")
	flag.IntVar(&o.nofile, "nofile", 1024, "the broker's open-file limit for the descriptor case")
	flag.IntVar(&o.pings, "pings", 2000, "pings of the well-behaved client's idle baseline")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "faultbench:", err)
		os.Exit(1)
	}
}

type options struct {
	dsn, dex, jimmd, ctl         string
	calls, bodyMB, nofile, pings int
}

const adminPassword = "faultbench-admin-password"

// bench is the running broker and what the cases share.
type bench struct {
	addr, metrics string
	ca            []byte
	broker        *benchenv.Jimmd
	model         string // the model's UUID
	bobToken      string // the read-only user's session token
}

func run(o options) error {
	if o.dsn == "" {
		return fmt.Errorf("no PostgreSQL: pass -dsn or set JIMM_TEST_DSN (bash .ci/postgres.sh prints one)")
	}
	if o.dex == "" {
		return fmt.Errorf("no dex: pass -dex or set %s (eval \"$(bash .ci/tools.sh)\")", oidcproc.DexBinEnv)
	}
	ctx := context.Background()
	work, err := os.MkdirTemp("", "faultbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.jimmd == "" || o.ctl == "" {
		if o.jimmd, o.ctl, err = benchenv.Build(ctx, work, o.jimmd, o.ctl); err != nil {
			return err
		}
	}
	_, brokerDSN, drop, err := benchenv.CreateDatabase(ctx, o.dsn)
	if err != nil {
		return err
	}
	defer drop()
	dexPort, err := benchenv.FreePort()
	if err != nil {
		return err
	}
	dex, err := oidcproc.StartDex(ctx, oidcproc.DexOptions{Bin: o.dex, Dir: filepath.Join(work, "dex"), Addr: fmt.Sprintf("127.0.0.1:%d", dexPort)})
	if err != nil {
		return err
	}
	defer dex.Stop(10 * time.Second)

	b := &bench{}
	port, err := benchenv.FreePort()
	if err != nil {
		return err
	}
	mport, err := benchenv.FreePort()
	if err != nil {
		return err
	}
	b.addr, b.metrics = fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", mport)
	dir := filepath.Join(work, "broker")
	key := make([]byte, 32)
	rand.Read(key)
	b.broker, err = benchenv.StartJimmd(ctx, o.jimmd, dir, []string{
		"JIMM_LISTEN=" + b.addr, "JIMM_DSN=" + brokerDSN, "JIMM_DATA_DIR=" + dir,
		"JIMM_ADMIN_PASSWORD=" + adminPassword, "JIMM_SECRETS_KEY=" + hex.EncodeToString(key),
		"JIMM_METRICS_LISTEN=" + b.metrics, "JIMM_LOG_LEVEL=error",
		// The descriptor case comes from one address: the per-address cap
		// (measured by the integration tests) would refuse first.
		"JIMM_MAX_CONNS_PER_ADDRESS=-1",
		"JIMM_OIDC_ISSUER=" + dex.Issuer, "JIMM_OIDC_CLIENT_ID=" + oidcproc.BrokerClientID,
		"JIMM_OIDC_CLIENT_SECRET=" + oidcproc.BrokerClientSecret, "JIMM_OIDC_CA_CERT=" + dex.CACertFile,
	})
	if err != nil {
		return err
	}
	defer b.broker.Stop()
	// The broker runs with the descriptor limit of the last case (set from
	// outside: a Go program raises its own soft limit to the hard one).
	if out, err := exec.Command("prlimit", "--pid", strconv.Itoa(b.broker.Cmd.Process.Pid), fmt.Sprintf("--nofile=%d:%d", o.nofile, o.nofile)).CombinedOutput(); err != nil {
		return fmt.Errorf("set the broker's open-file limit with prlimit: %v: %s", err, out)
	}
	if b.ca, err = os.ReadFile(filepath.Join(dir, "tls", "ca.crt")); err != nil {
		return err
	}
	ctl, err := devproc.Start(ctx, devproc.Options{
		Bin: o.ctl, Name: "bench-ctl", DataDir: filepath.Join(work, "ctl"), AdminPassword: "ctl-admin-password",
		Args: []string{"--log-level", "warn", "--trust-jwks-url", "https://" + b.addr + "/.well-known/jwks.json",
			"--trust-jwks-ca", filepath.Join(dir, "tls", "ca.crt")},
	})
	if err != nil {
		return err
	}
	defer ctl.Stop(10 * time.Second)
	if err := benchenv.AddController(ctx, b.addr, b.ca, adminPassword, ctl.FilePath); err != nil {
		return err
	}
	admin, err := api.Open(b.info(""), api.DialOpts{})
	if err != nil {
		return fmt.Errorf("log in as the admin: %w", err)
	}
	defer admin.Close()
	mi, err := modelmanager.NewClient(admin).CreateModel("bench", "admin", "", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		return fmt.Errorf("create model: %w", err)
	}
	b.model = mi.UUID
	// A model with something in it, so that a status is a few KB, as in
	// use.
	mconn, err := api.Open(b.info(b.model), api.DialOpts{})
	if err != nil {
		return fmt.Errorf("open the model: %w", err)
	}
	err = application.NewClient(mconn).Deploy(application.DeployArgs{
		CharmID: application.CharmID{URL: "ch:amd64/jammy/postgresql-12"},
		CharmOrigin: apicharm.Origin{Source: apicharm.OriginCharmHub, Risk: "stable", Architecture: "amd64",
			Base: corebase.MustParseBaseFromString("ubuntu@22.04")},
		ApplicationName: "db", NumUnits: 20,
	})
	mconn.Close()
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if b.bobToken, err = b.readOnlyUser(ctx, dex); err != nil {
		return err
	}
	fmt.Printf("broker %s, controller %s, model %s; read-only user %s logged in through dex\n", b.addr, ctl.Addr, b.model, oidcproc.Bob.Email)

	// The well-behaved client: pings on a model connection of its own.
	probeInfo := b.info(b.model)
	probe, err := api.Open(probeInfo, api.DialOpts{})
	if err != nil {
		return fmt.Errorf("open the probe's model connection: %w", err)
	}
	defer probe.Close()
	pingFor(probe, 500, 0) // warm up
	idle := pingFor(probe, o.pings, 0)
	fmt.Printf("idle baseline: %d pings, p50 %.0fµs p99 %.0fµs\n", len(idle), benchenv.US(benchenv.Pct(idle, 50)), benchenv.US(benchenv.Pct(idle, 99)))

	results := map[string]float64{}
	if err := b.unreadCalls(o.calls, probe, idle, results); err != nil {
		return err
	}
	if err := b.bigLogin(o.bodyMB, probe, idle, results); err != nil {
		return err
	}
	if err := b.descriptorLimit(o.nofile, admin, results); err != nil {
		return err
	}
	keys := make([]string, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Print("faultbench:")
	for _, k := range keys {
		fmt.Printf(" %s=%.2f", k, results[k])
	}
	fmt.Println()
	return nil
}

func (b *bench) info(model string) *api.Info {
	info := &api.Info{Addrs: []string{b.addr}, CACert: string(b.ca), Tag: names.NewUserTag("admin"), Password: adminPassword}
	if model != "" {
		info.ModelTag = names.NewModelTag(model)
	}
	return info
}

// readOnlyUser grants Bob read access to the model and logs him in with a
// device login through dex; it returns his session token.
func (b *bench) readOnlyUser(ctx context.Context, dex *oidcproc.Dex) (string, error) {
	hc := b.httpClient()
	grant, _ := json.Marshal(map[string]string{"subject": "user:" + oidcproc.Bob.Email, "relation": "reader", "object": "model:" + b.model})
	if _, err := b.rest(ctx, hc, http.MethodPost, "/v1/relations", grant, true); err != nil {
		return "", fmt.Errorf("grant read access: %w", err)
	}
	raw, err := b.rest(ctx, hc, http.MethodPost, "/v1/login/device", []byte("{}"), false)
	if err != nil {
		return "", fmt.Errorf("start a device login: %w", err)
	}
	var dev struct {
		Handle          string `json:"handle"`
		UserCode        string `json:"user-code"`
		VerificationURI string `json:"verification-uri"`
	}
	if err := json.Unmarshal(raw, &dev); err != nil || dev.Handle == "" {
		return "", fmt.Errorf("device login answer %s: %v", raw, err)
	}
	browser, err := oidcproc.NewBrowser(dex.CACertPEM, b.ca)
	if err != nil {
		return "", err
	}
	if err := oidcproc.ApproveDevice(ctx, browser, dev.VerificationURI, dev.UserCode, oidcproc.Bob); err != nil {
		return "", err
	}
	body, _ := json.Marshal(map[string]string{"handle": dev.Handle})
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		raw, err := b.rest(ctx, hc, http.MethodPost, "/v1/login/device/token", body, false)
		if err != nil {
			continue // pending
		}
		var tok struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(raw, &tok) == nil && tok.Token != "" {
			return tok.Token, nil
		}
	}
	return "", fmt.Errorf("the device login did not complete within a minute")
}

func (b *bench) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.ca)
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func (b *bench) rest(ctx context.Context, hc *http.Client, method, path string, body []byte, asAdmin bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "https://"+b.addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if asAdmin {
		req.SetBasicAuth("admin", adminPassword)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return raw, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	return raw, nil
}

// dial opens a raw WebSocket to the broker.
func (b *bench) dial(path string) (*websocket.Conn, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.ca)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"}, HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial("wss://"+b.addr+path, nil)
	if resp != nil {
		resp.Body.Close()
	}
	return ws, err
}

// heapWatch samples the broker's heap in use every 100 ms until stopped,
// keeping the highest.
type heapWatch struct {
	peak, goroutines atomic.Uint64
	stop             chan struct{}
	done             chan struct{}
}

func (b *bench) watchHeap() *heapWatch {
	w := &heapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			if m, err := benchenv.Scrape(b.metrics); err == nil {
				if v := uint64(m["go_memstats_heap_inuse_bytes"]); v > w.peak.Load() {
					w.peak.Store(v)
				}
				if v := uint64(m["go_goroutines"]); v > w.goroutines.Load() {
					w.goroutines.Store(v)
				}
			}
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *heapWatch) end() float64 {
	close(w.stop)
	<-w.done
	return float64(w.peak.Load())
}

// pingFor pings on c, n times, or for d when d > 0.
func pingFor(c api.Connection, n int, d time.Duration) []time.Duration {
	var out []time.Duration
	deadline := time.Now().Add(d)
	for i := 0; (d > 0 && time.Now().Before(deadline)) || (d == 0 && i < n); i++ {
		t0 := time.Now()
		if err := c.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
			out = append(out, time.Hour) // counted as failed: the worst latency
			continue
		}
		out = append(out, time.Since(t0))
	}
	slices.Sort(out)
	return out
}

func ratios(name string, during, idle []time.Duration, results map[string]float64) {
	r50 := float64(benchenv.Pct(during, 50)) / float64(benchenv.Pct(idle, 50))
	r99 := float64(benchenv.Pct(during, 99)) / float64(benchenv.Pct(idle, 99))
	fmt.Printf("  another client's pings meanwhile: %d, p50 %.0fµs (%.2fx idle) p99 %.0fµs (%.2fx idle)\n",
		len(during), benchenv.US(benchenv.Pct(during, 50)), r50, benchenv.US(benchenv.Pct(during, 99)), r99)
	results[name+"_ping_ratio_p50"], results[name+"_ping_ratio_p99"] = r50, r99
}

// unreadCalls: the read-only user writes FullStatus requests on a model
// connection and reads nothing.
func (b *bench) unreadCalls(n int, probe api.Connection, idle []time.Duration, results map[string]float64) error {
	before, err := benchenv.Measure(b.broker.Cmd.Process.Pid, b.metrics)
	if err != nil {
		return err
	}
	ws, err := b.dial("/model/" + b.model + "/api")
	if err != nil {
		return fmt.Errorf("read-only user's model connection: %w", err)
	}
	defer ws.Close()
	login := map[string]any{"request-id": 1, "type": "Admin", "version": 4, "request": "LoginWithSessionToken", "params": map[string]string{"session-token": b.bobToken}}
	if err := ws.WriteJSON(login); err != nil {
		return err
	}
	var resp map[string]any
	if err := ws.ReadJSON(&resp); err != nil || resp["error"] != nil {
		return fmt.Errorf("read-only user's model login: %v %v", err, resp["error"])
	}
	watch := b.watchHeap()
	var written atomic.Int64
	writeDone := make(chan error, 1)
	go func() {
		for i := range n {
			ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			req := map[string]any{"request-id": i + 2, "type": "Client", "version": 7, "request": "FullStatus", "params": map[string]any{}}
			if err := ws.WriteJSON(req); err != nil {
				writeDone <- err
				return
			}
			written.Add(1)
		}
		writeDone <- nil
	}()
	during := pingFor(probe, 0, 20*time.Second)
	var werr error
	select {
	case werr = <-writeDone:
	default:
		werr = fmt.Errorf("still blocked: the broker stopped reading (backpressure)")
	}
	peak := watch.end()
	growth := (peak - before.HeapInuse) / (1 << 20)
	fmt.Printf("unread calls: the read-only user wrote %d of %d FullStatus requests in 20 s (%v); broker heap in use %.1f MB -> peak %.1f MB: growth %.1f MB (target < 64 MB); at most %d goroutines\n",
		written.Load(), n, werr, before.HeapInuse/(1<<20), peak/(1<<20), growth, watch.goroutines.Load())
	ratios("unread_calls", during, idle, results)
	results["unread_calls_heap_growth_mb"] = growth
	return nil
}

// bigLogin: one unauthenticated POST /v1/login with a body of mb MB.
func (b *bench) bigLogin(mb int, probe api.Connection, idle []time.Duration, results map[string]float64) error {
	before, err := benchenv.Measure(b.broker.Cmd.Process.Pid, b.metrics)
	if err != nil {
		return err
	}
	watch := b.watchHeap()
	pings := make(chan []time.Duration, 1)
	stop := make(chan struct{})
	go func() {
		var out []time.Duration
		for {
			select {
			case <-stop:
				slices.Sort(out)
				pings <- out
				return
			default:
			}
			out = append(out, pingFor(probe, 50, 0)...)
		}
	}()
	body := io.MultiReader(bytes.NewReader([]byte(`{"user":"admin","password":"`)), io.LimitReader(zeros{}, int64(mb)<<20), bytes.NewReader([]byte(`"}`)))
	req, err := http.NewRequest(http.MethodPost, "https://"+b.addr+"/v1/login", body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := b.httpClient().Do(req)
	took := time.Since(t0)
	status := "no answer: " + fmt.Sprint(err)
	if err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		status = resp.Status
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	during := <-pings
	peak := watch.end()
	growth := (peak - before.HeapInuse) / (1 << 20)
	fmt.Printf("unauthenticated %d MB POST /v1/login: %s after %s; broker heap in use %.1f MB -> peak %.1f MB: growth %.1f MB (target < 8 MB)\n",
		mb, status, took.Round(time.Millisecond), before.HeapInuse/(1<<20), peak/(1<<20), growth)
	ratios("big_login", during, idle, results)
	results["big_login_heap_growth_mb"] = growth
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// descriptorLimit opens unauthenticated WebSocket connections until the
// broker refuses one, then checks that the logged-in admin's calls, a new
// login and /metrics still answer.
func (b *bench) descriptorLimit(nofile int, admin api.Connection, results map[string]float64) error {
	var (
		held    []*websocket.Conn
		refused error
		took    time.Duration
	)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for len(held) < 2*nofile {
		t0 := time.Now()
		ws, err := b.dial("/api")
		if err != nil {
			refused, took = err, time.Since(t0)
			break
		}
		held = append(held, ws)
	}
	if refused == nil {
		return fmt.Errorf("the broker took %d unauthenticated connections with an open-file limit of %d and refused none", len(held), nofile)
	}
	fmt.Printf("descriptor limit %d: held %d unauthenticated connections, then refused in %s: %v\n", nofile, len(held), took.Round(time.Millisecond), refused)
	check := func(what string, f func() error) {
		t0 := time.Now()
		err := f()
		state := "answers"
		if err != nil {
			state = "FAILS: " + err.Error()
		}
		fmt.Printf("  at the limit, %s %s (%s)\n", what, state, time.Since(t0).Round(time.Millisecond))
		results["at_limit_"+what+"_ok"] = map[bool]float64{true: 1, false: 0}[err == nil]
	}
	check("ping", func() error { return admin.APICall("Pinger", 1, "", "Ping", nil, nil) })
	// A new WebSocket is what the limit refuses (the broker cannot tell who
	// opens one before it is upgraded); an administrator logs in over
	// plain HTTPS (jimmctl login), which goes on.
	check("rest_login", func() error {
		body, _ := json.Marshal(map[string]string{"user": "admin", "password": adminPassword})
		_, err := b.rest(context.Background(), b.httpClient(), http.MethodPost, "/v1/login", body, false)
		return err
	})
	check("metrics", func() error { _, err := benchenv.Scrape(b.metrics); return err })
	results["at_limit_conns_held"] = float64(len(held))
	results["at_limit_refuse_ms"] = float64(took.Microseconds()) / 1000
	return nil
}
