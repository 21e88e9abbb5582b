// Package proc runs the long-lived processes of the integration tests
// (devcontroller, jimmd): build a binary from the jimm module, start it,
// wait for the line it prints once it is ready, keep its output, and stop
// it with SIGTERM (killing it if it hangs) or SIGKILL. The devproc and
// jimmproc packages add what is particular to each program.
package proc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

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

// Prebuilt returns the binary named by the environment variable env: ""
// when env is unset, an error when it names no file.
func Prebuilt(env string) (string, error) {
	bin := os.Getenv(env)
	if bin == "" {
		return "", nil
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s: %w", env, err)
	}
	return bin, nil
}

// Build builds pkg (a package path relative to the jimm module's root,
// e.g. "./cmd/jimmd") with the given extra build flags (e.g. "-race") into
// dir, and returns the binary's path: dir/<last element of pkg>.
func Build(ctx context.Context, dir, pkg string, buildFlags ...string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, path.Base(pkg))
	args := append([]string{"build", "-o", bin}, buildFlags...)
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s in %s: %w\n%s", pkg, root, err, out)
	}
	return bin, nil
}

// Spec says how to run a process.
type Spec struct {
	// Name names the process in errors, e.g. "jimmd" or "controller c1".
	Name string
	Bin  string   // the binary (required)
	Args []string // its arguments
	// Env is the process's whole environment, "KEY=value"; nil means the
	// test's own.
	Env []string
	Dir string // the working directory; "" means the test's own
	// StartLine must match the first line the process prints on stdout
	// once it is ready (required).
	StartLine *regexp.Regexp
	// StartTimeout bounds the wait for that line (default 30s).
	StartTimeout time.Duration
	// ExitGrace is how long Start waits for a process whose first line does
	// not match StartLine to exit by itself (it is usually failing) before
	// killing it; 0 kills it at once.
	ExitGrace time.Duration
	// Stderr, when set, also receives the process's stderr as it comes.
	Stderr io.Writer
}

// StartLineError is returned by Start when the process's first line does
// not match Spec.StartLine. The process has exited (or been killed) by
// then.
type StartLineError struct {
	Name   string // Spec.Name
	Line   string // the first line, without its line ending
	Exit   error  // the process's exit error
	Output string // what the process wrote to stderr (and stdout after Line)
}

func (e *StartLineError) Error() string {
	return fmt.Sprintf("%s: unexpected start line %q (exit: %v); output:\n%s", e.Name, e.Line, e.Exit, e.Output)
}

// Process is one running (or finished) process.
type Process struct {
	spec    Spec
	cmd     *exec.Cmd
	output  *syncBuffer // stderr, and stdout after the first line
	done    chan struct{}
	waitErr error
}

// Start runs a process and waits until its first line on stdout matches
// spec.StartLine. It returns the process and the line's submatches (as
// regexp.FindStringSubmatch returns them). On any error the process has
// exited or been killed.
func Start(ctx context.Context, spec Spec) (*Process, []string, error) {
	if spec.StartTimeout <= 0 {
		spec.StartTimeout = 30 * time.Second
	}
	p := &Process{spec: spec, output: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(spec.Bin, spec.Args...)
	p.cmd.Env = spec.Env
	p.cmd.Dir = spec.Dir
	var stderr io.Writer = p.output
	if spec.Stderr != nil {
		stderr = io.MultiWriter(p.output, spec.Stderr)
	}
	p.cmd.Stderr = stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", spec.Bin, err)
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

	timer := time.NewTimer(spec.StartTimeout)
	defer timer.Stop()
	var line string
	select {
	case line = <-lines:
	case <-timer.C:
		p.Kill()
		return nil, nil, fmt.Errorf("%s printed no start line within %s; output:\n%s", spec.Name, spec.StartTimeout, p.Output())
	case <-ctx.Done():
		p.Kill()
		return nil, nil, ctx.Err()
	}
	m := spec.StartLine.FindStringSubmatch(line)
	if m == nil {
		if spec.ExitGrace > 0 {
			select {
			case <-p.done:
			case <-time.After(spec.ExitGrace):
			}
		}
		p.Kill()
		return nil, nil, &StartLineError{Name: spec.Name, Line: line, Exit: p.waitErr, Output: p.Output()}
	}
	return p, m, nil
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
		return fmt.Errorf("%s (pid %d) did not exit within %s of SIGTERM; killed it", p.spec.Name, p.Pid(), timeout)
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

// syncBuffer is a bytes.Buffer that the process's output goroutines and
// the test can use at once.
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
