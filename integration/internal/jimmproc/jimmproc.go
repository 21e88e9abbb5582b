// Package jimmproc builds and runs the broker (jimmd) and its admin CLI
// (jimmctl) for the integration tests: build each binary once (or take a
// prebuilt one from the environment), start a broker on a given address,
// data directory and database, read the line it prints once it listens,
// stop it with SIGTERM (killing it if it hangs), start it again with the
// same arguments, and run jimmctl against it.
package jimmproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/integration/internal/proc"
)

// Environment variables naming prebuilt binaries to use instead of building.
const (
	JimmdBinEnv   = "JIMM_JIMMD_BIN"
	JimmctlBinEnv = "JIMM_JIMMCTL_BIN"
)

// BuildJimmd returns the jimmd binary to run: $JIMM_JIMMD_BIN when set,
// otherwise one built into dir from the jimm module's cmd/jimmd with the
// given extra build flags (e.g. "-race").
func BuildJimmd(ctx context.Context, dir string, buildFlags ...string) (string, error) {
	return build(ctx, JimmdBinEnv, dir, "jimmd", buildFlags)
}

// BuildJimmctl returns the jimmctl binary to run: $JIMM_JIMMCTL_BIN when
// set, otherwise one built into dir from cmd/jimmctl.
func BuildJimmctl(ctx context.Context, dir string, buildFlags ...string) (string, error) {
	return build(ctx, JimmctlBinEnv, dir, "jimmctl", buildFlags)
}

func build(ctx context.Context, env, dir, name string, buildFlags []string) (string, error) {
	if bin, err := proc.Prebuilt(env); bin != "" || err != nil {
		return bin, err
	}
	return proc.Build(ctx, dir, "./cmd/"+name, buildFlags...)
}

// FreeAddr returns 127.0.0.1:<port> for a port that was free a moment ago
// (it listens on port 0 and closes). Another process may take the port
// before the caller does: callers retry on "address already in use".
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// Options say how to run a broker.
type Options struct {
	Bin     string // the jimmd binary (required)
	Listen  string // --listen, e.g. 127.0.0.1:17070 (required)
	DataDir string // --data-dir (required)
	// DSN, AdminPassword and SecretsKey (64 hex characters) are passed in
	// the environment (JIMM_DSN, JIMM_ADMIN_PASSWORD, JIMM_SECRETS_KEY), as
	// an operator would.
	DSN           string
	AdminPassword string
	SecretsKey    string
	// MetricsListen is --metrics-listen; "" disables the metrics listener
	// (the default, ":9090", would clash between brokers run in parallel).
	MetricsListen string
	Args          []string // further flags
	// Env is added to the environment, "KEY=value". Every JIMM_* variable
	// of the test's own environment is dropped first, so that only what
	// the options say reaches the broker.
	Env []string
	// Stderr, when set, also receives the process's stderr as it comes.
	Stderr io.Writer
	// StartTimeout bounds the wait for the "listening" line (default 30s).
	StartTimeout time.Duration
	// MaxOpenFiles, when positive, is the process's open-file limit
	// (RLIMIT_NOFILE, soft and hard): jimmd is started through
	// sh -c 'ulimit -n N; exec jimmd ...', as an operator's unit would.
	MaxOpenFiles int
}

// Process is one running (or finished) broker process.
type Process struct {
	Opts Options
	// UUID, Addr and PublicAddr are from the line jimmd printed at start.
	UUID, Addr, PublicAddr string
	// CACertFile is the CA the broker generated into its data directory
	// (<data-dir>/tls/ca.crt), to verify it and its JWKS URL with.
	CACertFile string

	// The process itself, embedded through an unexported alias so that
	// its Pid, Output, Done, Exited, Stop and Kill methods are promoted
	// without adding an exported field.
	*process
}

type process = proc.Process

// startLine is the line jimmd prints once it listens.
var startLine = regexp.MustCompile(`^jimmd ([0-9a-f-]{36}) listening on (\S+) \(public address (\S+)\)$`)

// ErrAddrInUse is returned (wrapped) by Start when the broker could not
// listen because the address is taken.
var ErrAddrInUse = errors.New("address already in use")

// args are the command-line arguments Start runs jimmd with.
func (o Options) args() []string {
	args := []string{"serve", "--listen", o.Listen, "--data-dir", o.DataDir, "--metrics-listen", o.MetricsListen}
	return append(args, o.Args...)
}

// environ is the process environment: the test's own without JIMM_*
// variables, then the options'.
func (o Options) environ() []string {
	env := withoutJIMM(os.Environ())
	if o.DSN != "" {
		env = append(env, "JIMM_DSN="+o.DSN)
	}
	if o.AdminPassword != "" {
		env = append(env, "JIMM_ADMIN_PASSWORD="+o.AdminPassword)
	}
	if o.SecretsKey != "" {
		env = append(env, "JIMM_SECRETS_KEY="+o.SecretsKey)
	}
	return append(env, o.Env...)
}

func withoutJIMM(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "JIMM_") {
			out = append(out, kv)
		}
	}
	return out
}

// Start runs a broker and waits until it prints that it listens.
func Start(ctx context.Context, opts Options) (*Process, error) {
	if opts.Bin == "" || opts.Listen == "" || opts.DataDir == "" {
		return nil, errors.New("jimmproc: Bin, Listen and DataDir are required")
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	bin, args := opts.Bin, opts.args()
	if opts.MaxOpenFiles > 0 {
		// exec keeps the pid: Stop and Kill reach jimmd itself.
		script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, opts.MaxOpenFiles)
		bin, args = "/bin/sh", append([]string{"-c", script, opts.Bin}, args...)
	}
	pp, m, err := proc.Start(ctx, proc.Spec{
		Name:         "jimmd",
		Bin:          bin,
		Args:         args,
		Env:          opts.environ(),
		StartLine:    startLine,
		StartTimeout: opts.StartTimeout,
		// Without a start line the process is exiting (or hung): give it
		// time to say why.
		ExitGrace: 5 * time.Second,
		Stderr:    opts.Stderr,
	})
	var lineErr *proc.StartLineError
	if errors.As(err, &lineErr) && strings.Contains(lineErr.Output, "address already in use") {
		return nil, fmt.Errorf("jimmd on %s: %w; output:\n%s", opts.Listen, ErrAddrInUse, lineErr.Output)
	}
	if err != nil {
		return nil, err
	}
	p := &Process{Opts: opts, process: pp}
	p.UUID, p.Addr, p.PublicAddr = m[1], m[2], m[3]
	p.CACertFile = filepath.Join(opts.DataDir, "tls", "ca.crt")
	return p, nil
}

// Restart starts a new process with the same options: the same address,
// data directory, database and environment. The current process must have
// exited.
func (p *Process) Restart(ctx context.Context) (*Process, error) {
	if !p.Exited() {
		return nil, errors.New("restart: jimmd is still running")
	}
	return Start(ctx, p.Opts)
}

// Ctl runs jimmctl against one broker.
type Ctl struct {
	Bin      string // the jimmctl binary (required)
	URL      string // JIMM_URL, e.g. https://127.0.0.1:17070
	CACert   string // JIMM_CA_CERT: a PEM file path (or the PEM itself)
	User     string // JIMM_USER
	Password string // JIMM_PASSWORD
	// ConfigDir is XDG_CONFIG_HOME (and HOME) for jimmctl, so that it
	// neither reads nor writes the user's saved config. Required.
	ConfigDir string
	// Env is added to the environment after the fields above.
	Env []string
	// Timeout bounds each run (default 30s).
	Timeout time.Duration
}

// Result is what one jimmctl run printed and how it exited.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	ExitCode int
	Duration time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("jimmctl %s: exit %d after %s\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.Args, " "), r.ExitCode, r.Duration.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// Run runs jimmctl with args. A non-zero exit is reported in the result,
// not as an error; the error is for a jimmctl that could not run or did
// not finish in time.
func (c *Ctl) Run(ctx context.Context, args ...string) (Result, error) {
	if c.Bin == "" || c.ConfigDir == "" {
		return Result{}, errors.New("jimmproc: Ctl needs Bin and ConfigDir")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	env := withoutJIMM(os.Environ())
	env = append(env, "HOME="+c.ConfigDir, "XDG_CONFIG_HOME="+c.ConfigDir)
	for k, v := range map[string]string{"JIMM_URL": c.URL, "JIMM_CA_CERT": c.CACert, "JIMM_USER": c.User, "JIMM_PASSWORD": c.Password} {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	cmd.Env = append(env, c.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader("")
	start := time.Now()
	err := cmd.Run()
	res := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return res, fmt.Errorf("jimmctl %s: no answer within %s", strings.Join(args, " "), timeout)
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	default:
		return res, fmt.Errorf("run jimmctl %s: %w", strings.Join(args, " "), err)
	}
	return res, nil
}
