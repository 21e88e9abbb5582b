package jujucli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// traceLog is what juju 3.5.4 logs with TraceFlags for a command holding
// two connections at once (upgrade-model's shape): two /api connections,
// then a model connection, each logging in, then one call on the model
// connection and one on /api with the same request id, answered in the
// other order.
const traceLog = `21:36:02 INFO  juju.juju api.go:86 connecting to API addresses: [127.0.0.1:27170]
21:36:02 INFO  juju.api apiclient.go:571 connection established to "wss://127.0.0.1:27170/api"
21:36:02 TRACE juju.rpc.jsoncodec codec.go:226 -> {"request-id":1,"type":"Admin","version":3,"request":"Login","params":{"auth-tag":"user-admin"}}
21:36:02 TRACE juju.rpc.jsoncodec codec.go:120 <- {"request-id":1,"response":{"controller-tag":"controller-x"}}
21:36:02 TRACE juju.rpc.jsoncodec codec.go:226 -> {"request-id":2,"type":"Cloud","version":7,"request":"Clouds","params":{}}
21:36:02 TRACE juju.rpc.jsoncodec codec.go:120 <- {"request-id":2,"response":{"clouds":{}}}
21:36:02 INFO  juju.api apiclient.go:571 connection established to "wss://127.0.0.1:27170/model/m-1/api"
21:36:02 TRACE juju.rpc.jsoncodec codec.go:226 -> {"request-id":1,"type":"Admin","version":3,"request":"Login","params":{"auth-tag":"user-admin"}}
21:36:02 TRACE juju.rpc.jsoncodec codec.go:120 <- {"request-id":1,"response":{"model-tag":"model-m-1"}}
21:36:02 TRACE juju.rpc.jsoncodec codec.go:226 -> {"request-id":2,"type":"ModelConfig","version":3,"request":"ModelGet","params":{}}
21:36:02 TRACE juju.rpc.jsoncodec codec.go:226 -> {"request-id":3,"type":"Block","request":"List","params":{}}
21:36:02 TRACE juju.rpc.jsoncodec codec.go:120 <- {"request-id":3,"error":"unknown object type \"Block\"","error-code":"not implemented","response":{}}
21:36:02 TRACE juju.rpc.jsoncodec codec.go:120 <- {"request-id":2,"response":{"config":{}}}
21:36:02 TRACE juju.rpc.jsoncodec codec.go:123 <- error: read tcp: use of closed network connection (closing true)
ERROR unknown object type "Block" (not implemented)
`

func TestParseTrace(t *testing.T) {
	calls, endpoints := ParseTrace(traceLog)
	wantEndpoints := []string{"wss://127.0.0.1:27170/api", "wss://127.0.0.1:27170/model/m-1/api"}
	if strings.Join(endpoints, " ") != strings.Join(wantEndpoints, " ") {
		t.Errorf("endpoints %q, want %q", endpoints, wantEndpoints)
	}
	want := []struct {
		name, endpoint, answer string
	}{
		{"Admin(3).Login", wantEndpoints[0], `{"controller-tag":"controller-x"}`},
		{"Cloud(7).Clouds", wantEndpoints[0], `{"clouds":{}}`},
		{"Admin(3).Login", wantEndpoints[1], `{"model-tag":"model-m-1"}`},
		// Two connections are open now: the log cannot tell which one.
		{"ModelConfig(3).ModelGet", "", `{"config":{}}`},
		{"Block.List", "", `error "unknown object type \"Block\"" (code "not implemented")`},
	}
	if len(calls) != len(want) {
		t.Fatalf("got %d calls, want %d: %v", len(calls), len(want), calls)
	}
	for i, w := range want {
		c := calls[i]
		answer := string(c.Response)
		if c.Error != "" {
			answer = `error "` + strings.ReplaceAll(c.Error, `"`, `\"`) + `" (code "` + c.ErrorCode + `")`
		}
		if c.Name() != w.name || c.Endpoint != w.endpoint || !c.Answered || answer != w.answer {
			t.Errorf("call %d: %s on %q answered %v: %s; want %s on %q: %s", i, c.Name(), c.Endpoint, c.Answered, answer, w.name, w.endpoint, w.answer)
		}
	}
	if got := WithoutLogin(calls); len(got) != 3 || got[0].Name() != "Cloud(7).Clouds" {
		t.Errorf("WithoutLogin: %v", got)
	}
}

func TestDecodeStrict(t *testing.T) {
	type out struct {
		Name string `json:"name" yaml:"name"`
	}
	var v out
	if err := DecodeJSON(`{"name":"m"}`+"\n", &v); err != nil || v.Name != "m" {
		t.Errorf("DecodeJSON of a known field: %v, %+v", err, v)
	}
	for _, bad := range []string{`{"name":"m","uuid":"u"}`, `{"name":"m"} {"name":"n"}`, `not json`} {
		if err := DecodeJSON(bad, &v); err == nil {
			t.Errorf("DecodeJSON(%q) succeeded", bad)
		}
	}
	if err := DecodeYAML("name: m\n", &v); err != nil || v.Name != "m" {
		t.Errorf("DecodeYAML of a known field: %v, %+v", err, v)
	}
	for _, bad := range []string{"name: m\nuuid: u\n", "name: m\n---\nname: n\n"} {
		if err := DecodeYAML(bad, &v); err == nil {
			t.Errorf("DecodeYAML(%q) succeeded", bad)
		}
	}
}

func TestResultCommand(t *testing.T) {
	r := Result{Args: []string{"model-config", "logging-config=<root>=DEBUG", "--reset", "a b", "it's"}}
	want := `juju model-config 'logging-config=<root>=DEBUG' --reset 'a b' 'it'\''s'`
	if got := r.Command(); got != want {
		t.Errorf("Command() = %s, want %s", got, want)
	}
}

// TestRunIsolatedAndBounded runs a stand-in for the juju binary (a shell
// script): it sees the CLI's own HOME and JUJU_DATA, none of the user's
// JUJU_* variables, its exit status and output come back, and one that
// hangs is killed at the timeout.
func TestRunIsolatedAndBounded(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "juju")
	script := "#!/bin/sh\n" +
		`if [ "$1" = hang ]; then sleep 600; fi` + "\n" +
		`echo "home=$HOME data=$JUJU_DATA model=$JUJU_MODEL"; echo "ERROR $1" >&2; exit 3` + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JUJU_MODEL", "users-model")
	c, err := New(bin, filepath.Join(dir, "cli"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(context.Background(), "", "status")
	if err != nil {
		t.Fatal(err)
	}
	want := "home=" + c.Home + " data=" + c.Data + " model=\n"
	if res.ExitCode != 3 || res.Stdout != want || res.Stderr != "ERROR status\n" {
		t.Errorf("got %s\nwant exit 3, stdout %q", res, want)
	}
	c.Timeout = 500 * time.Millisecond
	start := time.Now()
	res, err = c.Run(context.Background(), "", "hang")
	if err == nil || res.ExitCode != -1 || !strings.Contains(err.Error(), "no exit within") {
		t.Errorf("a hanging command: %v, %s", err, res)
	}
	t.Logf("the hanging command was killed after %s", time.Since(start).Round(time.Millisecond))
}

func TestStoreFiles(t *testing.T) {
	c, err := New("/bin/true", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctl := Controller{Name: "jimm", UUID: "u-1", APIEndpoints: []string{"127.0.0.1:1"}, CACert: "PEM", Cloud: "localhost", Region: "east", AgentVersion: "3.5.4"}
	if err := c.AddController(ctl, &Account{User: "admin", Password: "pw", LastKnownAccess: "superuser"}); err != nil {
		t.Fatal(err)
	}
	other := ctl
	other.Name, other.UUID = "ctl-2", "u-2"
	if err := c.AddController(other, &Account{Type: "oauth2-device", User: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(c.Data, "controllers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"current-controller: ctl-2", "jimm:", "uuid: u-1", "api-endpoints: ['127.0.0.1:1']", "ca-cert: PEM"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("controllers.yaml lacks %q:\n%s", want, raw)
		}
	}
	a, ok, err := c.Account("jimm")
	if err != nil || !ok || a.User != "admin" || a.Password != "pw" {
		t.Errorf("account on jimm: %+v, %v, %v", a, ok, err)
	}
	a, ok, err = c.Account("ctl-2")
	if err != nil || !ok || a.Type != "oauth2-device" || a.Password != "" {
		t.Errorf("account on ctl-2: %+v, %v, %v", a, ok, err)
	}
}
