package integration

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/names/v5"
)

// readyReport is what /readyz answers.
type readyReport struct {
	Ready  bool `json:"ready"`
	Checks []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
	At time.Time `json:"at"`
}

// probe GETs a probe endpoint with client and returns its status and body.
func probe(t testing.TB, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read the body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// readiness GETs a /readyz and decodes its report.
func readiness(t testing.TB, client *http.Client, url string) (int, readyReport) {
	t.Helper()
	status, body := probe(t, client, url)
	var r readyReport
	decodeStrictJSON(t, body, &r)
	if (status == http.StatusOK) != r.Ready {
		t.Errorf("GET %s: status %d with ready=%v: %s", url, status, r.Ready, body)
	}
	return status, r
}

// check returns the named check of a report, failing the test when the
// report has none of that name.
func (r readyReport) check(t testing.TB, name string) (ok bool, msg string) {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c.OK, c.Error
		}
	}
	t.Fatalf("readiness report has no check %q: %+v", name, r)
	return false, ""
}

// apiClient is an HTTPS client that trusts the broker's CA.
func (e *brokerEnv) apiClient(t testing.TB) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(e.caPEM)) {
		t.Fatalf("the broker's CA file holds no certificate")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
	}}
}

// TestProbesAndDrain checks /healthz and /readyz on both listeners, then
// SIGTERM with connections open: the replica goes not ready at once while
// its metrics listener still answers, accepts no new connection, hands an
// idle model connection back with status 1012 (service restart), answers
// a call in flight on /api before closing that connection the same way,
// and exits 0 within its grace.
func TestProbesAndDrain(t *testing.T) {
	bins := buildBrokerBins(t)
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	e.startBroker(newTestDatabase(t), []string{"--shutdown-grace", "20s"})
	// Creating a model takes 3 s: a call in flight during the drain.
	e.addControllers(t, threeControllers, "--model-create-delay", "3s")
	metrics := &http.Client{Timeout: 10 * time.Second}
	api := e.apiClient(t)
	metricsURL, apiURL := "http://"+e.metricsAddr(), "https://"+e.broker().Addr

	for _, base := range []string{metricsURL, apiURL} {
		client := metrics
		if base == apiURL {
			client = api
		}
		if status, body := probe(t, client, base+"/healthz"); status != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s/healthz: %d %q, want 200 \"ok\\n\"", base, status, body)
		}
		status, r := readiness(t, client, base+"/readyz")
		if status != http.StatusOK {
			t.Errorf("GET %s/readyz: %d, want 200: %+v", base, status, r)
		}
		for _, name := range []string{"listeners", "database", "schema", "keys"} {
			if ok, msg := r.check(t, name); !ok {
				t.Errorf("GET %s/readyz: check %s failed: %s", base, name, msg)
			}
		}
	}
	if v := bmMetric(t, e.metricsAddr(), "jimm_ready"); v != 1 {
		t.Errorf("jimm_ready = %v, want 1", v)
	}
	// jimm_build_info names the version jimmd --version prints, whatever
	// the build stamped (devel, a module version, or -ldflags).
	out, err := exec.Command(bins.jimmd, "--version").Output()
	version, _, _ := strings.Cut(strings.TrimPrefix(string(out), "jimmd "), " ")
	if err != nil || version == "" {
		t.Fatalf("jimmd --version: %q, %v", out, err)
	}
	if v := bmMetric(t, e.metricsAddr(), `jimm_build_info{version="`+version+`"}`); v != 1 {
		t.Errorf("jimm_build_info{version=%q} = %v, want 1", version, v)
	}

	// A model, an idle connection to it, and a call in flight on /api.
	info, err := modelmanager.NewClient(e.open(t, "")).CreateModel("drained", "admin", "localhost", "east", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("create model: %v", err)
	}
	idle := e.dialRaw(t, "/model/"+info.UUID+"/api")
	if resp := idle.login(brokerAdminPassword); resp.Error != "" {
		t.Fatalf("log in to the model: %s", resp.Error)
	}
	busy := e.dialRaw(t, "/api")
	if resp := busy.login(brokerAdminPassword); resp.Error != "" {
		t.Fatalf("log in to /api: %s", resp.Error)
	}
	busy.nextID++
	if err := busy.ws.WriteJSON(map[string]any{"request-id": busy.nextID, "type": "ModelManager", "version": 9, "request": "CreateModel",
		"params": map[string]any{"name": "in-flight", "owner-tag": "user-admin", "cloud-tag": "cloud-localhost", "region": "east"}}); err != nil {
		t.Fatalf("send CreateModel: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the call reaches its controller

	p := e.broker()
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	sent := time.Now()
	if err := syscall.Kill(p.Pid(), syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM jimmd: %v", err)
	}

	// The idle connection is handed back at once.
	if ce := idle.awaitClose(5 * time.Second); ce == nil || ce.Code != websocket.CloseServiceRestart || !strings.Contains(ce.Text, "reconnect") {
		t.Errorf("idle model connection closed with %+v, want status 1012 and a reason that says to reconnect", ce)
	} else if took := time.Since(sent); took > 3*time.Second {
		t.Errorf("idle model connection closed %s after SIGTERM, want at once", took)
	}
	// Not ready while draining, and the metrics listener still answers.
	status, r := readiness(t, metrics, metricsURL+"/readyz")
	if status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz while draining: %d, want 503", status)
	}
	if ok, msg := r.check(t, "listeners"); ok || !strings.Contains(msg, "draining") {
		t.Errorf("readiness while draining: listeners ok=%v %q, want failed, draining", ok, msg)
	}
	// No new connection.
	if c, err := net.DialTimeout("tcp", p.Addr, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("the API listener still accepts connections while draining")
	}
	// The call in flight is answered, then its connection handed back.
	busy.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	var resp rawResponse
	if err := busy.ws.ReadJSON(&resp); err != nil {
		t.Fatalf("the CreateModel in flight at SIGTERM got no answer: %v", err)
	}
	if resp.RequestID != busy.nextID || resp.Error != "" {
		t.Errorf("CreateModel in flight at SIGTERM: request %d error %q, want request %d answered", resp.RequestID, resp.Error, busy.nextID)
	}
	if ce := busy.awaitClose(5 * time.Second); ce == nil || ce.Code != websocket.CloseServiceRestart {
		t.Errorf("/api connection closed with %+v after its call, want status 1012", ce)
	}
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("jimmd did not exit within 20 s of SIGTERM")
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("jimmd exited with %v after draining, want 0", err)
	}
	if out := p.Output(); !strings.Contains(out, "drained every connection") {
		t.Errorf("jimmd's log does not say it drained every connection:\n%s", out)
	}
	// The model the call created exists: a drain loses no work.
	var created struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal(resp.Response, &created); err != nil || created.UUID == "" {
		t.Errorf("CreateModel's answer names no model (%v): %s", err, resp.Response)
	}
}

// TestReadinessFollowsDatabase stops the broker's PostgreSQL: /readyz
// says not ready (503), naming the database, while /healthz stays 200
// (restarting the broker would not bring the database back); once
// PostgreSQL is back, the replica is ready again.
func TestReadinessFollowsDatabase(t *testing.T) {
	bins := buildBrokerBins(t)
	e, pg := newBrokerEnvOnCluster(t, bins)
	metrics := &http.Client{Timeout: 10 * time.Second}
	api := e.apiClient(t)
	metricsURL, apiURL := "http://"+e.metricsAddr(), "https://"+e.broker().Addr
	if status, r := readiness(t, metrics, metricsURL+"/readyz"); status != http.StatusOK {
		t.Fatalf("GET /readyz before the outage: %d %+v", status, r)
	}

	stopPostgres(t, pg)
	var r readyReport
	deadline := time.Now().Add(15 * time.Second)
	for {
		var status int
		status, r = readiness(t, metrics, metricsURL+"/readyz")
		if status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz still %d 15 s after PostgreSQL stopped: %+v", status, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ok, msg := r.check(t, "database"); ok || !strings.Contains(msg, "database") {
		t.Errorf("database check with PostgreSQL down: ok=%v %q, want failed, naming the database", ok, msg)
	}
	if ok, _ := r.check(t, "listeners"); !ok {
		t.Errorf("listeners check failed while only the database is down")
	}
	// The API listener says which checks failed, not why: anyone may ask.
	status, brief := readiness(t, api, apiURL+"/readyz")
	if status != http.StatusServiceUnavailable {
		t.Errorf("API listener's /readyz with PostgreSQL down: %d, want 503", status)
	}
	for _, c := range brief.Checks {
		if c.Error != "" {
			t.Errorf("API listener's /readyz gives a reason for check %s: %q", c.Name, c.Error)
		}
	}
	if ok, _ := brief.check(t, "database"); ok {
		t.Errorf("API listener's /readyz: database ok with PostgreSQL down")
	}
	if v := bmMetric(t, e.metricsAddr(), "jimm_ready"); v != 0 {
		t.Errorf("jimm_ready = %v with PostgreSQL down, want 0", v)
	}
	for _, url := range []string{metricsURL + "/healthz", apiURL + "/healthz"} {
		client := metrics
		if strings.HasPrefix(url, "https") {
			client = api
		}
		if status, _ := probe(t, client, url); status != http.StatusOK {
			t.Errorf("GET %s with PostgreSQL down: %d, want 200 (alive)", url, status)
		}
	}

	startPostgres(t, pg)
	deadline = time.Now().Add(30 * time.Second)
	for {
		status, r := readiness(t, metrics, metricsURL+"/readyz")
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz still %d 30 s after PostgreSQL came back: %+v", status, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
