package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// errBadCreds is what every failed credential check returns, whatever the
// reason, as Juju does.
var errBadCreds = jujuapi.ErrBadCreds

// credentialCheck checks one set of credentials and returns who they
// belong to. A refusal is a *jujuapi.Error (unauthorized access, session
// token invalid); any other error is the broker's own failure.
type credentialCheck func(ctx context.Context) (*Identity, error)

// authenticate runs every login attempt, whatever its method: it runs
// check (at most LoginVerifyConcurrency at once, see verifier), and counts
// and audits the result. A correct credential is answered at once, however
// many failures are queued; a failure is answered once its turn comes (see
// throttle), or at once with a *ThrottledError when that is too far off.
// claimed is who the caller says it is, if it says (the user of a password
// login), for the throttle and the audit log.
func (s *Service) authenticate(ctx context.Context, method, remote, claimed string, check credentialCheck) (*Identity, error) {
	start := s.clock.Now()
	source := audit.Source(remote)
	user := claimed
	record := func(result string, err error) {
		s.logins.WithLabelValues(method, result).Inc()
		ev := audit.Event{Time: start, Identity: claimed, Remote: source, Facade: "Admin", Method: method, Result: result, Duration: s.clock.Now().Sub(start)}
		if err != nil {
			ev.Error = err.Error()
		}
		s.audit.Add(ev)
	}
	release, err := s.verify.acquire(ctx)
	if err != nil {
		record("error", err)
		return nil, err
	}
	id, err := check(ctx)
	release()
	switch code := jujuapi.ErrorCode(err); {
	case err == nil:
		claimed = id.Name
		record("ok", nil)
	case code == jujuapi.CodeUnauthorized || code == jujuapi.CodeSessionTokenInvalid || code == jujuapi.CodeBadRequest:
		wait, terr := s.throttle.failed(source, user)
		if terr != nil {
			s.log.Info("login refused: throttled", "method", method, "user", logName(claimed), "remote", source, "err", err)
			record("throttled", terr)
			return nil, terr
		}
		s.log.Info("login refused", "method", method, "user", logName(claimed), "remote", source, "wait", wait, "err", err)
		record("refused", err)
		if herr := s.throttle.hold(ctx, wait); herr != nil {
			return nil, herr
		}
	default:
		// The broker's failure, not the caller's guess: not throttled.
		s.log.Warn("login failed", "method", method, "user", logName(claimed), "remote", source, "err", err)
		record("error", err)
	}
	return id, err
}

// Password authenticates a user name and password (the admin API's
// logins and basic auth). Only the bootstrap admin has a password.
func (s *Service) Password(ctx context.Context, remote, user, password string) (*Identity, error) {
	return s.authenticate(ctx, ByPassword, remote, user, s.checkPassword(user, password))
}

// JujuLogin authenticates a Juju client's Admin.Login, on /api or a model
// connection: only a password login is the broker's to answer.
func (s *Service) JujuLogin(ctx context.Context, remote string, req params.LoginRequest) (*Identity, error) {
	if req.Token != "" {
		return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "token logins are for controllers; log in with a password or a session token")
	}
	tag, err := jujuapi.ParseUserTag(req.AuthTag)
	if err != nil {
		return nil, errBadCreds
	}
	return s.Password(ctx, remote, tag.ID, req.Credentials)
}

// Session authenticates a session token (a bearer token or the browser's
// session cookie).
func (s *Service) Session(ctx context.Context, remote, token string) (*Identity, error) {
	return s.authenticate(ctx, BySessionToken, remote, "", s.checkSession(token))
}

// JujuSessionLogin authenticates a Juju client's
// Admin.LoginWithSessionToken, on /api or a model connection. A login with
// no token at all is answered "session token invalid", the client's cue to
// start a device login (it sends an empty token for an account that has
// none yet).
func (s *Service) JujuSessionLogin(ctx context.Context, remote, token string) (*Identity, error) {
	check := s.checkSession(token)
	if token == "" {
		check = func(context.Context) (*Identity, error) {
			return nil, jujuapi.Errorf(jujuapi.CodeSessionTokenInvalid, "no session token: log in (LoginDevice)")
		}
	}
	return s.authenticate(ctx, BySessionToken, remote, "", check)
}

// JujuHTTPLogin authenticates a Juju client on one of the HTTP endpoints
// (a model's /log, say), from the request's basic auth, in each form the
// Juju 3.5 client sends: a user tag and password; an empty user and a
// session token; a service account's client id and secret.
func (s *Service) JujuHTTPLogin(ctx context.Context, remote, user, password string) (*Identity, error) {
	switch {
	case user == "":
		return s.JujuSessionLogin(ctx, remote, password)
	case strings.HasPrefix(user, jujuapi.KindUser+"-"):
		return s.JujuLogin(ctx, remote, params.LoginRequest{AuthTag: user, Credentials: password})
	}
	return s.ClientCredentials(ctx, remote, user, password)
}

// checkPassword authenticates a user name and password.
func (s *Service) checkPassword(user, password string) credentialCheck {
	return func(ctx context.Context) (*Identity, error) {
		if user != AdminName || !s.adminPassword.Check(password) {
			return nil, errBadCreds
		}
		return s.touchIdentity(ctx, AdminName)
	}
}

// checkSession authenticates a session token.
func (s *Service) checkSession(token string) credentialCheck {
	return func(ctx context.Context) (*Identity, error) {
		claims, err := s.keys.VerifySession(s.clock.Now(), token, s.issuer(), s.cfg.BrokerUUID)
		switch {
		case errors.Is(err, authz.ErrSessionExpired):
			// The client's cue to log in again (the Juju client starts a
			// device login).
			return nil, jujuapi.Errorf(jujuapi.CodeSessionTokenInvalid, "%v: log in again", err)
		case err != nil:
			return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "%v", err)
		}
		hash := authz.HashSessionToken(token)
		checked := s.clock.Now()
		name, err := s.db.SessionIdentity(ctx, hash)
		switch {
		case errors.Is(err, db.ErrNotFound):
			// Logged out, or never issued: the broker cannot tell them
			// apart (a logout deletes the session) and must not guess.
			return nil, jujuapi.Errorf(jujuapi.CodeSessionTokenInvalid, "unknown session token (revoked by a logout, or never issued by this broker): log in again")
		case err != nil:
			return nil, err
		case name != claims.Subject:
			return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "%v: it does not match the session it names", authz.ErrSessionToken)
		}
		id, err := s.touchIdentity(ctx, name)
		if err != nil {
			return nil, err
		}
		id.Session = newSession(hash, claims.Expires, checked)
		return id, nil
	}
}

// lastLoginWrite bounds how often an identity's last login is written: a
// busy identity logging in many times a second must not queue on its row.
const lastLoginWrite = time.Minute

// touchIdentity records a login of name (at most once per lastLoginWrite)
// and returns its identity.
func (s *Service) touchIdentity(ctx context.Context, name string) (*Identity, error) {
	if s.conns.isDisabled(name) {
		return nil, errDisabled(name)
	}
	v, _ := s.loginSeen.LoadOrStore(name, &loginSeen{})
	seen := v.(*loginSeen)
	seen.mu.Lock()
	defer seen.mu.Unlock()
	now := s.clock.Now().UTC()
	if now.Sub(seen.at) >= lastLoginWrite {
		if err := s.db.TouchIdentity(ctx, name, now); err != nil {
			return nil, err
		}
		seen.at = now
	}
	admin, err := s.IsBrokerAdmin(ctx, name)
	if err != nil {
		return nil, err
	}
	return &Identity{Name: name, Admin: admin}, nil
}

// loginSeen is when an identity's last login was written.
type loginSeen struct {
	mu sync.Mutex
	at time.Time
}

// NewSession mints a session token for an identity and records it, so
// that logging out can revoke it.
func (s *Service) NewSession(ctx context.Context, id *Identity) (token string, expires time.Time, err error) {
	token, expires, err = s.keys.MintSession(s.clock.Now(), authz.SessionClaims{Subject: id.Name, Issuer: s.issuer(), Audience: s.cfg.BrokerUUID}, s.cfg.SessionTTL)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.db.AddSession(ctx, authz.HashSessionToken(token), id.Name, expires); err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// RevokeSession ends a session: its token is refused from now on, by every
// replica, and every replica closes the connections it logged in (see
// RunSessions). Revoking an unknown or revoked token is not an error.
func (s *Service) RevokeSession(ctx context.Context, token string) error {
	return s.db.RevokeSession(ctx, authz.HashSessionToken(token))
}

// logName bounds a claimed user name for a log line: anyone can claim a
// name of any length without logging in.
func logName(name string) string {
	const max = 128
	if len(name) <= max {
		return name
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…[%d bytes]", name[:cut], len(name))
}
