package identity

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Sessions end everywhere at once. Every connection a caller logged in
// (on /api, to a model, a model's stream) is tracked here with the
// identity and session it logged in with (Track), until it ends:
//
//   - logging out revokes the session and, in the same transaction, tells
//     every replica (db.SessionsChannel), and each closes the session's
//     connections (RunSessions);
//   - disabling an identity does the same for every connection of that
//     identity, whatever it logged in with;
//   - a connection logged in with a session token is closed when the
//     session expires, by a timer of its own;
//   - no token is signed for a controller on behalf of a session that has
//     ended (ControllerToken checks, see checkLive), so a detached model
//     connection cannot log in to its controller again.
//
// Track also bounds the connections one identity holds on this replica.

// CloseSessionEnded is the WebSocket close status of a connection closed
// because its session ended or its identity was disabled (RFC 6455's
// "policy violation").
const CloseSessionEnded = 1008

// codeQuotaLimitExceeded is Juju's error code for a limit reached.
const codeQuotaLimitExceeded = "quota limit exceeded"

// endedKeep is how long a replica remembers a session that was logged
// out, to refuse a login that checked the session just before it ended.
const endedKeep = time.Minute

// liveRecheck is how old the database's word that a session is live may
// be when a controller token is signed for it: a connection's own login
// has just checked, a detached connection logging in again checks anew.
const liveRecheck = time.Second

// Reasons a connection ends, as its client reads them in the close frame.
const (
	reasonLoggedOut = "session ended: logged out"
	reasonExpired   = "session ended: expired"
	reasonRevoked   = "session ended: revoked"
)

func reasonDisabled(name string) string {
	return fmt.Sprintf("session ended: identity %q was disabled", name)
}

// errSessionEnded is what a call (or a login) meets when its session
// ended under it.
func errSessionEnded(reason string) error {
	return jujuapi.Errorf(jujuapi.CodeSessionTokenInvalid, "%s: log in again", reason)
}

// errDisabled refuses a disabled identity.
func errDisabled(name string) error {
	return jujuapi.Errorf(jujuapi.CodeUnauthorized, "identity %q is disabled: ask a broker administrator to enable it", name)
}

// tracked is one live connection.
type tracked struct {
	id    *Identity
	end   func(reason string)
	timer clock.Timer // the session's expiry; nil without a session
	ended bool        // end was called (guarded by conns.mu)
}

// conns are the live connections of this replica, by identity and by
// session, with what this replica knows of ended sessions and disabled
// identities.
type conns struct {
	max   int
	clock clock.Clock
	log   *slog.Logger

	mu         sync.Mutex
	byIdentity map[string]map[*tracked]struct{}
	bySession  map[string]map[*tracked]struct{} // by Session.Hash
	ended      map[string]time.Time             // sessions logged out lately, by hash: when
	disabled   map[string]bool                  // disabled identities, by name

	closed  *prometheus.CounterVec
	refused prometheus.Counter
}

func newConns(max int, clk clock.Clock, log *slog.Logger) *conns {
	return &conns{
		max: max, clock: clk, log: log,
		byIdentity: map[string]map[*tracked]struct{}{},
		bySession:  map[string]map[*tracked]struct{}{},
		ended:      map[string]time.Time{},
		disabled:   map[string]bool{},
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_session_connections_closed_total",
			Help: "Connections closed because their session ended, by reason (logout, expiry, revoked, disabled).",
		}, []string{"reason"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_identity_connection_limit_refusals_total",
			Help: "Logins refused because their identity held the most connections allowed on this replica.",
		}),
	}
}

func (c *conns) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.closed, c.refused}
}

// isDisabled reports whether this replica knows the identity name to be
// disabled.
func (c *conns) isDisabled(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.disabled[name]
}

// refuseLocked says why a connection of id may not go on at now, if it
// may not: its identity is disabled, or its session ended or expired.
func (c *conns) refuseLocked(id *Identity, now time.Time) error {
	if c.disabled[id.Name] {
		return errDisabled(id.Name)
	}
	if sess := id.Session; sess != nil {
		if _, ok := c.ended[sess.Hash]; ok {
			return errSessionEnded(reasonLoggedOut)
		}
		if !now.Before(sess.Expires) {
			return errSessionEnded(reasonExpired)
		}
	}
	return nil
}

// Track registers a live connection that logged in as id; end closes it
// (with the reason, for its client), and is called at most once, on a
// goroutine of its own, when the connection's session ends (logout,
// expiry) or its identity is disabled, here or on another replica. Call
// release when the connection has ended.
//
// Track refuses (a Juju error, for the login) when id may no longer log in
// (see above), or when id already holds MaxConnsPerIdentity connections
// on this replica.
func (s *Service) Track(id *Identity, end func(reason string)) (release func(), err error) {
	c := s.conns
	now := c.clock.Now()
	t := &tracked{id: id, end: end}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refuseLocked(id, now); err != nil {
		return nil, err
	}
	mine := c.byIdentity[id.Name]
	if c.max > 0 && len(mine) >= c.max {
		c.refused.Inc()
		return nil, jujuapi.Errorf(codeQuotaLimitExceeded,
			"too many connections for user %q: %d open on this broker (at most %d); close some", id.Name, len(mine), c.max)
	}
	if mine == nil {
		mine = map[*tracked]struct{}{}
		c.byIdentity[id.Name] = mine
	}
	mine[t] = struct{}{}
	if sess := id.Session; sess != nil {
		if c.bySession[sess.Hash] == nil {
			c.bySession[sess.Hash] = map[*tracked]struct{}{}
		}
		c.bySession[sess.Hash][t] = struct{}{}
		t.timer = c.clock.AfterFunc(sess.Expires.Sub(now), func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.endLocked(t, reasonExpired, "expiry")
		})
	}
	var once sync.Once
	return func() { once.Do(func() { c.remove(t) }) }, nil
}

// remove forgets a connection that ended.
func (c *conns) remove(t *tracked) {
	if t.timer != nil {
		t.timer.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	name := t.id.Name
	delete(c.byIdentity[name], t)
	if len(c.byIdentity[name]) == 0 {
		delete(c.byIdentity, name)
	}
	if sess := t.id.Session; sess != nil {
		delete(c.bySession[sess.Hash], t)
		if len(c.bySession[sess.Hash]) == 0 {
			delete(c.bySession, sess.Hash)
		}
	}
}

// endLocked ends one connection, once. c.mu is held.
func (c *conns) endLocked(t *tracked, reason, metric string) {
	if t.ended {
		return
	}
	t.ended = true
	if t.timer != nil {
		t.timer.Stop()
	}
	c.closed.WithLabelValues(metric).Inc()
	c.log.Info("closing a connection whose session ended", "user", t.id.Name, "reason", reason)
	go t.end(reason) // closing drains the peer for a moment: never under the lock
}

// endSession ends the connections of the session whose token hash is
// hash (hex), and remembers for a while that it ended.
func (c *conns) endSession(hash, reason, metric string) int {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, at := range c.ended {
		if now.Sub(at) > endedKeep {
			delete(c.ended, h)
		}
	}
	c.ended[hash] = now
	n := 0
	for t := range c.bySession[hash] {
		c.endLocked(t, reason, metric)
		n++
	}
	return n
}

// setDisabled records that the identity name is disabled (or not), and
// ends its connections when it is.
func (c *conns) setDisabled(name string, disabled bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !disabled {
		delete(c.disabled, name)
		return 0
	}
	c.disabled[name] = true
	n := 0
	for t := range c.byIdentity[name] {
		c.endLocked(t, reasonDisabled(name), "disabled")
		n++
	}
	return n
}

// RunSessions makes this replica follow what every replica does to
// sessions and identities (db.SessionsChannel) until ctx ends: it loads
// the disabled identities, then closes the connections of each session
// logged out and of each identity disabled as it hears of them. It
// returns once listening has started.
func (s *Service) RunSessions(ctx context.Context) error {
	if err := s.resyncSessions(ctx); err != nil {
		return err
	}
	return s.db.Listen(ctx, db.SessionsChannel, func(payload string) {
		switch {
		case strings.HasPrefix(payload, db.SessionLoggedOut):
			hash := strings.TrimPrefix(payload, db.SessionLoggedOut)
			s.conns.endSession(hash, reasonLoggedOut, "logout")
		case strings.HasPrefix(payload, db.IdentityDisabled):
			s.conns.setDisabled(strings.TrimPrefix(payload, db.IdentityDisabled), true)
		case strings.HasPrefix(payload, db.IdentityEnabled):
			s.conns.setDisabled(strings.TrimPrefix(payload, db.IdentityEnabled), false)
		default: // "": notifications may have been missed
			if err := s.resyncSessions(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("cannot check live sessions after missing notifications", "err", err)
			}
		}
	})
}

// resyncSessions brings what this replica knows of disabled identities
// and ended sessions up to date from the database, closing the
// connections that should have been.
func (s *Service) resyncSessions(ctx context.Context) error {
	names, err := s.db.DisabledIdentities(ctx)
	if err != nil {
		return err
	}
	c := s.conns
	disabled := make(map[string]bool, len(names))
	for _, name := range names {
		disabled[name] = true
	}
	c.mu.Lock()
	for name := range c.disabled {
		if !disabled[name] {
			delete(c.disabled, name)
		}
	}
	hashes := make([][]byte, 0, len(c.bySession))
	for h := range c.bySession {
		if raw, err := hex.DecodeString(h); err == nil {
			hashes = append(hashes, raw)
		}
	}
	c.mu.Unlock()
	for name := range disabled {
		c.setDisabled(name, true)
	}
	if len(hashes) == 0 {
		return nil
	}
	live, err := s.db.LiveSessions(ctx, hashes, s.clock.Now())
	if err != nil {
		return err
	}
	for _, raw := range hashes {
		if h := hex.EncodeToString(raw); !live[h] {
			c.endSession(h, reasonRevoked, "revoked")
		}
	}
	return nil
}

// checkLive refuses to act for id (sign a controller token) when its
// identity is disabled or its session ended: expired, logged out as this
// replica heard, or no longer in the database (checked when the last
// check is older than liveRecheck).
func (s *Service) checkLive(ctx context.Context, id *Identity) error {
	now := s.clock.Now()
	s.conns.mu.Lock()
	err := s.conns.refuseLocked(id, now)
	s.conns.mu.Unlock()
	if err != nil {
		return err
	}
	sess := id.Session
	if sess == nil || now.Sub(time.Unix(0, sess.checked.Load())) < liveRecheck {
		return nil
	}
	raw, err := hex.DecodeString(sess.Hash)
	if err != nil {
		return fmt.Errorf("session of %q: %w", id.Name, err)
	}
	live, err := s.db.LiveSessions(ctx, [][]byte{raw}, now)
	if err != nil {
		return err
	}
	if !live[sess.Hash] {
		s.conns.endSession(sess.Hash, reasonRevoked, "revoked")
		return errSessionEnded(reasonRevoked)
	}
	sess.checked.Store(now.UnixNano())
	return nil
}

// SetDisabled disables (or enables again) the identity named name, for
// caller, a broker administrator: a disabled identity cannot log in, its
// sessions are revoked, and its open connections are closed on every
// replica. Nobody can disable themselves nor the bootstrap admin.
func (s *Service) SetDisabled(ctx context.Context, caller *Identity, name string, disabled bool) error {
	what := "enable"
	if disabled {
		what = "disable"
	}
	switch {
	case caller == nil || !caller.Admin:
		return jujuapi.ErrPerm
	case disabled && name == caller.Name:
		return jujuapi.Errorf(jujuapi.CodeForbidden, "cannot disable %q: you cannot disable yourself", name)
	case disabled && name == AdminName:
		return jujuapi.Errorf(jujuapi.CodeForbidden, "cannot disable %q: the bootstrap admin is disabled by starting the broker without an admin password", name)
	}
	err := s.db.SetIdentityDisabled(ctx, name, disabled)
	if errors.Is(err, db.ErrNotFound) {
		return jujuapi.Errorf(jujuapi.CodeUserNotFound, "cannot %s %q: no such identity has ever logged in", what, name)
	}
	if err != nil {
		return err
	}
	// The notification reaches this replica too; act at once all the same.
	n := s.conns.setDisabled(name, disabled)
	s.log.Info("identity "+what+"d", "user", name, "by", caller.Name, "connections-closed", n)
	return nil
}
