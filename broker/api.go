package broker

import (
	"context"
	"net/http"
	"sync"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// apiSession is one client connection to /api, answered by the broker.
type apiSession struct {
	srv    *Server
	remote string

	mu     sync.Mutex
	id     *identity          // nil until login
	device *authz.DeviceLogin // from LoginDevice, until GetDeviceSessionToken
}

// ServeRequest implements jujuapi.Handler.
func (a *apiSession) ServeRequest(ctx context.Context, req *jujuapi.Message) (any, error) {
	a.mu.Lock()
	loggedIn := a.id != nil
	a.mu.Unlock()
	if !loggedIn && req.Type != "Admin" {
		return nil, jujuapi.UnknownVersionError(req.Type, req.Version)
	}
	start := now()
	result, err := a.srv.apiRoot.Serve(ctx, a, req)
	a.srv.metrics.rpcs.WithLabelValues(req.Type, req.Request, jujuapi.ErrorCode(err)).Observe(since(start))
	a.auditAPICall(req, start, result, err)
	return result, err
}

func (a *apiSession) caller() *identity {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	conn, err := jujuapi.Upgrade(w, r, s.cfg.Conn)
	if err != nil {
		s.log.Debug("rejected API connection", "err", err)
		return
	}
	a := &apiSession{srv: s, remote: r.RemoteAddr}
	s.goServe("api", conn, func(ctx context.Context, done func()) {
		defer done()
		jujuapi.Serve(ctx, conn, a, jujuapi.ServerOptions{ConnOptions: s.cfg.Conn, Logger: s.log})
	})
}

type apiRoot = jujuapi.Registry[*apiSession]

// buildAPIRoot lists the facades the broker answers on /api, with the
// versions a Juju 3.5 controller serves (Admin 4 for token logins).
func buildAPIRoot() *apiRoot {
	r := &apiRoot{}
	r.Register("Admin", []int{3, 4}, "Login", jujuapi.Typed((*apiSession).login))
	r.Register("Admin", []int{4}, "LoginWithSessionToken", jujuapi.Typed((*apiSession).loginWithSessionToken))
	r.Register("Admin", []int{4}, "LoginDevice", jujuapi.Typed((*apiSession).loginDevice))
	r.Register("Admin", []int{4}, "GetDeviceSessionToken", jujuapi.Typed((*apiSession).getDeviceSessionToken))
	r.Register("Admin", []int{4}, "LoginWithClientCredentials", jujuapi.Typed((*apiSession).loginWithClientCredentials))
	r.Register("Pinger", []int{1}, "Ping", jujuapi.NoParams(func(*apiSession, context.Context) (struct{}, error) { return struct{}{}, nil }))
	mm := []int{9, 10}
	r.Register("ModelManager", mm, "ListModels", jujuapi.Typed((*apiSession).listModels))
	r.Register("ModelManager", mm, "ListModelSummaries", jujuapi.Typed((*apiSession).listModelSummaries))
	r.Register("ModelManager", mm, "ModelInfo", jujuapi.Typed((*apiSession).modelInfo))
	r.Register("ModelManager", mm, "CreateModel", jujuapi.Typed((*apiSession).createModel))
	r.Register("ModelManager", mm, "DestroyModels", jujuapi.Typed((*apiSession).destroyModels))
	r.Register("ModelManager", mm, "ModelStatus", jujuapi.Typed((*apiSession).modelStatus))
	r.Register("ModelManager", mm, "ModifyModelAccess", jujuapi.Typed((*apiSession).modifyModelAccess))
	r.Register("Cloud", []int{7}, "Clouds", jujuapi.NoParams((*apiSession).clouds))
	r.Register("Controller", []int{11}, "ControllerVersion", jujuapi.NoParams((*apiSession).controllerVersion))
	r.Register("Controller", []int{11}, "GetControllerAccess", jujuapi.Typed((*apiSession).getControllerAccess))
	r.Register("Controller", []int{11}, "IdentityProviderURL", jujuapi.NoParams((*apiSession).identityProviderURL))
	r.Register("UserManager", []int{3}, "UserInfo", jujuapi.Typed((*apiSession).userInfo))
	return r
}

func (a *apiSession) login(ctx context.Context, req params.LoginRequest) (params.LoginResult, error) {
	if a.caller() != nil {
		return params.LoginResult{}, jujuapi.ErrLoggedIn
	}
	id, err := a.srv.loginPassword(ctx, a.remote, req)
	if err != nil {
		return params.LoginResult{}, err
	}
	return a.loggedIn(id), nil
}

func (a *apiSession) loginWithSessionToken(ctx context.Context, req params.LoginWithSessionTokenRequest) (params.LoginResult, error) {
	if a.caller() != nil {
		return params.LoginResult{}, jujuapi.ErrLoggedIn
	}
	id, err := a.srv.loginSessionToken(ctx, a.remote, req.SessionToken)
	if err != nil {
		return params.LoginResult{}, err
	}
	return a.loggedIn(id), nil
}

// loginPassword authenticates an Admin.Login, on /api or a model
// connection: only a password login is the broker's to answer.
func (s *Server) loginPassword(ctx context.Context, remote string, req params.LoginRequest) (*identity, error) {
	if req.Token != "" {
		return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "token logins are for controllers; log in with a password or a session token")
	}
	tag, err := jujuapi.ParseUserTag(req.AuthTag)
	if err != nil {
		return nil, errBadCreds
	}
	return s.authenticate(ctx, loginByPassword, remote, tag.ID, s.checkPassword(tag.ID, req.Credentials))
}

// loginSessionToken authenticates an Admin.LoginWithSessionToken, on /api
// or a model connection.
func (s *Server) loginSessionToken(ctx context.Context, remote, token string) (*identity, error) {
	return s.authenticate(ctx, loginBySessionToken, remote, "", s.checkSessionOrDevice(token))
}

func (a *apiSession) loggedIn(id *identity) params.LoginResult {
	a.mu.Lock()
	a.id = id
	a.mu.Unlock()
	return a.srv.loginResult(id, "", "", a.srv.apiFacades)
}

// loginResult is what the broker says at login: its own identity and
// address, never a controller's.
func (s *Server) loginResult(id *identity, modelTag, modelAccess string, facades []params.FacadeVersions) params.LoginResult {
	return params.LoginResult{
		ControllerTag: jujuapi.ControllerTag(s.uuid).String(),
		ModelTag:      modelTag,
		Servers:       s.servers(),
		ServerVersion: s.cfg.JujuVersion,
		Facades:       facades,
		UserInfo: &params.AuthUserInfo{
			DisplayName:      id.Name,
			Identity:         id.userTag(),
			ControllerAccess: controllerAccess(id),
			ModelAccess:      modelAccess,
		},
	}
}

func controllerAccess(id *identity) string {
	if id.Admin {
		return "superuser"
	}
	return "login"
}

func toParamsFacades(vs []jujuapi.FacadeVersions) []params.FacadeVersions {
	out := make([]params.FacadeVersions, len(vs))
	for i, v := range vs {
		out[i] = params.FacadeVersions{Name: v.Name, Versions: v.Versions}
	}
	return out
}
