package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// modelConn is one client's model connection: the broker answers its
// login, then relays frames between the client and the hosting
// controller.
//
// A connection with no call in flight for DetachAfter closes its
// controller side (the Juju protocol is strictly request and response, so
// nothing is lost) and logs in again on the next call; while detached the
// broker answers pings itself. A connection with a server-side object
// in use (a request named one with an "id", e.g. a watcher) keeps its
// controller connection.
//
// Lock order: attach, then mu. attach serialises sending with moving and
// detaching; mu guards the fields below it, and is held only briefly.
type modelConn struct {
	px        *Proxy
	client    *jujuapi.Conn
	modelUUID string
	remote    string
	ctx       context.Context

	device *authz.DeviceLogin // from LoginDevice, until GetDeviceSessionToken (before login only)

	// attach serialises sending with moving: a request is recorded as
	// pending and written to the controller under it, and a move to
	// another controller (replaying the pending requests) holds it.
	attach sync.Mutex

	mu      sync.Mutex
	id      *identity.Identity // who logged in
	access  string             // their access to the model at login
	up      *jujuapi.Conn      // the controller; nil while detached
	model   *db.Model          // the route the connection was last attached by
	pending pendingSet
	sticky  bool           // a server-side object is in use: never detach
	objects *watchState    // the server-side objects named (watchers.go); nil until one is
	lastUse time.Time      // when the last call completed
	downs   sync.WaitGroup // relayDown relays (parked ones too: see startDown)

	// The calls in flight, counted (limits.go): other calls, waiting ones
	// (watcher Next, pings), and their requests' bytes.
	calls, waiting, bytes int
	freed                 chan struct{}       // made when the relay waits for room; signalled as calls end
	late                  map[uint64]struct{} // calls the broker answered itself: their responses are dropped
	deadline              clock.Timer         // the next call deadline, when deadlineSet
	deadlineSet           bool
	ended                 bool // no deadline is armed again
	drained               sync.Once

	// draining: the broker is shutting down; close once no call (other
	// than waiting ones) is in flight. Atomic, so that the relay's check
	// after each response takes no lock until a drain begins.
	draining atomic.Bool

	stop    func() bool // undoes closing on the broker's shutdown
	done    func()      // reports the connection ended
	release func()      // forgets the login's tracking (identity.Track); nil until login
}

// pendingCall is a relayed request awaiting its response. Its frame is
// kept until then, so that the request can be replayed on another
// controller if the model moves under it.
type pendingCall struct {
	id             uint64
	start          time.Time
	facade, method string
	version        int
	watcher        string // the client's AllWatcher id the call names, if any
	frame          *jujuapi.Frame
	size           int  // the memory its frame holds
	waiting        bool // a watcher's Next or a ping: counted apart
	unbounded      bool // a watcher's Next: no deadline
}

// run answers the login on this goroutine, then hands the connection to
// fresh goroutines and returns: an idle proxied connection keeps only their
// small stacks, not the login's. relayUp owns the connection from then on.
// Either side's reader parks once its peer has been quiet for a second
// (see jujuapi.Conn.Park), so an idle connection, attached or detached,
// keeps no goroutine at all.
func (c *modelConn) run(done func()) {
	c.stop = context.AfterFunc(c.ctx, func() { c.client.CloseWith(jujuapi.CloseGoingAway, "broker shutting down") })
	if !c.login(c.ctx) {
		if c.release != nil {
			c.release()
		}
		c.stop()
		c.client.Close()
		done()
		return
	}
	c.done = done
	c.lastUse = c.px.clock.Now()
	c.px.track(c)
	c.px.routes.Add(c)
	c.startDown(c.up, []byte(c.model.Controller.UUID))
	go c.serveUp()
}

// serveUp relays the client's frames until the connection ends or parks;
// a parked connection comes back here when the client sends again.
func (c *modelConn) serveUp() {
	if c.relayUp() {
		return // parked
	}
	c.mu.Lock()
	up := c.up
	c.up = nil
	c.mu.Unlock()
	if up != nil {
		up.CloseWith(jujuapi.CloseNormal, "")
		c.px.upstreams.Dec()
	}
	c.downs.Wait()
	c.stopDeadline()
	c.mu.Lock()
	for _, call := range c.takeAllLocked() {
		call.frame.Release()
	}
	c.late = nil
	c.mu.Unlock()
	c.px.untrack(c)
	c.px.routes.Remove(c)
	c.release()
	c.stop()
	c.client.Close()
	c.done()
}

// ModelUUID implements routing.Conn.
func (c *modelConn) ModelUUID() string { return c.modelUUID }

// RouteChanged implements routing.Conn: if the model now lives on another
// controller, the connection moves there.
func (c *modelConn) RouteChanged(ctlID uint) {
	c.mu.Lock()
	moved := c.up != nil && c.model != nil && c.model.ControllerID != ctlID
	c.mu.Unlock()
	if moved {
		c.moveTo(ctlID)
	}
}

// AccessChanged implements routing.Conn: a connection whose caller's
// access to its model changed is closed, so that its client reconnects
// and logs in with its new access (or is refused). The controller decided
// what the connection may do at login, from the broker's token, so it
// cannot be changed in place.
func (c *modelConn) AccessChanged(ctx context.Context) {
	c.mu.Lock()
	id, m, had := c.id, c.model, c.access
	c.mu.Unlock()
	if id == nil || m == nil {
		return
	}
	ids := c.px.identity
	admin, err := ids.IsBrokerAdmin(ctx, id.Name)
	if err != nil {
		c.logger().Warn("cannot recheck model access", "err", err)
		return
	}
	now := authz.AccessAdmin
	if !admin {
		if now, err = ids.ModelAccess(ctx, &identity.Identity{Name: id.Name}, m); err != nil {
			c.logger().Warn("cannot recheck model access", "err", err)
			return
		}
	}
	if now != had || admin != id.Admin {
		c.logger().Info("closing a model connection whose access changed", "was", had, "now", now)
		c.client.CloseWith(jujuapi.CloseGoingAway, "your access to this model changed: reconnect")
	}
}

// logger is the connection's logger: every line names its model, the
// client's address and, once logged in, the user. It is made when a line
// is logged, which is rare, rather than held by every idle connection.
func (c *modelConn) logger() *slog.Logger {
	l := c.px.log.With("model", c.modelUUID, "remote", c.remote)
	c.mu.Lock()
	id := c.id
	c.mu.Unlock()
	if id != nil {
		l = l.With("user", id.Name)
	}
	return l
}

// reply sends the client a response the broker made itself.
func (c *modelConn) reply(id uint64, result any, err error) error {
	frame, encErr := jujuapi.EncodeResponse(id, result, err)
	if encErr != nil {
		return encErr
	}
	werr := c.client.WriteFrame(frame)
	c.closeIfDrained()
	return werr
}

// brokerLogins is the Admin version of the logins only a broker answers
// (session tokens, device logins, client credentials).
const brokerLogins = jujuapi.AdminSessionLoginVersion

// login answers the client's frames until it has logged in and the
// controller connection is up. It reports whether to go on relaying.
func (c *modelConn) login(ctx context.Context) bool {
	for {
		frame, err := c.client.NextFrame()
		if err != nil {
			if !jujuapi.IsClosed(err) || errors.Is(err, jujuapi.ErrFrameTooLarge) {
				c.client.CloseWith(jujuapi.CloseFor(err), err.Error())
			}
			return false
		}
		msg, err := jujuapi.DecodeMessage(frame.Bytes())
		frame.Release()
		if err != nil {
			c.client.CloseWith(jujuapi.CloseInvalidPayload, err.Error())
			return false
		}
		var result any
		switch {
		case !msg.IsRequest():
			err = jujuapi.Errorf(jujuapi.CodeBadRequest, "message %d is not a request", msg.RequestID)
		case msg.Type != "Admin":
			err = jujuapi.UnknownVersionError(msg.Type, msg.Version)
		case !slices.Contains(c.px.adminVersions, msg.Version):
			err = jujuapi.UnknownVersionError(msg.Type, msg.Version)
		case msg.Request == "Login" || (msg.Version == brokerLogins && (msg.Request == "LoginWithSessionToken" || msg.Request == "LoginWithClientCredentials")):
			result, err = c.controllerLogin(ctx, msg)
		case msg.Version == brokerLogins && msg.Request == "LoginDevice":
			result, err = c.loginDevice(ctx)
		case msg.Version == brokerLogins && msg.Request == "GetDeviceSessionToken":
			result, err = c.getDeviceSessionToken(ctx)
		default:
			err = jujuapi.UnknownMethodError(msg.Type, msg.Version, msg.Request)
		}
		// A database failure is "try again" (or an internal error), never
		// "invalid credentials" nor the driver's words.
		err = dbfault.ForClient(err, c.logger())
		if werr := c.reply(msg.RequestID, result, err); werr != nil {
			if c.up != nil {
				c.up.Close()
			}
			return false
		}
		if err == nil && c.up != nil {
			c.client.LoggedIn() // the login deadline no longer applies
			return true
		}
	}
}

// controllerLogin authenticates the caller, finds the model's controller,
// checks access, and logs in there with a token the broker signs carrying
// exactly the caller's access. It returns the login result to give the
// client, with the controller's identity replaced by the broker's.
func (c *modelConn) controllerLogin(ctx context.Context, msg *jujuapi.Message) (*params.LoginResult, error) {
	px := c.px
	id, err := c.authenticate(ctx, msg)
	if err != nil {
		return nil, err
	}
	// The connection ends with the login's session, or when its identity
	// is disabled; and counts toward its identity's connections.
	release, err := px.identity.Track(id, func(reason string) { c.client.CloseWith(identity.CloseSessionEnded, reason) })
	if err != nil {
		return nil, err
	}
	start := px.clock.Now()
	up, result, m, access, err := c.dialRoute(ctx, c.modelUUID, id, msg.RequestID)
	px.dialDur.Observe(px.clock.Now().Sub(start).Seconds())
	if err != nil {
		release()
		return nil, err
	}
	c.release = release
	c.up, c.model, c.id, c.access = up, m, id, access
	px.upstreams.Inc()
	result.ControllerTag = jujuapi.ControllerTag(px.brokerUUID).String()
	result.Servers = px.servers
	result.PublicDNSName = ""
	if result.UserInfo != nil {
		result.UserInfo.ControllerAccess = id.ControllerAccess()
	}
	return result, nil
}

func (c *modelConn) authenticate(ctx context.Context, msg *jujuapi.Message) (*identity.Identity, error) {
	ids := c.px.identity
	switch msg.Request {
	case "LoginWithClientCredentials":
		var req params.LoginWithClientCredentialsRequest
		if err := decodeLogin(msg, &req); err != nil {
			return nil, err
		}
		return ids.ClientCredentials(ctx, c.remote, req.ClientID, req.ClientSecret)
	case "LoginWithSessionToken":
		var req params.LoginWithSessionTokenRequest
		if err := decodeLogin(msg, &req); err != nil {
			return nil, err
		}
		return ids.JujuSessionLogin(ctx, c.remote, req.SessionToken)
	}
	var req params.LoginRequest
	if err := decodeLogin(msg, &req); err != nil {
		return nil, err
	}
	return ids.JujuLogin(ctx, c.remote, req)
}

// decodeLogin decodes a login request's params into req.
func decodeLogin(msg *jujuapi.Message, req any) error {
	if err := json.Unmarshal(msg.Params, req); err != nil {
		return jujuapi.Errorf(jujuapi.CodeBadRequest, "cannot decode params: %v", err)
	}
	return nil
}

// Admin(4) on a model connection: the Juju client starts a device login
// wherever its session token is refused, model connections included.

func (c *modelConn) loginDevice(ctx context.Context) (*params.LoginDeviceResponse, error) {
	d, err := c.px.identity.StartDevice(ctx, c.remote)
	if err != nil {
		return nil, err
	}
	c.device = d
	c.client.ExtendLoginUntil(d.Expiry) // the person has until the code expires
	return &params.LoginDeviceResponse{VerificationURI: d.VerificationURI, UserCode: d.UserCode}, nil
}

func (c *modelConn) getDeviceSessionToken(ctx context.Context) (params.GetDeviceSessionTokenResponse, error) {
	d := c.device
	c.device = nil
	return c.px.identity.DeviceSessionToken(ctx, c.remote, d)
}
