package jimmctl

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// fakeConfig is the fake broker's controller configs: each controller's
// config, and every PATCH body it took.
type fakeConfig struct {
	configs map[string]map[string]any
	patches []map[string]any
	down    map[string]bool // controllers answered with 503
}

func (f *fakeBroker) handleConfig(mux *http.ServeMux) {
	mux.HandleFunc("GET "+restapi.PathController+"{name}"+restapi.PathConfig, f.authed(f.getConfig))
	mux.HandleFunc("PATCH "+restapi.PathController+"{name}"+restapi.PathConfig, f.authed(f.patchConfig))
}

// configOf answers 404 or 503 for name as the broker does, or returns its
// config. Call with f.mu held.
func (f *fakeBroker) configOf(w http.ResponseWriter, name string) (map[string]any, bool) {
	cfg, ok := f.config.configs[name]
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "not found: controller %q is not registered", name)
	case f.config.down[name]:
		writeError(w, http.StatusServiceUnavailable, restapi.CodeUnavailable, "controller %q is unavailable: connection refused", name)
		ok = false
	}
	return cfg, ok
}

func (f *fakeBroker) getConfig(w http.ResponseWriter, r *http.Request, _ string) {
	name := r.PathValue("name")
	f.mu.Lock()
	defer f.mu.Unlock()
	if cfg, ok := f.configOf(w, name); ok {
		writeJSON(w, http.StatusOK, restapi.ControllerConfig{Controller: name, Config: cfg})
	}
}

// patchConfig takes agent-ratelimit-max as a number only, and refuses a
// rate over 1m, as a development controller does.
func (f *fakeBroker) patchConfig(w http.ResponseWriter, r *http.Request, _ string) {
	name := r.PathValue("name")
	var req restapi.ControllerConfigRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Config) == 0 {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad request: %v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg, ok := f.configOf(w, name)
	if !ok {
		return
	}
	f.config.patches = append(f.config.patches, req.Config)
	if _, isNumber := req.Config["agent-ratelimit-max"].(float64); req.Config["agent-ratelimit-max"] != nil && !isNumber {
		writeError(w, http.StatusBadRequest, "not valid", "controller %q refused to set agent-ratelimit-max: not a number", name)
		return
	}
	if req.Config["agent-ratelimit-rate"] == "2m" {
		writeError(w, http.StatusBadRequest, "not valid", "controller %q refused to set agent-ratelimit-rate: agent-ratelimit-rate must be between 0..1m", name)
		return
	}
	for k, v := range req.Config {
		if k == "migration-agent-wait-time" {
			v = v.(string) + "0s" // as Go prints a duration: 30m → 30m0s
		}
		cfg[k] = v
	}
	writeJSON(w, http.StatusOK, restapi.ControllerConfig{Controller: name, Config: cfg})
}

const fakeCACert = "-----BEGIN CERTIFICATE-----\nMIIB\nAAAA\n-----END CERTIFICATE-----\n"

// configBroker is a fake broker with ctl-a's config, and ctl-down, which
// is down.
func configBroker(t *testing.T) *fakeBroker {
	t.Helper()
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	f.mu.Lock()
	f.config = fakeConfig{
		configs: map[string]map[string]any{
			"ctl-a": {
				"agent-ratelimit-max": 10, "agent-ratelimit-rate": "250ms", "migration-agent-wait-time": "15m0s",
				"controller-name": "ctl-a", "api-port": 17070, "ca-cert": fakeCACert, "auditing-enabled": false,
				"audit-log-exclude-methods": []string{"ReadOnlyMethods"}, "juju-ha-space": "",
			},
			"ctl-down": {},
		},
		down: map[string]bool{"ctl-down": true},
	}
	f.mu.Unlock()
	return f
}

func TestControllerConfigShow(t *testing.T) {
	configBroker(t)

	stdout, stderr, err := run(t, "", "controller-config", "ctl-a")
	if err != nil {
		t.Fatalf("controller-config: %v\n%s", err, stderr)
	}
	want := []string{
		"KEY                        VALUE",
		"agent-ratelimit-max        10",
		"agent-ratelimit-rate       250ms",
		"api-port                   17070",
		`audit-log-exclude-methods  ["ReadOnlyMethods"]`,
		"auditing-enabled           false",
		"ca-cert                    -----BEGIN CERTIFICATE-----",
		"                           MIIB",
		"                           AAAA",
		"                           -----END CERTIFICATE-----",
		"controller-name            ctl-a",
		`juju-ha-space              ""`,
		"migration-agent-wait-time  15m0s",
	}
	if got := lines(stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("controller-config printed:\n%s\nwant:\n%s", stdout, strings.Join(want, "\n"))
	}

	for _, format := range []string{"json", "yaml"} {
		stdout, stderr, err := run(t, "", "controller-config", "ctl-a", "--format", format)
		if err != nil {
			t.Fatalf("controller-config --format %s: %v\n%s", format, err, stderr)
		}
		var got map[string]any
		if format == "json" {
			err = json.Unmarshal([]byte(stdout), &got)
		} else {
			err = yaml.Unmarshal([]byte(stdout), &got)
		}
		if err != nil || len(got) != 9 || got["agent-ratelimit-rate"] != "250ms" || got["ca-cert"] != fakeCACert {
			t.Errorf("controller-config --format %s: %v\n%s", format, err, stdout)
		}
	}

	// One key: its value, unadorned; in json, the JSON value.
	for _, tc := range []struct{ args, want string }{
		{"ctl-a agent-ratelimit-rate", "250ms\n"},
		{"ctl-a agent-ratelimit-max", "10\n"},
		{"ctl-a ca-cert", fakeCACert},
		{"ctl-a agent-ratelimit-rate --format json", "\"250ms\"\n"},
		{"ctl-a agent-ratelimit-max --format yaml", "10\n"},
	} {
		stdout, stderr, err := run(t, "", append([]string{"controller-config"}, strings.Fields(tc.args)...)...)
		if err != nil || stdout != tc.want {
			t.Errorf("controller-config %s: %v %s: printed %q, want %q", tc.args, err, stderr, stdout, tc.want)
		}
	}
}

func TestControllerConfigSet(t *testing.T) {
	f := configBroker(t)

	stdout, stderr, err := run(t, "", "controller-config", "ctl-a", "migration-agent-wait-time=30m", "agent-ratelimit-max=50", "agent-ratelimit-rate=100ms")
	if err != nil {
		t.Fatalf("controller-config set: %v\n%s", err, stderr)
	}
	want := []string{
		"KEY                        VALUE",
		"agent-ratelimit-max        50",
		"agent-ratelimit-rate       100ms",
		"migration-agent-wait-time  30m0s",
	}
	if got := lines(stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("controller-config set printed:\n%s\nwant:\n%s", stdout, strings.Join(want, "\n"))
	}
	// Sent as Juju's CLI sends them: the integer as a number.
	f.mu.Lock()
	sent := f.config.patches[0]
	f.mu.Unlock()
	if wantSent := map[string]any{"agent-ratelimit-max": 50.0, "agent-ratelimit-rate": "100ms", "migration-agent-wait-time": "30m"}; !reflect.DeepEqual(sent, wantSent) {
		t.Errorf("sent %#v, want %#v", sent, wantSent)
	}

	stdout, stderr, err = run(t, "", "controller-config", "ctl-a", "agent-ratelimit-max=7", "--format", "json")
	var got map[string]any
	if err != nil || json.Unmarshal([]byte(stdout), &got) != nil || !reflect.DeepEqual(got, map[string]any{"agent-ratelimit-max": 7.0}) {
		t.Errorf("controller-config set --format json: %v %s: %q; want only the key set", err, stderr, stdout)
	}

	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"ctl-a", "agent-ratelimit-rate=2m"},
			`ERROR set config of controller "ctl-a": controller "ctl-a" refused to set agent-ratelimit-rate: agent-ratelimit-rate must be between 0..1m` + "\n"},
		{[]string{"ctl-x"}, `ERROR get config of controller "ctl-x": not found: controller "ctl-x" is not registered` + "\n"},
		{[]string{"ctl-x", "agent-ratelimit-max=5"}, `ERROR set config of controller "ctl-x": not found: controller "ctl-x" is not registered` + "\n"},
		{[]string{"ctl-down"}, `ERROR get config of controller "ctl-down": controller "ctl-down" is unavailable: connection refused` + "\n"},
		{[]string{"ctl-a", "no-such-key"}, `ERROR key "no-such-key" not found in controller "ctl-a"` + "\n"},
		{[]string{"ctl-a", "agent-ratelimit-max", "agent-ratelimit-rate=1s"}, "ERROR cannot get value and set key=value pairs simultaneously\n"},
		{[]string{"ctl-a", "agent-ratelimit-max", "agent-ratelimit-rate"}, "ERROR cannot specify multiple keys to get\n"},
		{[]string{"ctl-a", "a=1", "a=2"}, `ERROR key "a" specified more than once` + "\n"},
		{[]string{"ctl-a", "=1"}, `ERROR expected "key=value", got "=1"` + "\n"},
		{nil, "ERROR controller-config takes <controller> [<key> | <key>=<value> ...], got 0 argument(s); see `jimmctl controller-config --help`\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, err := run(t, "", append([]string{"controller-config"}, tc.args...)...)
			if err == nil || stderr != tc.wantErr || stdout != "" {
				t.Errorf("%v: stdout %q, stderr %q; want %q", err, stdout, stderr, tc.wantErr)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.config.patches); n != 3 {
		t.Errorf("the broker got %d PATCHes, want 3 (the refused argument lists never reach it)", n)
	}
	if f.config.configs["ctl-a"]["agent-ratelimit-rate"] != "100ms" {
		t.Errorf("the refused rate took effect: %v", f.config.configs["ctl-a"])
	}
}

func TestConfigValue(t *testing.T) {
	for in, want := range map[string]any{
		"5": int64(5), "-1": int64(-1), "0": int64(0), "250ms": "250ms", "1.5": "1.5", "true": "true", "": "", "0x10": "0x10",
	} {
		if got := configValue(in); got != want {
			t.Errorf("configValue(%q) = %#v, want %#v", in, got, want)
		}
	}
}
