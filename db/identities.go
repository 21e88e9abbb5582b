package db

import (
	"context"
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

// RevokeSession deletes the session whose token has hash tokenHash;
// revoking an unknown one is not an error.
func (d *DB) RevokeSession(ctx context.Context, tokenHash []byte) error {
	if err := d.WithContext(ctx).Where("token_hash = ?", tokenHash).Delete(&SessionToken{}).Error; err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
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
