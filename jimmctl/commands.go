package jimmctl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

const rootLong = `jimmctl administers a jimm broker: the Juju controllers behind it and the
models they host. It talks to the broker's admin API under /v1 over HTTPS.

Where jimmctl finds the broker and credentials, first match wins, field by field:
  --url, --ca-cert FILE           flags
  JIMM_URL, JIMM_CA_CERT          environment (JIMM_CA_CERT: a PEM file path, or the PEM itself)
  JIMM_TOKEN                      a session token
  JIMM_USER, JIMM_PASSWORD        HTTP basic auth (e.g. the bootstrap admin, in scripts)
  the saved config                written by "jimmctl login": $XDG_CONFIG_HOME/jimmctl/config.yaml
                                  (default ~/.config/jimmctl/config.yaml)
The saved session token is only ever sent to the URL it was issued for.`

// app holds what every command shares.
type app struct {
	flags  Flags
	format formatValue
	getenv func(string) string
	// fleetPoll is how often --wait asks the broker how a fleet job is
	// going; now stamps the lines it prints. Tests change both.
	fleetPoll time.Duration
	now       func() time.Time
}

// NewRootCommand returns the jimmctl command tree, writing to stdout and
// stderr (errors are printed on stderr prefixed with "ERROR").
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	return newRootCommand(stdout, stderr, &app{
		format:    FormatTabular,
		getenv:    os.Getenv,
		fleetPoll: defaultFleetPollInterval,
		now:       time.Now,
	})
}

// newRootCommand builds the command tree around a.
func newRootCommand(stdout, stderr io.Writer, a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "jimmctl",
		Short:         "Administer a jimm broker: its controllers and the models they host",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetErrPrefix("ERROR")
	root.CompletionOptions.HiddenDefaultCmd = true

	pf := root.PersistentFlags()
	pf.StringVar(&a.flags.URL, "url", "", "broker URL, https://host:port (default $JIMM_URL, else the saved config)")
	pf.StringVar(&a.flags.CACertFile, "ca-cert", "", "PEM file of the CA to trust for the broker's certificate instead of the system roots (default $JIMM_CA_CERT, else the saved config)")
	pf.Var(&a.format, "format", "output format: tabular, yaml or json")

	root.AddCommand(
		a.loginCommand(),
		a.logoutCommand(),
		a.whoamiCommand(),
		a.listControllersCommand(),
		a.showControllerCommand(),
		a.addControllerCommand(),
		a.controllerInfoCommand(),
		a.controllerConfigCommand(),
		a.removeControllerCommand(),
		a.setControllerDeprecatedCommand(),
		a.listModelsCommand(),
		a.showModelCommand(),
		a.queryModelsCommand(),
		a.updateMigratedModelCommand(),
		a.checkCommand(),
		a.reconcileCommand(),
		a.importModelCommand(),
		a.migrateCommand(),
		a.listMigrationsCommand(),
		a.showMigrationCommand(),
		a.planMigrationCommand(),
		a.evacuateCommand(),
		a.rebalanceCommand(),
		a.listFleetJobsCommand(),
		a.showFleetJobCommand(),
		a.auditCommand(),
		a.authCommand(),
	)
	return root
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, got %q; see `%s --help`", cmd.Name(), args, cmd.CommandPath())
	}
	return nil
}

// argsBetween accepts min to len(names) arguments, named in the error.
func argsBetween(min int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && len(args) <= len(names) {
			return nil
		}
		want := strings.Join(names, " ")
		return fmt.Errorf("%s takes %s, got %d argument(s); see `%s --help`",
			cmd.Name(), want, len(args), cmd.CommandPath())
	}
}

func (a *app) settings(cmd *cobra.Command) (Settings, error) {
	return ResolveSettings(a.flags, a.getenv, cmd.ErrOrStderr())
}

// client returns a client with the credentials the settings give, or an
// error that says what to do when there are none.
func (a *app) client(cmd *cobra.Command) (*Client, Settings, error) {
	s, err := a.settings(cmd)
	if err != nil {
		return nil, s, err
	}
	if s.URL == "" {
		return nil, s, errNoBroker
	}
	if s.CredError != nil {
		return nil, s, s.CredError
	}
	switch s.CredSource {
	case CredNone:
		if s.Saved.Token != "" {
			return nil, s, fmt.Errorf("not logged in to %s (the saved session is for %s): run `jimmctl login --url %s`, or set JIMM_TOKEN, or JIMM_USER and JIMM_PASSWORD",
				s.URL, s.Saved.URL, s.URL)
		}
		return nil, s, fmt.Errorf("not logged in to %s: run `jimmctl login`, or set JIMM_TOKEN, or JIMM_USER and JIMM_PASSWORD", s.URL)
	case CredSaved:
		if !s.ExpiresAt.IsZero() && time.Now().After(s.ExpiresAt) {
			return nil, s, fmt.Errorf("the saved session for %s at %s expired at %s: run `jimmctl login`",
				s.Identity, s.URL, formatTime(s.ExpiresAt))
		}
	}
	c, err := NewClient(Config{URL: s.URL, CACertPEM: s.CACertPEM, Token: s.Token, User: s.User, Password: s.Password})
	if err != nil {
		if s.CACertSource != "" {
			err = fmt.Errorf("%w (CA certificate from %s)", err, s.CACertSource)
		}
		return nil, s, err
	}
	return c, s, nil
}

// withClient makes a RunE that gets a client first and explains
// authentication failures.
func (a *app) withClient(fn func(cmd *cobra.Command, c *Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, s, err := a.client(cmd)
		if err != nil {
			return err
		}
		return explainAuth(fn(cmd, c, args), s)
	}
}

// explainAuth adds what to check to an authentication failure.
func explainAuth(err error, s Settings) error {
	var ae *APIError
	if err == nil || !errors.As(err, &ae) || (ae.StatusCode != http.StatusUnauthorized && ae.Err.Code != restapi.CodeUnauthorized) {
		return err
	}
	switch s.CredSource {
	case CredSaved:
		return fmt.Errorf("%w (the saved session for %s may have ended: run `jimmctl login`)", err, s.Identity)
	case CredEnv:
		return fmt.Errorf("%w (check %s)", err, EnvToken)
	case CredBasic:
		return fmt.Errorf("%w (check %s and %s)", err, EnvUser, EnvPassword)
	}
	return err
}

func (a *app) loginCommand() *cobra.Command {
	var user, passwordFile, clientID, clientSecretFile string
	cmd := &cobra.Command{
		Use:   "login [--url URL] [--ca-cert FILE] [--user USER] [--password-file FILE] [--client-id ID --client-secret-file FILE]",
		Short: "Log in to the broker and save the session for later commands",
		Long: `Log in to the broker, and save the broker's URL, its CA certificate (if
given), the session token, identity and expiry in the saved config (mode 0600).

With no user and no password, log in as a person through the broker's identity
provider: jimmctl prints a URL and a code on stderr, and waits while you visit
the URL in a browser, enter the code and log in there.

With --client-id, log in as that service account: the client secret comes from
--client-secret-file, else $JIMM_CLIENT_SECRET.

With --user (default $JIMM_USER), log in with a password: it comes from
--password-file (- for stdin), else $JIMM_PASSWORD, else it is asked for on the
terminal (not echoed on Linux), else read as one line from stdin.`,
		Example: `  jimmctl login --url https://jimm.example.com:443 --ca-cert ca.pem
  jimmctl login --url https://jimm.example.com:443 --ca-cert ca.pem --user admin
  JIMM_CLIENT_SECRET=... jimmctl login --client-id ci-deployer`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.settings(cmd)
			if err != nil {
				return err
			}
			if s.URL == "" {
				return errNoBroker
			}
			ca := s.CACertPEM
			if s.CACertSource == s.Path && !sameURL(s.Saved.URL, s.URL) {
				// A login to another broker starts afresh.
				ca = nil
			}
			in := newLineReader(cmd)
			if user == "" {
				user = strings.TrimSpace(a.getenv(EnvUser))
			}
			if clientID != "" || (user == "" && passwordFile == "" && a.getenv(EnvPassword) == "") {
				resp, err := a.identityProviderLogin(cmd, s, ca, clientID, clientSecretFile)
				if err != nil {
					return err
				}
				return a.saveLogin(cmd, s, ca, resp)
			}
			if user == "" {
				if !in.tty {
					return fmt.Errorf("no user given: pass --user or set %s", EnvUser)
				}
				if user, err = in.readLine("user: ", false); err != nil {
					return fmt.Errorf("read user: %w", err)
				}
				user = strings.TrimSpace(user)
				if user == "" {
					return errors.New("no user given")
				}
			}
			password, err := a.password(in, passwordFile, user)
			if err != nil {
				return err
			}
			c, err := NewClient(Config{URL: s.URL, CACertPEM: ca})
			if err != nil {
				if s.CACertSource != "" {
					err = fmt.Errorf("%w (CA certificate from %s)", err, s.CACertSource)
				}
				return err
			}
			resp, err := c.Login(cmd.Context(), user, password)
			if err != nil {
				var ae *APIError
				if errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized {
					err = fmt.Errorf("%w (check the user name and password)", err)
				}
				return err
			}
			if resp.Identity == "" {
				resp.Identity = user
			}
			return a.saveLogin(cmd, s, ca, resp)
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "user name for a password login (default $JIMM_USER; without a user or password: log in through the identity provider)")
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "read the password from this file (- for stdin; one trailing newline is dropped)")
	cmd.Flags().StringVar(&clientID, "client-id", "", "log in as this service account (client credentials)")
	cmd.Flags().StringVar(&clientSecretFile, "client-secret-file", "", "read the service account's client secret from this file (default $JIMM_CLIENT_SECRET)")
	return cmd
}

// loginResult is what login prints in yaml and json (never the token).
type loginResult struct {
	URL        string    `json:"url" yaml:"url"`
	Identity   string    `json:"identity" yaml:"identity"`
	ExpiresAt  time.Time `json:"expires-at,omitzero" yaml:"expires-at,omitempty"`
	ConfigFile string    `json:"config-file" yaml:"config-file"`
}

// password finds the password for login.
func (a *app) password(in *lineReader, file, user string) (string, error) {
	if file != "" {
		return readPasswordFile(file, in.readAll)
	}
	if pw := a.getenv(EnvPassword); pw != "" {
		return pw, nil
	}
	pw, err := in.readLine(fmt.Sprintf("password for %s: ", user), true)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password given: type it when asked, pipe it on stdin, or use --password-file")
		}
		return "", fmt.Errorf("read password: %w", err)
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}

// lineReader reads answers from the command's stdin, prompting on stderr
// when stdin is a terminal.
type lineReader struct {
	br     *bufio.Reader
	file   *os.File
	tty    bool
	prompt io.Writer
}

func newLineReader(cmd *cobra.Command) *lineReader {
	in := cmd.InOrStdin()
	r := &lineReader{br: bufio.NewReader(in), prompt: cmd.ErrOrStderr()}
	if f, ok := in.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			r.file, r.tty = f, true
		}
	}
	return r
}

// readLine reads one line without its line ending; secret turns the
// terminal's echo off while reading.
func (r *lineReader) readLine(prompt string, secret bool) (string, error) {
	if r.tty {
		fmt.Fprint(r.prompt, prompt)
	}
	var line string
	var err error
	read := func() error {
		line, err = r.br.ReadString('\n')
		return nil
	}
	if secret && r.tty {
		_ = withoutEcho(r.file, read)
		fmt.Fprintln(r.prompt)
	} else {
		_ = read()
	}
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (r *lineReader) readAll() (string, error) {
	b, err := io.ReadAll(io.LimitReader(r.br, 1<<20))
	return string(b), err
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "End the saved session and forget its token",
		Long: `End the session saved by jimmctl login at the broker (its token is refused
from then on, by the Juju client as well) and forget the token (the broker's
URL and CA certificate are kept, so that the next login needs no --url). If the
broker cannot be reached, the token is forgotten anyway and stays valid there
until it expires.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.settings(cmd)
			if err != nil {
				return err
			}
			saved := s.Saved
			result := logoutResult{URL: saved.URL, Identity: saved.Identity}
			var msg string
			switch {
			case saved.Token == "":
				msg = "not logged in: no saved session"
			case a.flags.URL != "" && !sameURL(saved.URL, s.URL):
				msg = fmt.Sprintf("no saved session for %s (the saved session is for %s, left alone)", s.URL, saved.URL)
				result.URL = s.URL
			default:
				revokeErr := a.revokeSaved(cmd, saved)
				saved.Token, saved.Identity, saved.ExpiresAt = "", "", time.Time{}
				if err := SaveConfig(s.Path, saved); err != nil {
					return err
				}
				result.LoggedOut = true
				result.Revoked = revokeErr == nil
				if revokeErr == nil {
					msg = fmt.Sprintf("logged out of %s: ended the session of %s", result.URL, result.Identity)
					break
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "WARNING could not end the session at the broker: %v\n", revokeErr)
				msg = fmt.Sprintf("logged out of %s: forgot the session of %s", result.URL, result.Identity)
				if !s.Saved.ExpiresAt.IsZero() {
					msg += fmt.Sprintf(" (it stays valid on the broker until %s)", formatTime(s.Saved.ExpiresAt))
				}
			}
			if strings.TrimSpace(a.getenv(EnvToken)) != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "WARNING %s is still set in the environment\n", EnvToken)
			}
			if a.format.String() == FormatTabular {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), msg)
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), result, nil)
		},
	}
}

type logoutResult struct {
	URL       string `json:"url" yaml:"url"`
	Identity  string `json:"identity,omitempty" yaml:"identity,omitempty"`
	LoggedOut bool   `json:"logged-out" yaml:"logged-out"`
	// Revoked says the broker ended the session (else it was only forgotten).
	Revoked bool `json:"revoked" yaml:"revoked"`
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Say who the broker takes you for",
		Args:  noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			who, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), who, func(w *tabwriter.Writer) {
				row(w, "IDENTITY", "ADMIN", "BROKER")
				row(w, who.Identity, fmt.Sprint(who.Admin), c.URL())
			})
		}),
	}
}
