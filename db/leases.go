package db

import (
	"context"
	"fmt"
	"time"
)

// Lease is a named lease one broker replica holds at a time, until it
// expires: the reconciler's, and each replica's own (its heartbeat).
type Lease struct {
	Name      string    `gorm:"primaryKey"`
	Owner     string    `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
}

// TakeLease gives lease name to owner until until, if nobody holds it,
// owner does already, or its holder's ran out before now; it reports
// whether owner holds it now.
func (d *DB) TakeLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	q := "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?) " +
		"ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at " +
		"WHERE leases.owner = excluded.owner OR leases.expires_at < ?"
	res := d.WithContext(ctx).Exec(q, name, owner, until.UTC(), now.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("take lease %q: %w", name, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseLease gives up owner's lease name, if owner holds it.
func (d *DB) ReleaseLease(ctx context.Context, name, owner string) error {
	if err := d.WithContext(ctx).Where("name = ? AND owner = ?", name, owner).Delete(&Lease{}).Error; err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}

// LeaseHeld reports whether lease name is held (by anyone) at now.
func (d *DB) LeaseHeld(ctx context.Context, name string, now time.Time) (bool, error) {
	var n int64
	if err := d.WithContext(ctx).Model(&Lease{}).Where("name = ? AND expires_at >= ?", name, now.UTC()).Count(&n).Error; err != nil {
		return false, fmt.Errorf("look up lease %q: %w", name, err)
	}
	return n > 0, nil
}

// RemoveExpiredLeases forgets the leases that ran out before before: those
// of replicas that died without releasing theirs.
func (d *DB) RemoveExpiredLeases(ctx context.Context, before time.Time) (int64, error) {
	res := d.WithContext(ctx).Where("expires_at < ?", before.UTC()).Delete(&Lease{})
	if res.Error != nil {
		return 0, fmt.Errorf("remove expired leases: %w", res.Error)
	}
	return res.RowsAffected, nil
}
