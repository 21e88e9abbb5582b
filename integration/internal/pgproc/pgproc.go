// Package pgproc runs a PostgreSQL cluster of a test's own, so that the
// test can stop it and start it again (a database outage) without
// disturbing the server the other tests share. The cluster lives in a
// temporary directory, listens on 127.0.0.1 on a free port, trusts local
// connections and skips fsync; it is made by the initdb of the newest
// PostgreSQL installed under /usr/lib/postgresql (or on PATH). When the
// tests run as root, PostgreSQL (which refuses root) runs as the
// postgres user.
package pgproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cluster is a running (or stopped) private PostgreSQL cluster.
type Cluster struct {
	bin  string // the directory of initdb and pg_ctl
	dir  string
	port int
	// asPostgres is set when commands run through su as the postgres user.
	asPostgres bool
}

// BinDirEnv names the directory of PostgreSQL's server programs, overriding
// the search (as for .ci/postgres.sh).
const BinDirEnv = "JIMM_PG_BINDIR"

// BinDir finds the directory of PostgreSQL's server programs ($JIMM_PG_BINDIR,
// else the newest under /usr/lib/postgresql, else initdb's on PATH), or says
// why there is none.
func BinDir() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
			return "", fmt.Errorf("pgproc: no initdb in %s=%s: %w", BinDirEnv, dir, err)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgproc: no PostgreSQL server programs (initdb, pg_ctl): install PostgreSQL (.ci/postgres.sh does)")
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start makes a cluster in a new directory under parent and starts it.
func Start(ctx context.Context, parent string) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(parent, "pg")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		c.asPostgres = true
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgproc: running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// The path down to the cluster must be searchable by postgres.
		for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				os.Chmod(d, fi.Mode().Perm()|0o011)
			}
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if c.port, err = freePort(); err != nil {
		return nil, err
	}
	if out, err := c.run(ctx, "initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		return nil, fmt.Errorf("pgproc: initdb: %v\n%s", err, out)
	}
	if err := c.StartAgain(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// DSN is the URL of database db on the cluster.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// Port is the port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// StartAgain starts the (stopped) cluster on its port and waits until it
// accepts connections.
func (c *Cluster) StartAgain(ctx context.Context) error {
	opts := fmt.Sprintf("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", c.dir, c.port)
	if out, err := c.run(ctx, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-o", opts, "start"); err != nil {
		return fmt.Errorf("pgproc: start: %v\n%s\n%s", err, out, c.Log())
	}
	return nil
}

// Stop stops the cluster the way an operator's restart does ("fast":
// sessions are ended, PostgreSQL tells each client so).
func (c *Cluster) Stop(ctx context.Context) error {
	if out, err := c.run(ctx, "pg_ctl", "-D", c.data(), "-w", "-m", "fast", "stop"); err != nil {
		return fmt.Errorf("pgproc: stop: %v\n%s", err, out)
	}
	return nil
}

// Destroy stops the cluster, if it runs, and removes its directory.
func (c *Cluster) Destroy() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.run(ctx, "pg_ctl", "-D", c.data(), "-w", "-m", "immediate", "stop")
	os.RemoveAll(c.dir)
}

// Log is the server's log so far.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "log"))
	return string(b)
}

// CreateDatabase creates database name on the running cluster.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	out, err := exec.CommandContext(ctx, filepath.Join(c.bin, "psql"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port),
		"-U", "postgres", "-d", "postgres", "-c", "CREATE DATABASE "+name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgproc: create database %s: %v\n%s", name, err, out)
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, prog)
	if !c.asPostgres {
		return exec.CommandContext(ctx, path, args...).CombinedOutput()
	}
	quoted := make([]string, 0, len(args)+1)
	for _, a := range append([]string{path}, args...) {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return exec.CommandContext(ctx, "su", "postgres", "-s", "/bin/sh", "-c", strings.Join(quoted, " ")).CombinedOutput()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
