package db_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// What the database layer logs of a statement, a failed or a slow one,
// is its SQL with placeholders, never the values it was given (sealed
// secrets, hashes, audit records), and a long statement is cut.
func TestLoggedStatementsHoldNoValues(t *testing.T) {
	const secret = "s3cret-value-never-logged"
	for _, dialect := range []string{"postgres", "sqlite"} {
		t.Run(dialect, func(t *testing.T) {
			var out bytes.Buffer // gorm logs on the calling goroutine
			logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
			dsn := filepath.Join(t.TempDir(), "jimm.db")
			if dialect == "postgres" {
				dsn = dbtest.EmptyPostgreSQL(t)
			}
			d, err := db.Open(t.Context(), dsn, logger)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			ctx := t.Context()
			if err := d.WithContext(ctx).Exec("INSERT INTO no_such_table (x) VALUES (?)", secret).Error; err == nil {
				t.Fatal("an insert into a table that does not exist succeeded")
			}
			// A failed statement of many values: logged cut short.
			many := make([]string, 400)
			args := make([]any, len(many))
			for i := range many {
				many[i], args[i] = "(?)", fmt.Sprintf("%s-%d", secret, i)
			}
			if err := d.WithContext(ctx).Exec("INSERT INTO no_such_table (x) VALUES "+strings.Join(many, ","), args...).Error; err == nil {
				t.Fatal("an insert into a table that does not exist succeeded")
			}
			if dialect == "postgres" {
				if err := d.WithContext(ctx).Exec("SELECT pg_sleep(0.25), CAST(? AS text)", secret).Error; err != nil {
					t.Fatal(err)
				}
			}
			logged := out.String()
			for _, want := range []string{"query failed", "no_such_table", "more bytes)"} {
				if !strings.Contains(logged, want) {
					t.Errorf("the log does not hold %q:\n%s", want, logged)
				}
			}
			if dialect == "postgres" && !strings.Contains(logged, "slow query") {
				t.Errorf("a 250 ms statement was not logged as slow:\n%s", logged)
			}
			if strings.Contains(logged, "s3cret") {
				t.Errorf("the log holds a statement's value:\n%s", logged)
			}
			for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
				if len(line) > 2000 {
					t.Errorf("a log line of %d bytes: %.200s…", len(line), line)
				}
			}
		})
	}
}
