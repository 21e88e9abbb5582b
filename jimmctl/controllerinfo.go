package jimmctl

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// Where the juju client keeps its store (as the juju client finds it:
// $JUJU_DATA, else $XDG_DATA_HOME/juju, else ~/.local/share/juju).
const (
	EnvJujuData    = "JUJU_DATA"
	EnvXDGDataHome = "XDG_DATA_HOME"
)

const controllerInfoLong = `Write the file that "jimmctl add-controller" takes for a controller the
juju client knows, from the client's own store: the controller's UUID, API
addresses and CA certificate from controllers.yaml, and the user and password
of the client's account on it from accounts.yaml. The store is $JUJU_DATA,
else $XDG_DATA_HOME/juju, else ~/.local/share/juju, as for the juju client.
No broker is contacted.

The juju client keeps a password only for the admin account that
"juju bootstrap" created (until its password is changed); an account that
logged in with "juju login", "juju register" or an identity provider has none.
The broker needs a user with a password and superuser access on the
controller: create one there, and pass it with --user and --password-file:

  juju add-user -c <controller> jimm
  juju grant -c <controller> jimm superuser
  juju change-user-password -c <controller> jimm
  jimmctl controller-info <controller> --user jimm --password-file pw -o ctl.yaml

--public-address replaces the controller's API addresses with the one the
broker is to dial. --tls-hostname sets the name the broker verifies the
controller's certificate against (tls-server-name; default juju-apiserver,
which every Juju controller's certificate holds).

The file holds the password: -o writes it with mode 0600, and jimmctl refuses
to print it on a terminal. --format json writes JSON, otherwise YAML.`

// jujuControllers is the juju client's controllers.yaml (the keys used
// here; the client writes more).
type jujuControllers struct {
	Controllers map[string]jujuController `yaml:"controllers"`
}

type jujuController struct {
	UUID         string   `yaml:"uuid"`
	APIEndpoints []string `yaml:"api-endpoints"`
	CACert       string   `yaml:"ca-cert"`
	Cloud        string   `yaml:"cloud"`
	Region       string   `yaml:"region"`
	CloudType    string   `yaml:"type"`
	AgentVersion string   `yaml:"agent-version"`
}

// jujuAccounts is the juju client's accounts.yaml.
type jujuAccounts struct {
	Controllers map[string]jujuAccount `yaml:"controllers"`
}

type jujuAccount struct {
	// Type is "" or "userpass" for a local user, "oauth2-device" for a
	// login through an identity provider.
	Type            string `yaml:"type"`
	User            string `yaml:"user"`
	Password        string `yaml:"password"`
	LastKnownAccess string `yaml:"last-known-access"`
	SessionToken    string `yaml:"access-token"`
}

// jujuDataDir is the juju client's store directory, found as the juju
// client finds it.
func jujuDataDir(getenv func(string) string) (string, error) {
	if d := getenv(EnvJujuData); d != "" {
		return d, nil
	}
	if d := getenv(EnvXDGDataHome); d != "" {
		return filepath.Join(d, "juju"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("find the juju client store: set %s (no home directory: %w)", EnvJujuData, err)
		}
	}
	return filepath.Join(home, ".local", "share", "juju"), nil
}

// backquoted is what YAML errors quote of a value (`...`), which could be
// a password.
var backquoted = regexp.MustCompile("`[^`]*`")

// readJujuStoreFile decodes one file of the store into v; missing says
// whether it does not exist (v is then left alone).
func readJujuStoreFile(path string, v any) (missing bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the juju client store: %w", err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		msg := backquoted.ReplaceAllString(err.Error(), "(value hidden)")
		return false, fmt.Errorf("read the juju client store: %s is not a juju client file: %s", path, msg)
	}
	return false, nil
}

// controllerInfoOptions are controller-info's flags.
type controllerInfoOptions struct {
	publicAddress string
	tlsHostname   string
	output        string
	user          string
	passwordFile  string
}

func (a *app) controllerInfoCommand() *cobra.Command {
	var o controllerInfoOptions
	cmd := &cobra.Command{
		Use:   "controller-info <controller> [--public-address host:port] [--tls-hostname name] [-o file]",
		Short: "Write the add-controller file for a controller the juju client knows",
		Long:  controllerInfoLong,
		Example: `  jimmctl controller-info prod -o prod.yaml && jimmctl add-controller prod.yaml
  jimmctl controller-info prod --public-address 10.0.0.5:17070 -o prod.yaml
  jimmctl controller-info prod --public-address lb.example.com:443 --tls-hostname juju-apiserver -o prod.yaml
  JUJU_DATA=~/ops/juju jimmctl controller-info prod --user jimm --password-file pw -o prod.yaml`,
		Args: argsBetween(1, "<controller>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.controllerInfo(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.publicAddress, "public-address", "", "the address, host:port, the broker dials the controller at (instead of the store's api-endpoints)")
	f.StringVar(&o.tlsHostname, "tls-hostname", "", "the name the broker verifies the controller's certificate against (tls-server-name; default juju-apiserver)")
	f.StringVarP(&o.output, "output", "o", "", "write the file here, mode 0600 (default: stdout, which must not be a terminal)")
	f.StringVar(&o.user, "user", "", "the controller user the broker logs in as (default: the juju client's account)")
	f.StringVar(&o.passwordFile, "password-file", "", "read that user's password from this file (- for stdin; one trailing newline is dropped) instead of accounts.yaml")
	return cmd
}

func (a *app) controllerInfo(cmd *cobra.Command, name string, o controllerInfoOptions) error {
	if o.publicAddress != "" {
		if _, port, err := net.SplitHostPort(o.publicAddress); err != nil || port == "" {
			return fmt.Errorf("--public-address %q: want host:port, e.g. 10.0.0.5:17070", o.publicAddress)
		}
	}
	if o.tlsHostname != "" && strings.ContainsAny(o.tlsHostname, " \t\r\n/:") {
		return fmt.Errorf("--tls-hostname %q: want a host name, e.g. juju-apiserver", o.tlsHostname)
	}
	if o.user != "" && strings.TrimSpace(o.user) != o.user {
		return fmt.Errorf("--user %q: leading or trailing space", o.user)
	}
	// Refuse a terminal before reading any secret.
	out := cmd.OutOrStdout()
	if o.output == "" || o.output == "-" {
		if isTerminal(out) {
			return errors.New("refusing to print a controller password on the terminal: write the file with -o FILE (mode 0600), or redirect stdout")
		}
	}

	dir, err := jujuDataDir(a.getenv)
	if err != nil {
		return err
	}
	ctlPath := filepath.Join(dir, "controllers.yaml")
	var ctls jujuControllers
	missing, err := readJujuStoreFile(ctlPath, &ctls)
	if err != nil {
		return err
	}
	if missing {
		return fmt.Errorf("no juju client store at %s (no controllers.yaml): log in to controller %q with the juju client first, or set %s to the store that knows it",
			dir, name, EnvJujuData)
	}
	ctl, ok := ctls.Controllers[name]
	if !ok {
		known := make([]string, 0, len(ctls.Controllers))
		for n := range ctls.Controllers {
			known = append(known, n)
		}
		slices.Sort(known)
		if len(known) == 0 {
			return fmt.Errorf("controller %q is not in the juju client store at %s: it knows no controllers (set %s to the store that knows it)", name, dir, EnvJujuData)
		}
		return fmt.Errorf("controller %q is not in the juju client store at %s; it knows: %s", name, dir, strings.Join(known, ", "))
	}
	var lacks []string
	if strings.TrimSpace(ctl.UUID) == "" {
		lacks = append(lacks, "uuid")
	}
	if len(ctl.APIEndpoints) == 0 && o.publicAddress == "" {
		lacks = append(lacks, "api-endpoints (give the address with --public-address)")
	}
	if strings.TrimSpace(ctl.CACert) == "" {
		lacks = append(lacks, "ca-cert")
	}
	if len(lacks) > 0 {
		return fmt.Errorf("controller %q in %s lacks %s", name, ctlPath, strings.Join(lacks, ", "))
	}
	if block, _ := pem.Decode([]byte(ctl.CACert)); block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("controller %q in %s: ca-cert is not a PEM certificate", name, ctlPath)
	}

	user, password, err := a.controllerCredentials(cmd, dir, name, o)
	if err != nil {
		return err
	}

	req := restapi.AddControllerRequest{
		Name:          name,
		UUID:          ctl.UUID,
		APIAddresses:  ctl.APIEndpoints,
		CACert:        ctl.CACert,
		TLSServerName: o.tlsHostname,
		AdminUser:     user,
		AdminPassword: password,
	}
	if o.publicAddress != "" {
		req.APIAddresses = []string{o.publicAddress}
	}
	data, err := encodeControllerInfo(req, ctl, dir, a.format.String())
	if err != nil {
		return err
	}
	if o.output == "" || o.output == "-" {
		_, err := out.Write(data)
		return err
	}
	if err := writePrivateFile(o.output, data); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "wrote controller %q (user %s, API addresses %s) to %s; register it with `jimmctl add-controller %s`\n",
		name, user, strings.Join(req.APIAddresses, ", "), o.output, o.output)
	return err
}

// controllerCredentials finds the user and password the broker is to log
// in with: the juju client's account on the controller, or --user and
// --password-file.
func (a *app) controllerCredentials(cmd *cobra.Command, dir, name string, o controllerInfoOptions) (user, password string, err error) {
	if o.passwordFile != "" {
		if password, err = readPasswordFile(o.passwordFile, func() (string, error) {
			b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
			return string(b), err
		}); err != nil {
			return "", "", err
		}
		if o.user != "" {
			// The flags say it all: the store's account is not needed.
			return o.user, password, nil
		}
	}
	accPath := filepath.Join(dir, "accounts.yaml")
	var accs jujuAccounts
	missing, err := readJujuStoreFile(accPath, &accs)
	if err != nil {
		return "", "", err
	}
	acct, ok := accs.Controllers[name]
	if !ok {
		why := "accounts.yaml has none for it"
		if missing {
			why = "there is no accounts.yaml"
		}
		return "", "", fmt.Errorf("the juju client store at %s has no account on controller %q (%s): log in with `juju login -c %s`, or give the user with --user and --password-file",
			dir, name, why, name)
	}
	external := acct.Type == "oauth2-device" || acct.SessionToken != "" || isExternalUser(acct.User)
	user = acct.User
	if o.user != "" {
		user = o.user
	}
	switch {
	case user == "":
		return "", "", fmt.Errorf("the juju client's account on controller %q in %s names no user: give it with --user", name, accPath)
	case password != "" && o.user == "" && external:
		return "", "", fmt.Errorf("the juju client's account on controller %q is %s, who logs in through an identity provider, not with a password: give the local user with --user", name, acct.User)
	case password != "":
		return user, password, nil
	case o.user != "" && o.user != acct.User:
		return "", "", fmt.Errorf("no password for user %s on controller %q: the juju client's account there is %s; give %s's password with --password-file",
			o.user, name, acct.User, o.user)
	case external:
		return "", "", fmt.Errorf("the juju client's account on controller %q (%s) logs in through an identity provider and has no password; %s",
			name, acct.User, localUserHowTo(name))
	case acct.Password == "":
		return "", "", fmt.Errorf("the juju client's account on controller %q (user %s) has no password in %s: the juju client keeps one only for the admin that `juju bootstrap` created, until it is changed (`juju login` and `juju register` keep a macaroon instead); if you know %s's password, give it with --password-file; otherwise %s",
			name, acct.User, accPath, acct.User, localUserHowTo(name))
	}
	if acct.LastKnownAccess != "" && acct.LastKnownAccess != "superuser" {
		fmt.Fprintf(cmd.ErrOrStderr(), "WARNING the juju client last saw %s with %q access to controller %q; the broker needs superuser (add-controller refuses otherwise): `juju grant -c %s %s superuser`\n",
			user, acct.LastKnownAccess, name, name, user)
	}
	return user, acct.Password, nil
}

// isExternalUser says whether a Juju user name is not a local user's
// (bob@external, an identity provider's e-mail address).
func isExternalUser(user string) bool {
	_, domain, ok := strings.Cut(user, "@")
	return ok && domain != "local"
}

// localUserHowTo says how to give the broker a user of its own on the
// controller.
func localUserHowTo(controller string) string {
	const user = "jimm"
	return fmt.Sprintf("the broker needs a local user with a password and superuser access on controller %[1]q: create one with "+
		"`juju add-user -c %[1]s %[2]s`, `juju grant -c %[1]s %[2]s superuser` and `juju change-user-password -c %[1]s %[2]s`, "+
		"then run `jimmctl controller-info %[1]s --user %[2]s --password-file FILE`", controller, user)
}

// readPasswordFile reads a password from a file, or from stdin (-) with
// readStdin, dropping one trailing newline.
func readPasswordFile(file string, readStdin func() (string, error)) (string, error) {
	var raw string
	var err error
	if file == "-" {
		raw, err = readStdin()
	} else {
		var b []byte
		b, err = os.ReadFile(file)
		raw = string(b)
	}
	if err != nil {
		return "", fmt.Errorf("read --password-file: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(raw, "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("--password-file %s is empty", file)
	}
	return pw, nil
}

// encodeControllerInfo renders the add-controller file: JSON, or YAML
// with a comment saying where it came from.
func encodeControllerInfo(req restapi.AddControllerRequest, ctl jujuController, dir, format string) ([]byte, error) {
	if format == FormatJSON {
		b, err := json.MarshalIndent(req, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("format as json: %w", err)
		}
		return append(b, '\n'), nil
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Controller %q from the juju client store at %s", req.Name, dir)
	var about []string
	if ctl.Cloud != "" {
		cloud := ctl.Cloud
		if ctl.Region != "" {
			cloud += "/" + ctl.Region
		}
		about = append(about, "cloud "+cloud)
	}
	if ctl.AgentVersion != "" {
		about = append(about, "Juju "+ctl.AgentVersion)
	}
	if len(about) > 0 {
		fmt.Fprintf(&buf, " (%s)", strings.Join(about, ", "))
	}
	buf.WriteString(".\n# It holds the password of " + req.AdminUser + " on that controller: keep it private.\n")
	buf.WriteString("# Register the controller with: jimmctl add-controller <this file>\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(req); err != nil {
		return nil, fmt.Errorf("format as yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("format as yaml: %w", err)
	}
	return buf.Bytes(), nil
}

// writePrivateFile writes data to path with mode 0600: to a temporary
// file beside it (created 0600), renamed over path, so that the password
// is never readable by others, even when path existed with a wider mode.
func writePrivateFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	return nil
}

// isTerminal says whether w is a terminal (a character device other than
// the null device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}
