package db

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Migration results, as stored.
const (
	MigrationRunning   = "running"
	MigrationSucceeded = "succeeded"
	MigrationFailed    = "failed"
)

// AddMigration records a new running migration. A model with a migration
// running already fails with ErrDuplicate (a unique index on running
// migrations).
func (d *DB) AddMigration(ctx context.Context, m *Migration) error {
	if err := d.WithContext(ctx).Create(m).Error; err != nil {
		return fmt.Errorf("record migration of model %s: %w", m.ModelUUID, err)
	}
	return nil
}

// SetControllerMigrationID records the id the source controller gave a
// migration.
func (d *DB) SetControllerMigrationID(ctx context.Context, id int64, controllerID string) error {
	if err := d.WithContext(ctx).Model(&Migration{}).Where("id = ?", id).Update("controller_migration_id", controllerID).Error; err != nil {
		return fmt.Errorf("record the controller's id of migration %d: %w", id, err)
	}
	return nil
}

// ClaimMigration takes, or renews, owner's lease on a running migration
// until until. It succeeds when owner holds the lease already, or nobody
// does, or the holder's lease ran out before now; it reports whether owner
// holds the lease now.
func (d *DB) ClaimMigration(ctx context.Context, id int64, owner string, now, until time.Time) (bool, error) {
	res := d.WithContext(ctx).Model(&Migration{}).
		Where("id = ? AND result = ? AND (lease_owner = ? OR lease_owner = '' OR lease_until IS NULL OR lease_until < ?)", id, MigrationRunning, owner, now.UTC()).
		Updates(map[string]any{"lease_owner": owner, "lease_until": until.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("claim migration %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UnclaimedMigrations returns the running migrations whose lease has run
// out at now (or that nobody holds), with their controllers.
func (d *DB) UnclaimedMigrations(ctx context.Context, now time.Time) ([]Migration, error) {
	var out []Migration
	err := d.WithContext(ctx).Preload("Source").Preload("Target").
		Where("result = ? AND (lease_owner = '' OR lease_until IS NULL OR lease_until < ?)", MigrationRunning, now.UTC()).
		Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list unclaimed migrations: %w", err)
	}
	return out, nil
}

// SetMigrationPhase records a running migration's new phase. With cutover
// set, the same transaction tells every replica that the model's
// hand-over began (CutoverChannel).
func (d *DB) SetMigrationPhase(ctx context.Context, m *Migration, phase, message string, at time.Time, cutover bool) error {
	err := d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		if cutover {
			notify(CutoverChannel, m.ModelUUID)
		}
		return tx.Model(&Migration{}).Where("id = ?", m.ID).Updates(map[string]any{"phase": phase, "message": message, "phase_changed_at": at.UTC()}).Error
	})
	if err != nil {
		return fmt.Errorf("record phase %s of migration %d: %w", phase, m.ID, err)
	}
	return nil
}

// EndMigration records how a migration ended, and releases its lease.
func (d *DB) EndMigration(ctx context.Context, id int64, result, phase, message string, at time.Time) error {
	err := d.WithContext(ctx).Model(&Migration{}).Where("id = ?", id).
		Updates(map[string]any{"result": result, "phase": phase, "message": message, "ended_at": at.UTC(), "lease_owner": ""}).Error
	if err != nil {
		return fmt.Errorf("record the end of migration %d: %w", id, err)
	}
	return nil
}

// Migrations returns every migration with its controllers, newest first.
func (d *DB) Migrations(ctx context.Context) ([]Migration, error) {
	var out []Migration
	if err := d.WithContext(ctx).Preload("Source").Preload("Target").Order("id DESC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	return out, nil
}

// MigrationByRef returns a migration by its id, or the latest of the model
// whose UUID ref is; ErrNotFound if there is none.
func (d *DB) MigrationByRef(ctx context.Context, ref string) (*Migration, error) {
	q := d.WithContext(ctx).Preload("Source").Preload("Target")
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		q = q.Where("id = ?", id)
	} else {
		q = q.Where("model_uuid = ?", ref).Order("id DESC")
	}
	var m Migration
	if err := q.First(&m).Error; err != nil {
		return nil, fmt.Errorf("look up migration %s: %w", ref, err)
	}
	return &m, nil
}
