package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// ErrUnavailable marks a failure to reach the database at all: the server
// is down, restarting, refusing connections or dropped the connection. The
// same request may well succeed a moment later. Test with errors.Is.
var ErrUnavailable = errors.New("database unavailable")

// Error is a failure of the database or of the connection to it, as the
// db package returns it: its message says what kind of failure it was
// (unavailable, or a database error with its SQLSTATE) and never names
// the server's address, the database, its user or the DSN, so that it
// may travel further than a log. Detail has the driver's own words
// (password redacted) for the log.
//
// errors.Is(err, ErrUnavailable) reports an outage; the driver's error
// stays in the chain for errors.As (e.g. *pgconn.PgError), and so do
// context.Canceled and context.DeadlineExceeded when they caused it.
type Error struct {
	// Unavailable reports a connection-level failure (see ErrUnavailable).
	Unavailable bool
	// Code is the SQLSTATE the server answered, if it answered one.
	Code string

	msg    string // shown
	detail string // the driver's message, redacted: logs only
	raw    error
}

func (e *Error) Error() string { return e.msg }

// Unwrap gives ErrUnavailable (for an outage) and the driver's error.
func (e *Error) Unwrap() []error {
	if e.Unavailable {
		return []error{ErrUnavailable, e.raw}
	}
	return []error{e.raw}
}

// Detail is the driver's own message, with any password redacted: for
// logs, never for a client.
func (e *Error) Detail() string { return e.detail }

// Detail returns what to log about err: for an error from the db package
// the driver's own words (password redacted) after the message, else
// err's message.
func Detail(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.detail != "" && e.detail != e.msg {
		return err.Error() + " (" + e.detail + ")"
	}
	return err.Error()
}

// pgUnavailable are the SQLSTATEs (besides class 08, connection
// exception) that mean the server cannot serve this connection now.
var pgUnavailable = map[string]bool{
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now
	"57P05": true, // idle_session_timeout
	"53300": true, // too_many_connections
}

// unavailableText are words that, in an error no type identifies, mean
// the connection failed. SQLite's "database is locked" is not among them:
// the database is there, busy.
var unavailableText = []string{
	"failed to connect to",
	"conn closed",
	"connection refused",
	"connection reset",
	"broken pipe",
	"bad connection",
	"sql: database is closed",
	"sql: connection is already closed",
	"server closed the connection unexpectedly",
	"the database system is shutting down",
	"the database system is starting up",
	"too many clients already",
	"unexpected eof",
}

// classify turns a driver's error into an *Error (see there), leaving alone
// nil, errors already classified, gorm's own errors (ErrNotFound,
// ErrDuplicate...), and errors that are not the database's (a transaction's
// function's own). dsn is only used to redact the detail's password.
func classify(err error, dsn string) error {
	if err == nil {
		return nil
	}
	var done *Error
	if errors.As(err, &done) {
		return err
	}
	for _, known := range []error{gorm.ErrRecordNotFound, gorm.ErrDuplicatedKey, gorm.ErrForeignKeyViolated,
		gorm.ErrCheckConstraintViolated, gorm.ErrInvalidTransaction, gorm.ErrNotImplemented, gorm.ErrMissingWhereClause,
		gorm.ErrUnsupportedRelation, gorm.ErrPrimaryKeyRequired, gorm.ErrModelValueRequired, gorm.ErrModelAccessibleFieldsRequired,
		gorm.ErrSubQueryRequired, gorm.ErrInvalidData, gorm.ErrUnsupportedDriver, gorm.ErrRegistered, gorm.ErrInvalidField,
		gorm.ErrEmptySlice, gorm.ErrDryRunModeUnsupported, gorm.ErrInvalidDB, gorm.ErrInvalidValue, gorm.ErrInvalidValueOfLength,
		gorm.ErrPreloadNotAllowed} {
		if errors.Is(err, known) {
			return err
		}
	}
	e := &Error{raw: err, detail: redact(err, dsn).Error()}
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var sqliteErr *gosqlite.Error
	byContext := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	switch {
	case errors.As(err, &connectErr):
		// Connecting failed, whatever the reason (refused, timed out,
		// the server shutting down, authentication).
		e.Unavailable = true
		if errors.As(err, &pgErr) {
			e.Code = pgErr.Code
		}
	case errors.As(err, &pgErr):
		e.Code = pgErr.Code
		e.Unavailable = strings.HasPrefix(pgErr.Code, "08") || pgUnavailable[pgErr.Code]
	case byContext:
		// The caller's context ended during the call: not an outage.
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, pgconn.ErrConnClosed):
		e.Unavailable = true
	case errors.As(err, &sqliteErr):
		// SQLite's errors (locked, busy, constraints) are the database's
		// answer: it is there.
	default:
		lower := strings.ToLower(err.Error())
		for _, s := range unavailableText {
			if strings.Contains(lower, s) {
				e.Unavailable = true
				break
			}
		}
		if !e.Unavailable && !isDriverError(err) {
			return err // not the database's: e.g. a transaction's own error
		}
	}
	switch {
	case e.Unavailable && e.Code != "":
		e.msg = fmt.Sprintf("database unavailable (SQLSTATE %s)", e.Code)
	case e.Unavailable:
		e.msg = "database unavailable"
	case byContext:
		cause := context.Canceled
		if errors.Is(err, context.DeadlineExceeded) {
			cause = context.DeadlineExceeded
		}
		e.msg = "database call interrupted: " + cause.Error()
	case pgErr != nil && !strings.HasPrefix(pgErr.Code, "28") && !strings.HasPrefix(pgErr.Code, "3D"):
		// The server's message names tables and constraints, not the
		// connection (classes 28 and 3D may name the user or database).
		e.msg = fmt.Sprintf("database error: %s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	case pgErr != nil:
		e.msg = fmt.Sprintf("database error (SQLSTATE %s)", pgErr.Code)
	case sqliteErr != nil:
		e.msg = "database error: " + sqliteErr.Error()
	default:
		e.msg = "database error"
	}
	return e
}

// isDriverError reports whether err, which no type identified, comes from
// the PostgreSQL or SQLite driver or database/sql: its chain holds an
// error type of theirs.
func isDriverError(err error) bool {
	for _, e := range chain(err) {
		t := fmt.Sprintf("%T", e)
		for _, pkg := range []string{"pgconn.", "pgx.", "pgproto3.", "stdlib.", "sql.", "sqlite.", "sqlite3."} {
			if strings.HasPrefix(strings.TrimLeft(t, "*"), pkg) {
				return true
			}
		}
	}
	return false
}

// chain lists err and every error it wraps, depth first.
func chain(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if e == nil || len(out) > 64 {
			return
		}
		out = append(out, e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// Classify returns err as the db package returns a database failure (an
// *Error: see there), for errors met outside it, e.g. from a transaction
// begun on a raw connection. Errors that are not the database's are
// returned as they are.
func (d *DB) Classify(err error) error { return classify(err, d.dsn) }

// registerClassifier has every gorm operation's error classified: a
// callback after each processor's own, and the dialect's error translator
// (which gorm also applies to beginning and committing transactions and
// to reading rows).
func (d *DB) registerClassifier(g *gorm.DB) error {
	fix := func(tx *gorm.DB) {
		if tx.Error != nil {
			tx.Error = classify(tx.Error, d.dsn)
			if tx.Statement != nil && tx.Statement.Result != nil {
				tx.Statement.Result.Error = tx.Error
			}
		}
	}
	cb := g.Callback()
	if err := cb.Create().After("*").Register("jimm:classify_errors", fix); err != nil {
		return err
	}
	if err := cb.Query().After("*").Register("jimm:classify_errors", fix); err != nil {
		return err
	}
	if err := cb.Update().After("*").Register("jimm:classify_errors", fix); err != nil {
		return err
	}
	if err := cb.Delete().After("*").Register("jimm:classify_errors", fix); err != nil {
		return err
	}
	if err := cb.Row().After("*").Register("jimm:classify_errors", fix); err != nil {
		return err
	}
	return cb.Raw().After("*").Register("jimm:classify_errors", fix)
}

// pgDialector and sqliteDialector wrap a dialect's error translator
// (gorm's TranslateError) with classify, so that every error gorm records
// (AddError: queries, transactions' begin and commit, reading rows) is
// classified.
type (
	pgDialect     = postgres.Dialector
	sqliteDialect = sqlite.Dialector
)

type pgDialector struct {
	*pgDialect
	dsn string
}

func (p pgDialector) Translate(err error) error {
	return classify(p.pgDialect.Translate(err), p.dsn)
}

type sqliteDialector struct {
	*sqliteDialect
	dsn string
}

func (s sqliteDialector) Translate(err error) error {
	return classify(s.sqliteDialect.Translate(err), s.dsn)
}
