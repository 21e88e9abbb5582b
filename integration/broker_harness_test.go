package integration

// The broker's end-to-end harness: a PostgreSQL database of its own per
// test, a jimmd process, development controllers that trust the broker's
// JWKS, jimmctl, and the Juju client connected to the broker only.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/juju/juju/api"
	"github.com/juju/names/v5"
	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
	"github.com/jimmbroker/jimm/integration/internal/pgserver"
)

// brokerAdminPassword is the password of every test broker's bootstrap
// admin.
const brokerAdminPassword = "broker-admin-secret"

// brokerBins are the binaries the broker tests run.
type brokerBins struct {
	jimmd, jimmctl string
}

// buildBrokerBins builds jimmd (with -race when the tests run with it) and
// jimmctl into the test's temporary directory, or takes them from
// JIMM_JIMMD_BIN and JIMM_JIMMCTL_BIN.
func buildBrokerBins(t *testing.T) *brokerBins {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var flags []string
	if raceEnabled {
		flags = append(flags, "-race")
	}
	var (
		bins       brokerBins
		wg         sync.WaitGroup
		errd, errc error
	)
	wg.Add(2)
	go func() { defer wg.Done(); bins.jimmd, errd = jimmproc.BuildJimmd(ctx, dir, flags...) }()
	go func() { defer wg.Done(); bins.jimmctl, errc = jimmproc.BuildJimmctl(ctx, dir) }()
	wg.Wait()
	if err := errors.Join(errd, errc); err != nil {
		t.Fatal(err)
	}
	return &bins
}

// The PostgreSQL server the broker tests share, found (or started) once by
// the first test that needs it and released when the tests end.
var (
	pgOnce   sync.Once
	pgServer *pgserver.Server
	pgErr    error
)

// serverDSN returns the DSN of the PostgreSQL server the broker tests share:
// JIMM_TEST_DSN, else the machine's server, a throwaway cluster or a
// container (pgserver.Find), or skips the test saying how to provide one.
func serverDSN(t *testing.T) string {
	t.Helper()
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		pgServer, pgErr = pgserver.Find(ctx, os.TempDir())
		if pgErr == nil {
			t.Logf("PostgreSQL for the broker tests: %s", pgServer.Source)
		}
	})
	if pgErr != nil {
		t.Skip(pgErr.Error())
	}
	return pgServer.DSN
}

// releasePostgres stops what serverDSN started, if anything (TestMain calls
// it when the tests end).
func releasePostgres() {
	if pgServer != nil {
		pgServer.Release()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// dsnWithDatabase returns dsn pointing at database db instead.
func dsnWithDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("the PostgreSQL server's DSN: %w", err)
		}
		u.Path = "/" + db
		return u.String(), nil
	}
	// key=value form: a later dbname wins.
	return dsn + " dbname=" + db, nil
}

// newTestDatabase creates a database of the test's own on the server of
// serverDSN and returns its DSN; it is dropped (WITH (FORCE)) when the
// test ends.
func newTestDatabase(t *testing.T) string {
	t.Helper()
	server := serverDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("open the PostgreSQL server (%s): %v", pgServer.Source, err)
	}
	name := "jimm_it_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database %s on the PostgreSQL server (%s): %v", name, pgServer.Source, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	dsn, err := dsnWithDatabase(server, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// ctlSpec is a development controller of a test environment.
type ctlSpec struct{ name, region string }

// threeControllers are the controllers of every broker test: two in
// localhost/east, one in localhost/west.
var threeControllers = []ctlSpec{{"ctl-1", "east"}, {"ctl-2", "east"}, {"ctl-3", "west"}}

// brokerEnv is a broker with its own database and controllers, owned by
// one test.
type brokerEnv struct {
	t    *testing.T
	bins *brokerBins

	mu   sync.Mutex
	proc *jimmproc.Process // the current jimmd
	// stopped is set while the test has stopped jimmd itself.
	stopped bool

	caPEM string // the broker's CA
	ctl   *jimmproc.Ctl
	ctls  map[string]*controller
	specs []ctlSpec
	env   []string // added to jimmd's environment, e.g. JIMM_OIDC_CLIENT_SECRET
}

// newBrokerEnv starts jimmd on a database of its own with the given extra
// flags, then the three controllers trusting its JWKS, registers them with
// jimmctl add-controller and waits until the broker sees them up.
func newBrokerEnv(t *testing.T, bins *brokerBins, jimmdArgs ...string) *brokerEnv {
	t.Helper()
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	e.startBroker(newTestDatabase(t), jimmdArgs)
	e.addControllers(t, threeControllers)
	return e
}

// addControllers starts controllers trusting the broker (with extra
// flags), registers them with jimmctl add-controller and waits until the
// broker sees them up.
func (e *brokerEnv) addControllers(t *testing.T, specs []ctlSpec, extra ...string) {
	t.Helper()
	e.specs = specs
	for _, s := range e.specs {
		e.launchController(s.name, s.region, extra...)
	}
	for _, s := range e.specs {
		out := e.jimmctl(t, "add-controller", e.ctls[s.name].FilePath)
		if !strings.Contains(out, s.name) {
			t.Errorf("add-controller %s printed %q, which does not name it", s.name, out)
		}
	}
	for _, s := range e.specs {
		e.waitStatus(t, s.name, "up", 10*time.Second)
	}
}

// startBroker starts jimmd on a free port (trying another when the port
// was taken meanwhile), with its metrics listener on another
// (e.metricsAddr), and arranges for it to be stopped.
func (e *brokerEnv) startBroker(dsn string, args []string) {
	t := e.t
	t.Helper()
	opts := jimmproc.Options{
		Bin:           e.bins.jimmd,
		DataDir:       filepath.Join(t.TempDir(), "jimmd"),
		DSN:           dsn,
		AdminPassword: brokerAdminPassword,
		SecretsKey:    randomHex(32),
		Args:          args,
		Env:           e.env,
	}
	p := startJimmd(t, "jimmd", opts, true)
	e.proc = p
	if p.Addr != p.Opts.Listen || p.PublicAddr != p.Opts.Listen {
		t.Errorf("jimmd says it listens on %s (public address %s), want %s", p.Addr, p.PublicAddr, p.Opts.Listen)
	}
	ca, err := os.ReadFile(p.CACertFile)
	if err != nil {
		t.Fatalf("the broker's generated CA: %v", err)
	}
	e.caPEM = string(ca)
	e.ctl = &jimmproc.Ctl{
		Bin: e.bins.jimmctl, URL: "https://" + p.Addr, CACert: p.CACertFile,
		User: "admin", Password: brokerAdminPassword, ConfigDir: t.TempDir(),
	}
	t.Cleanup(func() {
		e.mu.Lock()
		p, stopped := e.proc, e.stopped
		e.mu.Unlock()
		if !stopped {
			if err := p.Stop(15 * time.Second); err != nil {
				t.Errorf("jimmd (pid %d) did not shut down cleanly on SIGTERM: %v", p.Pid(), err)
			}
		}
		e.checkOutput(p)
	})
}

// startJimmd starts jimmd with opts on a free port (and a free metrics
// port when metrics is set), trying another when the port was taken
// meanwhile; what names the process in the failure.
func startJimmd(t testing.TB, what string, opts jimmproc.Options, metrics bool) *jimmproc.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var (
		p   *jimmproc.Process
		err error
	)
	for range 5 {
		opts.Listen = freeAddr(t)
		if metrics {
			opts.MetricsListen = freeAddr(t)
		}
		p, err = jimmproc.Start(ctx, opts)
		if !errors.Is(err, jimmproc.ErrAddrInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	return p
}

// startReplica starts a second jimmd on e's database, with e's flags and
// secrets key, on an address and data directory of its own (the CA is shared: it lives in the database),
// and with a metrics listener of its own when metrics is set (none
// otherwise). It is stopped when the test ends.
func (e *brokerEnv) startReplica(t *testing.T, metrics bool) *jimmproc.Process {
	t.Helper()
	opts := e.broker().Opts
	opts.DataDir = filepath.Join(t.TempDir(), "jimmd-b")
	opts.MetricsListen = "" // not the first broker's
	p := startJimmd(t, "replica B", opts, metrics)
	t.Cleanup(func() {
		if err := p.Stop(15 * time.Second); err != nil {
			t.Errorf("replica B (pid %d) did not shut down cleanly on SIGTERM: %v", p.Pid(), err)
		}
		e.checkOutput(p)
	})
	if p.Addr != p.Opts.Listen {
		t.Errorf("replica B listens on %s, want %s", p.Addr, p.Opts.Listen)
	}
	return p
}

// freeAddr is jimmproc.FreeAddr that must succeed.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := jimmproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// portOf is the port of host:port.
func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkOutput fails the test on a data race in a jimmd process's output,
// and logs the output when the test failed.
func (e *brokerEnv) checkOutput(p *jimmproc.Process) {
	if out := p.Output(); strings.Contains(out, "WARNING: DATA RACE") {
		e.t.Errorf("jimmd (pid %d) reported a data race", p.Pid())
	}
	if e.t.Failed() {
		e.t.Logf("output of jimmd (pid %d):\n%s", p.Pid(), p.Output())
	}
}

// metricsAddr is where the current jimmd serves its metrics (see
// bmMetric).
func (e *brokerEnv) metricsAddr() string {
	return e.broker().Opts.MetricsListen
}

// waitSeesUp waits until the replica whose metrics listener is at
// metricsAddr sees each named controller up (jimm_controller_up): its
// health checks then hold their connections to them, and it can place
// models there.
func waitSeesUp(t testing.TB, metricsAddr string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, name := range names {
		for {
			if v, ok := bmTryMetric(t, metricsAddr, `jimm_controller_up{controller="`+name+`"}`); ok && v == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the replica at %s does not see %s up 15 s after it started", metricsAddr, name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// broker returns the current jimmd process.
func (e *brokerEnv) broker() *jimmproc.Process {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.proc
}

// restartBroker stops jimmd with SIGTERM, checks that it exits cleanly,
// and starts it again with the same arguments, environment and database.
func (e *brokerEnv) restartBroker(t *testing.T) *jimmproc.Process {
	t.Helper()
	return e.replaceBroker(t, func(old *jimmproc.Process) {
		if err := old.Stop(10 * time.Second); err != nil {
			t.Errorf("stop jimmd with SIGTERM while its controllers run: %v", err)
		}
	}, "")
}

// replaceBroker ends jimmd with stop (which must leave it exited) and
// starts it again with the same arguments, environment and database;
// after names how it ended in the failure to start again ("" for none).
func (e *brokerEnv) replaceBroker(t *testing.T, stop func(*jimmproc.Process), after string) *jimmproc.Process {
	t.Helper()
	old := e.broker()
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	stop(old)
	e.checkOutput(old)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := old.Restart(ctx)
	if err != nil {
		t.Fatalf("start jimmd again%s: %v", after, err)
	}
	e.mu.Lock()
	e.proc, e.stopped = p, false
	e.mu.Unlock()
	return p
}

// launchController starts a development controller in localhost/region
// trusting the broker's JWKS URL with the broker's CA, with extra flags.
// It lives as long as the test that made e.
func (e *brokerEnv) launchController(name, region string, extra ...string) *controller {
	t := e.t
	t.Helper()
	p := e.broker()
	c := launch(t, devproc.Options{
		Bin:           devBin,
		Name:          name,
		DataDir:       filepath.Join(t.TempDir(), name),
		AdminPassword: adminPassword,
		Args: append([]string{
			"--cloud", "localhost", "--region", region,
			"--trust-jwks-url", "https://" + p.Addr + "/.well-known/jwks.json",
			"--trust-jwks-ca", p.CACertFile,
		}, extra...),
	})
	e.ctls[name] = c
	return c
}

// stopController stops a controller with SIGTERM.
func (e *brokerEnv) stopController(t *testing.T, name string) {
	t.Helper()
	c := e.ctls[name]
	c.stopped.Store(true)
	if err := c.Stop(10 * time.Second); err != nil {
		t.Errorf("stop controller %s with SIGTERM: %v", name, err)
	}
}

// startControllerAgain starts a stopped controller on its data directory
// and its former address.
func (e *brokerEnv) startControllerAgain(t *testing.T, name string) {
	t.Helper()
	c := e.ctls[name]
	opts := c.Opts
	opts.Args = append(slices.Clone(opts.Args), "--listen", c.Addr)
	nc := launch(e.t, opts)
	if nc.Addr != c.Addr || nc.UUID != c.UUID {
		t.Fatalf("controller %s came back as %s on %s, want %s on %s", name, nc.UUID, nc.Addr, c.UUID, c.Addr)
	}
	e.ctls[name] = nc
}

// run runs jimmctl.
func (e *brokerEnv) run(t testing.TB, args ...string) jimmproc.Result {
	t.Helper()
	return runCtl(t, e.ctl, args...)
}

// jimmctl runs jimmctl, which must succeed, and returns its stdout.
func (e *brokerEnv) jimmctl(t testing.TB, args ...string) string {
	t.Helper()
	return ctlOutput(t, e.ctl, args...)
}

// runCtl runs jimmctl with ctl.
func runCtl(t testing.TB, ctl *jimmproc.Ctl, args ...string) jimmproc.Result {
	t.Helper()
	res, err := ctl.Run(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// ctlOutput runs jimmctl with ctl, which must succeed, and returns its
// stdout.
func ctlOutput(t testing.TB, ctl *jimmproc.Ctl, args ...string) string {
	t.Helper()
	res := runCtl(t, ctl, args...)
	if res.ExitCode != 0 {
		t.Fatalf("%s", res)
	}
	return res.Stdout
}

// wantCtlRefusal fails the test unless jimmctl failed (exit status 1,
// nothing on stdout) saying msg on stderr.
func wantCtlRefusal(t testing.TB, what string, res jimmproc.Result, msg string) {
	t.Helper()
	if res.ExitCode != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, "ERROR "+msg) {
		t.Errorf("%s: want jimmctl to exit 1 saying %q; got %s", what, "ERROR "+msg, res)
	}
}

// restDo calls the broker's admin API with a bearer token (none when
// token is ""): method on path (with any query), with body as JSON unless
// it is nil. It returns the HTTP status and the response body.
func (e *brokerEnv) restDo(t testing.TB, token, method, path string, body any) (int, string) {
	t.Helper()
	hc, err := oidcproc.HTTPClient([]byte(e.caPEM))
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("marshal the body of %s %s: %v", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "https://"+e.broker().Addr+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the response: %v", method, path, err)
	}
	return resp.StatusCode, string(out)
}

// wantRESTRefusal fails the test unless an admin API answer (its HTTP
// status and body) is the error msg with code, under HTTP status want.
func wantRESTRefusal(t testing.TB, what string, status int, body string, want int, code, msg string) {
	t.Helper()
	var got restError
	err := json.Unmarshal([]byte(body), &got)
	if status != want || err != nil || got.Code != code || got.Message != msg {
		t.Errorf("%s: HTTP %d %s; want HTTP %d, code %q, error %q", what, status, body, want, code, msg)
	}
}

// listControllers is jimmctl list-controllers --format json, decoded.
func (e *brokerEnv) listControllers(t testing.TB) []restController {
	t.Helper()
	var cs []restController
	decodeStrictJSON(t, e.jimmctl(t, "list-controllers", "--format", "json"), &cs)
	return cs
}

// listModels is jimmctl list-models --format json, decoded.
func (e *brokerEnv) listModels(t testing.TB) []restModel {
	t.Helper()
	var ms []restModel
	decodeStrictJSON(t, e.jimmctl(t, "list-models", "--format", "json"), &ms)
	return ms
}

// modelsByController maps each model UUID jimmctl list-models lists to its
// controller.
func (e *brokerEnv) modelsByController(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range e.listModels(t) {
		out[m.UUID] = m.Controller
	}
	return out
}

// waitStatus polls jimmctl list-controllers until the controller has the
// status, failing after within; it returns how long that took.
func (e *brokerEnv) waitStatus(t testing.TB, name, status string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last restController
	for {
		for _, c := range e.listControllers(t) {
			if c.Name == name {
				last = c
			}
		}
		if last.Status == status {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("controller %s not %s within %s: last seen %+v", name, status, within, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// apiInfo is how the Juju client reaches the broker: its address and CA
// only, as admin.
func (e *brokerEnv) apiInfo(modelUUID string) *api.Info {
	info := &api.Info{
		Addrs: []string{e.broker().Addr}, CACert: e.caPEM,
		Tag: names.NewUserTag("admin"), Password: brokerAdminPassword,
	}
	if modelUUID != "" {
		info.ModelTag = names.NewModelTag(modelUUID)
	}
	return info
}

// tryOpen logs in to the broker's /api (modelUUID "") or a model's
// endpoint with the Juju client.
func (e *brokerEnv) tryOpen(modelUUID string) (api.Connection, error) {
	return api.Open(e.apiInfo(modelUUID), dialOpts)
}

// open is tryOpen that must succeed; the connection is closed when the test
// ends.
func (e *brokerEnv) open(t testing.TB, modelUUID string) api.Connection {
	t.Helper()
	conn, err := e.tryOpen(modelUUID)
	if err != nil {
		t.Fatalf("login to the broker (model %q): %v", modelUUID, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dialRaw opens a bare WebSocket to the broker (see rawConn).
func (e *brokerEnv) dialRaw(t testing.TB, path string) *rawConn {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(e.caPEM)) {
		t.Fatalf("the broker's CA file holds no certificate")
	}
	d := websocket.Dialer{
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
	ws.SetCloseHandler(func(int, string) error { return nil })
	return &rawConn{t: t, ws: ws}
}

// secrets are the strings that would reveal a controller to a client: its
// UUID and its API addresses.
func (e *brokerEnv) secrets() map[string]string {
	out := map[string]string{}
	for name, c := range e.ctls {
		out[c.File.UUID] = name + "'s UUID"
		for _, a := range c.File.APIAddresses {
			out[a] = name + "'s address"
		}
	}
	return out
}

// checkNoLeak fails the test if what (marshalled to JSON unless it is
// already bytes) names a controller's UUID or address.
func (e *brokerEnv) checkNoLeak(t testing.TB, what string, v any) {
	t.Helper()
	var raw []byte
	switch v := v.(type) {
	case []byte:
		raw = v
	case json.RawMessage:
		raw = v
	case string:
		raw = []byte(v)
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			t.Fatalf("marshal %s: %v", what, err)
		}
	}
	for s, whose := range e.secrets() {
		if i := strings.Index(string(raw), s); i >= 0 {
			lo, hi := max(0, i-80), min(len(raw), i+len(s)+80)
			t.Errorf("%s names %s (%s): ...%s...", what, whose, s, raw[lo:hi])
		}
	}
}

// restController mirrors restapi.Controller
// (github.com/jimmbroker/jimm/broker/restapi). The integration module
// cannot import the jimm module: its dependency versions break the Juju
// client's build. TestBrokerRESTTypes keeps the mirror in step with the
// source.
type restController struct {
	Name          string    `json:"name" yaml:"name"`
	UUID          string    `json:"uuid" yaml:"uuid"`
	Status        string    `json:"status" yaml:"status"`
	StatusSince   time.Time `json:"status-since,omitzero" yaml:"status-since,omitempty"`
	StatusMessage string    `json:"status-message,omitempty" yaml:"status-message,omitempty"`
	Deprecated    bool      `json:"deprecated" yaml:"deprecated"`
	AgentVersion  string    `json:"agent-version" yaml:"agent-version"`
	Cloud         string    `json:"cloud" yaml:"cloud"`
	CloudType     string    `json:"cloud-type" yaml:"cloud-type"`
	Regions       []string  `json:"regions" yaml:"regions"`
	Addresses     []string  `json:"api-addresses" yaml:"api-addresses"`
	Priority      int       `json:"priority" yaml:"priority"`
	ModelCount    int       `json:"model-count" yaml:"model-count"`
	Machines      int       `json:"machines" yaml:"machines"`
	Units         int       `json:"units" yaml:"units"`
	Agents        int       `json:"agents" yaml:"agents"`
	AddedAt       time.Time `json:"added-at" yaml:"added-at"`
}

// restError mirrors restapi.Error, the admin API's error body.
type restError struct {
	Message string `json:"error"`
	Code    string `json:"code,omitempty"`
}

// restModel mirrors restapi.Model.
type restModel struct {
	UUID       string    `json:"uuid" yaml:"uuid"`
	Name       string    `json:"name" yaml:"name"`
	Owner      string    `json:"owner" yaml:"owner"`
	Controller string    `json:"controller,omitempty" yaml:"controller,omitempty"`
	Cloud      string    `json:"cloud" yaml:"cloud"`
	Region     string    `json:"region" yaml:"region"`
	Life       string    `json:"life" yaml:"life"`
	CreatedAt  time.Time `json:"created-at" yaml:"created-at"`
	Access     string    `json:"access,omitempty" yaml:"access,omitempty"`
}

// checkMirrors checks that each mirror (a struct value) has exactly the
// fields, field types and tags of the struct it names in
// broker/restapi/<file> of the jimm module.
func checkMirrors(t *testing.T, file string, mirrors map[string]any) {
	t.Helper()
	root, err := devproc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Each mirror is checked against its struct in file, or in another
	// file of the package (a field's type may be declared there).
	dir := filepath.Join(root, "broker", "restapi")
	path := filepath.Join(dir, file)
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	source := map[string][]string{}
	var files []*ast.File
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			files = append(files, f)
		}
	}
	inspect := func(fn func(n ast.Node) bool) {
		for _, f := range files {
			ast.Inspect(f, fn)
		}
	}
	inspect(func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return true
		}
		for _, fld := range st.Fields.List {
			tag := ""
			if fld.Tag != nil {
				tag, _ = strconv.Unquote(fld.Tag.Value)
			}
			for _, n := range fld.Names {
				source[ts.Name.Name] = append(source[ts.Name.Name], fmt.Sprintf("%s %s `%s`", n.Name, typeString(fld.Type), tag))
			}
		}
		return true
	})
	// A mirror's field of another mirrored type reads as the source's type.
	var renames []string
	for name, mirror := range mirrors {
		renames = append(renames, reflect.TypeOf(mirror).String(), name)
	}
	rename := strings.NewReplacer(renames...)
	for name, mirror := range mirrors {
		var got []string
		rt := reflect.TypeOf(mirror)
		for i := range rt.NumField() {
			fld := rt.Field(i)
			got = append(got, fmt.Sprintf("%s %s `%s`", fld.Name, rename.Replace(fld.Type.String()), fld.Tag))
		}
		want, ok := source[name]
		if !ok {
			t.Errorf("%s has no struct %s", path, name)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s, the mirror of restapi.%s, is out of date:\n got  %q\n want %q (from %s)", rt.Name(), name, got, want, path)
		}
	}
}

// typeString renders the field types restapi uses.
func typeString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return typeString(e.X) + "." + e.Sel.Name
	case *ast.ArrayType:
		return "[]" + typeString(e.Elt)
	case *ast.StarExpr:
		return "*" + typeString(e.X)
	case *ast.MapType:
		return "map[" + typeString(e.Key) + "]" + typeString(e.Value)
	}
	return fmt.Sprintf("%T", e)
}

// decodeStrictJSON decodes jimmctl's JSON output, refusing unknown fields.
func decodeStrictJSON(t testing.TB, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode jimmctl JSON output into %T: %v\n%s", v, err, out)
	}
}

// decodeStrictYAML decodes jimmctl's YAML output, refusing unknown fields.
func decodeStrictYAML(t testing.TB, out string, v any) {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode jimmctl YAML output into %T: %v\n%s", v, err, out)
	}
}

// connsTo counts the established TCP connections process pid holds to
// 127.0.0.1:port (from /proc: its socket inodes, matched in the tcp
// tables).
func connsTo(pid, port int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "01" || !inodes[f[9]] { // 01: ESTABLISHED
				continue
			}
			_, remotePort, ok := strings.Cut(f[2], ":")
			if p, err := strconv.ParseUint(remotePort, 16, 16); ok && err == nil && int(p) == port {
				n++
			}
		}
	}
	return n, nil
}

// scenario is one of a test's scenarios, each on a broker of its own.
type scenario struct {
	name string
	run  func(*testing.T, *brokerBins)
}

// runScenarios runs scenarios as parallel subtests, with jimmd and jimmctl
// built once for all of them; without PostgreSQL the test is skipped.
func runScenarios(t *testing.T, scenarios []scenario) {
	t.Helper()
	serverDSN(t)
	bins := buildBrokerBins(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			sc.run(t, bins)
			t.Logf("%s took %s", sc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}
