package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm/clause"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// adminName is the bootstrap admin's identity.
const adminName = "admin"

// identity is an authenticated caller.
type identity struct {
	// Name is e.g. "admin", "alice@example.com", or "<client-id>@serviceaccount"
	// for a service account.
	Name  string
	Admin bool // broker administrator: administrator of everything
}

// userTag is the identity as a Juju user tag.
func (id *identity) userTag() string { return jujuapi.UserTag(id.Name).String() }

// subject is the identity as a relation subject, e.g. "user:alice@example.com".
func (id *identity) subject() string { return subjectOf(id.Name) }

// subjectOf is the relation subject of the identity named name:
// user:<name>, or serviceaccount:<client-id> for "<client-id>@serviceaccount".
func subjectOf(name string) string {
	if sa, ok := strings.CutSuffix(name, authz.ServiceAccountDomain); ok {
		return authz.KindServiceAccount + ":" + sa
	}
	return authz.KindUser + ":" + name
}

// errBadCreds is what every failed credential check returns, whatever the
// reason, as Juju does.
var errBadCreds = jujuapi.ErrBadCreds

// Login methods, as the metrics and the audit log name them.
const (
	loginByPassword          = "password"
	loginBySessionToken      = "session-token"
	loginByDevice            = "device"
	loginByBrowser           = "browser"
	loginByClientCredentials = "client-credentials"
)

// credentialCheck checks one set of credentials and returns who they
// belong to. A refusal is a *jujuapi.Error (unauthorized access, session
// token invalid); any other error is the broker's own failure.
type credentialCheck func(ctx context.Context) (*identity, error)

// authenticate runs every login attempt, whatever its method: it waits its
// turn when the source address keeps failing (see loginThrottle), runs
// check, and counts and audits the result. claimed is who the caller says
// it is, if it says (the user of a password login), for the audit log.
func (s *Server) authenticate(ctx context.Context, method, remote, claimed string, check credentialCheck) (*identity, error) {
	start := time.Now()
	source := sourceOf(remote)
	record := func(result string, err error) {
		s.metrics.logins.WithLabelValues(method, result).Inc()
		ev := auditEvent{Time: start, Identity: claimed, Remote: source, Facade: "Admin", Method: method, Result: result, Duration: time.Since(start)}
		if err != nil {
			ev.Error = err.Error()
		}
		s.audit(ev)
	}
	refund, err := s.throttle.take(ctx, source)
	if err != nil {
		record("throttled", err)
		return nil, err
	}
	id, err := check(ctx)
	switch code := jujuapi.ErrorCode(err); {
	case err == nil:
		refund()
		claimed = id.Name
		record("ok", nil)
	case code == jujuapi.CodeUnauthorized || code == jujuapi.CodeSessionTokenInvalid || code == jujuapi.CodeBadRequest:
		s.log.Info("login refused", "method", method, "user", claimed, "remote", source, "err", err)
		record("refused", err)
	default:
		refund() // the broker's failure, not the caller's guess
		s.log.Warn("login failed", "method", method, "user", claimed, "remote", source, "err", err)
		record("error", err)
	}
	return id, err
}

// checkPassword authenticates a user name and password. Only the bootstrap
// admin has a password.
func (s *Server) checkPassword(user, password string) credentialCheck {
	return func(ctx context.Context) (*identity, error) {
		if user != adminName || !s.adminPassword.Check(password) {
			return nil, errBadCreds
		}
		return s.touchIdentity(ctx, adminName)
	}
}

// checkSession authenticates a session token.
func (s *Server) checkSession(token string) credentialCheck {
	return func(ctx context.Context) (*identity, error) {
		claims, err := s.keys.VerifySession(time.Now(), token, s.issuer(), s.uuid)
		switch {
		case errors.Is(err, authz.ErrSessionExpired):
			// The client's cue to log in again (the Juju client starts a
			// device login).
			return nil, jujuapi.Errorf(jujuapi.CodeSessionTokenInvalid, "%v: log in again", err)
		case err != nil:
			return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "%v", err)
		}
		var st db.SessionToken
		err = s.db.WithContext(ctx).Where("token_hash = ?", authz.HashSessionToken(token)).First(&st).Error
		switch {
		case errors.Is(err, db.ErrNotFound):
			return nil, jujuapi.Errorf(jujuapi.CodeSessionTokenInvalid, "session token revoked (logged out): log in again")
		case err != nil:
			return nil, fmt.Errorf("look up session token: %w", err)
		case st.Identity != claims.Subject:
			return nil, jujuapi.Errorf(jujuapi.CodeUnauthorized, "%v: it does not match the session it names", authz.ErrSessionToken)
		}
		return s.touchIdentity(ctx, st.Identity)
	}
}

// lastLoginWrite bounds how often an identity's last login is written: a
// busy identity logging in many times a second must not queue on its row.
const lastLoginWrite = time.Minute

// touchIdentity records a login of name (at most once per lastLoginWrite)
// and returns its identity.
func (s *Server) touchIdentity(ctx context.Context, name string) (*identity, error) {
	v, _ := s.loginSeen.LoadOrStore(name, &loginSeen{})
	seen := v.(*loginSeen)
	seen.mu.Lock()
	defer seen.mu.Unlock()
	now := time.Now().UTC()
	if now.Sub(seen.at) >= lastLoginWrite {
		row := db.Identity{Name: name, DisplayName: name, LastLogin: &now}
		err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.AssignmentColumns([]string{"last_login", "updated_at"}),
		}).Create(&row).Error
		if err != nil {
			return nil, fmt.Errorf("record login of %q: %w", name, err)
		}
		seen.at = now
	}
	admin, err := s.isBrokerAdmin(ctx, name)
	if err != nil {
		return nil, err
	}
	return &identity{Name: name, Admin: admin}, nil
}

// loginSeen is when an identity's last login was written.
type loginSeen struct {
	mu sync.Mutex
	at time.Time
}

// issuer is the "iss" of the tokens the broker signs.
func (s *Server) issuer() string { return "jimm-" + s.uuid }

// newSession mints a session token for an identity and records it, so
// that logging out can revoke it.
func (s *Server) newSession(ctx context.Context, id *identity) (string, time.Time, error) {
	token, expires, err := s.keys.MintSession(time.Now(), authz.SessionClaims{Subject: id.Name, Issuer: s.issuer(), Audience: s.uuid}, s.cfg.SessionTTL)
	if err != nil {
		return "", time.Time{}, err
	}
	row := db.SessionToken{TokenHash: authz.HashSessionToken(token), Identity: id.Name, ExpiresAt: expires.UTC()}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return "", time.Time{}, fmt.Errorf("store session for %q: %w", id.Name, err)
	}
	return token, expires, nil
}

// revokeSession ends a session: its token is refused from now on, by every
// replica. Revoking an unknown or revoked token is not an error.
func (s *Server) revokeSession(ctx context.Context, token string) error {
	if err := s.db.WithContext(ctx).Where("token_hash = ?", authz.HashSessionToken(token)).Delete(&db.SessionToken{}).Error; err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// Model access levels, Juju's names, ordered (authz's, short).
const (
	accessNone  = authz.AccessNone
	accessRead  = authz.AccessRead
	accessWrite = authz.AccessWrite
	accessAdmin = authz.AccessAdmin
)

func accessRank(a string) int {
	switch a {
	case accessRead:
		return 1
	case accessWrite:
		return 2
	case accessAdmin:
		return 3
	}
	return 0
}

// relationAccess maps a model relation to an access level.
func relationAccess(relation string) string {
	switch relation {
	case authz.Administrator:
		return accessAdmin
	case authz.Writer:
		return accessWrite
	case authz.Reader:
		return accessRead
	}
	return accessNone
}
