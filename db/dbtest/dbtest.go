// Package dbtest gives each test its own migrated database: PostgreSQL when
// JIMM_TEST_DSN names a server (or, without it, the machine's server on
// 127.0.0.1:5432 when user postgres may log in without a password, else a
// container started by testcontainers where a Docker engine runs), or
// SQLite.
//
// Each PostgreSQL test database is a copy of a template migrated once per
// schema version, so a new database costs one CREATE DATABASE.
package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/jimmbroker/jimm/db"
)

// DSNEnv names the PostgreSQL server the tests use.
const DSNEnv = "JIMM_TEST_DSN"

var quiet = slog.New(slog.DiscardHandler)

// PostgreSQL returns a fresh, migrated PostgreSQL database, dropped when the
// test ends. Without JIMM_TEST_DSN, a server on 127.0.0.1:5432 that lets
// user postgres in without a password, or Docker, the test is skipped, with
// a message saying how to provide a server.
func PostgreSQL(t testing.TB) *db.DB {
	t.Helper()
	server, err := serverDSN()
	if err != nil {
		t.Skip(err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	template, err := ensureTemplate(ctx, server)
	if err != nil {
		t.Fatalf("prepare template database: %v", err)
	}
	name := fmt.Sprintf("jimm_t_%d_%08x", os.Getpid(), rand.Uint32())
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for attempt := 0; ; attempt++ {
		_, err = admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template))
		// Another process copying the same template at this instant makes
		// PostgreSQL refuse briefly.
		if err == nil || attempt == 20 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	d, err := db.Open(ctx, withDatabase(server, name), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		admin, err := sql.Open("pgx", server)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return d
}

// EmptyPostgreSQL returns the DSN of a new, empty (unmigrated) database,
// dropped when the test ends: for testing migrations themselves.
func EmptyPostgreSQL(t testing.TB) string {
	t.Helper()
	server, err := serverDSN()
	if err != nil {
		t.Skip(err.Error())
	}
	name := fmt.Sprintf("jimm_e_%d_%08x", os.Getpid(), rand.Uint32())
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create empty database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", server)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return withDatabase(server, name)
}

// DSN returns the DSN of a fresh, migrated PostgreSQL database for a test
// that needs to open its own connections (e.g. a broker process). The
// database is dropped when the test ends.
func DSN(t testing.TB) string {
	t.Helper()
	d := PostgreSQL(t)
	return d.DSN()
}

// SQLite returns a fresh, migrated SQLite database in the test's temp dir.
func SQLite(t testing.TB) *db.DB {
	t.Helper()
	d, err := db.Open(t.Context(), filepath.Join(t.TempDir(), "jimm.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return d
}

// Each runs a test against both databases.
func Each(t *testing.T, test func(t *testing.T, d *db.DB)) {
	t.Run("postgres", func(t *testing.T) { test(t, PostgreSQL(t)) })
	t.Run("sqlite", func(t *testing.T) { test(t, SQLite(t)) })
}

var (
	serverOnce sync.Once
	foundDSN   string
	foundErr   error
)

// serverDSN is JIMM_TEST_DSN, else the machine's server, else a container
// testcontainers starts (make unit and make test set JIMM_TEST_DSN, starting
// a throwaway cluster if need be).
func serverDSN() (string, error) {
	if dsn := os.Getenv(DSNEnv); dsn != "" {
		return dsn, nil
	}
	serverOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// The machine's server, used when it lets user postgres in without
		// a password (as .ci/postgres.sh and the integration tests do);
		// JIMM_PG_PORT moves it from 5432.
		port := os.Getenv("JIMM_PG_PORT")
		if port == "" {
			port = "5432"
		}
		machineDSN := "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable"
		machineErr := ping(ctx, machineDSN)
		if machineErr == nil {
			foundDSN = machineDSN
			return
		}
		c, err := tcpostgres.Run(ctx, "postgres:16-alpine",
			tcpostgres.WithUsername("postgres"), tcpostgres.WithPassword("postgres"), tcpostgres.WithDatabase("postgres"),
			tcpostgres.BasicWaitStrategies())
		if err != nil {
			foundErr = fmt.Errorf("no PostgreSQL for this test: %s is unset; no server on 127.0.0.1:%s lets user postgres in without a password (%v); "+
				"no container from testcontainers (%v). Provide one: set %s=postgres://user@host:port/db?sslmode=disable "+
				"(from the repository root, export %s=$(bash .ci/postgres.sh) finds or starts a server; make unit and make test do it by themselves), "+
				"run a server on 127.0.0.1:%s that lets user postgres in without a password, or run a Docker engine for testcontainers",
				DSNEnv, port, machineErr, err, DSNEnv, DSNEnv, port)
			return
		}
		foundDSN, foundErr = c.ConnectionString(ctx, "sslmode=disable")
	})
	return foundDSN, foundErr
}

// ping connects to dsn and checks the server answers, within 5 seconds.
func ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.PingContext(ctx)
}

func withDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	u.Path = "/" + name
	return u.String()
}

var templateMu sync.Mutex

// ensureTemplate creates and migrates the template database for this
// schema once, serialised between test processes by an advisory lock.
func ensureTemplate(ctx context.Context, server string) (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()
	name := "jimm_tpl_" + db.SchemaFingerprint()
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", server, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7431)"); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7431)")
	var exists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	conn.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building))
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	d, err := db.Open(ctx, withDatabase(server, building), quiet)
	if err != nil {
		return "", err
	}
	err = d.Migrate(ctx)
	d.Close()
	if err != nil {
		return "", err
	}
	// Only a fully migrated template gets the name tests look for.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		return "", err
	}
	return name, nil
}
