package integration

// Logins nobody can lock out, and input bounded before it costs anything
// (issue 14): with failed logins queued from one address the right
// password still goes through at once, on the WebSocket and on REST, and a
// throttled REST login is a 429 with Retry-After; a 100 MB body is refused
// with 413 before it is read (the broker's heap barely moves); names and
// fields are bounded and refuse control and bidirectional characters with
// short errors; and the smaller items: 405 with Allow, PUT deprecated {}
// refused, a duplicate group's clean 409, an unknown session token not
// called revoked, add-controller with 20 dead addresses answered quickly.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestAbuseInput runs the scenarios in parallel, each on a broker and
// database of its own.
func TestAbuseInput(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{"ThrottleNeverRefusesCorrectCredentials", testInputThrottle},
		{"HugeBodies", testInputHugeBodies},
		{"NamesAndFields", testInputNames},
		{"SmallerItems", testInputSmaller},
	})
}

// bareBroker starts jimmd with no controllers.
func bareBroker(t *testing.T, bins *brokerBins, args ...string) *brokerEnv {
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	e.startBroker(newTestDatabase(t), args)
	return e
}

// aiLoginFrame is an Admin.Login request as the Juju client sends it.
func aiLoginFrame(id int, password string) map[string]any {
	return map[string]any{"request-id": id, "type": "Admin", "version": 3, "request": "Login", "params": map[string]any{
		"auth-tag": "user-admin", "credentials": password, "client-version": "3.5.4",
	}}
}

// aiREST sends one admin API request with basic auth (user "" for none)
// and returns the status, the Retry-After header and the body.
func aiREST(t *testing.T, e *brokerEnv, user, password, method, path string, body any) (int, string, string) {
	t.Helper()
	hc := aiHTTPClient(t, e)
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	req, _ := http.NewRequest(method, "https://"+e.broker().Addr+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(out)
}

func aiHTTPClient(t *testing.T, e *brokerEnv) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(e.caPEM)) {
		t.Fatal("the broker's CA holds no certificate")
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"}, DisableKeepAlives: true,
	}}
}

func testInputThrottle(t *testing.T, bins *brokerBins) {
	e := bareBroker(t, bins, "--login-failure-burst", "5", "--login-failure-rate", "1")
	addr := e.broker().Addr
	// 60 wrong logins in flight from this address, on 60 connections.
	var conns []*websocket.Conn
	for i := range 60 {
		ws, status, body, err := dialWS(e.caPEM, addr, "/api")
		if err != nil {
			t.Fatalf("connection %d: %v (HTTP %d %s)", i, err, status, body)
		}
		t.Cleanup(func() { ws.Close() })
		if err := ws.WriteJSON(aiLoginFrame(1, "wrong-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, ws)
	}
	// Collect what they are answered within 3 s: the free ones, then
	// throttled ones; the rest are queued.
	var mu sync.Mutex
	answers := map[string]int{}
	var wg sync.WaitGroup
	for _, ws := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws.SetReadDeadline(time.Now().Add(3 * time.Second))
			var resp rawResponse
			if err := ws.ReadJSON(&resp); err != nil {
				mu.Lock()
				answers["(none within 3 s: queued)"]++
				mu.Unlock()
				return
			}
			msg := resp.Error
			if i := strings.Index(msg, "try again in "); i > 0 {
				msg = msg[:i] + "try again in N s"
			}
			mu.Lock()
			answers[msg+" ("+resp.ErrorCode+")"]++
			mu.Unlock()
		}()
	}
	time.Sleep(500 * time.Millisecond) // every failure is checked and queued by now
	// The right password, on the WebSocket, from the same address: at once.
	ws, _, _, err := dialWS(e.caPEM, addr, "/api")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	start := time.Now()
	ws.WriteJSON(aiLoginFrame(1, brokerAdminPassword))
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var resp rawResponse
	if err := ws.ReadJSON(&resp); err != nil || resp.Error != "" {
		t.Fatalf("the right password on the WebSocket with 60 failures queued: %v %s (%s)", err, resp.Error, resp.ErrorCode)
	}
	wsLatency := time.Since(start)
	// And on REST.
	start = time.Now()
	status, _, body := aiREST(t, e, "", "", http.MethodPost, "/v1/login", map[string]string{"user": "admin", "password": brokerAdminPassword})
	restLatency := time.Since(start)
	if status != http.StatusOK || !strings.Contains(body, `"token"`) {
		t.Fatalf("the right password on REST with 60 failures queued: HTTP %d %s", status, body)
	}
	t.Logf("FIGURE correct-password login latency with 60 wrong logins in flight from the same address: WebSocket %s, REST %s",
		wsLatency.Round(time.Millisecond), restLatency.Round(time.Millisecond))
	if wsLatency > time.Second || restLatency > time.Second {
		t.Errorf("the right password waited (WebSocket %s, REST %s); want it through at once", wsLatency, restLatency)
	}
	// Basic auth with the right password, too.
	if status, _, body := aiREST(t, e, "admin", brokerAdminPassword, http.MethodGet, "/v1/whoami", nil); status != http.StatusOK {
		t.Errorf("basic auth with the right password: HTTP %d %s", status, body)
	}
	// A wrong password on REST now: 429 with Retry-After, never "wrong
	// password".
	start = time.Now()
	status, retry, body := aiREST(t, e, "", "", http.MethodPost, "/v1/login", map[string]string{"user": "admin", "password": "still-wrong"})
	var rerr restError
	json.Unmarshal([]byte(body), &rerr)
	secs, _ := strconv.Atoi(retry)
	if status != http.StatusTooManyRequests || secs < 1 || rerr.Code != "too many requests" ||
		!strings.HasPrefix(rerr.Message, "too many failed logins for user admin from 127.0.0.1; try again in "+retry+" s") {
		t.Errorf("a wrong password with the queue full: HTTP %d Retry-After %q %s; want 429 with Retry-After", status, retry, body)
	}
	t.Logf("FIGURE throttled REST login answered in %s: HTTP %d, Retry-After %s", time.Since(start).Round(time.Millisecond), status, retry)
	// Basic auth: the same.
	if status, retry, body := aiREST(t, e, "admin", "still-wrong", http.MethodGet, "/v1/whoami", nil); status != http.StatusTooManyRequests || retry == "" {
		t.Errorf("wrong basic auth with the queue full: HTTP %d Retry-After %q %s; want 429", status, retry, body)
	}
	wg.Wait()
	t.Logf("FIGURE answers to the 60 wrong WebSocket logins within 3 s: %v", answers)
	throttled := 0
	for msg, n := range answers {
		if strings.HasPrefix(msg, "too many failed logins for user admin from 127.0.0.1; try again in N s (unauthorized access)") {
			throttled += n
		}
	}
	if throttled == 0 || answers["invalid entity name or password (unauthorized access)"] == 0 {
		t.Errorf("the 60 wrong WebSocket logins: %v; want some answered as wrong at once and some throttled, saying when to retry", answers)
	}
}

// aiPost streams a request with a body of size bytes (chunked when
// chunked is set, else with its Content-Length) on a raw TLS connection,
// and returns the response's status and body, and how many bytes the
// broker took before it answered.
func aiPost(t *testing.T, e *brokerEnv, path, auth string, size int64, prefix string, chunked bool) (int, string, int64) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(e.caPEM))
	conn, err := tls.Dial("tcp", e.broker().Addr, &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hdr := "POST " + path + " HTTP/1.1\r\nHost: juju-apiserver\r\nContent-Type: application/json\r\n"
	if auth != "" {
		hdr += "Authorization: " + auth + "\r\n"
	}
	if chunked {
		hdr += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		hdr += "Content-Length: " + strconv.FormatInt(size, 10) + "\r\n\r\n"
	}
	var sent int64
	go func() {
		if _, err := conn.Write([]byte(hdr)); err != nil {
			return
		}
		chunk := []byte(strings.Repeat("a", 64<<10))
		first := []byte(prefix + string(chunk[len(prefix):]))
		for sent < size {
			data := chunk
			if sent == 0 {
				data = first
			}
			data = data[:min(int64(len(data)), size-sent)]
			var err error
			if chunked {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(data), data)
			} else {
				_, err = conn.Write(data)
			}
			if err != nil {
				return
			}
			sent += int64(len(data))
		}
		if chunked {
			conn.Write([]byte("0\r\n\r\n"))
		}
	}()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s with %d bytes: %v", path, size, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), sent
}

func testInputHugeBodies(t *testing.T, bins *brokerBins) {
	e := bareBroker(t, bins)
	metrics := e.metricsAddr()
	heap := func() float64 { return bmMetric(t, metrics, "go_memstats_heap_inuse_bytes") }
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+brokerAdminPassword))
	const size = 100 << 20
	for _, tc := range []struct {
		what, path, auth, prefix string
		chunked                  bool
	}{
		{"unauthenticated POST /v1/login, Content-Length", "/v1/login", "", `{"user":"admin","password":"`, false},
		{"unauthenticated POST /v1/login, chunked", "/v1/login", "", `{"user":"admin","password":"`, true},
		{"admin POST /v1/groups with a 100 MB name, chunked", "/v1/groups", basic, `{"name":"`, true},
		{"admin POST /v1/groups with a 100 MB name, Content-Length", "/v1/groups", basic, `{"name":"`, false},
	} {
		before := heap()
		status, body, sent := aiPost(t, e, tc.path, tc.auth, size, tc.prefix, tc.chunked)
		growth := heap() - before
		t.Logf("FIGURE %s (100 MB): HTTP %d after %d bytes sent, heap growth %.1f MB, error body %d bytes", tc.what, status, sent, growth/(1<<20), len(body))
		if status != http.StatusRequestEntityTooLarge || len(body) > 200 || !strings.Contains(body, "request body too large") {
			t.Errorf("%s: HTTP %d %.300s; want 413 with a short error", tc.what, status, body)
		}
		if growth > 8<<20 {
			t.Errorf("%s: the broker's heap grew %.1f MB; want under 8 MB", tc.what, growth/(1<<20))
		}
	}
	// Under the limit, a 500 KB group name is refused with an error that
	// quotes a few dozen characters of it.
	status, _, body := aiREST(t, e, "admin", brokerAdminPassword, http.MethodPost, "/v1/groups", map[string]string{"name": strings.Repeat("g", 500<<10)})
	if status != http.StatusBadRequest || len(body) > 300 {
		t.Errorf("a 500 KB group name: HTTP %d, %d bytes of body %.300s; want 400 with a short error", status, len(body), body)
	}
	t.Logf("FIGURE a 500 KB group name: HTTP %d, error body %d bytes: %s", status, len(body), body)
}

func testInputNames(t *testing.T, bins *brokerBins) {
	e := bareBroker(t, bins)
	ctlReq := func(mod func(map[string]any)) map[string]any {
		req := map[string]any{"name": "ctl-x", "uuid": "5f0b6c5e-1111-4222-8333-944445555666", "api-addresses": []string{"127.0.0.1:1"},
			"ca-cert": e.caPEM, "admin-user": "admin", "admin-password": "pw"}
		mod(req)
		return req
	}
	for _, tc := range []struct {
		what string
		mod  func(map[string]any)
	}{
		{"a NUL byte in the controller name", func(r map[string]any) { r["name"] = "bad\x00name" }},
		{"U+202E in the controller name", func(r map[string]any) { r["name"] = "ctl\u202eexe.gpj" }},
		{"U+2066 in the controller name", func(r map[string]any) { r["name"] = "ctl\u2066x" }},
		{"a 100,000-character controller name", func(r map[string]any) { r["name"] = strings.Repeat("c", 100000) }},
		{"a priority outside 32 bits", func(r map[string]any) { r["priority"] = int64(1) << 40 }},
		{"a NUL byte in the admin user", func(r map[string]any) { r["admin-user"] = "ad\x00min" }},
		{"U+202E in the TLS server name", func(r map[string]any) { r["tls-server-name"] = "juju\u202e" }},
		{"a NUL byte in an address", func(r map[string]any) { r["api-addresses"] = []string{"127.0.0.1:1\x00"} }},
		{"a UUID that is not one", func(r map[string]any) { r["uuid"] = strings.Repeat("u", 5000) }},
	} {
		status, _, body := aiREST(t, e, "admin", brokerAdminPassword, http.MethodPost, "/v1/controllers", ctlReq(tc.mod))
		var got restError
		json.Unmarshal([]byte(body), &got)
		if status != http.StatusBadRequest || got.Code != "bad request" || len(body) > 400 {
			t.Errorf("add-controller with %s: HTTP %d %.400s; want 400 with a short error", tc.what, status, body)
		}
		if strings.ContainsAny(body, "\u202e\u2066") {
			t.Errorf("add-controller with %s: the error carries the character raw: %s", tc.what, body)
		}
	}
	for _, name := range []string{"ops\u202e", "a\x00b", strings.Repeat("g", 65), "with space"} {
		status, _, body := aiREST(t, e, "admin", brokerAdminPassword, http.MethodPost, "/v1/groups", map[string]string{"name": name})
		if status != http.StatusBadRequest || len(body) > 400 {
			t.Errorf("group %q: HTTP %d %.300s; want 400", name, status, body)
		}
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/controllers/" + strings.Repeat("c", 5000)},
		{http.MethodGet, "/v1/controllers/bad%00name"},
		{http.MethodDelete, "/v1/groups/" + strings.Repeat("g", 5000)},
		{http.MethodGet, "/v1/relations?subject=user:" + strings.Repeat("u", 5000)},
		{http.MethodGet, "/v1/audit?user=" + strings.Repeat("u", 5000)},
	} {
		status, _, body := aiREST(t, e, "admin", brokerAdminPassword, tc.method, tc.path, nil)
		if status != http.StatusBadRequest || len(body) > 400 {
			t.Errorf("%s %.60s…: HTTP %d %.300s; want 400 with a short error", tc.method, tc.path, status, body)
		}
	}
}

func testInputSmaller(t *testing.T, bins *brokerBins) {
	e := bareBroker(t, bins, "--device-login-burst", "2", "--device-login-rate", "0.1")
	e.addControllers(t, []ctlSpec{{"ctl-1", "east"}})
	admin := func(method, path string, body any) (int, string) {
		status, _, out := aiREST(t, e, "admin", brokerAdminPassword, method, path, body)
		return status, out
	}
	// PUT deprecated: {} does not undo a deprecation.
	if status, body := admin(http.MethodPut, "/v1/controllers/ctl-1/deprecated", map[string]bool{"deprecated": true}); status != http.StatusOK {
		t.Fatalf("deprecate ctl-1: HTTP %d %s", status, body)
	}
	status, body := admin(http.MethodPut, "/v1/controllers/ctl-1/deprecated", map[string]any{})
	if status != http.StatusBadRequest || !strings.Contains(body, "deprecated field is missing") {
		t.Errorf("PUT deprecated {}: HTTP %d %s; want 400", status, body)
	}
	if _, body := admin(http.MethodGet, "/v1/controllers/ctl-1", nil); !strings.Contains(body, `"deprecated":true`) {
		t.Errorf("after PUT deprecated {}: %s; want ctl-1 still deprecated", body)
	}
	// A wrong method: 405 with Allow.
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/login", "POST"},
		{http.MethodPatch, "/v1/controllers/ctl-1", "GET"},
		{http.MethodPost, "/v1/controllers/ctl-1/deprecated", "PUT"},
	} {
		hc := aiHTTPClient(t, e)
		req, _ := http.NewRequest(tc.method, "https://"+e.broker().Addr+tc.path, nil)
		req.SetBasicAuth("admin", brokerAdminPassword)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), tc.allow) {
			t.Errorf("%s %s: HTTP %d Allow %q %s; want 405 allowing %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), out, tc.allow)
		}
	}
	// A duplicate group: a clean 409.
	if status, body := admin(http.MethodPost, "/v1/groups", map[string]string{"name": "ops"}); status != http.StatusCreated {
		t.Fatalf("add group ops: HTTP %d %s", status, body)
	}
	status, body = admin(http.MethodPost, "/v1/groups", map[string]string{"name": "ops"})
	wantRESTRefusal(t, "add group ops again", status, body, http.StatusConflict, "already exists", `group "ops" already exists`)
	// A well-formed token the broker never issued is not "revoked"; one
	// it revoked is an unknown session.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jws, _ := base64.StdEncoding.DecodeString(sign(t, key, "k1", tokenClaims{Subject: "admin", Expiry: time.Now().Add(time.Hour).Unix()}))
	forged := string(jws)
	status, body = e.restDo(t, forged, http.MethodGet, "/v1/whoami", nil)
	if status != http.StatusUnauthorized || strings.Contains(body, "revoked") {
		t.Errorf("a forged well-formed token: HTTP %d %s; want 401 not saying revoked", status, body)
	}
	var login struct{ Token string }
	_, _, out := aiREST(t, e, "", "", http.MethodPost, "/v1/login", map[string]string{"user": "admin", "password": brokerAdminPassword})
	json.Unmarshal([]byte(out), &login)
	e.restDo(t, login.Token, http.MethodPost, "/v1/logout", nil)
	status, body = e.restDo(t, login.Token, http.MethodGet, "/v1/whoami", nil)
	if status != http.StatusUnauthorized || !strings.Contains(body, "unknown session token") {
		t.Errorf("a logged-out token: HTTP %d %s; want 401 unknown session", status, body)
	}
	// POST /v1/login/device is rate limited per address (without an
	// identity provider the allowed ones answer 501).
	var codes []int
	for range 4 {
		status, retry, _ := aiREST(t, e, "", "", http.MethodPost, "/v1/login/device", nil)
		codes = append(codes, status)
		if status == http.StatusTooManyRequests && retry == "" {
			t.Error("a rate-limited device login without Retry-After")
		}
	}
	if codes[0] == http.StatusTooManyRequests || codes[3] != http.StatusTooManyRequests {
		t.Errorf("4 device logins at once with a burst of 2: %v; want the last refused with 429", codes)
	}
	// The same address starting one on the WebSocket (the Juju client's
	// Admin.LoginDevice) shares the limit.
	if res := e.dialRaw(t, "/api").call("Admin", 4, "LoginDevice", nil); !strings.Contains(res.Error, "too many device logins started from") {
		t.Errorf("Admin.LoginDevice on the WebSocket past the limit: %+v; want it refused as too many device logins", res)
	}
	// add-controller with 20 dead addresses (they accept TCP and never
	// answer): answered well within jimmctl's 30 s, naming every address.
	var dead []string
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		dead = append(dead, ln.Addr().String())
	}
	ctl := e.ctls["ctl-1"].File
	start := time.Now()
	status, body = admin(http.MethodPost, "/v1/controllers", map[string]any{
		"name": "ctl-dead", "uuid": "5f0b6c5e-1111-4222-8333-944445555777", "api-addresses": dead,
		"ca-cert": ctl.CACert, "admin-user": "admin", "admin-password": "pw"})
	took := time.Since(start)
	t.Logf("FIGURE add-controller with 20 dead addresses answered in %s: HTTP %d", took.Round(time.Millisecond), status)
	if status != http.StatusBadGateway || took > 25*time.Second {
		t.Errorf("add-controller with 20 dead addresses: HTTP %d after %s %.300s; want 502 well within 30 s", status, took, body)
	}
	for _, a := range dead {
		if !strings.Contains(body, a) {
			t.Errorf("add-controller with 20 dead addresses: the error does not name %s: %.500s", a, body)
			break
		}
	}
}
