package modelhttp

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// A model's HTTP WebSocket endpoints (its debug log, /model/<uuid>/log)
// are streams rather than RPC: after the upgrade the controller sends an
// initial frame, an ErrorResult (empty when all is well), then records,
// until it or the client closes. Juju authenticates them from the upgrade
// request's basic auth, not with an RPC login, and accepts no token there:
// so the broker authenticates the client itself, checks its access, and
// reaches the controller with the controller's own admin credentials
// (which the client never sees).

// StreamRequest is a client's request for a model's stream endpoint.
type StreamRequest struct {
	ModelUUID string
	// Path is the endpoint below the model, e.g. "/log"; Query is the
	// request's raw query, passed on as it came.
	Path, Query string
	Remote      string
	// User and Password are the request's basic auth, when HasAuth.
	User, Password string
	HasAuth        bool
}

// StreamConnOptions are the options of both ends of a stream: a stream's
// client sends nothing after the upgrade, and a quiet log sends nothing
// for long, so neither end is closed for idleness (a dead peer shows as a
// failed write, or through TCP keepalive).
var StreamConnOptions = jujuapi.ConnOptions{IdleTimeout: -1}

// ServeStream serves a client's stream on a model's endpoint, conn being
// the client's upgraded connection, and calls done when it has ended. A
// refusal is sent as a Juju controller sends it: an initial frame holding
// the error, then a close. When ctx ends (the broker replica shuts down)
// the stream is closed with status 1012, service restart: its client
// reconnects, to another replica.
func (p *Endpoints) ServeStream(ctx context.Context, conn *jujuapi.Conn, req StreamRequest, done func()) {
	defer done()
	stop := context.AfterFunc(ctx, func() { conn.CloseWith(jujuapi.CloseServiceRestart, "broker replica shutting down: reconnect") })
	defer stop()
	// The stream ends with the login's session, or when its identity is
	// disabled; and counts toward its identity's connections.
	end := func(reason string) { conn.CloseWith(identity.CloseSessionEnded, reason) }
	up, first, release, err := p.openStream(ctx, req, end)
	if err != nil {
		err = dbfault.ForClient(err, p.log)
		p.log.Info("refused a model stream", "model", req.ModelUUID, "path", req.Path, "remote", req.Remote, "err", err)
		sendInitialError(conn, err)
		return
	}
	defer release()
	conn.LoggedIn() // authenticated: the login deadline no longer applies
	if err := conn.WriteFrame(first); err != nil {
		up.Close()
		conn.Close()
		return
	}
	relayStream(conn, up)
}

// openStream authenticates the caller, checks it may read the model, and
// opens the same endpoint on the model's controller, returning the
// connection and the controller's initial frame (which says all is well).
// A controller that answers with a redirect has had the model moved away:
// the route is healed and the stream opened where the model is now. The
// stream is tracked (identity.Track) with end until release is called.
func (p *Endpoints) openStream(ctx context.Context, req StreamRequest, end func(reason string)) (up *jujuapi.Conn, first []byte, release func(), err error) {
	if !req.HasAuth {
		return nil, nil, nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "authentication failed: no credentials provided")
	}
	id, err := p.identity.JujuHTTPLogin(ctx, req.Remote, req.User, req.Password)
	if dbfault.IsDatabase(err) {
		return nil, nil, nil, dbfault.ForClient(err, p.log) // the broker's failure, not the caller's credentials
	}
	if err != nil {
		return nil, nil, nil, jujuapi.Errorf(jujuapi.ErrorCode(err), "authentication failed: %v", err)
	}
	if release, err = p.identity.Track(id, end); err != nil {
		return nil, nil, nil, err
	}
	up, first, err = p.dialRouted(ctx, req, id)
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	return up, first, release, nil
}

// dialRouted checks that id may read the stream's model and opens the
// stream on the controller hosting it (see openStream).
func (p *Endpoints) dialRouted(ctx context.Context, req StreamRequest, id *identity.Identity) (*jujuapi.Conn, []byte, error) {
	p.routes.AwaitCutover(ctx, req.ModelUUID)
	for attempt := 0; ; attempt++ {
		m, err := p.routes.Route(ctx, req.ModelUUID)
		if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
			return nil, nil, jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", req.ModelUUID)
		}
		if err != nil {
			return nil, nil, err
		}
		access, err := p.identity.ModelAccess(ctx, id, m)
		if err != nil {
			return nil, nil, err
		}
		if access == authz.AccessNone {
			return nil, nil, jujuapi.ErrPerm
		}
		up, first, err := p.dialStream(ctx, m, req)
		if jujuapi.ErrorCode(err) != jujuapi.CodeRedirect || attempt == 2 {
			return up, first, err
		}
		if _, err := p.routes.Heal(ctx, m, err); err != nil {
			return nil, nil, err
		}
	}
}

// dialStream opens the stream on m's controller and reads its initial
// frame: a refusal there is returned as an error.
func (p *Endpoints) dialStream(ctx context.Context, m *db.Model, req StreamRequest) (*jujuapi.Conn, []byte, error) {
	unavailable := func(err error) error {
		if dbfault.IsDatabase(err) {
			return dbfault.ForClient(err, p.log) // the broker's failure, not the controller's
		}
		p.log.Warn("cannot open a stream on the model's controller", "model", m.UUID, "controller", m.Controller.Name, "path", req.Path, "err", err)
		return jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q is unavailable; try again later", m.Name)
	}
	dialCtx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	path := "/model/" + m.UUID + req.Path
	if req.Query != "" {
		path += "?" + req.Query
	}
	up, err := p.dialStreamTo(dialCtx, m, path)
	if err != nil {
		return nil, nil, unavailable(err)
	}
	stop := context.AfterFunc(dialCtx, func() { up.Close() })
	frame, err := up.NextFrame()
	stopped := stop()
	if err != nil || !stopped {
		up.Close()
		if err == nil {
			err = dialCtx.Err()
		}
		return nil, nil, unavailable(err)
	}
	first := append([]byte(nil), frame.Bytes()...)
	frame.Release()
	var res params.ErrorResult
	if err := json.Unmarshal(first, &res); err != nil {
		up.Close()
		return nil, nil, unavailable(err)
	}
	if res.Error != nil {
		up.Close()
		return nil, nil, res.Error
	}
	return up, first, nil
}

// sendInitialError sends a stream's client err as its initial frame (one
// line of JSON, as Juju writes it), then closes the connection.
func sendInitialError(conn *jujuapi.Conn, err error) {
	frame, _ := json.Marshal(params.ErrorResult{Error: dbfault.AsError(err, nil)})
	conn.WriteFrame(append(frame, '\n'))
	conn.CloseWith(jujuapi.CloseNormal, "")
}

// relayStream copies frames both ways between a stream's client and its
// controller until either side closes, then closes the other.
func relayStream(client, up *jujuapi.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyFrames(client, up)
	}()
	copyFrames(up, client)
	<-done
}

// copyFrames copies frames from src to dst until src ends (then dst is
// closed, with src's close code when it had one) or dst fails (then src
// is closed).
func copyFrames(dst, src *jujuapi.Conn) {
	for {
		f, err := src.NextFrame()
		if err != nil {
			code := jujuapi.CloseCode(err)
			if code == 0 || errors.Is(err, jujuapi.ErrFrameTooLarge) {
				code = jujuapi.CloseFor(err)
			}
			dst.CloseWith(code, "")
			return
		}
		err = dst.WriteFrame(f.Bytes())
		f.Release()
		if err != nil {
			src.Close()
			return
		}
	}
}
