package jimmctl

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// isolate gives the test its own config directory and a clean JIMM_*
// environment; it returns the config file's path.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	for _, k := range []string{EnvURL, EnvCACert, EnvToken, EnvUser, EnvPassword} {
		t.Setenv(k, "")
	}
	return filepath.Join(dir, "jimmctl", "config.yaml")
}

// run runs jimmctl in-process with stdin and args.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := NewRootCommand(&out, &errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err = cmd.Execute()
	if err != nil && !strings.HasPrefix(errb.String(), "ERROR ") {
		t.Errorf("jimmctl %s failed with %v but stderr %q lacks the ERROR prefix", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String(), err
}

func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// useBroker points the environment at f with a valid token.
func useBroker(t *testing.T, f *fakeBroker) string {
	t.Helper()
	tok := f.issueToken(fakeAdmin)
	t.Setenv(EnvURL, f.url)
	t.Setenv(EnvCACert, string(f.caPEM))
	t.Setenv(EnvToken, tok)
	return tok
}

func TestLoginSavesConfigAndLaterCommandsUseIt(t *testing.T) {
	path := isolate(t)
	f := newFakeBroker(t)
	caFile := writeFile(t, "ca.pem", f.caPEM)
	pwFile := writeFile(t, "pw", []byte(fakeAdminPassword+"\n"))

	stdout, stderr, err := run(t, "", "login", "--url", f.url, "--ca-cert", caFile, "--user", fakeAdmin, "--password-file", pwFile)
	if err != nil {
		t.Fatalf("login: %v\n%s", err, stderr)
	}
	if want := "logged in to " + f.url + " as admin (session expires "; !strings.HasPrefix(stdout, want) {
		t.Errorf("login printed %q, want prefix %q", stdout, want)
	}
	if strings.Contains(stdout+stderr, fakeAdminPassword) || strings.Contains(stdout+stderr, "tok-") {
		t.Errorf("login output leaks a secret: %q %q", stdout, stderr)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %04o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode = %04o, want 0700", di.Mode().Perm())
	}
	saved, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if saved.URL != f.url || saved.CACert != string(f.caPEM) || saved.Identity != fakeAdmin ||
		!strings.HasPrefix(saved.Token, "tok-") || saved.ExpiresAt.Before(time.Now()) {
		t.Errorf("saved config = %+v", saved)
	}

	// Later commands use the saved URL, CA and token.
	stdout, stderr, err = run(t, "", "whoami")
	if err != nil {
		t.Fatalf("whoami: %v\n%s", err, stderr)
	}
	if got := f.lastAuth(); got != "bearer "+saved.Token {
		t.Errorf("broker saw auth %q, want the saved token", got)
	}
	if !strings.Contains(stdout, "IDENTITY") || !strings.Contains(stdout, "admin") {
		t.Errorf("whoami printed %q", stdout)
	}

	// Logout forgets the token but keeps where the broker is.
	stdout, _, err = run(t, "", "logout")
	if err != nil || !strings.HasPrefix(stdout, "logged out of "+f.url) {
		t.Fatalf("logout: %q, %v", stdout, err)
	}
	saved, err = LoadConfig(path, nil)
	if err != nil || saved.Token != "" || saved.URL != f.url || saved.CACert == "" {
		t.Errorf("after logout, config = %+v, %v", saved, err)
	}
	_, stderr, err = run(t, "", "whoami")
	if err == nil || !strings.Contains(stderr, "ERROR not logged in to "+f.url) {
		t.Errorf("whoami after logout: %v, stderr %q", err, stderr)
	}

	// Log in again with the password on stdin: --url and --ca-cert come
	// from the saved config now.
	stdout, stderr, err = run(t, fakeAdminPassword+"\n", "login", "--user", fakeAdmin)
	if err != nil || !strings.HasPrefix(stdout, "logged in to "+f.url) {
		t.Fatalf("second login: %q, %v, %s", stdout, err, stderr)
	}
}

func TestLoginFailures(t *testing.T) {
	f := newFakeBroker(t)
	tests := []struct {
		name    string
		stdin   string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{name: "wrong password", stdin: "nope\n", args: []string{"--user", fakeAdmin}, wantErr: "invalid user name or password (check the user name and password)"},
		{name: "no password", stdin: "", args: []string{"--user", fakeAdmin}, wantErr: "no password given"},
		{name: "no user", stdin: "pw\n", args: []string{"--password-file", "-"}, wantErr: "no user given: pass --user or set JIMM_USER"},
		{name: "user and password from env", env: map[string]string{EnvUser: fakeAdmin, EnvPassword: fakeAdminPassword}},
		{name: "no URL", env: map[string]string{EnvURL: ""}, args: []string{"--user", fakeAdmin}, wantErr: "no broker configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := isolate(t)
			t.Setenv(EnvURL, f.url)
			t.Setenv(EnvCACert, string(f.caPEM))
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, stderr, err := run(t, tt.stdin, append([]string{"login"}, tt.args...)...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("config not saved: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("login: %v, stderr %q, want %q", err, stderr, tt.wantErr)
			}
			if strings.Contains(stderr, fakeAdminPassword) {
				t.Errorf("stderr leaks the password: %q", stderr)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("failed login wrote the config (%v)", err)
			}
		})
	}
}

func TestSettingsPrecedence(t *testing.T) {
	f := newFakeBroker(t)
	good := f.issueToken("alice")
	other := newFakeBroker(t) // a second broker the saved session is not for
	caFile := writeFile(t, "ca.pem", f.caPEM)

	tests := []struct {
		name     string
		saved    *SavedConfig
		env      map[string]string
		args     []string
		wantAuth string // what the broker saw; "" when nothing reached it
		wantErr  string
	}{{
		name:     "saved config only",
		saved:    &SavedConfig{URL: f.url, CACert: string(f.caPEM), Token: good, Identity: "alice"},
		wantAuth: "bearer " + good,
	}, {
		name:     "JIMM_TOKEN overrides the saved token",
		saved:    &SavedConfig{URL: f.url, CACert: string(f.caPEM), Token: "tok-stale"},
		env:      map[string]string{EnvToken: good},
		wantAuth: "bearer " + good,
	}, {
		name:     "JIMM_URL and JIMM_TOKEN override the saved file",
		saved:    &SavedConfig{URL: other.url, CACert: string(other.caPEM), Token: "tok-for-other"},
		env:      map[string]string{EnvURL: f.url, EnvCACert: caFile, EnvToken: good},
		wantAuth: "bearer " + good,
	}, {
		name:    "the saved token is not sent to another URL",
		saved:   &SavedConfig{URL: other.url, CACert: string(other.caPEM), Token: "tok-for-other"},
		env:     map[string]string{EnvURL: f.url, EnvCACert: caFile},
		wantErr: "not logged in to " + f.url + " (the saved session is for " + other.url + ")",
	}, {
		name:     "--url flag overrides JIMM_URL",
		env:      map[string]string{EnvURL: other.url, EnvCACert: caFile, EnvToken: good},
		args:     []string{"--url", f.url},
		wantAuth: "bearer " + good,
	}, {
		name:     "JIMM_USER and JIMM_PASSWORD: basic auth",
		saved:    &SavedConfig{URL: f.url, CACert: string(f.caPEM), Token: "tok-stale"},
		env:      map[string]string{EnvUser: fakeAdmin, EnvPassword: fakeAdminPassword},
		wantAuth: "basic " + fakeAdmin,
	}, {
		name:    "JIMM_USER without JIMM_PASSWORD and nothing saved",
		env:     map[string]string{EnvURL: f.url, EnvCACert: caFile, EnvUser: fakeAdmin},
		wantErr: "only one of JIMM_USER and JIMM_PASSWORD is set",
	}, {
		name:    "no URL anywhere",
		env:     map[string]string{EnvToken: good},
		wantErr: "ERROR no broker configured: run `jimmctl login --url https://...` or set JIMM_URL",
	}, {
		name:    "expired saved session",
		saved:   &SavedConfig{URL: f.url, CACert: string(f.caPEM), Token: good, Identity: "alice", ExpiresAt: time.Now().Add(-time.Minute)},
		wantErr: "the saved session for alice at " + f.url + " expired at",
	}, {
		name:     "revoked saved session",
		saved:    &SavedConfig{URL: f.url, CACert: string(f.caPEM), Token: "tok-revoked", Identity: "alice"},
		wantAuth: "bearer tok-revoked",
		wantErr:  "may have ended: run `jimmctl login`",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := isolate(t)
			if tt.saved != nil {
				if err := SaveConfig(path, *tt.saved); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			before := f.authCount()
			_, stderr, err := run(t, "", append(tt.args, "whoami")...)
			reached := f.authCount() > before
			if tt.wantAuth != "" {
				if got := f.lastAuth(); !reached || got != tt.wantAuth {
					t.Errorf("broker saw auth %q (reached: %v), want %q", got, reached, tt.wantAuth)
				}
			} else if reached {
				t.Errorf("the request reached the broker")
			}
			if other.lastAuth() != "" {
				t.Errorf("the other broker was called with %q", other.lastAuth())
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("whoami: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("whoami: %v, stderr %q, want %q", err, stderr, tt.wantErr)
			}
		})
	}
}

func TestCACertSources(t *testing.T) {
	f := newFakeBroker(t)
	tok := f.issueToken(fakeAdmin)
	wrongCA := otherCAPEM(t)
	tests := []struct {
		name    string
		caEnv   func(t *testing.T) string // JIMM_CA_CERT
		args    []string
		wantErr []string
	}{
		{name: "JIMM_CA_CERT as a path", caEnv: func(t *testing.T) string { return writeFile(t, "ca.pem", f.caPEM) }},
		{name: "JIMM_CA_CERT as inline PEM", caEnv: func(*testing.T) string { return string(f.caPEM) }},
		{name: "--ca-cert wins over JIMM_CA_CERT", caEnv: func(*testing.T) string { return string(wrongCA) },
			args: []string{"--ca-cert", writeFile(t, "ca.pem", f.caPEM)}},
		{name: "wrong CA", caEnv: func(*testing.T) string { return string(wrongCA) },
			wantErr: []string{"cannot verify the TLS certificate of broker at " + f.url, "unknown authority"}},
		{name: "no CA", caEnv: func(*testing.T) string { return "" },
			wantErr: []string{"cannot verify the TLS certificate of broker at " + f.url}},
		{name: "JIMM_CA_CERT names a missing file", caEnv: func(*testing.T) string { return "/nonexistent/ca.pem" },
			wantErr: []string{"read JIMM_CA_CERT: open /nonexistent/ca.pem"}},
		{name: "JIMM_CA_CERT inline garbage", caEnv: func(*testing.T) string { return "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----" },
			wantErr: []string{"holds no PEM certificate (CA certificate from JIMM_CA_CERT)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			t.Setenv(EnvURL, f.url)
			t.Setenv(EnvToken, tok)
			t.Setenv(EnvCACert, tt.caEnv(t))
			_, stderr, err := run(t, "", append(tt.args, "list-controllers")...)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("list-controllers: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
			}
		})
	}
}

func TestListControllersFormats(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	cs := sampleControllers()
	cs[0].ModelCount, cs[0].Machines, cs[0].Units, cs[0].Agents = 4, 12, 30, 42 // ctl-b
	cs[1].ModelCount, cs[1].Machines, cs[1].Units, cs[1].Agents = 2, 3, 5, 8    // ctl-a
	for _, c := range cs {
		f.putController(c)
	}
	want := sortControllers(cs) // ctl-a, ctl-b

	tests := []struct {
		format string
		check  func(t *testing.T, out string)
	}{{
		format: "json",
		check: func(t *testing.T, out string) {
			var got []restapi.Controller
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("parse json: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("json round trip:\n got %+v\nwant %+v", got, want)
			}
			if !strings.Contains(out, `"api-addresses"`) || !strings.Contains(out, `"model-count": 2`) || !strings.Contains(out, `"agents": 42`) {
				t.Errorf("json lacks the restapi names:\n%s", out)
			}
		},
	}, {
		format: "yaml",
		check: func(t *testing.T, out string) {
			var got []restapi.Controller
			if err := yaml.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("parse yaml: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("yaml round trip:\n got %+v\nwant %+v", got, want)
			}
			if !strings.Contains(out, "agent-version: 3.5.4") || !strings.Contains(out, "machines: 12") || !strings.Contains(out, "units: 5") {
				t.Errorf("yaml lacks the restapi names:\n%s", out)
			}
		},
	}, {
		format: "tabular",
		check: func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("want a header and 2 rows, got:\n%s", out)
			}
			if got := strings.Fields(lines[0]); !reflect.DeepEqual(got, controllerHeader) {
				t.Errorf("header = %q, want %q", got, controllerHeader)
			}
			wantA := []string{"ctl-a", "down", "(deprecated)", "3.4.0", "aws/eu-west-1", "2", "3", "5", "8", "10.0.0.5:17070", "1"}
			if got := strings.Fields(lines[1]); !reflect.DeepEqual(got, wantA) {
				t.Errorf("first row = %q, want %q", got, wantA)
			}
			wantB := []string{"ctl-b", "up", "3.5.4", "localhost/r1,r2", "4", "12", "30", "42", "10.0.0.6:17070", "5"}
			if got := strings.Fields(lines[2]); !reflect.DeepEqual(got, wantB) {
				t.Errorf("second row = %q, want %q", got, wantB)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			for _, cmd := range []string{"list-controllers", "controllers"} {
				stdout, stderr, err := run(t, "", cmd, "--format", tt.format)
				if err != nil {
					t.Fatalf("%s: %v\n%s", cmd, err, stderr)
				}
				tt.check(t, stdout)
			}
		})
	}
}

func TestFormatErrors(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	for _, args := range [][]string{
		{"list-controllers", "--format", "bogus"},
		{"--format=xml", "whoami"},
		{"show-model", "m-1", "--format", "table"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, err := run(t, "", args...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(stderr, "ERROR ") || !strings.Contains(stderr, "valid formats are tabular, yaml, json") {
				t.Errorf("stderr = %q", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q", stdout)
			}
			if f.lastAuth() != "" {
				t.Errorf("a request reached the broker")
			}
		})
	}
}

const controllerYAML = `name: ctl-new
uuid: 11111111-2222-4333-8444-555555555555
api-addresses:
  - 10.0.0.42:17070
ca-cert: |
%s
admin-user: admin
admin-password: ctl-pw-123
cloud: localhost
cloud-type: lxd
regions: [default]
agent-version: 3.5.4
`

func TestAddController(t *testing.T) {
	f := newFakeBroker(t)
	var indented []string
	for _, l := range strings.Split(strings.TrimSpace(string(otherCAPEM(t))), "\n") {
		indented = append(indented, "  "+l)
	}
	valid := []byte(strings.Replace(controllerYAML, "%s", strings.Join(indented, "\n"), 1))

	tests := []struct {
		name       string
		file       []byte // written to a file unless stdin
		stdin      bool
		args       []string
		wantName   string
		wantPrio   int
		wantErr    string
		wantStderr string
	}{
		{name: "from a file", file: valid, wantName: "ctl-new"},
		{name: "from stdin", file: valid, stdin: true, wantName: "ctl-new"},
		{name: "name and priority flags", file: valid, args: []string{"--name", "ctl-renamed", "--priority", "7"}, wantName: "ctl-renamed", wantPrio: 7},
		{name: "duplicate", file: valid, args: []string{"--name", "ctl-dup"}, wantErr: `add controller "ctl-dup": controller "ctl-dup" already exists`},
		{name: "missing keys", file: []byte("name: x\nuuid: y\n"), wantErr: "lacks api-addresses, ca-cert, admin-user, admin-password"},
		{name: "unknown key warns", file: append([]byte("api-adress: typo\n"), valid...), args: []string{"--name", "ctl-typo"}, wantName: "ctl-typo",
			wantStderr: `WARNING ignoring unknown key "api-adress"`},
		{name: "not YAML", file: []byte("name: [unclosed\n"), wantErr: "read controller file"},
		{name: "empty stdin", file: []byte(""), stdin: true, wantErr: "read controller file stdin: it is empty"},
	}
	f.putController(restapi.Controller{Name: "ctl-dup", Status: restapi.StatusUp})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			useBroker(t, f)
			stdin, arg := "", "-"
			if tt.stdin {
				stdin = string(tt.file)
			} else {
				arg = writeFile(t, "controller.yaml", tt.file)
			}
			stdout, stderr, err := run(t, stdin, append([]string{"add-controller", arg}, tt.args...)...)
			if tt.wantStderr != "" && !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.wantStderr)
			}
			if strings.Contains(stdout+stderr, "ctl-pw-123") {
				t.Errorf("output leaks the controller's admin password")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(stderr, tt.wantErr) {
					t.Fatalf("add-controller: %v, stderr %q, want %q", err, stderr, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("add-controller: %v\n%s", err, stderr)
			}
			got, ok := f.controller(tt.wantName)
			if !ok {
				t.Fatalf("controller %q not registered", tt.wantName)
			}
			if got.Priority != tt.wantPrio || got.UUID != "11111111-2222-4333-8444-555555555555" || !reflect.DeepEqual(got.Addresses, []string{"10.0.0.42:17070"}) {
				t.Errorf("registered %+v", got)
			}
			f.mu.Lock()
			last := f.added[len(f.added)-1]
			f.mu.Unlock()
			if last.AdminPassword != "ctl-pw-123" || last.AdminUser != "admin" || !strings.HasPrefix(last.CACert, "-----BEGIN CERTIFICATE-----") {
				t.Errorf("broker received %+v", last)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], tt.wantName+" ") {
				t.Errorf("add-controller printed:\n%s", stdout)
			}
			// Free the name for the next case.
			f.mu.Lock()
			delete(f.controllers, tt.wantName)
			f.mu.Unlock()
		})
	}
}

func TestRemoveController(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	for _, c := range sampleControllers() {
		f.putController(c)
	}
	f.addModel(restapi.Model{UUID: "m-1", Name: "prod", Owner: "alice", Controller: "ctl-a"})
	f.addModel(restapi.Model{UUID: "m-2", Name: "dev", Owner: "bob", Controller: "ctl-a"})

	steps := []struct {
		name       string
		args       []string
		wantOut    string
		wantErr    string
		wantExists bool
	}{
		{name: "refused while it hosts models", args: []string{"remove-controller", "ctl-a"},
			wantErr: `ERROR remove controller "ctl-a": controller "ctl-a" hosts 2 models (migrate its models away first, or pass --force to remove it anyway)`, wantExists: true},
		{name: "forced", args: []string{"remove-controller", "ctl-a", "--force"}, wantOut: `removed controller "ctl-a" (forced)`},
		{name: "gone", args: []string{"remove-controller", "ctl-a"}, wantErr: `controller "ctl-a" not found`},
		{name: "no models", args: []string{"remove-controller", "ctl-b", "--format", "json"}, wantOut: `"removed": true`},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			stdout, stderr, err := run(t, "", s.args...)
			if s.wantErr != "" {
				if err == nil || !strings.Contains(stderr, s.wantErr) {
					t.Fatalf("%v: stderr %q, want %q", err, stderr, s.wantErr)
				}
			} else if err != nil || !strings.Contains(stdout, s.wantOut) {
				t.Fatalf("%v: stdout %q, want %q", err, stdout, s.wantOut)
			}
			if _, ok := f.controller(s.args[1]); ok != s.wantExists {
				t.Errorf("controller %s exists: %v, want %v", s.args[1], ok, s.wantExists)
			}
		})
	}
}

func TestSetControllerDeprecated(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	f.putController(sampleControllers()[0]) // ctl-b, not deprecated
	tests := []struct {
		args    []string
		want    bool
		wantOut string
		wantErr string
	}{
		{args: []string{"ctl-b"}, want: true, wantOut: `controller "ctl-b" is now deprecated`},
		{args: []string{"ctl-b", "false"}, want: false, wantOut: `controller "ctl-b" is no longer deprecated`},
		{args: []string{"ctl-b", "true", "--format", "yaml"}, want: true, wantOut: "deprecated: true"},
		{args: []string{"ctl-b", "maybe"}, want: true, wantErr: `want true or false, got "maybe"`},
		{args: []string{"ctl-x"}, want: true, wantErr: `deprecate controller "ctl-x": controller "ctl-x" not found`},
		{args: []string{}, want: true, wantErr: "set-controller-deprecated takes <name> [true|false], got 0 argument(s)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, err := run(t, "", append([]string{"set-controller-deprecated"}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(stderr, tt.wantErr) {
					t.Fatalf("%v: stderr %q, want %q", err, stderr, tt.wantErr)
				}
			} else if err != nil || !strings.Contains(stdout, tt.wantOut) {
				t.Fatalf("%v: stdout %q, want %q", err, stdout, tt.wantOut)
			}
			if c, _ := f.controller("ctl-b"); c.Deprecated != tt.want {
				t.Errorf("deprecated = %v, want %v", c.Deprecated, tt.want)
			}
		})
	}
}

func TestShowCommandsAndModels(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	for _, c := range sampleControllers() {
		f.putController(c)
	}
	f.addModel(restapi.Model{UUID: "m-2", Name: "zeta", Owner: "bob", Controller: "ctl-b", Cloud: "localhost", Region: "r1", Life: "alive", CreatedAt: fakeTime})
	f.addModel(restapi.Model{UUID: "m-1", Name: "alpha", Owner: "alice", Controller: "ctl-a", Cloud: "aws", Region: "eu-west-1", Life: "dying", CreatedAt: fakeTime})

	tests := []struct {
		args      []string
		wantLines [][]string // fields of each stdout line
		wantErr   string
	}{{
		args: []string{"list-models"},
		wantLines: [][]string{
			{"UUID", "NAME", "OWNER", "CONTROLLER", "CLOUD/REGION", "LIFE"},
			{"m-1", "alpha", "alice", "ctl-a", "aws/eu-west-1", "dying"},
			{"m-2", "zeta", "bob", "ctl-b", "localhost/r1", "alive"},
		},
	}, {
		args: []string{"models"},
		wantLines: [][]string{
			{"UUID", "NAME", "OWNER", "CONTROLLER", "CLOUD/REGION", "LIFE"},
			{"m-1", "alpha", "alice", "ctl-a", "aws/eu-west-1", "dying"},
			{"m-2", "zeta", "bob", "ctl-b", "localhost/r1", "alive"},
		},
	}, {
		args: []string{"show-model", "m-2"},
		wantLines: [][]string{
			{"UUID", "NAME", "OWNER", "CONTROLLER", "CLOUD/REGION", "LIFE"},
			{"m-2", "zeta", "bob", "ctl-b", "localhost/r1", "alive"},
		},
	}, {
		args:    []string{"show-model", "m-404"},
		wantErr: `ERROR get model "m-404": model "m-404" not found`,
	}, {
		args:    []string{"show-controller", "nope"},
		wantErr: `ERROR get controller "nope": controller "nope" not found`,
	}, {
		args:    []string{"show-controller", "a", "b"},
		wantErr: "ERROR show-controller takes <name>, got 2 argument(s)",
	}}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, err := run(t, "", tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(stderr, tt.wantErr) {
					t.Fatalf("%v: stderr %q, want prefix %q", err, stderr, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, l := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
				got = append(got, strings.Fields(l))
			}
			if !reflect.DeepEqual(got, tt.wantLines) {
				t.Errorf("output:\n%s\nwant %q", stdout, tt.wantLines)
			}
		})
	}

	t.Run("show-controller", func(t *testing.T) {
		stdout, _, err := run(t, "", "show-controller", "ctl-a")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"NAME", "ctl-a", "aaaaaaaa-0000-4000-8000-000000000001", "down (deprecated) since", "connection refused", "aws (ec2)", "10.0.0.5:17070"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("show-controller output lacks %q:\n%s", want, stdout)
			}
		}
		stdout, _, err = run(t, "", "show-controller", "ctl-a", "--format", "json")
		if err != nil {
			t.Fatal(err)
		}
		var got restapi.Controller
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		want := sampleControllers()[1]
		want.ModelCount = 1
		if !reflect.DeepEqual(got, want) {
			t.Errorf("show-controller json = %+v, want %+v", got, want)
		}
	})
}

func TestBrokerErrorWithoutJSON(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	f.setFail500(true)
	_, stderr, err := run(t, "", "list-controllers")
	want := "ERROR list controllers: broker answered HTTP 500 Internal Server Error to GET /v1/controllers: upstream exploded\n"
	if err == nil || stderr != want {
		t.Fatalf("%v: stderr %q, want %q", err, stderr, want)
	}
}

func TestNoBrokerConfigured(t *testing.T) {
	for _, cmd := range []string{"whoami", "list-controllers", "list-models", "login"} {
		t.Run(cmd, func(t *testing.T) {
			isolate(t)
			_, stderr, err := run(t, "", cmd)
			want := "ERROR no broker configured: run `jimmctl login --url https://...` or set JIMM_URL\n"
			if err == nil || stderr != want {
				t.Fatalf("%v: stderr %q, want %q", err, stderr, want)
			}
		})
	}
}
