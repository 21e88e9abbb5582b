package broker

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// controllerLoginTimeout bounds dialling and logging in to a model's
// controller, so that a dead controller gives the client an error promptly.
const controllerLoginTimeout = 4 * time.Second

func (s *Server) serveModel(w http.ResponseWriter, r *http.Request, uuid string) {
	conn, err := jujuapi.Upgrade(w, r, s.cfg.Conn)
	if err != nil {
		s.log.Debug("rejected model connection", "model", uuid, "err", err)
		return
	}
	p := &modelProxy{srv: s, client: conn, modelUUID: uuid, remote: r.RemoteAddr}
	s.goServe("model", conn, p.run)
}

// modelProxy is one client's model connection: the broker answers its
// login, then relays frames between the client and the hosting controller.
//
// A connection with no call in flight for Config.ProxyDetachAfter closes
// its controller side (the Juju protocol is strictly request and
// response, so nothing is lost) and logs in again on the next call; while
// detached the broker answers pings itself. A connection that ever named a
// server-side object (a request with an "id", e.g. a watcher) keeps its
// controller connection for good.
type modelProxy struct {
	srv       *Server
	client    *jujuapi.Conn
	modelUUID string
	remote    string
	ctx       context.Context

	id     *identity          // who logged in
	access string             // their access to the model at login
	device *authz.DeviceLogin // from LoginDevice, until GetDeviceSessionToken (before login only)

	// attach serialises sending with moving: a request is recorded as
	// pending and written to the controller under it, and a move to
	// another controller (replaying the pending requests) holds it.
	attach sync.Mutex

	mu      sync.Mutex
	up      *jujuapi.Conn // the controller; nil while detached
	model   *db.Model     // the route the connection was last attached by
	pending map[uint64]pendingCall
	sticky  bool           // a request named a server-side object: never detach
	lastUse time.Time      // when the last call completed
	downs   sync.WaitGroup // relayDown goroutines

	stop func() bool // undoes closing on the broker's shutdown
	done func()      // reports the connection ended
}

// pendingCall is a relayed request awaiting its response. Its frame is
// kept until then, so that the request can be replayed on another
// controller if the model moves under it.
type pendingCall struct {
	id             uint64
	start          time.Time
	facade, method string
	frame          *jujuapi.Frame
}

// run answers the login on this goroutine, then hands the connection to
// fresh goroutines and returns: an idle proxied connection keeps only their
// small stacks, not the login's. relayUp owns the connection from then on;
// a detached idle connection parks (see jujuapi.Conn.Park) and keeps no
// goroutine at all.
func (p *modelProxy) run(ctx context.Context, done func()) {
	p.ctx = ctx
	p.stop = context.AfterFunc(ctx, func() { p.client.CloseWith(jujuapi.CloseGoingAway, "broker shutting down") })
	if !p.login(ctx) {
		p.stop()
		p.client.Close()
		done()
		return
	}
	p.done = done
	p.pending = map[uint64]pendingCall{}
	p.lastUse = time.Now()
	p.srv.addProxy(p)
	p.startDown(p.up, []byte(p.model.Controller.UUID))
	go p.serveUp()
}

// serveUp relays the client's frames until the connection ends or parks;
// a parked connection comes back here when the client sends again.
func (p *modelProxy) serveUp() {
	if p.relayUp() {
		return // parked
	}
	p.mu.Lock()
	up := p.up
	p.up = nil
	p.mu.Unlock()
	if up != nil {
		up.CloseWith(jujuapi.CloseNormal, "")
		p.srv.metrics.upstreams.Dec()
	}
	p.downs.Wait()
	p.mu.Lock()
	for _, c := range p.pending {
		c.frame.Release()
	}
	clear(p.pending)
	p.mu.Unlock()
	p.srv.removeProxy(p)
	p.stop()
	p.client.Close()
	p.done()
}

func (s *Server) addProxy(p *modelProxy) {
	s.proxiesMu.Lock()
	defer s.proxiesMu.Unlock()
	if s.proxies[p.modelUUID] == nil {
		s.proxies[p.modelUUID] = map[*modelProxy]struct{}{}
	}
	s.proxies[p.modelUUID][p] = struct{}{}
}

func (s *Server) removeProxy(p *modelProxy) {
	s.proxiesMu.Lock()
	defer s.proxiesMu.Unlock()
	delete(s.proxies[p.modelUUID], p)
	if len(s.proxies[p.modelUUID]) == 0 {
		delete(s.proxies, p.modelUUID)
	}
}

// reroute moves the live connections to a model whose route changed onto
// the new controller: see modelProxy.rerouted.
func (s *Server) reroute(uuid string) {
	s.proxiesMu.Lock()
	ps := make([]*modelProxy, 0, len(s.proxies[uuid]))
	for p := range s.proxies[uuid] {
		ps = append(ps, p)
	}
	s.proxiesMu.Unlock()
	if len(ps) == 0 {
		return
	}
	m, err := s.routes.get(s.serveCtx, uuid)
	if err != nil {
		return // gone: its connections fail on their own
	}
	for _, p := range ps {
		go p.rerouted(m.ControllerID) // each may log in anew: not on the listener's goroutine
	}
}

// rerouteAll reroutes every live connection (after notifications may have
// been missed).
func (s *Server) rerouteAll() {
	s.proxiesMu.Lock()
	uuids := make([]string, 0, len(s.proxies))
	for uuid := range s.proxies {
		uuids = append(uuids, uuid)
	}
	s.proxiesMu.Unlock()
	for _, uuid := range uuids {
		s.reroute(uuid)
	}
}

// rerouted handles a route change for this connection's model: if the
// model now lives on another controller, the connection moves there.
func (p *modelProxy) rerouted(ctlID uint) {
	p.mu.Lock()
	moved := p.up != nil && p.model != nil && p.model.ControllerID != ctlID
	p.mu.Unlock()
	if moved {
		p.moveTo(ctlID)
	}
}

// moveTo moves the connection to the model's controller now, ctlID. A
// connection that uses server-side objects (watchers) cannot move and is
// closed, so that its client reconnects. Any other logs in on the new
// controller and replays, in order, the requests the old one left
// unanswered (with none, its next call logs in there): the client never
// notices. (Replaying is safe: a controller
// refuses writes while a model migrates, and a model it no longer hosts
// executes nothing.)
func (p *modelProxy) moveTo(ctlID uint) {
	p.attach.Lock()
	defer p.attach.Unlock()
	p.mu.Lock()
	if p.up == nil || p.model == nil || p.model.ControllerID == ctlID {
		p.mu.Unlock()
		return
	}
	if p.sticky {
		p.mu.Unlock()
		p.client.CloseWith(jujuapi.CloseGoingAway, "the model moved to another controller: reconnect")
		return
	}
	old := p.up
	p.up = nil
	calls := make([]pendingCall, 0, len(p.pending))
	for _, c := range p.pending {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	p.srv.metrics.upstreams.Dec()
	old.CloseWith(jujuapi.CloseNormal, "")
	if len(calls) == 0 {
		return // nothing to replay: the next call logs in on the new controller
	}
	slices.SortFunc(calls, func(a, b pendingCall) int { return cmp.Compare(a.id, b.id) })
	up, err := p.reattach(calls[0].id)
	for _, c := range calls {
		if err == nil {
			if err = up.WriteFrame(c.frame.Bytes()); err == nil {
				continue
			}
		}
		failed := jujuapi.Errorf(jujuapi.CodeTryAgain, "the model moved to another controller during this call, which could not follow it: %v", err)
		if call, took, ok := p.forget(c.id); ok {
			p.auditFailed(call, took, failed)
		}
		p.reply(c.id, nil, failed)
	}
}

// forget drops a pending call, releasing its frame, and returns it with
// how long it took. It reads the clock once: the duration, the metrics and
// the audit event of a relayed response all use it.
func (p *modelProxy) forget(id uint64) (c pendingCall, took time.Duration, ok bool) {
	now := time.Now()
	p.mu.Lock()
	c, ok = p.pending[id]
	delete(p.pending, id)
	if len(p.pending) == 0 {
		p.lastUse = now
	}
	p.mu.Unlock()
	if !ok {
		return c, 0, false
	}
	c.frame.Release()
	return c, now.Sub(c.start), true
}

// reply sends the client a response the broker made itself.
func (p *modelProxy) reply(id uint64, result any, err error) error {
	frame, encErr := jujuapi.EncodeResponse(id, result, err)
	if encErr != nil {
		return encErr
	}
	return p.client.WriteFrame(frame)
}

// login answers the client's frames until it has logged in and the
// controller connection is up. It reports whether to go on relaying.
func (p *modelProxy) login(ctx context.Context) bool {
	for {
		frame, err := p.client.NextFrame()
		if err != nil {
			if !jujuapi.IsClosed(err) || errors.Is(err, jujuapi.ErrFrameTooLarge) {
				p.client.CloseWith(jujuapi.CloseFor(err), err.Error())
			}
			return false
		}
		msg, err := jujuapi.DecodeMessage(frame.Bytes())
		frame.Release()
		if err != nil {
			p.client.CloseWith(jujuapi.CloseInvalidPayload, err.Error())
			return false
		}
		var result any
		switch {
		case !msg.IsRequest():
			err = jujuapi.Errorf(jujuapi.CodeBadRequest, "message %d is not a request", msg.RequestID)
		case msg.Type != "Admin":
			err = jujuapi.UnknownVersionError(msg.Type, msg.Version)
		case msg.Version != 3 && msg.Version != 4:
			err = jujuapi.UnknownVersionError(msg.Type, msg.Version)
		case msg.Request == "Login" || (msg.Version == 4 && (msg.Request == "LoginWithSessionToken" || msg.Request == "LoginWithClientCredentials")):
			result, err = p.controllerLogin(ctx, msg)
		case msg.Version == 4 && msg.Request == "LoginDevice":
			result, err = p.loginDevice(ctx)
		case msg.Version == 4 && msg.Request == "GetDeviceSessionToken":
			result, err = p.getDeviceSessionToken(ctx)
		default:
			err = jujuapi.UnknownMethodError(msg.Type, msg.Version, msg.Request)
		}
		if werr := p.reply(msg.RequestID, result, err); werr != nil {
			if p.up != nil {
				p.up.Close()
			}
			return false
		}
		if err == nil && p.up != nil {
			return true
		}
	}
}

// controllerLogin authenticates the caller, finds the model's controller,
// checks access, and logs in there with a token the broker signs carrying
// exactly the caller's access. It returns the login result to give the
// client, with the controller's identity replaced by the broker's.
func (p *modelProxy) controllerLogin(ctx context.Context, msg *jujuapi.Message) (*params.LoginResult, error) {
	s := p.srv
	id, err := p.authenticate(ctx, msg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	up, result, m, access, err := s.dialRoute(ctx, p.modelUUID, id, msg.RequestID)
	s.metrics.proxyDialDur.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	p.up, p.model, p.id, p.access = up, m, id, access
	s.metrics.upstreams.Inc()
	result.ControllerTag = jujuapi.ControllerTag(s.uuid).String()
	result.Servers = s.servers()
	result.PublicDNSName = ""
	if result.UserInfo != nil {
		result.UserInfo.ControllerAccess = controllerAccess(id)
	}
	return result, nil
}

// dialRoute opens a model connection for id on the controller that hosts
// the model, after any cutover in progress. A controller that answers with
// a redirect to a controller the broker knows has had the model moved away
// (outside the broker, or before the broker saw it): the route is healed
// and the login retried there, so the client never sees the redirect.
func (s *Server) dialRoute(ctx context.Context, uuid string, id *identity, reqID uint64) (*jujuapi.Conn, *params.LoginResult, *db.Model, string, error) {
	s.awaitCutover(ctx, uuid)
	for attempt := 0; ; attempt++ {
		m, err := s.routes.get(ctx, uuid)
		if err != nil {
			if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
				return nil, nil, nil, "", jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", uuid)
			}
			return nil, nil, nil, "", err
		}
		access, err := s.modelAccess(ctx, id, m)
		if err != nil {
			return nil, nil, nil, "", err
		}
		if access == accessNone {
			return nil, nil, nil, "", jujuapi.ErrPerm
		}
		up, result, err := s.dialModel(ctx, m, id, access, reqID)
		if jujuapi.ErrorCode(err) != jujuapi.CodeRedirect || attempt == 2 {
			return up, result, m, access, err
		}
		target, herr := s.healRoute(ctx, m, err)
		if herr != nil {
			return nil, nil, nil, "", herr
		}
		s.log.Info("followed a controller's redirect", "model", m.UUID, "from", m.Controller.Name, "to", target)
	}
}

// healRoute moves a model's route to the controller a redirect names.
func (s *Server) healRoute(ctx context.Context, m *db.Model, redirect error) (string, error) {
	var info params.RedirectErrorInfo
	var je *jujuapi.Error
	if !errors.As(redirect, &je) || je.UnmarshalInfo(&info) != nil || info.ControllerTag == "" {
		return "", jujuapi.Errorf(jujuapi.CodeTryAgain, "model %q moved, and its controller did not say where", m.Name)
	}
	tag, err := jujuapi.ParseControllerTag(info.ControllerTag)
	if err != nil {
		return "", jujuapi.Errorf(jujuapi.CodeTryAgain, "model %q moved to a controller the broker cannot name", m.Name)
	}
	var target db.Controller
	if err := s.db.WithContext(ctx).Where("uuid = ?", tag.ID).First(&target).Error; err != nil {
		s.log.Warn("model moved to a controller the broker does not know", "model", m.UUID, "controller-uuid", tag.ID, "alias", info.ControllerAlias)
		return "", jujuapi.Errorf(jujuapi.CodeTryAgain, "model %q moved to a controller this broker does not know; an administrator must register it", m.Name)
	}
	if err := s.flipTo(ctx, m.UUID, &target, nil); err != nil {
		return "", err
	}
	s.metrics.redirects.Inc()
	s.routes.forget(m.UUID)
	return target.Name, nil
}

func (p *modelProxy) authenticate(ctx context.Context, msg *jujuapi.Message) (*identity, error) {
	switch msg.Request {
	case "LoginWithClientCredentials":
		var req params.LoginWithClientCredentialsRequest
		if err := decodeLogin(msg, &req); err != nil {
			return nil, err
		}
		return p.srv.loginClientCredentials(ctx, p.remote, req.ClientID, req.ClientSecret)
	case "LoginWithSessionToken":
		var req params.LoginWithSessionTokenRequest
		if err := decodeLogin(msg, &req); err != nil {
			return nil, err
		}
		return p.srv.loginSessionToken(ctx, p.remote, req.SessionToken)
	}
	var req params.LoginRequest
	if err := decodeLogin(msg, &req); err != nil {
		return nil, err
	}
	return p.srv.loginPassword(ctx, p.remote, req)
}

// decodeLogin decodes a login request's params into req.
func decodeLogin(msg *jujuapi.Message, req any) error {
	if err := json.Unmarshal(msg.Params, req); err != nil {
		return jujuapi.Errorf(jujuapi.CodeBadRequest, "cannot decode params: %v", err)
	}
	return nil
}

// dialModel opens a model connection to m's controller and logs in with a
// token for id, using request id reqID (the client's login's, so the ids
// the controller sees stay the client's).
func (s *Server) dialModel(ctx context.Context, m *db.Model, id *identity, access string, reqID uint64) (*jujuapi.Conn, *params.LoginResult, error) {
	unavailable := func(err error) error {
		s.log.Warn("cannot reach the model's controller", "model", m.UUID, "controller", m.Controller.Name, "err", err)
		return jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q is unavailable; try again later", m.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, controllerLoginTimeout)
	defer cancel()
	// The token carries exactly the caller's access: to the model, to its
	// controller (superuser only for broker administrators) and to its
	// cloud.
	cloudAccess, err := s.cloudAccess(ctx, id, m.Cloud)
	if err != nil {
		return nil, nil, err
	}
	claims := map[string]string{
		jujuapi.ControllerTag(m.Controller.UUID).String(): controllerAccess(id),
		jujuapi.ModelTag(m.UUID).String():                 access,
	}
	if cloudAccess != "" {
		claims[jujuapi.CloudTag(m.Cloud).String()] = cloudAccess
	}
	token, err := s.keys.Mint(time.Now(), authz.TokenClaims{
		Subject: id.userTag(), Audience: m.Controller.UUID, Access: claims, TTL: s.cfg.ControllerTokenTTL, Issuer: s.issuer(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sign controller token: %w", err)
	}
	up, err := controllers.EndpointOf(&m.Controller).Dial(ctx, "/model/"+m.UUID+"/api", jujuapi.ConnOptions{})
	if err != nil {
		return nil, nil, unavailable(err)
	}
	req, _ := json.Marshal(&jujuapi.Message{RequestID: reqID, Type: "Admin", Version: 3, Request: "Login",
		Params: mustJSON(params.LoginRequest{AuthTag: id.userTag(), Token: token, ClientVersion: s.cfg.JujuVersion})})
	stop := context.AfterFunc(ctx, func() { up.Close() })
	defer stop()
	if err := up.WriteFrame(req); err != nil {
		up.Close()
		return nil, nil, unavailable(err)
	}
	frame, err := up.NextFrame()
	if err != nil {
		up.Close()
		return nil, nil, unavailable(err)
	}
	resp, err := jujuapi.DecodeMessage(frame.Bytes())
	frame.Release()
	if err != nil {
		up.Close()
		return nil, nil, unavailable(err)
	}
	if err := resp.Err(); err != nil {
		up.Close()
		s.log.Info("controller refused the broker's login", "model", m.UUID, "controller", m.Controller.Name, "err", err)
		return nil, nil, err
	}
	var result params.LoginResult
	if err := json.Unmarshal(resp.Response, &result); err != nil {
		up.Close()
		return nil, nil, unavailable(fmt.Errorf("decode login result: %w", err))
	}
	return up, &result, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// The relay copies frames both ways until the client goes. It reads only
// envelopes: to refuse a second login, to time calls for the metrics, to
// see when the connection is idle, and to hide the controller's UUID in
// what the client receives. Frames are relayed as they came, in pooled
// buffers.

// relayUp copies client frames to the controller, logging in again first
// when the connection was detached. A connection idle for
// Config.ProxyDetachAfter is detached, and then parks: relayUp reports
// true, and serveUp runs again when the client next sends.
func (p *modelProxy) relayUp() (parked bool) {
	var env jujuapi.Envelope
	// What the loop knows of the connection, kept up to date where it
	// holds p.mu anyway: whether it is detached, and how long to wait for
	// the client before checking whether to detach (0: for good).
	detachAfter := max(p.srv.cfg.ProxyDetachAfter, 0)
	detached, wait := p.detachIfIdle()
	// Not on entry: a resumed connection reads first (see Conn.Park).
	mayPark := false
	for {
		if mayPark && detached && p.client.Park(p.serveUp) {
			return true
		}
		mayPark = true
		frame, err := p.client.NextFrameWithin(wait)
		if err == jujuapi.ErrIdle {
			detached, wait = p.detachIfIdle()
			continue
		}
		if err != nil {
			if !jujuapi.IsClosed(err) || errors.Is(err, jujuapi.ErrFrameTooLarge) {
				p.client.CloseWith(jujuapi.CloseFor(err), err.Error())
			}
			return false
		}
		if err := jujuapi.ScanEnvelope(frame.Bytes(), &env); err != nil {
			frame.Release()
			p.client.CloseWith(jujuapi.CloseInvalidPayload, err.Error())
			return false
		}
		if env.Type == "Admin" {
			// The connection is the broker's login; it stays so.
			frame.Release()
			p.reply(env.RequestID, nil, jujuapi.ErrLoggedIn)
			continue
		}
		p.attach.Lock()
		p.mu.Lock()
		up := p.up
		detached = up == nil
		if detached && env.ID == "" && env.Type == "Pinger" && env.Request == "Ping" {
			// Detached and idle: the broker answers for itself.
			p.mu.Unlock()
			p.attach.Unlock()
			frame.Release()
			p.reply(env.RequestID, nil, nil)
			continue
		}
		if env.ID != "" {
			p.sticky = true
		}
		if wait = detachAfter; p.sticky {
			wait = 0
		}
		if p.pending == nil {
			p.pending = make(map[uint64]pendingCall, 1)
		}
		p.pending[env.RequestID] = pendingCall{id: env.RequestID, start: time.Now(), facade: env.Type, method: env.Request, frame: frame}
		p.mu.Unlock()
		if up == nil {
			if up, err = p.reattach(env.RequestID); err != nil {
				p.attach.Unlock()
				if call, took, ok := p.forget(env.RequestID); ok {
					p.auditFailed(call, took, err)
				}
				p.reply(env.RequestID, nil, err)
				continue
			}
			detached = false
		}
		err = up.WriteFrame(frame.Bytes())
		p.attach.Unlock()
		if err != nil {
			p.client.CloseWith(jujuapi.CloseGoingAway, "controller connection lost")
			return false
		}
	}
}

// startDown starts relaying frames from up, a connection to the controller
// whose UUID is ctlUUID, to the client.
func (p *modelProxy) startDown(up *jujuapi.Conn, ctlUUID []byte) {
	p.downs.Add(1)
	go func() {
		defer p.downs.Done()
		p.relayDown(up, ctlUUID)
	}()
}

// relayDown copies frames from one controller connection to the client
// until that connection closes. If it closed because the broker detached
// it, the client connection goes on.
func (p *modelProxy) relayDown(up *jujuapi.Conn, ctlUUID []byte) {
	var env jujuapi.Envelope
	rpcs := p.srv.metrics.rpcs
	brokerUUID := []byte(p.srv.uuid)
	for {
		frame, err := up.NextFrame()
		if err != nil {
			p.mu.Lock()
			current := p.up == up
			if current {
				p.up = nil
			}
			p.mu.Unlock()
			if current {
				p.srv.metrics.upstreams.Dec()
				p.client.CloseWith(jujuapi.CloseGoingAway, "controller connection closed")
			}
			return
		}
		data := frame.Bytes()
		if jujuapi.ScanEnvelope(data, &env) == nil {
			if p.modelGone(&env) && p.followModel() {
				// The model left this controller; the connection moved
				// and replayed this request where the model is now.
				frame.Release()
				return
			}
			if call, took, ok := p.forget(env.RequestID); ok {
				rpcs.WithLabelValues(call.facade, call.method, env.ErrorCode).Observe(took.Seconds())
				p.auditRelayed(call, took, env.ErrorCode, env.Error)
			}
		}
		if bytes.Contains(data, ctlUUID) {
			data = bytes.ReplaceAll(data, ctlUUID, brokerUUID)
		}
		err = p.client.WriteFrame(data)
		frame.Release()
		if err != nil {
			up.CloseWith(jujuapi.CloseNormal, "")
			return
		}
	}
}

// followModel finds where the connection's model went after its
// controller said it is no longer there, and moves the connection there.
// It reports whether the connection moved.
func (p *modelProxy) followModel() bool {
	p.srv.checkRoute(p.modelUUID)
	m, err := p.srv.routes.get(p.ctx, p.modelUUID)
	if err != nil {
		return false
	}
	p.mu.Lock()
	moved := p.model != nil && p.model.ControllerID != m.ControllerID
	p.mu.Unlock()
	if moved {
		p.moveTo(m.ControllerID)
	}
	return moved
}

// modelGone reports whether a response says that the connection's model
// is no longer on this controller: a redirect, or "not found" naming it.
func (p *modelProxy) modelGone(env *jujuapi.Envelope) bool {
	switch env.ErrorCode {
	case jujuapi.CodeRedirect:
		return true
	case jujuapi.CodeNotFound, jujuapi.CodeModelNotFound:
		return strings.Contains(env.Error, p.modelUUID)
	}
	return false
}

// detachIfIdle closes the controller side of an idle connection: no call
// in flight since Config.ProxyDetachAfter, and no server-side object in
// use. It reports whether the connection is detached, and otherwise how
// long relayUp should wait before asking again (0: it never detaches).
func (p *modelProxy) detachIfIdle() (detached bool, wait time.Duration) {
	after := p.srv.cfg.ProxyDetachAfter
	p.attach.Lock() // not while a call is being sent or the connection moves
	defer p.attach.Unlock()
	p.mu.Lock()
	switch {
	case p.up == nil:
		p.mu.Unlock()
		return true, 0
	case after <= 0 || p.sticky:
		p.mu.Unlock()
		return false, 0
	case len(p.pending) > 0:
		p.mu.Unlock()
		return false, after
	}
	if idle := time.Since(p.lastUse); idle < after {
		p.mu.Unlock()
		return false, max(after-idle, after/10)
	}
	up := p.up
	p.up = nil
	p.pending = nil // an idle connection keeps no map
	p.mu.Unlock()
	p.srv.metrics.upstreams.Dec()
	go up.CloseWith(jujuapi.CloseNormal, "") // its relayDown ends; the client's goes on
	return true, 0
}

// reattach logs in to the model's controller again for a detached
// connection, with the caller's access as it is now, and returns the new
// controller connection. reqID is the call that needs it.
func (p *modelProxy) reattach(reqID uint64) (*jujuapi.Conn, error) {
	s := p.srv
	up, _, m, access, err := s.dialRoute(p.ctx, p.modelUUID, p.id, reqID)
	if err != nil {
		return nil, err
	}
	s.metrics.reattaches.Inc()
	s.metrics.upstreams.Inc()
	p.mu.Lock()
	p.up, p.model, p.access = up, m, access
	p.lastUse = time.Now()
	p.mu.Unlock()
	p.startDown(up, []byte(m.Controller.UUID))
	return up, nil
}
