package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", for a real "database is locked"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// leaks reports what of a connection's details an error's message shows.
func leaks(msg string) []string {
	var out []string
	for _, s := range []string{"user=", "database=", "postgres://", "127.0.0.1", "dial", "hunter2", "jimm_secret_db"} {
		if strings.Contains(msg, s) {
			out = append(out, s)
		}
	}
	return out
}

// realConnectError is what pgx answers when nothing listens at the address.
func realConnectError(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := pgx.Connect(ctx, "postgres://someone:hunter2@127.0.0.1:1/jimm_secret_db?sslmode=disable&connect_timeout=2")
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "user=someone") {
		t.Fatalf("connecting to a closed port: got %v, want a *pgconn.ConnectError naming the user", err)
	}
	return err
}

// realLocked is SQLite's "database is locked", from a second writer that
// will not wait.
func realLocked(t *testing.T) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "locked.db") + "?_pragma=busy_timeout(0)"
	a, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	conn, err := a.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	_, err = b.Exec("INSERT INTO t VALUES (1)")
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("a second writer: got %v, want database is locked", err)
	}
	return err
}

func TestClassify(t *testing.T) {
	appErr := errors.New("the transaction's own reason")
	netErr := &net.OpError{Op: "read", Net: "tcp", Source: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000},
		Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5432}, Err: errors.New("connection reset by peer")}
	pg := func(code, msg string) error { return &pgconn.PgError{Severity: "FATAL", Code: code, Message: msg} }
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
		same        bool     // returned as it is
		is          []error  // errors.Is must hold for each
		msgHas      []string // the message must contain each
	}{
		{name: "nil", err: nil, same: true},
		{name: "not found", err: fmt.Errorf("look up model x: %w", gorm.ErrRecordNotFound), same: true, is: []error{ErrNotFound}},
		{name: "duplicate", err: fmt.Errorf("%w: %w", gorm.ErrDuplicatedKey, pg("23505", "duplicate key value")), same: true, is: []error{ErrDuplicate}},
		{name: "a transaction's own error", err: appErr, same: true, is: []error{appErr}},
		{name: "connect error", err: realConnectError(t), unavailable: true, msgHas: []string{"database unavailable"}},
		{name: "connection exception class 08", err: pg("08006", "connection failure"), unavailable: true, msgHas: []string{"SQLSTATE 08006"}},
		{name: "admin shutdown", err: pg("57P01", "terminating connection due to administrator command"), unavailable: true, msgHas: []string{"57P01"}},
		{name: "crash shutdown", err: pg("57P02", "terminating connection because of crash of another server process"), unavailable: true},
		{name: "cannot connect now", err: pg("57P03", "the database system is starting up"), unavailable: true},
		{name: "too many connections", err: pg("53300", "sorry, too many clients already"), unavailable: true},
		{name: "a statement's error", err: pg("22001", "value too long for type character varying(255)"), msgHas: []string{"database error", "SQLSTATE 22001", "value too long"}},
		{name: "authentication, mid-session", err: pg("28P01", `password authentication failed for user "postgres"`), msgHas: []string{"SQLSTATE 28P01"}},
		{name: "EOF", err: fmt.Errorf("receive message: %w", io.EOF), unavailable: true},
		{name: "unexpected EOF", err: fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), unavailable: true},
		{name: "network error", err: fmt.Errorf("write: %w", netErr), unavailable: true},
		{name: "conn closed", err: pgconn.ErrConnClosed, unavailable: true},
		{name: "conn closed, in words", err: errors.New("conn closed"), unavailable: true},
		{name: "pool closed", err: errors.New("sql: database is closed"), unavailable: true},
		{name: "bad connection", err: fmt.Errorf("query: %w", sql.ErrConnDone), unavailable: true},
		{name: "caller's context", err: fmt.Errorf("timeout: %w", context.DeadlineExceeded), is: []error{context.DeadlineExceeded}, msgHas: []string{"interrupted"}},
		{name: "sqlite locked is not an outage", err: realLocked(t), msgHas: []string{"database is locked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err, "postgres://someone:hunter2@127.0.0.1:1/jimm_secret_db")
			if tc.same {
				if got != tc.err {
					t.Fatalf("classify(%v) = %v, want it unchanged", tc.err, got)
				}
			} else {
				var e *Error
				if !errors.As(got, &e) {
					t.Fatalf("classify(%v) = %v (%T), want an *Error", tc.err, got, got)
				}
				if errors.Is(got, ErrUnavailable) != tc.unavailable || e.Unavailable != tc.unavailable {
					t.Fatalf("classify(%v): unavailable = %v, want %v", tc.err, errors.Is(got, ErrUnavailable), tc.unavailable)
				}
				if tc.unavailable && !strings.HasPrefix(got.Error(), "database unavailable") {
					t.Fatalf("message %q: want it to say database unavailable", got)
				}
				if l := leaks(got.Error()); len(l) > 0 {
					t.Fatalf("message %q shows %v", got, l)
				}
				if strings.Contains(Detail(got), "hunter2") {
					t.Fatalf("detail %q shows the password", Detail(got))
				}
				if !errors.Is(got, tc.err) {
					t.Fatalf("the driver's error is lost from the chain of %v", got)
				}
				if again := classify(got, ""); again != got {
					t.Fatalf("classifying twice changed %v into %v", got, again)
				}
			}
			for _, want := range tc.is {
				if !errors.Is(got, want) {
					t.Fatalf("classify(%v) = %v: errors.Is(%v) is false", tc.err, got, want)
				}
			}
			for _, want := range tc.msgHas {
				if !strings.Contains(got.Error(), want) {
					t.Fatalf("message %q lacks %q", got, want)
				}
			}
		})
	}
}

func TestDetailKeepsTheDriversWordsForLogs(t *testing.T) {
	err := fmt.Errorf("look up model m: %w", classify(realConnectError(t), "postgres://someone:hunter2@127.0.0.1:1/jimm_secret_db"))
	if got := err.Error(); got != "look up model m: database unavailable" {
		t.Fatalf("message %q", got)
	}
	d := Detail(err)
	if !strings.Contains(d, "user=someone") || !strings.Contains(d, "database unavailable") || strings.Contains(d, "hunter2") {
		t.Fatalf("detail %q: want the driver's words, without the password", d)
	}
}
