package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

const (
	dialectPostgres = "postgres"
	dialectSQLite   = "sqlite"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = gorm.ErrRecordNotFound

// ErrDuplicate is returned when a write would break a unique constraint.
var ErrDuplicate = gorm.ErrDuplicatedKey

// DB is an open database.
type DB struct {
	*gorm.DB
	dialect string
	dsn     string
	log     *slog.Logger
	hub     hub // notifications, on SQLite
}

// Open connects to dsn: a postgres:// or postgresql:// URL for PostgreSQL,
// anything else is the path of an SQLite file (":memory:" for a private
// in-memory one). It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.Default()
	}
	cfg := &gorm.Config{
		Logger:         gormLogger{log: logger},
		NowFunc:        func() time.Time { return time.Now().UTC().Round(time.Microsecond) },
		TranslateError: true,
	}
	d := &DB{dsn: dsn, log: logger}
	var dialector gorm.Dialector
	// Every error gorm records is classified (errors.go): an outage is
	// ErrUnavailable, and no message names the server or its user.
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		d.dialect, dialector = dialectPostgres, pgDialector{postgres.Open(dsn).(*postgres.Dialector), dsn}
	} else {
		d.dialect, dialector = dialectSQLite, sqliteDialector{sqlite.Open(sqliteDSN(dsn)).(*sqlite.Dialector), dsn}
	}
	g, err := gorm.Open(dialector, cfg)
	// Several processes opening a new SQLite file at once race to switch
	// it to WAL mode, and SQLite answers the losers "database is locked"
	// without waiting: try again for a while.
	for deadline := time.Now().Add(10 * time.Second); err != nil && d.dialect == dialectSQLite && isLocked(err) && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open %s database: %w", d.dialect, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		g, err = gorm.Open(sqliteDialector{sqlite.Open(sqliteDSN(dsn)).(*sqlite.Dialector), dsn}, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", d.dialect, err)
	}
	if err := d.registerClassifier(g); err != nil {
		return nil, fmt.Errorf("open %s database: register the error classifier: %w", d.dialect, err)
	}
	d.DB = g
	sqlDB, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", d.dialect, err)
	}
	if d.dialect == dialectSQLite {
		// One writer at a time is SQLite's model; one connection also keeps
		// ":memory:" a single database.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(8)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = sqlDB.PingContext(pingCtx)
	for d.dialect == dialectSQLite && err != nil && isLocked(err) && pingCtx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		err = sqlDB.PingContext(pingCtx)
	}
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", d.dialect, redact(err, dsn))
	}
	return d, nil
}

// isLocked reports whether err is SQLite's "database is locked".
func isLocked(err error) bool { return strings.Contains(err.Error(), "database is locked") }

// sqliteDSN adds the pragmas the broker relies on: foreign keys, WAL, and
// waiting rather than failing when another process holds the lock.
func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
}

// redact keeps a DSN's password out of an error message.
func redact(err error, dsn string) error {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if j := strings.Index(dsn[i+3:], "@"); j >= 0 {
			if k := strings.Index(dsn[i+3:i+3+j], ":"); k >= 0 {
				pw := dsn[i+3+k+1 : i+3+j]
				if pw != "" && strings.Contains(err.Error(), pw) {
					return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
				}
			}
		}
	}
	return err
}

// DSN is what the database was opened with.
func (d *DB) DSN() string { return d.dsn }

// Dialect is "postgres" or "sqlite".
func (d *DB) Dialect() string { return d.dialect }

// Close closes the connection pool.
func (d *DB) Close() error {
	sqlDB, err := d.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// migrationLockKey is the PostgreSQL advisory lock that serialises
// migrations between replicas.
const migrationLockKey = 0x6a696d6d // "jimm"

// Migrate brings the schema up to date. Replicas starting together take
// turns under a lock; each migration runs once, in its own transaction. A
// database migrated by a newer broker is refused rather than misread.
func (d *DB) Migrate(ctx context.Context) error {
	sqlDB, err := d.DB.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	// Take the lock: PostgreSQL's advisory lock, held across one
	// transaction per migration; SQLite's write lock, held by one
	// transaction around them all.
	if d.dialect == dialectPostgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("migrate: take the migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey)
	} else {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("migrate: take the database write lock: %w", err)
		}
		committed := false
		defer func() {
			if !committed {
				conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			}
		}()
		if err := d.migrate(ctx, conn); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			return fmt.Errorf("migrate: commit: %w", err)
		}
		committed = true
		return nil
	}
	return d.migrate(ctx, conn)
}

// migrate applies the pending migrations; the caller holds the lock.
func (d *DB) migrate(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, dialectSQL(d.dialect,
		`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {{ts}} NOT NULL)`)); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	current, err := schemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	latest := migrations[len(migrations)-1].version
	if current > latest {
		return fmt.Errorf("database schema is at version %d, newer than this broker knows (%d): upgrade jimmd", current, latest)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		if err := d.apply(ctx, conn, m); err != nil {
			return err
		}
		d.log.Info("applied schema migration", "version", m.version, "name", m.name)
	}
	return nil
}

// SchemaVersion returns the database's schema version and the latest this
// build knows, in one small query: readiness checks with it that the
// database answers and that the schema is the one this broker expects.
func (d *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	var v sql.NullInt64
	if err := d.WithContext(ctx).Raw("SELECT MAX(version) FROM schema_migrations").Scan(&v).Error; err != nil {
		return 0, 0, fmt.Errorf("read the schema version: %w", err)
	}
	return int(v.Int64), migrations[len(migrations)-1].version, nil
}

func schemaVersion(ctx context.Context, conn *sql.Conn) (int, error) {
	var v sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// execer runs statements: a transaction, or a connection inside one.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// apply runs one migration: in its own transaction on PostgreSQL, inside
// the caller's on SQLite.
func (d *DB) apply(ctx context.Context, conn *sql.Conn, m migration) error {
	var ex execer = conn
	if d.dialect == dialectPostgres {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to version %d (%s): %w", m.version, m.name, err)
		}
		defer tx.Rollback()
		ex = tx
		if err := d.run(ctx, ex, m); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to version %d (%s): commit: %w", m.version, m.name, err)
		}
		return nil
	}
	return d.run(ctx, ex, m)
}

func (d *DB) run(ctx context.Context, ex execer, m migration) error {
	text := m.sql
	if alt, ok := sqliteMigrations[m.version]; ok && d.dialect == dialectSQLite {
		text = alt
	}
	for _, stmt := range strings.Split(dialectSQL(d.dialect, text), ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := ex.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate to version %d (%s): %w\nin: %s", m.version, m.name, err, strings.TrimSpace(stmt))
		}
	}
	insert := "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)"
	if d.dialect == dialectSQLite {
		insert = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
	}
	if _, err := ex.ExecContext(ctx, insert, m.version, m.name, time.Now().UTC()); err != nil {
		return fmt.Errorf("migrate to version %d (%s): record it: %w", m.version, m.name, err)
	}
	return nil
}

// gormLogger sends gorm's messages to slog: errors (other than "not found")
// and slow queries only, each with its statement but not its values.
type gormLogger struct{ log *slog.Logger }

// ParamsFilter keeps a statement's values out of what is logged: gorm
// then logs its SQL with the placeholders. A value may be sealed or hashed
// secret material, or an audit record (who did what, from where); the
// statement's shape is what says which query was slow or failed.
func (gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

// maxLoggedSQL bounds a statement as logged: a batch insert's placeholders
// run to kilobytes and say no more than their first few.
const maxLoggedSQL = 512

// loggedSQL is sql as logged: cut at maxLoggedSQL, saying by how much.
func loggedSQL(sql string) string {
	if len(sql) <= maxLoggedSQL {
		return sql
	}
	return fmt.Sprintf("%s… (%d more bytes)", sql[:maxLoggedSQL], len(sql)-maxLoggedSQL)
}

func (l gormLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }
func (l gormLogger) Info(ctx context.Context, msg string, args ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(msg, args...))
}
func (l gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(msg, args...))
}
func (l gormLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, fmt.Sprintf(msg, args...))
}
func (l gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, context.Canceled):
		sqlText, _ := fc()
		l.log.DebugContext(ctx, "query failed", "err", Detail(err), "sql", loggedSQL(sqlText), "duration", elapsed)
	case elapsed > 200*time.Millisecond:
		sqlText, rows := fc()
		l.log.WarnContext(ctx, "slow query", "sql", loggedSQL(sqlText), "rows", rows, "duration", elapsed)
	}
}
