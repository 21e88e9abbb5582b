package jimmproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Running is a jimmctl run in progress (see Ctl.Start), for commands that
// wait for something the test does meanwhile, e.g. a device login.
type Running struct {
	args    []string
	cmd     *exec.Cmd
	start   time.Time
	cancel  context.CancelFunc
	stdout  bytes.Buffer
	mu      sync.Mutex
	stderr  bytes.Buffer
	lines   chan string // stderr, line by line, as it comes
	done    chan struct{}
	waitErr error
}

// Start runs jimmctl with args without waiting for it: its stderr lines
// come on Lines as it writes them; Wait returns the result.
func (c *Ctl) Start(ctx context.Context, args ...string) (*Running, error) {
	if c.Bin == "" || c.ConfigDir == "" {
		return nil, errors.New("jimmproc: Ctl needs Bin and ConfigDir")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	r := &Running{args: args, cancel: cancel, lines: make(chan string, 100), done: make(chan struct{})}
	r.cmd = exec.CommandContext(ctx, c.Bin, args...)
	r.cmd.Env = append(c.environ(), c.Env...)
	r.cmd.Stdout = &r.stdout
	r.cmd.Stdin = strings.NewReader("")
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	r.start = time.Now()
	if err := r.cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start jimmctl: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			r.mu.Lock()
			r.stderr.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			select {
			case r.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		close(r.lines)
		r.waitErr = r.cmd.Wait()
		close(r.done)
	}()
	return r, nil
}

// Lines are jimmctl's stderr lines, closed when it has exited.
func (r *Running) Lines() <-chan string { return r.lines }

// Wait waits for jimmctl to exit and returns its result.
func (r *Running) Wait() (Result, error) {
	<-r.done
	defer r.cancel()
	r.mu.Lock()
	res := Result{Args: r.args, Stdout: r.stdout.String(), Stderr: r.stderr.String(), Duration: time.Since(r.start)}
	r.mu.Unlock()
	var exit *exec.ExitError
	switch {
	case r.waitErr == nil:
	case errors.As(r.waitErr, &exit):
		res.ExitCode = exit.ExitCode()
	default:
		return res, fmt.Errorf("run jimmctl %s: %w", strings.Join(r.args, " "), r.waitErr)
	}
	return res, nil
}

// environ is jimmctl's environment for c, without c.Env.
func (c *Ctl) environ() []string {
	env := withoutJIMM(os.Environ())
	env = append(env, "HOME="+c.ConfigDir, "XDG_CONFIG_HOME="+c.ConfigDir)
	for k, v := range map[string]string{"JIMM_URL": c.URL, "JIMM_CA_CERT": c.CACert, "JIMM_USER": c.User, "JIMM_PASSWORD": c.Password} {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}
