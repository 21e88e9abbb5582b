package pgserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/jimmbroker/jimm/integration/internal/pgproc"
)

// The environment variables Find reads.
const (
	// DSNEnv names the server to use; nothing else is tried when it is set.
	DSNEnv = "JIMM_TEST_DSN"
	// PortEnv is the port of the machine's server (default 5432).
	PortEnv = "JIMM_PG_PORT"
	// ThrowawayEnv set to 1 skips the machine's server.
	ThrowawayEnv = "JIMM_PG_THROWAWAY"
)

// Image is the container image Find runs where a Docker engine answers.
const Image = "postgres:16-alpine"

// Server is a PostgreSQL server the tests may create databases on.
type Server struct {
	// DSN connects, as a user who may create databases, to a database of
	// the server; each test creates a database of its own through it.
	DSN string
	// Source says where the server comes from, e.g. "JIMM_TEST_DSN".
	Source  string
	release func()
}

// Release stops and removes the cluster or container Find started; a
// server it only found is left alone.
func (s *Server) Release() {
	if s.release != nil {
		s.release()
		s.release = nil
	}
}

// Find returns the first server of the order the package describes; a
// throwaway cluster's directory is made under dir.
func Find(ctx context.Context, dir string) (*Server, error) {
	if dsn := os.Getenv(DSNEnv); dsn != "" {
		return &Server{DSN: dsn, Source: DSNEnv}, nil
	}
	tried := []string{DSNEnv + " is unset"}

	port := os.Getenv(PortEnv)
	if port == "" {
		port = "5432"
	}
	if os.Getenv(ThrowawayEnv) == "1" {
		tried = append(tried, fmt.Sprintf("the machine's server on 127.0.0.1:%s was not tried (%s=1)", port, ThrowawayEnv))
	} else {
		dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", port)
		err := ping(ctx, dsn, 5*time.Second)
		if err == nil {
			return &Server{DSN: dsn, Source: "the machine's server on 127.0.0.1:" + port}, nil
		}
		tried = append(tried, fmt.Sprintf("no server on 127.0.0.1:%s lets user postgres in without a password (%v)", port, err))
	}

	if bin, err := pgproc.BinDir(); err != nil {
		tried = append(tried, fmt.Sprintf("no throwaway cluster (%v)", err))
	} else if c, err := pgproc.Start(ctx, dir); err != nil {
		tried = append(tried, fmt.Sprintf("no throwaway cluster (%v)", err))
	} else {
		return &Server{
			DSN:     c.DSN("postgres"),
			Source:  fmt.Sprintf("a throwaway cluster (%s) on 127.0.0.1:%d", bin, c.Port()),
			release: c.Destroy,
		}, nil
	}

	s, err := startContainer(ctx)
	if err == nil {
		return s, nil
	}
	tried = append(tried, fmt.Sprintf("no %s container (%v)", Image, err))

	return nil, fmt.Errorf("no PostgreSQL for the tests: %s. Provide one: set %s=postgres://user@host:port/db?sslmode=disable "+
		"(from the repository root, export %s=$(bash .ci/postgres.sh) finds or starts a server; make test does it by itself), "+
		"run a server on 127.0.0.1:%s that lets user postgres in without a password, "+
		"install PostgreSQL (its initdb and pg_ctl make a throwaway cluster), "+
		"or run a Docker engine (for a %s container)",
		strings.Join(tried, "; "), DSNEnv, DSNEnv, port, Image)
}

// ping connects to dsn and checks the server answers, within timeout.
func ping(ctx context.Context, dsn string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// startContainer runs Image with the docker CLI, published on a free port
// of 127.0.0.1, and waits until it lets user postgres in.
func startContainer(ctx context.Context) (*Server, error) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		return nil, errors.New("no docker CLI on PATH")
	}
	if out, err := exec.CommandContext(ctx, docker, "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("no Docker engine answers: docker info: %v: %s", err, oneLine(out))
	}
	out, err := exec.CommandContext(ctx, docker, "run", "-d", "--rm", "-e", "POSTGRES_HOST_AUTH_METHOD=trust",
		"-p", "127.0.0.1::5432", Image, "-c", "fsync=off", "-c", "max_connections=300").Output()
	if err != nil {
		return nil, fmt.Errorf("docker run %s: %v: %s", Image, err, oneLine(stderr(err)))
	}
	id := strings.TrimSpace(string(out))
	remove := func() { exec.Command(docker, "rm", "-f", id).Run() }
	out, err = exec.CommandContext(ctx, docker, "port", id, "5432/tcp").Output()
	if err != nil {
		remove()
		return nil, fmt.Errorf("docker port %s: %v: %s", id, err, oneLine(stderr(err)))
	}
	addr, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	dsn := "postgres://postgres@" + addr + "/postgres?sslmode=disable"
	// The image's entrypoint initialises the cluster on a socket only, then
	// restarts it listening on TCP.
	deadline := time.Now().Add(time.Minute)
	for {
		err := ping(ctx, dsn, 2*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			remove()
			return nil, fmt.Errorf("container %.12s on %s did not let user postgres in within a minute: %v", id, addr, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return &Server{DSN: dsn, Source: fmt.Sprintf("a %s container (%.12s) on %s", Image, id, addr), release: remove}, nil
}

func stderr(err error) []byte {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.Stderr
	}
	return nil
}

// oneLine is a command's output on one line, for an error message.
func oneLine(out []byte) string {
	return strings.Join(strings.Fields(string(out)), " ")
}
