package identity

import (
	"context"
	"time"
)

// Every login with a session token's issue leaves a row in the database
// (db.AddSession); a logout deletes it, and an expiry does not. The row of
// an expired session is of no use: its token is refused on its own signed
// expiry before the database is asked. RunSessionPurge deletes them, so
// that the table holds about one session lifetime of logins rather than
// every login ever made.

// sessionPurgeEvery is how often expired sessions are deleted.
const sessionPurgeEvery = time.Hour

// sessionPurgeGrace is how long after its expiry a session is deleted:
// a replica whose clock runs behind may still take it for live, and must
// then find it, not tell the client that it was revoked.
const sessionPurgeGrace = time.Hour

// RunSessionPurge deletes, now and every sessionPurgeEvery until ctx
// ends, the sessions that expired more than sessionPurgeGrace ago.
// Replicas purging together only repeat each other's deletes.
func (s *Service) RunSessionPurge(ctx context.Context) {
	for {
		cutoff := s.clock.Now().Add(-sessionPurgeGrace)
		n, err := s.db.PurgeSessions(ctx, cutoff, 0)
		s.purged.Add(float64(n))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("cannot purge expired sessions", "expired-before", cutoff, "purged", n, "err", err)
		case n > 0:
			s.log.Info("purged expired sessions", "expired-before", cutoff, "purged", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(sessionPurgeEvery):
		}
	}
}
