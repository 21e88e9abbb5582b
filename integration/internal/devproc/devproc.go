// Package devproc builds and runs devcontroller processes for the
// integration tests and the devbench command: start one on a free port,
// read the address it prints and the controller.yaml it writes, stop it
// with SIGTERM (or kill it with SIGKILL) and start it again on the same
// data directory.
package devproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// BinEnv names a prebuilt devcontroller binary to use instead of building one.
const BinEnv = "JIMM_DEVCONTROLLER_BIN"

// RepoRoot returns the directory of the jimm module (the one whose go.mod
// declares github.com/jimmbroker/jimm), searching up from the working
// directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(raw) == "github.com/jimmbroker/jimm" {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the github.com/jimmbroker/jimm module above the working directory")
		}
		dir = parent
	}
}

func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// Build returns the devcontroller binary to run: $JIMM_DEVCONTROLLER_BIN when
// set, otherwise one built into dir from the jimm module's cmd/devcontroller
// with the given extra build flags (e.g. "-race").
func Build(ctx context.Context, dir string, buildFlags ...string) (string, error) {
	if bin := os.Getenv(BinEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%s: %w", BinEnv, err)
		}
		return bin, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "devcontroller")
	args := append([]string{"build", "-o", bin}, buildFlags...)
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/devcontroller")...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/devcontroller in %s: %w\n%s", root, err, out)
	}
	return bin, nil
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

	cmd     *exec.Cmd
	output  *syncBuffer // stderr, and stdout after the first line
	done    chan struct{}
	waitErr error
}

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
	p := &Process{Opts: opts, output: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(opts.Bin, args...)
	p.cmd.Env = append(os.Environ(), opts.Env...)
	var stderr io.Writer = p.output
	if opts.Stderr != nil {
		stderr = io.MultiWriter(p.output, opts.Stderr)
	}
	p.cmd.Stderr = stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", opts.Bin, err)
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- strings.TrimRight(line, "\r\n")
		io.Copy(p.output, r) // keep draining so that the process never blocks on stdout
	}()
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()

	timer := time.NewTimer(opts.StartTimeout)
	defer timer.Stop()
	var line string
	select {
	case line = <-lines:
	case <-timer.C:
		p.Kill()
		return nil, fmt.Errorf("controller %s printed no start line within %s; output:\n%s", opts.Name, opts.StartTimeout, p.Output())
	case <-ctx.Done():
		p.Kill()
		return nil, ctx.Err()
	}
	m := startLine.FindStringSubmatch(line)
	if m == nil {
		p.Kill()
		return nil, fmt.Errorf("controller %s: unexpected start line %q; output:\n%s", opts.Name, line, p.Output())
	}
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

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns what the process wrote to stderr (and to stdout after its
// first line) so far.
func (p *Process) Output() string { return p.output.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to exit, then
// kills it. It returns the process's exit error (nil for a clean exit) or an
// error saying it had to be killed.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Exited() {
		return p.waitErr
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("controller %s did not exit within %s of SIGTERM; killed it", p.Opts.Name, timeout)
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Restart starts a new process with the same options (and so the same data
// directory). The current process must have exited.
func (p *Process) Restart(ctx context.Context) (*Process, error) {
	if !p.Exited() {
		return nil, errors.New("restart: the controller is still running")
	}
	return Start(ctx, p.Opts)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
