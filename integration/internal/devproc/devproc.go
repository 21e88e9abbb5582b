// Package devproc builds and runs devcontroller processes for the
// integration tests and the devbench command: start one on a free port,
// read the address it prints and the controller.yaml it writes, stop it
// with SIGTERM (or kill it with SIGKILL) and start it again on the same
// data directory.
package devproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/integration/internal/proc"
)

// BinEnv names a prebuilt devcontroller binary to use instead of building one.
const BinEnv = "JIMM_DEVCONTROLLER_BIN"

// RepoRoot returns the directory of the jimm module (the one whose go.mod
// declares github.com/jimmbroker/jimm), searching up from the working
// directory.
func RepoRoot() (string, error) { return proc.RepoRoot() }

// Build returns the devcontroller binary to run: $JIMM_DEVCONTROLLER_BIN when
// set, otherwise one built into dir from the jimm module's cmd/devcontroller
// with the given extra build flags (e.g. "-race").
func Build(ctx context.Context, dir string, buildFlags ...string) (string, error) {
	if bin, err := proc.Prebuilt(BinEnv); bin != "" || err != nil {
		return bin, err
	}
	return proc.Build(ctx, dir, "./cmd/devcontroller", buildFlags...)
}

// ControllerFile is what the controller writes to <data-dir>/controller.yaml.
type ControllerFile struct {
	Name          string   `yaml:"name"`
	UUID          string   `yaml:"uuid"`
	APIAddresses  []string `yaml:"api-addresses"`
	CACert        string   `yaml:"ca-cert"`
	AdminUser     string   `yaml:"admin-user"`
	AdminPassword string   `yaml:"admin-password"`
	Cloud         string   `yaml:"cloud"`
	CloudType     string   `yaml:"cloud-type"`
	Regions       []string `yaml:"regions"`
	AgentVersion  string   `yaml:"agent-version"`
}

// Options say how to run a controller.
type Options struct {
	Bin           string   // the devcontroller binary (required)
	Name          string   // --name (required)
	DataDir       string   // --data-dir (required)
	AdminPassword string   // --admin-password, when set
	Args          []string // further flags
	Env           []string // added to the environment, "KEY=value"
	// Stderr, when set, also receives the process's stderr as it comes.
	Stderr io.Writer
	// StartTimeout bounds the wait for the "listening" line (default 30s).
	StartTimeout time.Duration
}

// Process is one running (or finished) controller process.
type Process struct {
	Opts Options
	// Addr is host:port from the line the controller printed at start.
	Addr string
	// UUID is the controller UUID from that line.
	UUID string
	// FilePath is the controller.yaml path from that line.
	FilePath string
	// File is controller.yaml as read after start.
	File ControllerFile
	// FileMode is controller.yaml's permission bits.
	FileMode os.FileMode

	// The process itself, embedded through an unexported alias so that
	// its Pid, Output, Done, Exited, Stop and Kill methods are promoted
	// without adding an exported field.
	*process
}

type process = proc.Process

// startLine is the line the controller prints once it listens.
var startLine = regexp.MustCompile(`^controller (\S+) \(([0-9a-f-]+)\) listening on (\S+); details in (.+)$`)

// Start runs a controller with --listen 127.0.0.1:0 and waits until it
// listens.
func Start(ctx context.Context, opts Options) (*Process, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", opts.DataDir, "--name", opts.Name}
	if opts.AdminPassword != "" {
		args = append(args, "--admin-password", opts.AdminPassword)
	}
	args = append(args, opts.Args...)
	pp, m, err := proc.Start(ctx, proc.Spec{
		Name:         "controller " + opts.Name,
		Bin:          opts.Bin,
		Args:         args,
		Env:          append(os.Environ(), opts.Env...),
		StartLine:    startLine,
		StartTimeout: opts.StartTimeout,
		Stderr:       opts.Stderr,
	})
	if err != nil {
		return nil, err
	}
	p := &Process{Opts: opts, process: pp}
	if m[1] != opts.Name {
		p.Kill()
		return nil, fmt.Errorf("controller start line names controller %q, want %q", m[1], opts.Name)
	}
	p.UUID, p.Addr, p.FilePath = m[2], m[3], m[4]
	fi, err := os.Stat(p.FilePath)
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("controller file: %w", err)
	}
	p.FileMode = fi.Mode().Perm()
	raw, err := os.ReadFile(p.FilePath)
	if err == nil {
		err = yaml.Unmarshal(raw, &p.File)
	}
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("controller file %s: %w", p.FilePath, err)
	}
	return p, nil
}

// Restart starts a new process with the same options (and so the same data
// directory). The current process must have exited.
func (p *Process) Restart(ctx context.Context) (*Process, error) {
	if !p.Exited() {
		return nil, errors.New("restart: the controller is still running")
	}
	return Start(ctx, p.Opts)
}
