package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Bounds of one page of audit events.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 1000
)

// AuditFilter selects audit events. Empty fields match everything.
type AuditFilter struct {
	Identity string
	Model    string // a model's UUID
	Method   string
	// Since and Until bound the events' time: Since <= time < Until.
	Since, Until time.Time
	// After is a cursor: only events older than the one with this id (the
	// last of the previous page) are returned. Zero starts from the newest.
	After int64
	// Limit is the page size: DefaultAuditLimit when zero or negative, at
	// most MaxAuditLimit.
	Limit int
}

// ErrAuditRejected is wrapped by the error of AddAuditEvents when the
// database refused the events for what they hold (a value too long for an
// index, a byte sequence the encoding rejects, a constraint): the same
// INSERT fails again, though the events may be fine taken apart. Any other
// error is the database's state (unreachable, restarting, read-only, out
// of space, the table missing), and the same INSERT may succeed later.
var ErrAuditRejected = errors.New("the database rejected the audit events for what they hold")

// AddAuditEvents stores events in one INSERT: all of them or none.
func (d *DB) AddAuditEvents(ctx context.Context, events []AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	if err := d.WithContext(ctx).Create(&events).Error; err != nil {
		if rejectsRows(err) {
			return fmt.Errorf("store %d audit events: %w: %w", len(events), ErrAuditRejected, err)
		}
		return fmt.Errorf("store %d audit events: %w", len(events), err)
	}
	return nil
}

// rejectsRows reports whether err is the database refusing an INSERT for
// the values it carries, rather than for its own state.
func rejectsRows(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:min(2, len(pgErr.Code))] {
		case "22", // data exception: a value too long, a byte sequence UTF8 refuses
			"23", // integrity constraint violation
			"54": // program limit exceeded: an index row too large, too many parameters
			return true
		}
		return false
	}
	// SQLite (modernc.org/sqlite's *Error).
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff { // the primary result code
		case 18, // SQLITE_TOOBIG
			19, // SQLITE_CONSTRAINT (a trigger's RAISE(ABORT) too)
			20: // SQLITE_MISMATCH
			return true
		}
		return false
	}
	// What gorm translated without keeping the driver's error.
	return errors.Is(err, gorm.ErrDuplicatedKey) || errors.Is(err, gorm.ErrForeignKeyViolated) || errors.Is(err, gorm.ErrCheckConstraintViolated)
}

// AuditEvents returns one page of the events f selects, newest first, and
// the cursor of the next page (0 when this page is the last).
func (d *DB) AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, int64, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	q := d.WithContext(ctx).Model(&AuditEvent{})
	if f.Identity != "" {
		q = q.Where("identity = ?", f.Identity)
	}
	if f.Model != "" {
		q = q.Where("model = ?", f.Model)
	}
	if f.Method != "" {
		q = q.Where("method = ?", f.Method)
	}
	if !f.Since.IsZero() {
		q = q.Where("time >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("time < ?", f.Until.UTC())
	}
	if f.After > 0 {
		q = q.Where("id < ?", f.After)
	}
	var out []AuditEvent
	// One more than a page says whether there is a next one.
	if err := q.Order("id DESC").Limit(limit + 1).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list audit events: %w", err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// PurgeAuditEvents deletes the events older than before, batch rows per
// statement so that no statement holds locks for long, and returns how
// many it deleted. Deleting is idempotent: replicas purging at once only
// repeat each other's work.
func (d *DB) PurgeAuditEvents(ctx context.Context, before time.Time, batch int) (int64, error) {
	n, err := d.purgeBefore(ctx, "audit_events", "time", before, batch)
	if err != nil {
		return n, fmt.Errorf("purge audit events older than %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// purgeStatement deletes one batch of table's rows whose column is before
// the first argument, at most the second.
func purgeStatement(table, column string) string {
	return "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table + " WHERE " + column + " < ? ORDER BY id LIMIT ?)"
}

// purgeBefore deletes the rows of table whose column (a time) is before
// before, batch rows per statement (10,000 for 0), and returns how many
// it deleted. table and column are the code's own names, never input.
func (d *DB) purgeBefore(ctx context.Context, table, column string, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 10000
	}
	stmt := purgeStatement(table, column)
	var total int64
	for {
		res := d.WithContext(ctx).Exec(stmt, before.UTC(), batch)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
		if res.RowsAffected < int64(batch) {
			return total, nil
		}
	}
}
