// Package jujucli runs the stock juju CLI for the integration tests: each
// CLI has a HOME and a JUJU_DATA of its own (never the user's), a store
// written so that it knows a controller (the broker, or a development
// controller) with an account on it, and a timeout on every command. It
// runs a command and returns what it printed and how it exited, decodes
// --format json and yaml output strictly, and reads a command's RPC trace
// (the frames the CLI sent and received) from its debug log.
package jujucli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// BinEnv names the juju binary the tests run (.ci/tools.sh builds it).
const BinEnv = "JIMM_JUJU_BIN"

// DefaultTimeout bounds a command when CLI.Timeout is not set. Commands
// that try to reach the internet (Charmhub, simplestreams) fail on their
// own well within it when there is no network.
const DefaultTimeout = 2 * time.Minute

// CLI is the juju binary with a home and a client store of its own.
type CLI struct {
	Bin string
	// Home is HOME (and XDG_*): where the CLI would write anything it
	// keeps outside JUJU_DATA.
	Home string
	// Data is JUJU_DATA: controllers.yaml, accounts.yaml, models.yaml...
	Data string
	// Timeout bounds each command (default DefaultTimeout).
	Timeout time.Duration
	// Env is added to the command's environment, "KEY=value".
	Env []string
}

// New returns a CLI running bin with HOME and JUJU_DATA in dir (created
// if needed).
func New(bin, dir string) (*CLI, error) {
	if bin == "" {
		return nil, errors.New("jujucli: no juju binary")
	}
	c := &CLI{Bin: bin, Home: filepath.Join(dir, "home"), Data: filepath.Join(dir, "juju-data")}
	for _, d := range []string{c.Home, c.Data} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Controller is a controller as the CLI's controllers.yaml knows it.
type Controller struct {
	Name         string
	UUID         string
	APIEndpoints []string // host:port
	CACert       string   // PEM
	Cloud        string
	Region       string
	AgentVersion string
}

// Account is the CLI's account on a controller (accounts.yaml).
type Account struct {
	// User is the user name, e.g. "admin"; "" for a person who logs in
	// through the identity provider.
	User string
	// Password, when set, is what the CLI logs in with.
	Password string
	// Type is "" for a password account, "oauth2-device" for one that
	// logs in with a session token from a device login.
	Type string
	// SessionToken is the saved session token of an oauth2-device
	// account.
	SessionToken string
	// LastKnownAccess is the controller access the CLI last saw.
	LastKnownAccess string
}

// The CLI's store files, as jujuclient reads them.
type controllersFile struct {
	Controllers       map[string]controllerDetails `yaml:"controllers"`
	CurrentController string                       `yaml:"current-controller,omitempty"`
}

type controllerDetails struct {
	UUID         string   `yaml:"uuid"`
	APIEndpoints []string `yaml:"api-endpoints,flow"`
	CACert       string   `yaml:"ca-cert"`
	Cloud        string   `yaml:"cloud"`
	Region       string   `yaml:"region,omitempty"`
	AgentVersion string   `yaml:"agent-version,omitempty"`
}

type accountsFile struct {
	Controllers map[string]accountDetails `yaml:"controllers"`
}

type accountDetails struct {
	Type            string `yaml:"type,omitempty"`
	User            string `yaml:"user"`
	Password        string `yaml:"password,omitempty"`
	LastKnownAccess string `yaml:"last-known-access,omitempty"`
	SessionToken    string `yaml:"access-token,omitempty"`
}

// AddController adds ctl to the store with acct as the CLI's account on
// it (none when acct is nil: the CLI then has to log in), and makes it
// the current controller. Controllers already in the store stay.
func (c *CLI) AddController(ctl Controller, acct *Account) error {
	if ctl.Name == "" || ctl.UUID == "" || len(ctl.APIEndpoints) == 0 || ctl.CACert == "" {
		return fmt.Errorf("jujucli: controller %q needs a name, UUID, endpoints and CA", ctl.Name)
	}
	var cf controllersFile
	if err := c.readStore("controllers.yaml", &cf); err != nil {
		return err
	}
	if cf.Controllers == nil {
		cf.Controllers = map[string]controllerDetails{}
	}
	cf.Controllers[ctl.Name] = controllerDetails{
		UUID: ctl.UUID, APIEndpoints: ctl.APIEndpoints, CACert: ctl.CACert,
		Cloud: ctl.Cloud, Region: ctl.Region, AgentVersion: ctl.AgentVersion,
	}
	cf.CurrentController = ctl.Name
	if err := c.writeStore("controllers.yaml", cf); err != nil {
		return err
	}
	if acct == nil {
		return nil
	}
	var af accountsFile
	if err := c.readStore("accounts.yaml", &af); err != nil {
		return err
	}
	if af.Controllers == nil {
		af.Controllers = map[string]accountDetails{}
	}
	af.Controllers[ctl.Name] = accountDetails{
		Type: acct.Type, User: acct.User, Password: acct.Password,
		LastKnownAccess: acct.LastKnownAccess, SessionToken: acct.SessionToken,
	}
	return c.writeStore("accounts.yaml", af)
}

// Account reads the CLI's account on controller name from accounts.yaml
// (as the CLI left it, e.g. after juju login).
func (c *CLI) Account(name string) (Account, bool, error) {
	var af accountsFile
	if err := c.readStore("accounts.yaml", &af); err != nil {
		return Account{}, false, err
	}
	a, ok := af.Controllers[name]
	return Account{User: a.User, Password: a.Password, Type: a.Type, SessionToken: a.SessionToken, LastKnownAccess: a.LastKnownAccess}, ok, nil
}

func (c *CLI) readStore(name string, v any) error {
	raw, err := os.ReadFile(filepath.Join(c.Data, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("jujucli: %s: %w", name, err)
	}
	return nil
}

func (c *CLI) writeStore(name string, v any) error {
	raw, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Data, name), raw, 0o600)
}

// environ is the command's environment: the test's own without anything
// that would point the CLI at the user's store or at a model, then HOME,
// JUJU_DATA and c.Env.
func (c *CLI) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "JUJU_") || strings.HasPrefix(k, "XDG_") || k == "HOME" || k == "JIMM_JUJU_BIN" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+c.Home, "JUJU_DATA="+c.Data,
		"XDG_DATA_HOME="+filepath.Join(c.Home, ".local", "share"),
		"XDG_CONFIG_HOME="+filepath.Join(c.Home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(c.Home, ".cache"))
	return append(env, c.Env...)
}

func (c *CLI) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// Result is what one command printed and how it exited.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	ExitCode int
	Duration time.Duration
}

// Command is the command line, as a user would type it.
func (r Result) Command() string { return "juju " + shellJoin(r.Args) }

func (r Result) String() string {
	return fmt.Sprintf("%s: exit %d after %s\n--- stdout:\n%s\n--- stderr:\n%s",
		r.Command(), r.ExitCode, r.Duration.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// shellJoin quotes what a shell would need quoted.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$;&|<>()*?[]{}\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// Run runs juju with args and stdin (none when ""). A non-zero exit is
// reported in the result, not as an error; the error is for a command that
// could not run or did not finish within the timeout (it is killed then,
// and the result holds what it printed so far).
func (c *CLI) Run(ctx context.Context, stdin string, args ...string) (Result, error) {
	r, err := c.Start(ctx, stdin, args...)
	if err != nil {
		return Result{Args: args}, err
	}
	return r.Wait()
}

// Running is a command in progress (see Start): for commands that wait
// for something the test does meanwhile (a device login, debug-log
// tailing).
type Running struct {
	args   []string
	cmd    *exec.Cmd
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
	lines  chan Line
	done   chan struct{}

	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	waitErr        error
	timeout        time.Duration
}

// Line is one line a running command printed.
type Line struct {
	Stderr bool
	Text   string
}

// Start runs juju with args and stdin without waiting for it. Its output
// comes line by line on Lines as it prints it (lines beyond what the
// channel holds are dropped from Lines, never from the result); Wait
// returns the result, Stop interrupts it.
func (c *CLI) Start(ctx context.Context, stdin string, args ...string) (*Running, error) {
	if c.Bin == "" || c.Home == "" || c.Data == "" {
		return nil, errors.New("jujucli: CLI needs Bin, Home and Data")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	r := &Running{args: args, ctx: ctx, cancel: cancel, lines: make(chan Line, 1000), done: make(chan struct{}), timeout: c.timeout()}
	r.cmd = exec.CommandContext(ctx, c.Bin, args...)
	r.cmd.Env = c.environ()
	r.cmd.Dir = c.Home
	r.cmd.Stdin = strings.NewReader(stdin)
	// Its own process group, so that a timeout ends whatever it started.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.cmd.Cancel = func() error { return syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL) }
	r.cmd.WaitDelay = 5 * time.Second
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	r.start = time.Now()
	if err := r.cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start juju %s: %w", shellJoin(args), err)
	}
	var wg sync.WaitGroup
	copyLines := func(rd io.Reader, buf *bytes.Buffer, isErr bool) {
		defer wg.Done()
		br := bufio.NewReaderSize(rd, 64<<10)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				r.mu.Lock()
				buf.WriteString(line)
				r.mu.Unlock()
				select {
				case r.lines <- Line{Stderr: isErr, Text: strings.TrimRight(line, "\r\n")}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go copyLines(stdout, &r.stdout, false)
	go copyLines(stderr, &r.stderr, true)
	go func() {
		wg.Wait()
		close(r.lines)
		err := r.cmd.Wait()
		r.mu.Lock()
		r.waitErr = err
		r.mu.Unlock()
		close(r.done)
	}()
	return r, nil
}

// Lines are the command's output lines as they come; closed once it has
// closed its output.
func (r *Running) Lines() <-chan Line { return r.lines }

// Done is closed once the command has exited.
func (r *Running) Done() <-chan struct{} { return r.done }

// Output is what the command printed so far.
func (r *Running) Output() (stdout, stderr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stdout.String(), r.stderr.String()
}

// Stop interrupts the command (SIGINT, as Ctrl-C would), then kills it if
// it has not exited within grace.
func (r *Running) Stop(grace time.Duration) {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(grace):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
}

// Wait waits for the command to exit and returns its result; see Run.
func (r *Running) Wait() (Result, error) {
	<-r.done
	defer r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	res := Result{Args: r.args, Stdout: r.stdout.String(), Stderr: r.stderr.String(), Duration: time.Since(r.start)}
	var exit *exec.ExitError
	switch {
	case r.ctx.Err() == context.DeadlineExceeded:
		res.ExitCode = -1
		return res, fmt.Errorf("%s: no exit within %s (killed)\n%s", res.Command(), r.timeout, res)
	case r.waitErr == nil:
	case errors.As(r.waitErr, &exit):
		res.ExitCode = exit.ExitCode()
	default:
		return res, fmt.Errorf("run %s: %w", res.Command(), r.waitErr)
	}
	return res, nil
}

// DecodeJSON decodes a command's --format json output into v, refusing
// fields v does not have and anything after the document.
func DecodeJSON(out string, v any) error {
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode JSON into %T: %w", v, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("decode JSON into %T: more than one document", v)
	}
	return nil
}

// DecodeYAML decodes a command's --format yaml output into v, refusing
// keys v does not have and a second document.
func DecodeYAML(out string, v any) error {
	dec := yaml.NewDecoder(strings.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode YAML into %T: %w", v, err)
	}
	var extra any
	if err := dec.Decode(&extra); err != io.EOF {
		return fmt.Errorf("decode YAML into %T: more than one document", v)
	}
	return nil
}
