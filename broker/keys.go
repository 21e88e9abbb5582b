package broker

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/db"
)

// Signing keys rotate on a schedule kept in the database, which every
// replica follows:
//
//   - a new key is created (and published in the JWKS) SigningKeyPrepublish
//     before it starts signing, so that a controller meeting its kid finds
//     it on its first refetch. For that, pre-publication must be longer
//     than the controllers' JWKS refetch cooldown (a second for the
//     development controller); the JWKS may be cached for half of it;
//   - when it starts signing, the key before it retires;
//   - a retired key stays published until every token it signed has
//     expired (its retirement plus the longer of ControllerTokenTTL and
//     SessionTTL, and a margin), then it is deleted.
//
// One replica at a time changes the schedule (a transaction lock on
// PostgreSQL, the single writer on SQLite) and tells the others, which
// reload.

// keysChannel tells replicas that the signing keys changed.
const keysChannel = "jimm_keys"

// keysLockKey is the PostgreSQL transaction lock serialising key changes.
const keysLockKey = 0x6a696b79 // "jiky"

// keyGrace is how long a retired key stays published after its last
// tokens expired, for clock skew between broker and controllers.
const keyGrace = time.Second

func keyAAD(kid string) string { return "signing-key/" + kid }

// loadKeys loads the signing keys from the database into the key set,
// creating the first key when there is none.
func (s *Server) loadKeys(ctx context.Context) error {
	if err := s.rotateKeys(ctx); err != nil {
		return err
	}
	return s.reloadKeys(ctx)
}

// reloadKeys replaces the key set with the database's keys. Reloads are
// serialised, so that an older read never replaces a newer one.
func (s *Server) reloadKeys(ctx context.Context) error {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	var rows []db.SigningKey
	if err := s.db.WithContext(ctx).Order("created_at").Find(&rows).Error; err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	keys := make([]*authz.SigningKey, 0, len(rows))
	for _, row := range rows {
		der, err := s.cipher.Open(row.PrivateKey, keyAAD(row.KID))
		if err != nil {
			return fmt.Errorf("signing key %s: %w", row.KID, err)
		}
		k, err := authz.ParseSigningKey(row.KID, row.Algorithm, der, row.CreatedAt)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", row.KID, err)
		}
		if row.ActivateAt != nil {
			k.ActivateAt = *row.ActivateAt
		}
		if row.RetireAt != nil {
			k.RetireAt = *row.RetireAt
		}
		keys = append(keys, k)
	}
	if s.keys == nil {
		s.keys = authz.NewKeySet(keys...)
		// A verifier honouring the cache lifetime must still see a new
		// key before it signs.
		s.keys.CacheFor = min(time.Minute, s.cfg.SigningKeyPrepublish/2)
	} else {
		s.keys.Replace(keys)
	}
	return nil
}

// rotateKeys brings the schedule up to date: the first key if there is
// none, the next key when the current one's time is nearly up, and the
// removal of keys whose tokens have all expired. It tells every replica
// when it changed anything.
func (s *Server) rotateKeys(ctx context.Context) error {
	now := time.Now().UTC()
	// A retired key stays until the last token it signed has expired:
	// controller tokens and session tokens alike.
	rotation, prepublish, ttl := s.cfg.SigningKeyRotation, s.cfg.SigningKeyPrepublish, max(s.cfg.ControllerTokenTTL, s.cfg.SessionTTL)
	return s.db.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		if s.db.Dialect() == "postgres" {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", keysLockKey).Error; err != nil {
				return fmt.Errorf("lock signing keys: %w", err)
			}
		}
		var rows []db.SigningKey
		if err := tx.Order("created_at").Find(&rows).Error; err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		changed := false
		for _, row := range rows {
			if row.RetireAt != nil && row.RetireAt.Add(ttl+keyGrace).Before(now) {
				if err := tx.Delete(&row).Error; err != nil {
					return fmt.Errorf("remove expired signing key %s: %w", row.KID, err)
				}
				changed = true
			}
		}
		var next *time.Time // when a new key starts signing, if one is due
		if len(rows) == 0 {
			next = &now
		} else {
			newest := rows[len(rows)-1]
			active := newest.CreatedAt
			if newest.ActivateAt != nil {
				active = *newest.ActivateAt
			}
			if !now.Before(active.Add(rotation - prepublish)) {
				at := active.Add(rotation)
				if earliest := now.Add(prepublish); at.Before(earliest) {
					at = earliest // behind schedule (the brokers were down): still pre-publish
				}
				next = &at
				if newest.RetireAt == nil || newest.RetireAt.After(at) {
					if err := tx.Model(&newest).Update("retire_at", at).Error; err != nil {
						return fmt.Errorf("retire signing key %s: %w", newest.KID, err)
					}
				}
			}
		}
		if next != nil {
			k, err := authz.GenerateSigningKey(now)
			if err != nil {
				return err
			}
			der, err := k.MarshalPrivate()
			if err != nil {
				return err
			}
			sealed, err := s.cipher.Seal(der, keyAAD(k.ID))
			if err != nil {
				return err
			}
			if err := tx.Create(&db.SigningKey{KID: k.ID, Algorithm: k.Algorithm, PrivateKey: sealed, ActivateAt: next}).Error; err != nil {
				return fmt.Errorf("store signing key: %w", err)
			}
			s.log.Info("new signing key published", "kid", k.ID, "signs-from", next.Format(time.RFC3339))
			changed = true
		}
		if changed {
			notify(keysChannel, "")
		}
		return nil
	})
}

// keyRotation keeps the schedule up to date and the key set loaded until
// ctx ends.
func (s *Server) keyRotation(ctx context.Context) {
	tick := min(max(s.cfg.SigningKeyPrepublish/4, 100*time.Millisecond), time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
		if err := s.rotateKeys(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot rotate signing keys", "err", err)
		}
		if err := s.reloadKeys(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot reload signing keys", "err", err)
		}
	}
}
