package db

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TouchIdentity records a login of the identity named name at at,
// creating its row the first time.
func (d *DB) TouchIdentity(ctx context.Context, name string, at time.Time) error {
	at = at.UTC()
	row := Identity{Name: name, DisplayName: name, LastLogin: &at}
	err := d.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.AssignmentColumns([]string{"last_login", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("record login of %q: %w", name, err)
	}
	return nil
}

// Identities returns the identities named names, by name; every identity
// when names is nil.
func (d *DB) Identities(ctx context.Context, names []string) ([]Identity, error) {
	q := d.WithContext(ctx).Order("name")
	if names != nil {
		q = q.Where("name IN ?", names)
	}
	var out []Identity
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	return out, nil
}

// AddSession records a session token by its hash.
func (d *DB) AddSession(ctx context.Context, tokenHash []byte, identity string, expires time.Time) error {
	row := SessionToken{TokenHash: tokenHash, Identity: identity, ExpiresAt: expires.UTC()}
	if err := d.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("store a session for %q: %w", identity, err)
	}
	return nil
}

// SessionIdentity returns the identity of the live session whose token
// has hash tokenHash, or ErrNotFound (revoked, or never issued).
func (d *DB) SessionIdentity(ctx context.Context, tokenHash []byte) (string, error) {
	var st SessionToken
	if err := d.WithContext(ctx).Where("token_hash = ?", tokenHash).First(&st).Error; err != nil {
		return "", fmt.Errorf("look up session token: %w", err)
	}
	return st.Identity, nil
}

// RevokeSession deletes the session whose token has hash tokenHash and,
// in the same transaction, tells every replica (SessionsChannel,
// SessionLoggedOut), which end the session's open connections; revoking
// an unknown one is not an error (and tells nobody).
func (d *DB) RevokeSession(ctx context.Context, tokenHash []byte) error {
	err := d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		res := tx.Where("token_hash = ?", tokenHash).Delete(&SessionToken{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected > 0 {
			notify(SessionsChannel, SessionLoggedOut+hex.EncodeToString(tokenHash))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// Payloads of SessionsChannel: a prefix, then a hex token hash or an
// identity name. The empty payload means "anything may have changed".
const (
	SessionLoggedOut = "logout:"   // + the hex hash of a revoked session token
	IdentityDisabled = "disabled:" // + the name of an identity just disabled
	IdentityEnabled  = "enabled:"  // + the name of an identity just enabled again
)

// SetIdentityDisabled disables (or enables again) the identity named
// name and tells every replica in the same transaction (SessionsChannel),
// which end its open connections. Disabling also revokes every session of
// the identity. An identity the broker has never seen log in is
// ErrNotFound.
func (d *DB) SetIdentityDisabled(ctx context.Context, name string, disabled bool) error {
	what := "enable"
	if disabled {
		what = "disable"
	}
	err := d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		res := tx.Model(&Identity{}).Where("name = ?", name).Updates(map[string]any{"disabled": disabled, "updated_at": time.Now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("no identity %q has ever logged in: %w", name, ErrNotFound)
		}
		if disabled {
			if err := tx.Where("identity = ?", name).Delete(&SessionToken{}).Error; err != nil {
				return fmt.Errorf("revoke the sessions of %q: %w", name, err)
			}
			notify(SessionsChannel, IdentityDisabled+name)
		} else {
			notify(SessionsChannel, IdentityEnabled+name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s identity %q: %w", what, name, err)
	}
	return nil
}

// DisabledIdentities returns the names of the disabled identities.
func (d *DB) DisabledIdentities(ctx context.Context) ([]string, error) {
	var names []string
	if err := d.WithContext(ctx).Model(&Identity{}).Where("disabled").Order("name").Pluck("name", &names).Error; err != nil {
		return nil, fmt.Errorf("list disabled identities: %w", err)
	}
	return names, nil
}

// PurgeSessions deletes the sessions that expired before before, batch
// rows per statement so that no statement holds locks for long, and
// returns how many it deleted. An expired session token is refused on
// its own signed expiry, so its row only takes room. Deleting is
// idempotent: replicas purging at once only repeat each other's work.
func (d *DB) PurgeSessions(ctx context.Context, before time.Time, batch int) (int64, error) {
	n, err := d.purgeBefore(ctx, "session_tokens", "expires_at", before, batch)
	if err != nil {
		return n, fmt.Errorf("purge sessions expired before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// liveSessionsChunk bounds the hashes of one LiveSessions query.
const liveSessionsChunk = 1000

// LiveSessions returns which of the session token hashes tokenHashes
// belong to sessions that are still live at now (neither revoked nor
// expired), as the set of their hex encodings.
func (d *DB) LiveSessions(ctx context.Context, tokenHashes [][]byte, now time.Time) (map[string]bool, error) {
	live := make(map[string]bool, len(tokenHashes))
	for start := 0; start < len(tokenHashes); start += liveSessionsChunk {
		chunk := tokenHashes[start:min(start+liveSessionsChunk, len(tokenHashes))]
		var found [][]byte
		err := d.WithContext(ctx).Model(&SessionToken{}).Where("token_hash IN ? AND expires_at > ?", chunk, now.UTC()).Pluck("token_hash", &found).Error
		if err != nil {
			return nil, fmt.Errorf("check %d sessions: %w", len(chunk), err)
		}
		for _, h := range found {
			live[hex.EncodeToString(h)] = true
		}
	}
	return live, nil
}

// SigningKeys returns the signing keys, oldest first.
func (d *DB) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	var rows []SigningKey
	if err := d.WithContext(ctx).Order("created_at").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return rows, nil
}

// KeyChanges is what one rotation step changes in the signing keys.
type KeyChanges struct {
	// Delete are keys to remove (by KID).
	Delete []string
	// Retire, when RetireKID is set, sets that key's retirement time.
	RetireKID string
	RetireAt  time.Time
	// Add is a new key, when one is due.
	Add *SigningKey
}

func (c KeyChanges) empty() bool { return len(c.Delete) == 0 && c.RetireKID == "" && c.Add == nil }

// keysLockKey is the PostgreSQL transaction lock serialising key changes.
const keysLockKey = 0x6a696b79 // "jiky"

// ChangeSigningKeys runs one rotation step: under a lock that serialises
// it with every other replica's (PostgreSQL's transaction lock; SQLite's
// single writer), plan is given the keys as they are, oldest first, and
// the changes it returns are applied in the same transaction, which tells
// every replica (KeysChannel) when it changed anything. It reports
// whether it did.
func (d *DB) ChangeSigningKeys(ctx context.Context, plan func(keys []SigningKey) (KeyChanges, error)) (changed bool, err error) {
	err = d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		changed = false
		if d.dialect == dialectPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", keysLockKey).Error; err != nil {
				return fmt.Errorf("lock signing keys: %w", err)
			}
		}
		var rows []SigningKey
		if err := tx.Order("created_at").Find(&rows).Error; err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		c, err := plan(rows)
		if err != nil || c.empty() {
			return err
		}
		if len(c.Delete) > 0 {
			if err := tx.Where("kid IN ?", c.Delete).Delete(&SigningKey{}).Error; err != nil {
				return fmt.Errorf("remove expired signing keys %v: %w", c.Delete, err)
			}
		}
		if c.RetireKID != "" {
			if err := tx.Model(&SigningKey{}).Where("kid = ?", c.RetireKID).Update("retire_at", c.RetireAt.UTC()).Error; err != nil {
				return fmt.Errorf("retire signing key %s: %w", c.RetireKID, err)
			}
		}
		if c.Add != nil {
			if err := tx.Create(c.Add).Error; err != nil {
				return fmt.Errorf("store signing key %s: %w", c.Add.KID, err)
			}
		}
		changed = true
		notify(KeysChannel, "")
		return nil
	})
	return changed, err
}
