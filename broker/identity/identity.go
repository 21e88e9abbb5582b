package identity

import (
	"encoding/hex"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/jujuapi"
)

// AdminName is the bootstrap admin's identity.
const AdminName = "admin"

// Identity is an authenticated caller.
type Identity struct {
	// Name is e.g. "admin", "alice@example.com", or
	// "<client-id>@serviceaccount" for a service account.
	Name  string
	Admin bool // broker administrator: administrator of everything
	// Session is the session the caller logged in with (a session
	// token); nil for any other login (a password, client credentials),
	// which ends only when the identity is disabled.
	Session *Session
}

// Session is a session token a caller logged in with, as the broker
// names it: by its token's hash, never the token.
type Session struct {
	// Hash is the hex SHA-256 of the token: its name in the database's
	// notifications (db.SessionLoggedOut).
	Hash    string
	Expires time.Time
	// checked is when the session was last found live in the database
	// (Unix nanoseconds).
	checked atomic.Int64
}

// newSession is the session of a token whose hash is hash, found live in
// the database at checked.
func newSession(hash []byte, expires, checked time.Time) *Session {
	s := &Session{Hash: hex.EncodeToString(hash), Expires: expires}
	s.checked.Store(checked.UnixNano())
	return s
}

// UserTag is the identity as a Juju user tag.
func (id *Identity) UserTag() string { return jujuapi.UserTag(id.Name).String() }

// Subject is the identity as a relation subject, e.g.
// "user:alice@example.com".
func (id *Identity) Subject() string { return SubjectOf(id.Name) }

// ControllerAccess is the identity's access to the broker as Juju names
// it: superuser for a broker administrator, else login.
func (id *Identity) ControllerAccess() string {
	if id.Admin {
		return "superuser"
	}
	return "login"
}

// SubjectOf is the relation subject of the identity named name:
// user:<name>, or serviceaccount:<client-id> for "<client-id>@serviceaccount".
func SubjectOf(name string) string {
	if sa, ok := strings.CutSuffix(name, authz.ServiceAccountDomain); ok {
		return authz.KindServiceAccount + ":" + sa
	}
	return authz.KindUser + ":" + name
}

// NameOf is the identity name of a user or service account subject (the
// inverse of SubjectOf); it reports false for any other subject (a
// group's members).
func NameOf(subject string) (string, bool) {
	if name, ok := strings.CutPrefix(subject, authz.KindUser+":"); ok {
		return name, true
	}
	if sa, ok := strings.CutPrefix(subject, authz.KindServiceAccount+":"); ok {
		return sa + authz.ServiceAccountDomain, true
	}
	return "", false
}

// BrokerObject is the broker itself as a relation object.
const BrokerObject = authz.KindController + ":" + authz.BrokerController

// Login methods, as the metrics and the audit log name them.
const (
	ByPassword          = "password"
	BySessionToken      = "session-token"
	ByDevice            = "device"
	ByBrowser           = "browser"
	ByClientCredentials = "client-credentials"
)
