package devcontroller

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/jwtauth"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// session is one API connection: which endpoint it came in on and, once
// logged in, who it is and what it may do.
type session struct {
	ctl       *Controller
	modelUUID string // "" on /api
	remote    string

	mu       sync.Mutex
	loggedIn bool
	user     string // user name, e.g. "admin" or "alice@external"
	// token holds the access claims of a token login, keyed by tag; they
	// are the whole authorization decision for the connection. Nil for a
	// password login, whose access comes from the controller's own records.
	token map[string]string
	// local is set for the connections of the agents this controller runs
	// for its own models (see agents.go): their logins take no token.
	local bool
	// agent is set once an agent has logged in: which agent, and which of
	// its connections this is (agentConnModel or agentConnAPI).
	agent     *agentKey
	agentConn int

	// res holds the connection's watchers (watchers.go).
	res resources
}

// ServeRequest implements jujuapi.Handler: Admin before login, then the
// endpoint's facades.
func (s *session) ServeRequest(ctx context.Context, req *jujuapi.Message) (any, error) {
	s.mu.Lock()
	loggedIn, isAgent := s.loggedIn, s.agent != nil
	s.mu.Unlock()
	root := s.ctl.controllerRoot
	switch {
	case isAgent:
		root = s.ctl.agentRoot
	case s.modelUUID != "":
		root = s.ctl.modelRoot
	}
	if !loggedIn && req.Type != "Admin" {
		// As Juju: before login only Admin exists.
		return nil, jujuapi.UnknownVersionError(req.Type, req.Version)
	}
	return root.Serve(ctx, s, req)
}

// login authenticates a Login request and, on success, fixes the session's
// identity.
func (s *session) login(ctx context.Context, req params.LoginRequest) (params.LoginResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loggedIn {
		return params.LoginResult{}, jujuapi.ErrLoggedIn
	}
	var (
		user  string
		token map[string]string
	)
	if t, err := jujuapi.ParseTag(req.AuthTag); req.Token == "" && err == nil && (t.Kind == jujuapi.KindMachine || t.Kind == jujuapi.KindUnit) {
		return s.agentLogin(t, req)
	}
	switch {
	case req.Token != "":
		claims, err := s.verifyToken(ctx, req.Token)
		if err != nil {
			return params.LoginResult{}, err
		}
		if req.AuthTag != "" && req.AuthTag != claims.Subject {
			return params.LoginResult{}, jujuapi.Errorf(jujuapi.CodeUnauthorized, "token subject %q does not match auth-tag %q", claims.Subject, req.AuthTag)
		}
		tag, _ := jujuapi.ParseUserTag(claims.Subject)
		user, token = tag.ID, claims.Access
		if token == nil {
			token = map[string]string{}
		}
	default:
		tag, err := jujuapi.ParseUserTag(req.AuthTag)
		if err != nil {
			return params.LoginResult{}, jujuapi.ErrBadCreds
		}
		u, ok := s.ctl.store.User(tag.ID)
		if !ok || u.Disabled || u.PasswordHash == "" || !checkPassword(u.PasswordHash, req.Credentials) {
			s.ctl.log.Info("login refused", "user", tag.ID, "remote", s.remote)
			return params.LoginResult{}, jujuapi.ErrBadCreds
		}
		user = tag.ID
	}
	// Decide access with the new identity before committing to it.
	next := &session{ctl: s.ctl, modelUUID: s.modelUUID, user: user, token: token}
	ctlAccess := next.controllerAccess()
	result := params.LoginResult{
		ControllerTag: jujuapi.ControllerTag(s.ctl.UUID()).String(),
		Servers:       s.ctl.servers,
		ServerVersion: s.ctl.cfg.AgentVersion,
		UserInfo: &params.AuthUserInfo{
			DisplayName:      s.ctl.displayName(user),
			Identity:         jujuapi.UserTag(user).String(),
			ControllerAccess: ctlAccess,
			LastConnection:   s.ctl.lastConnection(user),
		},
	}
	if ctlAccess == "" {
		// As Juju: without login access to the controller, no connection
		// at all, not even to a model the caller was granted.
		return params.LoginResult{}, jujuapi.ErrPerm
	}
	if s.modelUUID == "" {
		result.Facades = toParamsFacades(s.ctl.controllerRoot.Versions())
	} else {
		if m, ok := s.ctl.store.Model(s.modelUUID); ok && m.MigrationMode == store.MigrationModeImporting && next.modelAccess(m) != "" {
			// As Juju: no way in until the migration activates it.
			return params.LoginResult{}, jujuapi.Errorf(jujuapi.CodeMigrationRunning, "migration in progress, model is importing")
		}
		m, err := s.ctl.model(s.modelUUID)
		if err != nil {
			if rerr := next.redirectFor(s.modelUUID); rerr != nil {
				return params.LoginResult{}, rerr
			}
			return params.LoginResult{}, jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", s.modelUUID)
		}
		access := next.modelAccess(m)
		if access == "" {
			return params.LoginResult{}, jujuapi.ErrPerm
		}
		result.ModelTag = jujuapi.ModelTag(m.UUID).String()
		result.UserInfo.ModelAccess = access
		result.Facades = toParamsFacades(s.ctl.modelRoot.Versions())
	}
	s.loggedIn, s.user, s.token = true, user, token
	s.ctl.lastLogin.Store(user, time.Now().UTC())
	return result, nil
}

// agentLogin logs in an agent (s.mu held): as in Juju it first takes a
// token from the agent login bucket ("try again" when there is none), then
// checks that the tag names a machine or unit of the connection's model
// (on /api: of any model here) with that password.
func (s *session) agentLogin(tag jujuapi.Tag, req params.LoginRequest) (params.LoginResult, error) {
	c := s.ctl
	if !s.local && !c.agentBucket.Load().take(time.Now()) {
		return params.LoginResult{}, jujuapi.Errorf(jujuapi.CodeTryAgain, "try again")
	}
	var key *agentKey
	if s.modelUUID != "" {
		m, ok := c.store.Model(s.modelUUID)
		if !ok || m.Life == store.LifeDead {
			return params.LoginResult{}, jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", s.modelUUID)
		}
		if agentPassword(m, tag) != "" && passwordsEqual(agentPassword(m, tag), req.Credentials) {
			key = &agentKey{m.UUID, tag.String()}
		}
	} else {
		for _, m := range c.store.Models() {
			if m.Life != store.LifeDead && agentPassword(m, tag) != "" && passwordsEqual(agentPassword(m, tag), req.Credentials) {
				key = &agentKey{m.UUID, tag.String()}
				break
			}
		}
	}
	if key == nil {
		c.log.Info("agent login refused", "agent", tag.String(), "model", s.modelUUID, "remote", s.remote)
		return params.LoginResult{}, jujuapi.ErrBadCreds
	}
	result := params.LoginResult{
		ControllerTag: jujuapi.ControllerTag(c.UUID()).String(),
		Servers:       c.servers,
		ServerVersion: c.cfg.AgentVersion,
		Facades:       toParamsFacades(c.agentRoot.Versions()),
	}
	s.agentConn = agentConnAPI
	if s.modelUUID != "" {
		result.ModelTag = jujuapi.ModelTag(s.modelUUID).String()
		s.agentConn = agentConnModel
	}
	s.loggedIn, s.agent = true, key
	c.agentSessions.add(*key, s.agentConn, 1)
	if s.agentConn == agentConnModel {
		// What Juju's agents log on connecting, into the model's log.
		c.entityLog(key.model, key.tag, logInfo, "juju.worker.apicaller", "[%s] %q successfully connected to %q",
			shortUUID(key.model), key.tag, c.Addr())
	}
	return result, nil
}

// closed is called when the connection has ended: its watchers stop.
func (s *session) closed() {
	s.res.stopAll()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.agent != nil {
		s.ctl.agentSessions.add(*s.agent, s.agentConn, -1)
		s.agent = nil
	}
}

// agentPassword returns the password of the agent of the machine or unit
// tag names in m, or "".
func agentPassword(m *store.Model, tag jujuapi.Tag) string {
	switch tag.Kind {
	case jujuapi.KindMachine:
		if mc := m.Machines[tag.ID]; mc != nil {
			return mc.AgentPassword
		}
	case jujuapi.KindUnit:
		name, err := jujuapi.UnitName(tag)
		if err != nil {
			return ""
		}
		app, _, _ := strings.Cut(name, "/")
		if a := m.Applications[app]; a != nil {
			if u := a.Units[name]; u != nil {
				return u.AgentPassword
			}
		}
	}
	return ""
}

func passwordsEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (s *session) verifyToken(ctx context.Context, token string) (*jwtauth.Claims, error) {
	if s.ctl.verifier == nil {
		return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "token login refused: this controller trusts no token issuer (start it with --trust-jwks-url)")
	}
	claims, err := s.ctl.verifier.Verify(ctx, token)
	if err != nil {
		s.ctl.log.Info("token login refused", "remote", s.remote, "err", err)
		if errors.Is(err, jwtauth.ErrInvalidToken) {
			return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "invalid login token: %v", err)
		}
		return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "cannot verify login token: %v", err)
	}
	return claims, nil
}

func toParamsFacades(vs []jujuapi.FacadeVersions) []params.FacadeVersions {
	out := make([]params.FacadeVersions, len(vs))
	for i, v := range vs {
		out[i] = params.FacadeVersions{Name: v.Name, Versions: v.Versions}
	}
	return out
}

// identity returns the logged-in user; valid only after login.
func (s *session) identity() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

func (s *session) tokenClaims() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// controllerAccess is the caller's access to the controller: superuser,
// login, or "" for none.
func (s *session) controllerAccess() string {
	if claims := s.tokenClaims(); claims != nil {
		switch a := claims[jujuapi.ControllerTag(s.ctl.UUID()).String()]; a {
		case store.AccessSuperuser, store.AccessLogin:
			return a
		}
		return ""
	}
	u, ok := s.ctl.store.User(s.identity())
	if !ok || u.Disabled {
		return ""
	}
	return u.Access
}

func (s *session) isSuperuser() bool { return s.controllerAccess() == store.AccessSuperuser }

// modelAccess is the caller's access to m: admin, write, read or "".
// A superuser administers every model.
func (s *session) modelAccess(m *store.Model) string {
	if s.isSuperuser() {
		return store.AccessAdmin
	}
	if claims := s.tokenClaims(); claims != nil {
		switch a := claims[jujuapi.ModelTag(m.UUID).String()]; a {
		case store.AccessAdmin, store.AccessWrite, store.AccessRead:
			return a
		}
		return ""
	}
	return m.Users[s.identity()]
}

// cloudAccess is the caller's access to the controller's cloud: admin,
// add-model or "".
func (s *session) cloudAccess() string {
	if s.isSuperuser() {
		return store.AccessAdmin
	}
	if claims := s.tokenClaims(); claims != nil {
		switch a := claims[jujuapi.CloudTag(s.ctl.cfg.Cloud).String()]; a {
		case store.AccessAdmin, store.AccessAddModel:
			return a
		}
		return ""
	}
	if meta := s.ctl.store.Meta(); meta != nil {
		return meta.CloudAccess[s.identity()]
	}
	return ""
}

// accessLevel orders model access levels.
func accessLevel(a string) int {
	switch a {
	case store.AccessRead:
		return 1
	case store.AccessWrite:
		return 2
	case store.AccessAdmin:
		return 3
	}
	return 0
}

// requireModel returns the model if the caller has at least want on it.
// A caller with no access at all is told the model is not found, so that
// models they cannot see stay invisible.
func (s *session) requireModel(uuid, want string) (*store.Model, error) {
	m, err := s.ctl.model(uuid)
	if err != nil {
		return nil, err
	}
	have := s.modelAccess(m)
	if have == "" {
		return nil, modelNotFound(uuid)
	}
	if accessLevel(have) < accessLevel(want) {
		return nil, jujuapi.ErrPerm
	}
	return m, nil
}

// connectedModel returns the model of a model connection, checking that
// the caller still has want on it.
func (s *session) connectedModel(want string) (*store.Model, error) {
	if s.modelUUID == "" {
		return nil, jujuapi.Errorf(jujuapi.CodeNotSupported, "this call needs a model connection (/model/<uuid>/api)")
	}
	return s.requireModel(s.modelUUID, want)
}

// changeableModel is the connection's model for a call that changes it:
// the caller may write to it, no block stops op there, and it is not
// being migrated away.
func (s *session) changeableModel(op string) (*store.Model, error) {
	m, err := s.connectedModel(store.AccessWrite)
	if err != nil {
		return nil, err
	}
	if err := blockedIn(m, op); err != nil {
		return nil, err
	}
	if err := writable(m); err != nil {
		return nil, err
	}
	return m, nil
}

func modelNotFound(uuid string) error {
	return jujuapi.NotFoundf("model %q", uuid)
}

// model returns a live (not yet removed) model. A model being imported by
// migration is not there yet.
func (c *Controller) model(uuid string) (*store.Model, error) {
	m, ok := c.store.Model(uuid)
	if !ok || m.Life == store.LifeDead || m.MigrationMode == store.MigrationModeImporting {
		return nil, modelNotFound(uuid)
	}
	return m, nil
}

// modelFromTag parses a model tag and returns the model if the caller has
// at least want on it.
func (s *session) modelFromTag(tag, want string) (*store.Model, error) {
	t, err := jujuapi.ParseModelTag(tag)
	if err != nil {
		return nil, err
	}
	return s.requireModel(t.ID, want)
}

func (c *Controller) displayName(user string) string {
	if u, ok := c.store.User(user); ok && u.DisplayName != "" {
		return u.DisplayName
	}
	name, _, _ := strings.Cut(user, "@")
	return name
}

func (c *Controller) lastConnection(user string) *time.Time {
	if v, ok := c.lastLogin.Load(user); ok {
		t := v.(time.Time)
		return &t
	}
	return nil
}

// paramsError turns an error into the per-item error of a bulk result.
func paramsError(err error) *params.Error {
	if err == nil {
		return nil
	}
	return jujuapi.AsError(err)
}

// storeErr maps store errors to protocol errors about the named object.
func storeErr(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return jujuapi.NotFoundf("%s", what)
	case errors.Is(err, store.ErrAlreadyExists):
		return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "%s already exists", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}
