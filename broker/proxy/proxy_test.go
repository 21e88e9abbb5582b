package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

var quiet = brokertest.Quiet

const (
	brokerUUID = brokertest.BrokerUUID
	modelUUID  = "5e55c0de-0000-4000-8000-0000000000aa"
)

// fakeController plays a Juju controller on in-memory connections: it
// logs the broker in, answers FullStatus naming itself, holds Hold.Call
// until released, and records what it was asked.
type fakeController struct {
	name, uuid string
	mu         sync.Mutex
	down       bool
	conns      []*jujuapi.Conn // its ends of the connections dialled to it
	logins     []params.LoginRequest
	calls      []string // "Facade.Method#request-id"
	release    chan struct{}
	held       chan uint64
	// watcherIDs are the ids Client.WatchAll hands out, in turn (then
	// "w<n>"); watchers are the open ones. holdNext makes AllWatcher.Next
	// wait like Hold.Call.
	watcherIDs []string
	watchers   map[string]bool
	holdNext   bool
	// dialHook, when set, dials the controller instead (relay_test.go).
	dialHook func(context.Context) (*jujuapi.Conn, error)
}

func newFakeController(name, uuid string) *fakeController {
	return &fakeController{name: name, uuid: uuid, release: make(chan struct{}), held: make(chan uint64, 16)}
}

func (f *fakeController) dial(ctx context.Context) (*jujuapi.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dialHook != nil {
		return f.dialHook(ctx)
	}
	if f.down {
		return nil, fmt.Errorf("dial controller %q: connection refused", f.name)
	}
	client, server := jujuapi.Pipe(jujuapi.ConnOptions{})
	f.conns = append(f.conns, server)
	go jujuapi.Serve(context.Background(), server, jujuapi.HandlerFunc(f.serve), jujuapi.ServerOptions{Logger: quiet})
	return client, nil
}

func (f *fakeController) serve(ctx context.Context, req *jujuapi.Message) (any, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s.%s#%d", req.Type, req.Request, req.RequestID))
	f.mu.Unlock()
	switch req.Type + "." + req.Request {
	case "Admin.Login":
		var lr params.LoginRequest
		if err := json.Unmarshal(req.Params, &lr); err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.logins = append(f.logins, lr)
		f.mu.Unlock()
		return params.LoginResult{
			ControllerTag: jujuapi.ControllerTag(f.uuid).String(), ModelTag: jujuapi.ModelTag(modelUUID).String(),
			Servers:  [][]params.HostPort{{{Address: params.Address{Value: "10.9.9.9", Type: "ipv4", Scope: "local-cloud"}, Port: 17070}}},
			UserInfo: &params.AuthUserInfo{Identity: lr.AuthTag, ControllerAccess: "login", ModelAccess: "admin"},
		}, nil
	case "Client.FullStatus":
		return map[string]string{"served-by": f.name, "controller-uuid": f.uuid}, nil
	case "Hold.Call":
		f.held <- req.RequestID
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return map[string]string{"served-by": f.name}, nil
	case "Pinger.Ping":
		return struct{}{}, nil
	case "Client.WatchAll":
		f.mu.Lock()
		defer f.mu.Unlock()
		id := fmt.Sprintf("w%d", len(f.watchers)+1)
		if len(f.watcherIDs) > 0 {
			id, f.watcherIDs = f.watcherIDs[0], f.watcherIDs[1:]
		}
		if f.watchers == nil {
			f.watchers = map[string]bool{}
		}
		f.watchers[id] = true
		return map[string]string{"watcher-id": id}, nil
	case "AllWatcher.Next", "AllWatcher.Stop":
		f.mu.Lock()
		open, hold := f.watchers[req.ID], f.holdNext
		if req.Request == "Stop" {
			delete(f.watchers, req.ID)
		}
		f.mu.Unlock()
		if !open {
			return nil, &jujuapi.Error{Message: "watcher id: " + req.ID + ": unknown watcher id", Code: jujuapi.CodeNotFound}
		}
		if req.Request == "Stop" {
			return struct{}{}, nil
		}
		if hold {
			f.held <- req.RequestID
			select {
			case <-f.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return map[string]any{"deltas": []any{[]any{"model", "change", map[string]string{"served-by": f.name, "watcher": req.ID}}}}, nil
	}
	return nil, jujuapi.UnknownFacadeError(req.Type)
}

func (f *fakeController) saw() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeController) loginCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.logins)
}

// kill closes every connection to the controller, as a controller that
// dies does.
func (f *fakeController) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = true
	for _, c := range f.conns {
		c.Close()
	}
}

type env struct {
	d        *db.DB
	rel      *authz.Relations
	ids      *identity.Service
	routes   *routing.Table
	px       *Proxy
	ctls     map[string]*fakeController
	rows     map[string]*db.Controller
	metrics  *prometheus.Registry
	rpcs     *prometheus.HistogramVec
	detached chan struct{}
}

func newEnv(t *testing.T, detachAfter time.Duration) *env {
	t.Helper()
	ctx := t.Context()
	parts := brokertest.New(t)
	e := &env{d: parts.DB, rel: parts.Rel, ids: parts.IDs, ctls: map[string]*fakeController{}, rows: map[string]*db.Controller{}, metrics: prometheus.NewRegistry()}
	for _, row := range parts.AddControllers(t, "ctl-a", "ctl-b") {
		e.rows[row.Name], e.ctls[row.Name] = row, newFakeController(row.Name, row.UUID)
	}
	if err := e.d.AddModel(ctx, &db.Model{UUID: modelUUID, Name: "m", Owner: "admin", ControllerID: e.rows["ctl-a"].ID, Cloud: "c", Region: "r", Life: db.LifeAlive}, "user:admin"); err != nil {
		t.Fatal(err)
	}
	e.routes = parts.StartRoutes(t, nil)
	var err error
	e.rpcs = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jimm_rpc_duration_seconds"}, []string{"facade", "method", "code"})
	if e.px, err = New(Deps{
		Routes: e.routes, Identity: e.ids, BrokerUUID: brokerUUID, JujuVersion: "3.5.4", DetachAfter: detachAfter,
		Servers: [][]params.HostPort{{{Address: params.Address{Value: "jimm.example.com", Type: "hostname", Scope: "public"}, Port: 443}}},
		Dial: func(ctx context.Context, m *db.Model) (*jujuapi.Conn, error) {
			return e.ctls[m.Controller.Name].dial(ctx)
		},
		RPCs: e.rpcs, Metrics: e.metrics, Logger: quiet,
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// conn is a client's model connection through the proxy.
type conn struct {
	raw  *jujuapi.Conn
	api  *jujuapi.Client
	done chan struct{} // closed when the proxy reports the connection ended
}

// connect opens a model connection through the proxy, not logged in yet.
func (e *env) connect(t *testing.T) *conn {
	t.Helper()
	client, server := jujuapi.Pipe(jujuapi.ConnOptions{})
	c := &conn{raw: client, done: make(chan struct{})}
	go e.px.Serve(t.Context(), server, modelUUID, "10.0.0.1:50000", func() { close(c.done) })
	t.Cleanup(func() { client.Close() })
	return c
}

// login opens a connection and logs in as the bootstrap admin.
func (e *env) login(t *testing.T) (*conn, params.LoginResult) {
	t.Helper()
	c := e.connect(t)
	c.api = jujuapi.NewClient(c.raw)
	var res params.LoginResult
	if err := c.api.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-admin", Credentials: "pw"}, &res); err != nil {
		t.Fatalf("login through the proxy: %v", err)
	}
	return c, res
}

func (c *conn) fullStatus(t *testing.T) map[string]string {
	t.Helper()
	var out map[string]string
	if err := c.api.Call(t.Context(), "Client", 7, "FullStatus", struct{}{}, &out); err != nil {
		t.Fatalf("FullStatus through the proxy: %v", err)
	}
	return out
}

// tokenClaims is what a controller token the broker signed says.
type tokenClaims struct {
	Subject string            `json:"sub"`
	Access  map[string]string `json:"access"`
}

// controllerToken verifies a token the broker signed for the controller
// whose UUID is audience against the broker's published keys, as a
// controller does, and returns its claims.
func controllerToken(t *testing.T, keys *authz.KeySet, token, audience string) tokenClaims {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("the controller token is not base64: %v", err)
	}
	tok, err := jwt.ParseSigned(string(raw), []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatalf("the controller token is not a signed JWT: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(keys.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	found := set.Key(tok.Headers[0].KeyID)
	if len(found) != 1 {
		t.Fatalf("the controller token's key %q is not in the JWKS", tok.Headers[0].KeyID)
	}
	var std jwt.Claims
	var c tokenClaims
	if err := tok.Claims(found[0].Key, &std, &c); err != nil {
		t.Fatalf("the controller token does not verify with the published key: %v", err)
	}
	if err := std.Validate(jwt.Expected{AnyAudience: jwt.Audience{audience}, Time: time.Now()}); err != nil {
		t.Fatalf("the controller token is not valid for controller %s now: %v", audience, err)
	}
	return c
}

// TestRelay: the proxy answers the login as the broker, logs in to the
// model's controller with a token it signs, and relays calls, hiding the
// controller's identity.
func TestRelay(t *testing.T) {
	e := newEnv(t, 0)
	c, res := e.login(t)
	if res.ControllerTag != jujuapi.ControllerTag(brokerUUID).String() || res.Servers[0][0].Value != "jimm.example.com" ||
		res.PublicDNSName != "" || res.UserInfo.ControllerAccess != "superuser" {
		t.Fatalf("the login result shows the controller: %+v %+v", res, res.UserInfo)
	}
	ctl := e.ctls["ctl-a"]
	lr := ctl.logins[0]
	if lr.AuthTag != "user-admin" || lr.Token == "" || lr.Credentials != "" || lr.ClientVersion != "3.5.4" {
		t.Fatalf("the proxy logged in to the controller with %+v", lr)
	}
	// The token names the caller's exact access, for this controller.
	claims := controllerToken(t, e.ids.Keys(), lr.Token, ctl.uuid)
	if claims.Access[jujuapi.ModelTag(modelUUID).String()] != authz.AccessAdmin || claims.Access[jujuapi.ControllerTag(ctl.uuid).String()] != "superuser" {
		t.Fatalf("the controller token grants %v", claims.Access)
	}
	st := c.fullStatus(t)
	if st["served-by"] != "ctl-a" || st["controller-uuid"] != brokerUUID {
		t.Fatalf("FullStatus through the proxy: %v; want ctl-a's answer with the broker's UUID in place of the controller's", st)
	}
	// The controller saw the client's request ids.
	if saw := ctl.saw(); len(saw) != 2 || saw[0] != "Admin.Login#1" || saw[1] != "Client.FullStatus#2" {
		t.Fatalf("the controller saw %v", saw)
	}
	if n := testutil.CollectAndCount(e.rpcs); n != 1 {
		t.Fatalf("%d series of jimm_rpc_duration_seconds, want 1 (FullStatus)", n)
	}
	// A second login on the connection is refused by the broker itself.
	err := c.api.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-admin", Credentials: "pw"}, nil)
	if jujuapi.ErrorCode(err) != jujuapi.CodeBadRequest || !strings.Contains(err.Error(), "already logged in") {
		t.Fatalf("a second login: %v", err)
	}
	if n := len(ctl.saw()); n != 2 {
		t.Fatalf("the second login reached the controller (%d calls)", n)
	}
}

// TestLoginRefusals: a wrong password, a model the broker does not route
// and a dead controller are each answered with their own error, and only
// the last one was dialled.
func TestLoginRefusals(t *testing.T) {
	e := newEnv(t, 0)
	try := func(uuid string, req params.LoginRequest) error {
		client, server := jujuapi.Pipe(jujuapi.ConnOptions{})
		defer client.Close()
		go e.px.Serve(t.Context(), server, uuid, "10.0.0.1:50000", func() {})
		return jujuapi.NewClient(client).Call(t.Context(), "Admin", 3, "Login", req, nil)
	}
	if err := try(modelUUID, params.LoginRequest{AuthTag: "user-admin", Credentials: "wrong"}); jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
		t.Errorf("a wrong password: %v", err)
	}
	if err := try("5e55c0de-0000-4000-8000-0000000000ff", params.LoginRequest{AuthTag: "user-admin", Credentials: "pw"}); jujuapi.ErrorCode(err) != jujuapi.CodeModelNotFound {
		t.Errorf("an unknown model: %v", err)
	}
	if n := e.ctls["ctl-a"].loginCount(); n != 0 {
		t.Fatalf("refused logins reached the controller %d times", n)
	}
	e.ctls["ctl-a"].kill()
	err := try(modelUUID, params.LoginRequest{AuthTag: "user-admin", Credentials: "pw"})
	if jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain || err.Error() != `the controller hosting model "m" is unavailable; try again later` {
		t.Fatalf("a dead controller: %v", err)
	}
}

// TestDetachAndReattach: a connection idle for DetachAfter closes its
// controller side; the broker answers its pings meanwhile, and its next
// call logs in to the controller again.
func TestDetachAndReattach(t *testing.T) {
	e := newEnv(t, 50*time.Millisecond)
	c, _ := e.login(t)
	ctl := e.ctls["ctl-a"]
	c.fullStatus(t)
	brokertest.Eventually(t, "the idle connection detaches", func() bool { return testutil.ToFloat64(e.px.upstreams) == 0 })
	if err := c.api.Call(t.Context(), "Pinger", 1, "Ping", nil, nil); err != nil {
		t.Fatalf("a ping while detached: %v", err)
	}
	if saw := ctl.saw(); saw[len(saw)-1] != "Client.FullStatus#2" {
		t.Fatalf("a ping while detached reached the controller: %v", saw)
	}
	if st := c.fullStatus(t); st["served-by"] != "ctl-a" {
		t.Fatalf("FullStatus after reattaching: %v", st)
	}
	if ctl.loginCount() != 2 || testutil.ToFloat64(e.px.reattaches) != 1 {
		t.Fatalf("logins %d, reattaches %v; want 2 and 1", ctl.loginCount(), testutil.ToFloat64(e.px.reattaches))
	}
	// The login of the reattach used the call's request id.
	if saw := ctl.saw(); saw[len(saw)-2] != "Admin.Login#4" || saw[len(saw)-1] != "Client.FullStatus#4" {
		t.Fatalf("the reattach: %v", saw)
	}
}

// TestMoveReplaysPendingCalls: when the model's route flips while a call
// is in flight, the connection moves to the new controller and replays
// the call there; the client gets the new controller's answer on the same
// connection.
func TestMoveReplaysPendingCalls(t *testing.T) {
	e := newEnv(t, 0)
	c, _ := e.login(t)
	a, b := e.ctls["ctl-a"], e.ctls["ctl-b"]
	answer := make(chan error, 1)
	var got map[string]string
	go func() { answer <- c.api.Call(t.Context(), "Hold", 1, "Call", struct{}{}, &got) }()
	id := brokertest.Recv(t, a.held, "ctl-a gets the call") // and holds it
	if err := e.routes.Flip(t.Context(), modelUUID, e.rows["ctl-b"], 0); err != nil {
		t.Fatal(err)
	}
	if replayed := brokertest.Recv(t, b.held, "ctl-b gets the pending call"); replayed != id {
		t.Fatalf("ctl-b got request %d, want the pending call %d replayed", replayed, id)
	}
	close(b.release)
	if err := brokertest.Recv(t, answer, "the replayed call is answered"); err != nil || got["served-by"] != "ctl-b" {
		t.Fatalf("the replayed call: %v %v", err, got)
	}
	if st := c.fullStatus(t); st["served-by"] != "ctl-b" {
		t.Fatalf("the next call after the move: %v", st)
	}
	select {
	case <-c.done:
		t.Fatal("the client connection ended with the move")
	default:
	}
}

// TestStickyConnectionClosedOnMove: a connection that named a server-side
// object that cannot follow its model (any but an AllWatcher it opened)
// cannot move with the model: it is closed, saying so, so that its client
// reconnects.
func TestStickyConnectionClosedOnMove(t *testing.T) {
	e := newEnv(t, 0)
	c := e.connect(t)
	write := func(s string) {
		t.Helper()
		if err := c.raw.WriteFrame([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		t.Helper()
		f, err := c.raw.NextFrame()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Release()
		return string(f.Bytes())
	}
	write(`{"request-id":1,"type":"Admin","version":3,"request":"Login","params":{"auth-tag":"user-admin","credentials":"pw"}}`)
	if resp := read(); !strings.Contains(resp, brokerUUID) {
		t.Fatalf("login: %s", resp)
	}
	write(`{"request-id":2,"type":"NotifyWatcher","version":1,"id":"w1","request":"Next","params":{}}`)
	if resp := read(); !strings.Contains(resp, `"request-id":2`) {
		t.Fatalf("the watcher call: %s", resp)
	}
	if err := e.routes.Flip(t.Context(), modelUUID, e.rows["ctl-b"], 0); err != nil {
		t.Fatal(err)
	}
	_, err := c.raw.NextFrame()
	if jujuapi.CloseCode(err) != jujuapi.CloseGoingAway || !strings.Contains(err.Error(), "the model moved to another controller: reconnect") {
		t.Fatalf("the sticky connection after the move: %v; want closed 1001, saying the model moved", err)
	}
	if n := e.ctls["ctl-b"].loginCount(); n != 0 {
		t.Fatalf("the sticky connection logged in to ctl-b (%d)", n)
	}
}

// TestControllerDiesMidCall: a controller that dies with a call in flight
// closes the client's connection with a reason (the client reconnects);
// the proxy's bookkeeping ends with it.
func TestControllerDiesMidCall(t *testing.T) {
	e := newEnv(t, 0)
	c, _ := e.login(t)
	answer := make(chan error, 1)
	go func() { answer <- c.api.Call(t.Context(), "Hold", 1, "Call", struct{}{}, nil) }()
	brokertest.Recv(t, e.ctls["ctl-a"].held, "ctl-a gets the call")
	e.ctls["ctl-a"].kill()
	err := brokertest.Recv(t, answer, "the call in flight ends")
	if !errors.Is(err, jujuapi.ErrClientClosed) && jujuapi.CloseCode(err) != jujuapi.CloseGoingAway {
		t.Fatalf("the call in flight when the controller died: %v", err)
	}
	if code := jujuapi.CloseCode(c.api.Err()); code != jujuapi.CloseGoingAway || !strings.Contains(c.api.Err().Error(), "controller connection closed") {
		t.Fatalf("the client connection: %v; want closed 1001, saying the controller connection closed", c.api.Err())
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not end the connection")
	}
	if testutil.ToFloat64(e.px.upstreams) != 0 {
		t.Fatalf("jimm_proxy_controller_connections = %v after the controller died", testutil.ToFloat64(e.px.upstreams))
	}
}

// TestAccessChangeClosesConnection: once a reader loses access, the
// routing table's recheck closes the connection, so that its client logs
// in again with what it may do now.
func TestAccessChangeClosesConnection(t *testing.T) {
	e := newEnv(t, 0)
	ctx := t.Context()
	bob := authz.Tuple{Subject: "user:bob@example.com", Relation: authz.Reader, Object: "model:" + modelUUID}
	if err := e.rel.Add(ctx, bob); err != nil {
		t.Fatal(err)
	}
	token, _, err := e.ids.NewSession(ctx, &identity.Identity{Name: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.connect(t)
	c.api = jujuapi.NewClient(c.raw)
	var res params.LoginResult
	if err := c.api.Call(ctx, "Admin", 4, "LoginWithSessionToken", params.LoginWithSessionTokenRequest{SessionToken: token}, &res); err != nil {
		t.Fatal(err)
	}
	if res.UserInfo.ControllerAccess != "login" {
		t.Fatalf("bob's controller access: %q", res.UserInfo.ControllerAccess)
	}
	if claims := controllerToken(t, e.ids.Keys(), e.ctls["ctl-a"].logins[0].Token, e.ctls["ctl-a"].uuid); claims.Access[jujuapi.ModelTag(modelUUID).String()] != authz.AccessRead {
		t.Fatalf("bob's controller token grants %v", claims.Access)
	}
	c.fullStatus(t)
	// An unrelated change leaves the connection be.
	if err := e.rel.Add(ctx, authz.Tuple{Subject: "user:carol@example.com", Relation: authz.Reader, Object: "model:" + modelUUID}); err != nil {
		t.Fatal(err)
	}
	c.fullStatus(t)
	if err := e.rel.Remove(ctx, bob); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.api.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("bob's connection is open 10s after he lost access")
	}
	if code := jujuapi.CloseCode(c.api.Err()); code != jujuapi.CloseGoingAway || !strings.Contains(c.api.Err().Error(), "your access to this model changed: reconnect") {
		t.Fatalf("bob's connection: %v", c.api.Err())
	}
}
