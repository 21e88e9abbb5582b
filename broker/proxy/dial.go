package proxy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// dialRoute opens a connection to model uuid (the connection's) for id on
// the controller that hosts it, after any cutover in progress. A controller that
// answers with a redirect to a controller the broker knows has had the
// model moved away (outside the broker, or before the broker saw it): the
// route is healed and the login retried there, so the client never sees
// the redirect.
func (c *modelConn) dialRoute(ctx context.Context, uuid string, id *identity.Identity, reqID uint64) (*jujuapi.Conn, *params.LoginResult, *db.Model, string, error) {
	routes := c.px.routes
	routes.AwaitCutover(ctx, uuid)
	for attempt := 0; ; attempt++ {
		m, err := routes.Route(ctx, uuid)
		if err != nil {
			if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
				return nil, nil, nil, "", jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", uuid)
			}
			return nil, nil, nil, "", err
		}
		access, err := c.px.identity.ModelAccess(ctx, id, m)
		if err != nil {
			return nil, nil, nil, "", err
		}
		if access == authz.AccessNone {
			// The same answer as for a model that does not exist: a caller
			// with no access learns nothing of which UUIDs do.
			return nil, nil, nil, "", jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", uuid)
		}
		up, result, err := c.dialModel(ctx, m, id, access, reqID)
		if jujuapi.ErrorCode(err) != jujuapi.CodeRedirect || attempt == 2 {
			return up, result, m, access, err
		}
		target, herr := routes.Heal(ctx, m, err)
		if herr != nil {
			return nil, nil, nil, "", herr
		}
		c.logger().Info("followed a controller's redirect", "from", m.Controller.Name, "to", target)
	}
}

// dialModel opens a model connection to m's controller and logs in with a
// token for id, using request id reqID (the client's login's, so the ids
// the controller sees stay the client's).
func (c *modelConn) dialModel(ctx context.Context, m *db.Model, id *identity.Identity, access string, reqID uint64) (*jujuapi.Conn, *params.LoginResult, error) {
	px := c.px
	unavailable := func(err error) error {
		if dbfault.IsDatabase(err) {
			return dbfault.ForClient(err, c.logger()) // the broker's failure, not the controller's
		}
		c.logger().Warn("cannot reach the model's controller", "controller", m.Controller.Name, "err", err)
		return jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q is unavailable; try again later", m.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	token, err := px.identity.ControllerToken(ctx, id, m, access)
	if err != nil {
		return nil, nil, err
	}
	up, err := px.dial(ctx, m)
	if err != nil {
		return nil, nil, unavailable(err)
	}
	loginParams, err := json.Marshal(params.LoginRequest{AuthTag: id.UserTag(), Token: token, ClientVersion: px.jujuVersion})
	if err != nil {
		up.Close()
		return nil, nil, fmt.Errorf("encode the login to controller %q: %w", m.Controller.Name, err)
	}
	req, _ := json.Marshal(&jujuapi.Message{RequestID: reqID, Type: "Admin", Version: 3, Request: "Login", Params: loginParams})
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
		c.logger().Info("controller refused the broker's login", "controller", m.Controller.Name, "err", err)
		return nil, nil, err
	}
	var result params.LoginResult
	if err := json.Unmarshal(resp.Response, &result); err != nil {
		up.Close()
		return nil, nil, unavailable(fmt.Errorf("decode login result: %w", err))
	}
	return up, &result, nil
}
