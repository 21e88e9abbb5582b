package pgserver

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/integration/internal/pgproc"
)

// closedPort is a port of 127.0.0.1 nothing listens on (it was free a
// moment ago).
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func find(t *testing.T) (*Server, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return Find(ctx, t.TempDir())
}

// TestFindDSN: JIMM_TEST_DSN is used as given, and nothing else is tried.
func TestFindDSN(t *testing.T) {
	const dsn = "postgres://someone@db.example:6543/x?sslmode=disable"
	t.Setenv(DSNEnv, dsn)
	t.Setenv(PortEnv, closedPort(t))
	s, err := find(t)
	if err != nil {
		t.Fatalf("Find with %s set: %v", DSNEnv, err)
	}
	if s.DSN != dsn || s.Source != DSNEnv {
		t.Errorf("Find with %s set gave DSN %q from %q, want %q from %q", DSNEnv, s.DSN, s.Source, dsn, DSNEnv)
	}
	s.Release()
}

// TestFindNone: without a DSN, a server, PostgreSQL's programs or docker,
// Find says why each failed and names every way to provide a server.
func TestFindNone(t *testing.T) {
	port := closedPort(t)
	t.Setenv(DSNEnv, "")
	t.Setenv(ThrowawayEnv, "")
	t.Setenv(PortEnv, port)
	t.Setenv(pgproc.BinDirEnv, t.TempDir())
	t.Setenv("PATH", t.TempDir())
	s, err := find(t)
	if err == nil {
		s.Release()
		t.Fatalf("Find with nothing to find gave %q from %q", s.DSN, s.Source)
	}
	msg := err.Error()
	for _, want := range []string{
		"no PostgreSQL for the tests: JIMM_TEST_DSN is unset; ",
		"; no server on 127.0.0.1:" + port + " lets user postgres in without a password (",
		"; no throwaway cluster (pgproc: no initdb in JIMM_PG_BINDIR=",
		"; no postgres:16-alpine container (no docker CLI on PATH). Provide one: ",
		"set JIMM_TEST_DSN=postgres://user@host:port/db?sslmode=disable (from the repository root, export JIMM_TEST_DSN=$(bash .ci/postgres.sh) finds or starts a server; make test does it by itself)",
		"run a server on 127.0.0.1:" + port + " that lets user postgres in without a password",
		"install PostgreSQL (its initdb and pg_ctl make a throwaway cluster)",
		"or run a Docker engine (for a postgres:16-alpine container)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Find's error lacks %q:\n%s", want, msg)
		}
	}
}

// TestFindThrowawayThenMachine: with no server on the port, Find starts a
// throwaway cluster, which Release removes; a server on the port (that
// cluster) is used as the machine's, and Release leaves it running.
func TestFindThrowawayThenMachine(t *testing.T) {
	if _, err := pgproc.BinDir(); err != nil {
		t.Skipf("needs PostgreSQL's server programs: %v", err)
	}
	t.Setenv(DSNEnv, "")
	t.Setenv(ThrowawayEnv, "")
	t.Setenv(PortEnv, closedPort(t))
	throwaway, err := find(t)
	if err != nil {
		t.Fatalf("Find with no server on the port: %v", err)
	}
	defer throwaway.Release()
	if !strings.HasPrefix(throwaway.Source, "a throwaway cluster (") {
		t.Fatalf("Find with no server on the port used %q (%s), want a throwaway cluster", throwaway.Source, throwaway.DSN)
	}
	ctx := context.Background()
	if err := ping(ctx, throwaway.DSN, 10*time.Second); err != nil {
		t.Fatalf("the throwaway cluster at %s: %v", throwaway.DSN, err)
	}

	_, port, _ := strings.Cut(strings.TrimPrefix(throwaway.DSN, "postgres://postgres@"), ":")
	port, _, _ = strings.Cut(port, "/")
	t.Setenv(PortEnv, port)
	machine, err := find(t)
	if err != nil {
		t.Fatalf("Find with a server on port %s: %v", port, err)
	}
	if want := "the machine's server on 127.0.0.1:" + port; machine.Source != want {
		t.Errorf("Find with a server on port %s used %q, want %q", port, machine.Source, want)
	}
	machine.Release()
	if err := ping(ctx, machine.DSN, 10*time.Second); err != nil {
		t.Errorf("after Release of a server Find only found, %s does not answer: %v", machine.DSN, err)
	}

	t.Setenv(ThrowawayEnv, "1")
	again, err := find(t)
	if err != nil {
		t.Fatalf("Find with %s=1: %v", ThrowawayEnv, err)
	}
	if !strings.HasPrefix(again.Source, "a throwaway cluster (") || again.DSN == throwaway.DSN {
		t.Errorf("Find with %s=1 used %q (%s), want a new throwaway cluster", ThrowawayEnv, again.Source, again.DSN)
	}
	again.Release()
	if err := ping(ctx, again.DSN, 3*time.Second); err == nil {
		t.Errorf("after Release, the throwaway cluster at %s still answers", again.DSN)
	}
}
