package jimmctl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

const (
	ciUUID     = "7f6a5e96-cbbd-4b50-adc6-2136078632ec"
	ciPassword = "s3cret-Bootstrap-pw"
)

// jujuControllersFile is a controllers.yaml as the juju client writes it
// (keys this command does not use included); %s is the CA, indented.
const jujuControllersFile = `controllers:
    prod:
        uuid: ` + ciUUID + `
        api-endpoints: ['10.0.0.5:17070', '192.168.1.5:17070']
        dns-cache: {ctl.example.com: [10.0.0.5]}
        ca-cert: |
%s
        cloud: lxd
        region: default
        type: lxd
        agent-version: 3.5.4
        controller-machine-count: 1
        active-controller-machine-count: 1
        machine-count: 1
    staging:
        uuid: 11111111-2222-4333-8444-555555555555
        api-endpoints: ['10.0.1.5:17070']
        ca-cert: |
%s
        cloud: aws
        controller-machine-count: 1
        active-controller-machine-count: 1
current-controller: prod
`

// jujuAccountsFile is an accounts.yaml: prod's bootstrap admin (with its
// password), a macaroon login on staging (no password), an identity
// provider's login on oidc, and a login-only user on limited.
const jujuAccountsFile = `controllers:
  prod:
    user: admin
    password: ` + ciPassword + `
    last-known-access: superuser
  staging:
    user: bob
    last-known-access: superuser
  oidc:
    type: oauth2-device
    user: bob@example.com
    access-token: tok-secret-session
    last-known-access: superuser
  limited:
    user: carol
    password: carol-pw
    last-known-access: login
`

// jujuStore writes a juju client store into a new directory and returns
// it and the CA in it.
func jujuStore(t *testing.T) (dir, ca string) {
	t.Helper()
	ca = string(otherCAPEM(t))
	var indented []string
	for _, l := range strings.Split(strings.TrimSpace(ca), "\n") {
		indented = append(indented, "            "+l)
	}
	in := strings.Join(indented, "\n")
	ctls := strings.Replace(strings.Replace(jujuControllersFile, "%s", in, 1), "%s", in, 1)
	// limited and oidc are in the store too.
	ctls = strings.Replace(ctls, "current-controller:", "    limited:\n        uuid: 22222222-2222-4333-8444-555555555555\n        api-endpoints: ['10.0.2.5:17070']\n        ca-cert: |\n"+in+"\n"+
		"    oidc:\n        uuid: 33333333-2222-4333-8444-555555555555\n        api-endpoints: ['10.0.3.5:17070']\n        ca-cert: |\n"+in+"\ncurrent-controller:", 1)
	dir = filepath.Join(t.TempDir(), "juju")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"controllers.yaml": ctls, "accounts.yaml": jujuAccountsFile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, ca
}

// useJujuStore points JUJU_DATA at dir, with no XDG_DATA_HOME.
func useJujuStore(t *testing.T, dir string) {
	t.Helper()
	t.Setenv(EnvJujuData, dir)
	t.Setenv(EnvXDGDataHome, "")
}

// decodeStrictYAMLFile decodes an add-controller file, refusing unknown keys.
func decodeAddControllerYAML(t *testing.T, raw string) restapi.AddControllerRequest {
	t.Helper()
	var req restapi.AddControllerRequest
	dec := yaml.NewDecoder(strings.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("decode the add-controller file: %v\n%s", err, raw)
	}
	return req
}

// noLeak fails the test if any output holds a secret of the store.
func noLeak(t *testing.T, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		for _, secret := range []string{ciPassword, "carol-pw", "tok-secret-session", "pw-from-file"} {
			if strings.Contains(out, secret) {
				t.Errorf("output leaks a secret (%s):\n%s", secret, out)
			}
		}
	}
}

func TestControllerInfoWritesTheAddControllerFile(t *testing.T) {
	isolate(t)
	dir, ca := jujuStore(t)
	useJujuStore(t, dir)
	want := restapi.AddControllerRequest{
		Name: "prod", UUID: ciUUID, APIAddresses: []string{"10.0.0.5:17070", "192.168.1.5:17070"},
		CACert: ca, AdminUser: "admin", AdminPassword: ciPassword,
	}

	t.Run("to a file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "prod.yaml")
		// An existing file readable by others is replaced by a private one.
		if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, err := run(t, "", "controller-info", "prod", "-o", out)
		if err != nil {
			t.Fatalf("controller-info: %v\n%s", err, stderr)
		}
		noLeak(t, stdout, stderr)
		if stderr != "" {
			t.Errorf("stderr %q, want nothing", stderr)
		}
		if wantOut := `wrote controller "prod" (user admin, API addresses 10.0.0.5:17070, 192.168.1.5:17070) to ` + out +
			"; register it with `jimmctl add-controller " + out + "`\n"; stdout != wantOut {
			t.Errorf("stdout %q, want %q", stdout, wantOut)
		}
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", out, fi.Mode().Perm())
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeAddControllerYAML(t, string(raw)); !reflect.DeepEqual(got, want) {
			t.Errorf("the file holds\n%+v\nwant\n%+v", got, want)
		}
		if wantHead := `# Controller "prod" from the juju client store at ` + dir + " (cloud lxd/default, Juju 3.5.4).\n"; !strings.HasPrefix(string(raw), wantHead) {
			t.Errorf("the file starts\n%s\nwant %q", raw, wantHead)
		}
		entries, _ := os.ReadDir(filepath.Dir(out))
		if len(entries) != 1 {
			t.Errorf("%s holds %d files after the write, want only the output (no temporary left)", filepath.Dir(out), len(entries))
		}
	})

	t.Run("to stdout", func(t *testing.T) {
		stdout, stderr, err := run(t, "", "controller-info", "prod")
		if err != nil {
			t.Fatalf("controller-info: %v\n%s", err, stderr)
		}
		if got := decodeAddControllerYAML(t, stdout); !reflect.DeepEqual(got, want) {
			t.Errorf("stdout holds\n%+v\nwant\n%+v", got, want)
		}
		noLeak(t, stderr)
	})

	t.Run("as json", func(t *testing.T) {
		stdout, stderr, err := run(t, "", "controller-info", "prod", "--format", "json")
		if err != nil {
			t.Fatalf("controller-info: %v\n%s", err, stderr)
		}
		var got restapi.AddControllerRequest
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("stdout decodes to %+v (%v), want %+v\n%s", got, err, want, stdout)
		}
	})

	t.Run("add-controller takes it", func(t *testing.T) {
		f := newFakeBroker(t)
		useBroker(t, f)
		out := filepath.Join(t.TempDir(), "prod.yaml")
		if _, stderr, err := run(t, "", "controller-info", "prod", "-o", out); err != nil {
			t.Fatalf("controller-info: %v\n%s", err, stderr)
		}
		stdout, stderr, err := run(t, "", "add-controller", out)
		if err != nil {
			t.Fatalf("add-controller: %v\n%s", err, stderr)
		}
		if strings.Contains(stderr, "WARNING") {
			t.Errorf("add-controller warned about the file: %s", stderr)
		}
		noLeak(t, stdout, stderr)
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.added) != 1 || !reflect.DeepEqual(f.added[0], want) {
			t.Errorf("the broker received %+v, want %+v", f.added, want)
		}
	})
}

func TestControllerInfoOverrides(t *testing.T) {
	isolate(t)
	dir, _ := jujuStore(t)
	useJujuStore(t, dir)
	pwFile := writeFile(t, "pw", []byte("pw-from-file\n"))

	tests := []struct {
		name      string
		args      []string
		stdin     string
		wantAddrs []string
		wantTLS   string
		wantUser  string
		wantPW    string
		wantWarn  string
	}{{
		name:      "public address",
		args:      []string{"prod", "--public-address", "ctl.example.com:443"},
		wantAddrs: []string{"ctl.example.com:443"}, wantUser: "admin", wantPW: ciPassword,
	}, {
		name:      "tls hostname",
		args:      []string{"prod", "--tls-hostname", "juju-apiserver"},
		wantAddrs: []string{"10.0.0.5:17070", "192.168.1.5:17070"}, wantTLS: "juju-apiserver", wantUser: "admin", wantPW: ciPassword,
	}, {
		name:      "both",
		args:      []string{"prod", "--public-address", "[2001:db8::5]:17070", "--tls-hostname", "ctl.internal"},
		wantAddrs: []string{"[2001:db8::5]:17070"}, wantTLS: "ctl.internal", wantUser: "admin", wantPW: ciPassword,
	}, {
		name:      "user and password file, no account needed",
		args:      []string{"staging", "--user", "jimm", "--password-file", pwFile},
		wantAddrs: []string{"10.0.1.5:17070"}, wantUser: "jimm", wantPW: "pw-from-file",
	}, {
		name:      "password file for the account's user",
		args:      []string{"staging", "--password-file", pwFile},
		wantAddrs: []string{"10.0.1.5:17070"}, wantUser: "bob", wantPW: "pw-from-file",
	}, {
		name:      "password from stdin",
		args:      []string{"oidc", "--user", "jimm", "--password-file", "-"},
		stdin:     "pw-from-file\r\n",
		wantAddrs: []string{"10.0.3.5:17070"}, wantUser: "jimm", wantPW: "pw-from-file",
	}, {
		name:      "a user without superuser warns",
		args:      []string{"limited"},
		wantAddrs: []string{"10.0.2.5:17070"}, wantUser: "carol", wantPW: "carol-pw",
		wantWarn: `WARNING the juju client last saw carol with "login" access to controller "limited"; the broker needs superuser`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := run(t, tt.stdin, append([]string{"controller-info"}, tt.args...)...)
			if err != nil {
				t.Fatalf("controller-info: %v\n%s", err, stderr)
			}
			noLeak(t, stderr)
			if tt.wantWarn == "" && stderr != "" || !strings.Contains(stderr, tt.wantWarn) {
				t.Errorf("stderr %q, want %q", stderr, tt.wantWarn)
			}
			got := decodeAddControllerYAML(t, stdout)
			if !reflect.DeepEqual(got.APIAddresses, tt.wantAddrs) || got.TLSServerName != tt.wantTLS ||
				got.AdminUser != tt.wantUser || got.AdminPassword != tt.wantPW || got.Name != tt.args[0] {
				t.Errorf("got addresses %v, tls-server-name %q, user %q, password %q, name %q; want %v, %q, %q, %q, %q",
					got.APIAddresses, got.TLSServerName, got.AdminUser, got.AdminPassword, got.Name,
					tt.wantAddrs, tt.wantTLS, tt.wantUser, tt.wantPW, tt.args[0])
			}
		})
	}
}

func TestControllerInfoErrors(t *testing.T) {
	isolate(t)
	dir, _ := jujuStore(t)
	emptyPW := writeFile(t, "empty", []byte("\n"))
	pwFile := writeFile(t, "pw", []byte("pw-from-file\n"))
	noAccounts := filepath.Join(t.TempDir(), "juju")
	if err := os.MkdirAll(noAccounts, 0o700); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "controllers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(noAccounts, "controllers.yaml"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	// Stores broken in one way each.
	broken := func(files map[string]string) string {
		d := filepath.Join(t.TempDir(), "juju")
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if content == "<dir>" {
				if err := os.Mkdir(filepath.Join(d, name), 0o700); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	ctlsYAML := string(raw)

	tests := []struct {
		name    string
		store   string
		args    []string
		wantErr string
	}{{
		name: "unknown controller", store: dir, args: []string{"nope"},
		wantErr: `controller "nope" is not in the juju client store at ` + dir + "; it knows: limited, oidc, prod, staging",
	}, {
		name: "empty store", store: broken(map[string]string{"controllers.yaml": "controllers: {}\n"}), args: []string{"prod"},
		wantErr: `controller "prod" is not in the juju client store at `,
	}, {
		name: "no store", store: filepath.Join(t.TempDir(), "nowhere"), args: []string{"prod"},
		wantErr: `no juju client store at `,
	}, {
		name: "controllers.yaml unreadable", store: broken(map[string]string{"controllers.yaml": "<dir>"}), args: []string{"prod"},
		wantErr: "read the juju client store: read ",
	}, {
		name: "controllers.yaml not YAML", store: broken(map[string]string{"controllers.yaml": "controllers: [unclosed\n"}), args: []string{"prod"},
		wantErr: "controllers.yaml is not a juju client file",
	}, {
		name: "accounts.yaml unreadable", store: broken(map[string]string{"controllers.yaml": ctlsYAML, "accounts.yaml": "<dir>"}), args: []string{"prod"},
		wantErr: "read the juju client store: read ",
	}, {
		// The YAML error would quote the value: the password.
		name: "accounts.yaml malformed", store: broken(map[string]string{"controllers.yaml": ctlsYAML, "accounts.yaml": "controllers:\n  prod: " + ciPassword + "\n"}), args: []string{"prod"},
		wantErr: "accounts.yaml is not a juju client file: yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str (value hidden) into",
	}, {
		name: "no accounts.yaml", store: noAccounts, args: []string{"prod"},
		wantErr: `the juju client store at ` + noAccounts + ` has no account on controller "prod" (there is no accounts.yaml): log in with ` + "`juju login -c prod`" + `, or give the user with --user and --password-file`,
	}, {
		name: "no account", store: broken(map[string]string{"controllers.yaml": ctlsYAML, "accounts.yaml": "controllers: {}\n"}), args: []string{"prod"},
		wantErr: `has no account on controller "prod" (accounts.yaml has none for it)`,
	}, {
		name: "no password (macaroon login)", store: dir, args: []string{"staging"},
		wantErr: `the juju client's account on controller "staging" (user bob) has no password in ` + filepath.Join(dir, "accounts.yaml") +
			": the juju client keeps one only for the admin that `juju bootstrap` created, until it is changed (`juju login` and `juju register` keep a macaroon instead); " +
			"if you know bob's password, give it with --password-file; otherwise the broker needs a local user with a password and superuser access on controller \"staging\": " +
			"create one with `juju add-user -c staging jimm`, `juju grant -c staging jimm superuser` and `juju change-user-password -c staging jimm`, " +
			"then run `jimmctl controller-info staging --user jimm --password-file FILE`",
	}, {
		name: "identity provider login", store: dir, args: []string{"oidc"},
		wantErr: `the juju client's account on controller "oidc" (bob@example.com) logs in through an identity provider and has no password; the broker needs a local user with a password and superuser access on controller "oidc": create one with ` + "`juju add-user -c oidc jimm`",
	}, {
		name: "identity provider user with a password file", store: dir, args: []string{"oidc", "--password-file", pwFile},
		wantErr: `the juju client's account on controller "oidc" is bob@example.com, who logs in through an identity provider, not with a password: give the local user with --user`,
	}, {
		name: "another user without a password", store: dir, args: []string{"prod", "--user", "jimm"},
		wantErr: `no password for user jimm on controller "prod": the juju client's account there is admin; give jimm's password with --password-file`,
	}, {
		name: "empty password file", store: dir, args: []string{"prod", "--password-file", emptyPW},
		wantErr: "--password-file " + emptyPW + " is empty",
	}, {
		name: "missing password file", store: dir, args: []string{"prod", "--password-file", filepath.Join(dir, "nope")},
		wantErr: "read --password-file: open ",
	}, {
		name: "public address without a port", store: dir, args: []string{"prod", "--public-address", "10.0.0.5"},
		wantErr: `--public-address "10.0.0.5": want host:port, e.g. 10.0.0.5:17070`,
	}, {
		name: "bad tls hostname", store: dir, args: []string{"prod", "--tls-hostname", "https://x"},
		wantErr: `--tls-hostname "https://x": want a host name`,
	}, {
		name: "no controller", store: dir, args: nil,
		wantErr: "controller-info takes <controller>, got 0 argument(s)",
	}, {
		name: "controller without a CA", store: broken(map[string]string{"controllers.yaml": "controllers:\n  x:\n    uuid: " + ciUUID + "\n    api-endpoints: ['10.0.0.5:17070']\n"}),
		args: []string{"x"}, wantErr: `controller "x" in `,
	}, {
		name: "output directory missing", store: dir, args: []string{"prod", "-o", filepath.Join(dir, "no", "such", "dir", "f.yaml")},
		wantErr: "write " + filepath.Join(dir, "no", "such", "dir", "f.yaml") + ": ",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			useJujuStore(t, tt.store)
			stdout, stderr, err := run(t, "", append([]string{"controller-info"}, tt.args...)...)
			if err == nil {
				t.Fatalf("controller-info succeeded, want %q\n%s", tt.wantErr, stdout)
			}
			if !strings.HasPrefix(stderr, "ERROR ") || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr\n%s\nwant it to say\n%s", stderr, tt.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			noLeak(t, stderr)
		})
	}
}

func TestControllerInfoFindsTheStoreAsJujuDoes(t *testing.T) {
	isolate(t) // HOME is the test's
	dir, _ := jujuStore(t)
	home := os.Getenv("HOME")
	xdg := t.TempDir()
	link := func(target string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(dir, target); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(home, ".local", "share", "juju"))
	link(filepath.Join(xdg, "juju"))
	other := filepath.Join(t.TempDir(), "elsewhere")

	tests := []struct {
		name, jujuData, xdgDataHome, want string
	}{
		{"JUJU_DATA first", other, xdg, other},
		{"then XDG_DATA_HOME/juju", "", xdg, filepath.Join(xdg, "juju")},
		{"then ~/.local/share/juju", "", "", filepath.Join(home, ".local", "share", "juju")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvJujuData, tt.jujuData)
			t.Setenv(EnvXDGDataHome, tt.xdgDataHome)
			stdout, stderr, err := run(t, "", "controller-info", "prod")
			if tt.want == other {
				// JUJU_DATA wins even when it holds no store.
				if err == nil || !strings.Contains(stderr, "no juju client store at "+other+" (no controllers.yaml)") {
					t.Errorf("with JUJU_DATA=%s: %v, stderr %q; want it to look there only", other, err, stderr)
				}
				return
			}
			if err != nil {
				t.Fatalf("controller-info: %v\n%s", err, stderr)
			}
			if !strings.Contains(stdout, "from the juju client store at "+tt.want+" ") {
				t.Errorf("the file does not say it came from %s:\n%s", tt.want, stdout)
			}
		})
	}
}

func TestControllerInfoRefusesATerminal(t *testing.T) {
	isolate(t)
	dir, _ := jujuStore(t)
	useJujuStore(t, dir)
	// A character device other than the null device stands for a
	// terminal.
	dev, err := os.OpenFile("/dev/zero", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/zero: %v", err)
	}
	defer dev.Close()
	var errb strings.Builder
	cmd := NewRootCommand(dev, &errb)
	cmd.SetArgs([]string{"controller-info", "prod"})
	if err := cmd.Execute(); err == nil || !strings.Contains(errb.String(), "refusing to print a controller password on the terminal: write the file with -o FILE") {
		t.Errorf("controller-info to a terminal: %v, stderr %q; want a refusal", err, errb.String())
	}
	// /dev/null is no terminal.
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	errb.Reset()
	cmd = NewRootCommand(null, &errb)
	cmd.SetArgs([]string{"controller-info", "prod"})
	if err := cmd.Execute(); err != nil {
		t.Errorf("controller-info > /dev/null: %v, stderr %q", err, errb.String())
	}
	// -o writes the file even from a terminal.
	out := filepath.Join(t.TempDir(), "f.yaml")
	errb.Reset()
	cmd = NewRootCommand(dev, &errb)
	cmd.SetArgs([]string{"controller-info", "prod", "-o", out})
	if err := cmd.Execute(); err != nil {
		t.Errorf("controller-info -o from a terminal: %v, stderr %q", err, errb.String())
	}
}
