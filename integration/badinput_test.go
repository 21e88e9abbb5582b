package integration

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api/client/modelmanager"
)

// rawConn is a bare WebSocket connection to a controller, speaking the
// Juju RPC envelope by hand.
type rawConn struct {
	t      testing.TB
	ws     *websocket.Conn
	nextID uint64
}

// rawResponse is a response envelope.
type rawResponse struct {
	RequestID uint64          `json:"request-id"`
	Error     string          `json:"error"`
	ErrorCode string          `json:"error-code"`
	Response  json.RawMessage `json:"response"`
}

func (c *controller) dialRaw(t testing.TB, path string) *rawConn {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.File.CACert)) {
		t.Fatalf("controller.yaml ca-cert holds no certificate")
	}
	d := websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
		HandshakeTimeout: 10 * time.Second,
	}
	ws, resp, err := d.Dial("wss://"+c.Addr+path, nil)
	if err != nil {
		t.Fatalf("dial wss://%s%s: %v", c.Addr, path, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	// Take the server's close frame without echoing it: the server may
	// already have reset the TCP connection (it closes without reading the
	// rest of an oversized frame), and gorilla's default handler would then
	// report the failed echo instead of the close status.
	ws.SetCloseHandler(func(int, string) error { return nil })
	return &rawConn{t: t, ws: ws}
}

// call sends one request and waits for its response.
func (r *rawConn) call(facade string, version int, method string, params any) rawResponse {
	r.t.Helper()
	return r.callOn(facade, version, "", method, params)
}

// callOn is call on the server-side object id (e.g. a watcher's): the
// request carries "id" when it is not "".
func (r *rawConn) callOn(facade string, version int, id, method string, params any) rawResponse {
	r.t.Helper()
	r.nextID++
	req := map[string]any{"request-id": r.nextID, "type": facade, "request": method, "params": params}
	if version != 0 {
		req["version"] = version
	}
	if id != "" {
		req["id"] = id
	}
	if err := r.ws.WriteJSON(req); err != nil {
		r.t.Fatalf("send %s.%s: %v", facade, method, err)
	}
	r.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var resp rawResponse
	if err := r.ws.ReadJSON(&resp); err != nil {
		r.t.Fatalf("read response to %s.%s: %v", facade, method, err)
	}
	if resp.RequestID != r.nextID {
		r.t.Fatalf("response to request %d carries request-id %d", r.nextID, resp.RequestID)
	}
	return resp
}

func (r *rawConn) login(password string) rawResponse {
	r.t.Helper()
	return r.call("Admin", 3, "Login", map[string]any{
		"auth-tag": "user-admin", "credentials": password, "nonce": "", "macaroons": nil,
		"bakery-version": 3, "cli-args": "integration", "user-data": "", "client-version": "3.5.4",
	})
}

// wantClose sends a frame and expects the server to close the connection
// with code.
func (r *rawConn) wantClose(msgType int, frame []byte, code int) {
	r.t.Helper()
	// A write error is fine: the server may close before it has read
	// everything. What matters is the close frame.
	_ = r.ws.WriteMessage(msgType, frame)
	if ce := r.awaitClose(10 * time.Second); ce != nil && ce.Code != code {
		r.t.Errorf("connection closed with status %d (%q), want %d", ce.Code, ce.Text, code)
	}
}

// awaitClose reads until the server closes the connection, for at most
// within, and returns its close frame (status and reason). A frame read
// meanwhile fails the test, and so does an end without a close frame (the
// result is then nil).
func (r *rawConn) awaitClose(within time.Duration) *websocket.CloseError {
	r.t.Helper()
	r.ws.SetReadDeadline(time.Now().Add(within))
	for {
		_, data, err := r.ws.ReadMessage()
		if err == nil {
			r.t.Errorf("got frame %.200s, want the connection closed", data)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			r.t.Errorf("connection ended with %v, want a close frame", err)
			return nil
		}
		return ce
	}
}

// wantError checks an error response.
func wantRawError(t testing.TB, what string, resp rawResponse, code, msg string) {
	t.Helper()
	if resp.Error != msg || resp.ErrorCode != code {
		t.Errorf("%s: error %q (code %q), want %q (code %q); response %s", what, resp.Error, resp.ErrorCode, msg, code, resp.Response)
	}
}

// TestBadInput sends malformed and unexpected frames over raw WebSockets and
// checks that each gets the protocol's answer while a well-behaved Juju
// client on the same controller keeps being served.
func TestBadInput(t *testing.T) {
	t.Parallel()
	const maxFrame = 65536
	c := startController(t, "ctl-bad", "--max-frame-size", "65536")

	good := c.admin(t, "")
	goodMM := modelmanager.NewClient(good)
	healthy := func(t *testing.T, when string) {
		t.Helper()
		if err := good.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
			t.Fatalf("%s: the Juju client's Ping failed: %v", when, err)
		}
		ms, err := goodMM.ListModels("admin")
		if err != nil || len(ms) == 0 {
			t.Fatalf("%s: the Juju client's ListModels = %v, %v", when, ms, err)
		}
	}

	for _, tc := range []struct {
		name  string
		run   func(t *testing.T)
		after string
	}{{
		name: "not JSON",
		run: func(t *testing.T) {
			c.dialRaw(t, "/api").wantClose(websocket.TextMessage, []byte("this is not json {"), websocket.CloseInvalidFramePayloadData)
		},
	}, {
		name: "JSON but not a request object",
		run: func(t *testing.T) {
			c.dialRaw(t, "/api").wantClose(websocket.TextMessage, []byte(`[1,2,3]`), websocket.CloseInvalidFramePayloadData)
		},
	}, {
		name: "not JSON after login",
		run: func(t *testing.T) {
			r := c.dialRaw(t, "/api")
			if resp := r.login(adminPassword); resp.Error != "" {
				t.Fatalf("login: %s", resp.Error)
			}
			r.wantClose(websocket.TextMessage, []byte("\x00\x01garbage"), websocket.CloseInvalidFramePayloadData)
		},
	}, {
		name: "frame over max-frame-size",
		run: func(t *testing.T) {
			r := c.dialRaw(t, "/api")
			big := `{"request-id":1,"type":"Pinger","version":1,"request":"Ping","params":{"pad":"` +
				strings.Repeat("x", 4*maxFrame) + `"}}`
			r.wantClose(websocket.TextMessage, []byte(big), websocket.CloseMessageTooBig)
		},
	}, {
		name: "frame just under max-frame-size is served",
		run: func(t *testing.T) {
			r := c.dialRaw(t, "/api")
			if resp := r.login(adminPassword); resp.Error != "" {
				t.Fatalf("login: %s", resp.Error)
			}
			pad := strings.Repeat("x", maxFrame-200)
			resp := r.call("Pinger", 1, "Ping", map[string]string{"pad": pad})
			if resp.Error != "" {
				t.Errorf("Ping with a %d-byte frame: %s", len(pad), resp.Error)
			}
		},
	}, {
		name: "calls before login",
		run: func(t *testing.T) {
			r := c.dialRaw(t, "/api")
			wantRawError(t, "ModelManager(10).ListModels before login", r.call("ModelManager", 10, "ListModels", map[string]string{"tag": "user-admin"}),
				"not implemented", `unknown version (10) of interface "ModelManager"`)
			resp := r.login("wrong")
			wantRawError(t, "login with a wrong password", resp, "unauthorized access", "invalid entity name or password")
			resp = r.login(adminPassword)
			if resp.Error != "" {
				t.Fatalf("login after a failed one: %s", resp.Error)
			}
			var res struct {
				ControllerTag string `json:"controller-tag"`
			}
			if err := json.Unmarshal(resp.Response, &res); err != nil || res.ControllerTag != "controller-"+c.UUID {
				t.Errorf("login result %s: controller-tag %q, want controller-%s (%v)", resp.Response, res.ControllerTag, c.UUID, err)
			}
		},
	}, {
		name: "unknown facade, version and method",
		run: func(t *testing.T) {
			r := c.dialRaw(t, "/api")
			if resp := r.login(adminPassword); resp.Error != "" {
				t.Fatalf("login: %s", resp.Error)
			}
			wantRawError(t, "Foo(1).Bar", r.call("Foo", 1, "Bar", map[string]any{}), "not implemented", `unknown object type "Foo"`)
			wantRawError(t, "ModelManager(99).ListModels", r.call("ModelManager", 99, "ListModels", map[string]any{}),
				"not implemented", `unknown version (99) of interface "ModelManager"`)
			wantRawError(t, "ModelManager(10).Foo", r.call("ModelManager", 10, "Foo", map[string]any{}),
				"not implemented", "no such request - method ModelManager(10).Foo is not implemented")
			// The connection survives its errors.
			if resp := r.call("Pinger", 1, "Ping", map[string]any{}); resp.Error != "" {
				t.Errorf("Ping after the errors: %s", resp.Error)
			}
			resp := r.call("ModelManager", 10, "ListModels", map[string]string{"tag": "user-admin"})
			if resp.Error != "" || !strings.Contains(string(resp.Response), `"user-models"`) {
				t.Errorf("ListModels after the errors: %q, %s", resp.Error, resp.Response)
			}
		},
	}, {
		name: "pipelined requests",
		run: func(t *testing.T) {
			// Requests sent back to back, without waiting, each get their
			// own response, matched by request-id.
			r := c.dialRaw(t, "/api")
			if resp := r.login(adminPassword); resp.Error != "" {
				t.Fatalf("login: %s", resp.Error)
			}
			const n = 64
			first := r.nextID + 1
			for i := range uint64(n) {
				req := map[string]any{"request-id": first + i, "type": "Pinger", "version": 1, "request": "Ping", "params": map[string]any{}}
				if i%2 == 1 {
					req = map[string]any{"request-id": first + i, "type": "ModelManager", "version": 10, "request": "Nope", "params": map[string]any{}}
				}
				if err := r.ws.WriteJSON(req); err != nil {
					t.Fatalf("send request %d: %v", first+i, err)
				}
			}
			seen := map[uint64]bool{}
			r.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			for range n {
				var resp rawResponse
				if err := r.ws.ReadJSON(&resp); err != nil {
					t.Fatalf("read response: %v", err)
				}
				id := resp.RequestID
				switch {
				case id < first || id >= first+n || seen[id]:
					t.Errorf("unexpected or repeated response id %d", id)
				case (id-first)%2 == 0 && resp.Error != "":
					t.Errorf("Ping %d: %s", id, resp.Error)
				case (id-first)%2 == 1 && resp.ErrorCode != "not implemented":
					t.Errorf("ModelManager(10).Nope %d: error %q code %q", id, resp.Error, resp.ErrorCode)
				}
				seen[id] = true
			}
		},
	}, {
		name: "model endpoint",
		run: func(t *testing.T) {
			r := c.dialRaw(t, "/model/"+c.UUID+"/api")
			if resp := r.login(adminPassword); resp.Error != "" {
				t.Fatalf("login: %s", resp.Error)
			}
			wantRawError(t, "Foo(1).Bar on a model connection", r.call("Foo", 1, "Bar", map[string]any{}), "not implemented", `unknown object type "Foo"`)
			r.wantClose(websocket.TextMessage, []byte("}{"), websocket.CloseInvalidFramePayloadData)
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			healthy(t, "before "+tc.name)
			tc.run(t)
			healthy(t, "after "+tc.name)
		})
	}

	select {
	case <-good.Broken():
		t.Errorf("the Juju client's connection broke")
	default:
	}
	if _, err := c.tryOpen("admin", adminPassword, ""); err != nil {
		t.Errorf("new login after the bad input: %v", err)
	}
}
