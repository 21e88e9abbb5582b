package integration

// CLI cases: item 9,
// debug-log through the broker (/model/<uuid>/log relayed, the caller's
// access checked), and the how-to's `juju debug-log` showing a
// migration's phases. The stream: the CLI sends its account in a basic
// Authorization header (user tag and password, or "" and a session
// token), the server's first text frame is a JSON ErrorResult ending in a
// newline, then one params.LogMessage per frame.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/integration/internal/jujucli"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

func init() {
	registerCLI(
		cliCase{"09-debug-log", "filters", cliDebugLogFilters},
		cliCase{"09-debug-log", "tail", cliDebugLogTail},
		cliCase{"09-debug-log", "access", cliDebugLogAccess},
		cliCase{"16-jaas-migration-howto", "debug-log-phases", cliDebugLogPhases},
	)
}

// logLine is a line juju debug-log prints: "<entity>: <hh:mm:ss> <LEVEL>
// <module> <message>".
var logLine = regexp.MustCompile(`^(\S+): \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+) (.*)$`)

// debugLog runs juju debug-log -m model args..., which must exit 0, and
// returns the lines it printed, each of which must be a log line.
func debugLog(t *testing.T, s *cliSuite, c *jujucli.CLI, model string, args ...string) [][]string {
	t.Helper()
	res := s.ok(t, c, append([]string{"debug-log", "-m", model}, args...)...)
	var lines [][]string
	for _, l := range strings.Split(strings.TrimRight(res.Stdout, "\n"), "\n") {
		if l == "" {
			continue
		}
		m := logLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("juju debug-log printed %q, which is no log line", l)
			continue
		}
		lines = append(lines, m[1:])
	}
	return lines
}

// entities are the entities of lines.
func entities(lines [][]string) map[string]int {
	out := map[string]int{}
	for _, l := range lines {
		out[l[0]]++
	}
	return out
}

// cliLogModel makes a model with an application of one unit (so that its
// log has lines of machine-0 and unit-pg-0) and returns its name.
func cliLogModel(t *testing.T, s *cliSuite) string {
	t.Helper()
	name := s.modelName("log")
	mi := s.newModel(t, name, "east")
	deploy(t, s.e.open(t, mi.UUID), "pg", 1)
	eventually(t, time.Minute, "the unit's agent logs", func() error {
		if n := entities(debugLog(t, s, nil, name, "--replay", "--no-tail"))["unit-pg-0"]; n == 0 {
			return fmt.Errorf("no line of unit-pg-0 yet")
		}
		return nil
	})
	return name
}

func cliDebugLogFilters(t *testing.T, s *cliSuite) {
	name := cliLogModel(t, s)
	all := debugLog(t, s, nil, name, "--replay", "--no-tail")
	ents := entities(all)
	if ents["machine-0"] == 0 || ents["unit-pg-0"] == 0 || len(all) < 4 {
		t.Fatalf("juju debug-log --replay --no-tail: %d lines of %v; want lines of machine-0 and unit-pg-0", len(all), ents)
	}
	if got := debugLog(t, s, nil, name, "--replay", "--no-tail", "--limit", "3"); len(got) != 3 {
		t.Errorf("juju debug-log --limit 3 printed %d lines, want 3", len(got))
	}
	// Without --replay: the last lines (-n, 10 by default).
	if got := debugLog(t, s, nil, name, "--no-tail", "-n", "2"); len(got) != 2 || fmt.Sprint(got) != fmt.Sprint(all[len(all)-2:]) {
		t.Errorf("juju debug-log -n 2 printed %v, want the last 2 lines %v", got, all[len(all)-2:])
	}
	for _, l := range debugLog(t, s, nil, name, "--replay", "--no-tail", "--level", "WARNING") {
		if l[1] != "WARNING" && l[1] != "ERROR" && l[1] != "CRITICAL" {
			t.Errorf("juju debug-log --level WARNING printed a %s line: %v", l[1], l)
		}
	}
	if got := debugLog(t, s, nil, name, "--replay", "--no-tail", "--level", "INFO"); len(got) == 0 {
		t.Errorf("juju debug-log --level INFO printed nothing")
	}
	inc := debugLog(t, s, nil, name, "--replay", "--no-tail", "--include", "machine-0")
	if e := entities(inc); len(inc) == 0 || len(e) != 1 || e["machine-0"] != ents["machine-0"] {
		t.Errorf("juju debug-log --include machine-0: entities %v, want the %d lines of machine-0 only", e, ents["machine-0"])
	}
	if e := entities(debugLog(t, s, nil, name, "--replay", "--no-tail", "--include", "pg")); len(e) != 1 || e["unit-pg-0"] == 0 {
		t.Errorf("juju debug-log --include pg (an application): entities %v, want unit-pg-0 only", e)
	}
	exc := debugLog(t, s, nil, name, "--replay", "--no-tail", "--exclude", "machine-0")
	if e := entities(exc); e["machine-0"] != 0 || len(exc) != len(all)-ents["machine-0"] {
		t.Errorf("juju debug-log --exclude machine-0: %d lines of %v, want the %d others", len(exc), e, len(all)-ents["machine-0"])
	}
}

// cliDebugLogTail: debug-log --tail prints lines as they come, until
// interrupted.
func cliDebugLogTail(t *testing.T, s *cliSuite) {
	name := cliLogModel(t, s)
	run, err := s.admin.Start(t.Context(), "", "debug-log", "-m", name, "--tail", "--replay")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop(10 * time.Second)
	wait := func(what string, match func(string) bool) {
		t.Helper()
		deadline := time.After(time.Minute)
		for {
			select {
			case l, ok := <-run.Lines():
				if !ok {
					stdout, stderr := run.Output()
					t.Fatalf("juju debug-log --tail ended before %s:\n%s\n%s", what, stdout, stderr)
				}
				if !l.Stderr && match(l.Text) {
					return
				}
			case <-deadline:
				stdout, stderr := run.Output()
				t.Fatalf("juju debug-log --tail showed no %s within a minute:\n%s\n%s", what, stdout, stderr)
			}
		}
	}
	wait("replayed line of unit-pg-0", func(l string) bool { return strings.HasPrefix(l, "unit-pg-0: ") })
	// A new machine's agent logs while the CLI tails.
	s.ok(t, nil, "add-machine", "-m", name)
	wait("line of the new machine-1", func(l string) bool { return strings.HasPrefix(l, "machine-1: ") })
	run.Stop(10 * time.Second)
	if res, err := run.Wait(); err != nil {
		t.Errorf("juju debug-log --tail after Ctrl-C: %v\n%s", err, res)
	}
}

// cliDebugLogAccess: the log of a model is for those who may read it.
func cliDebugLogAccess(t *testing.T, s *cliSuite) {
	name := s.modelName("log")
	mi := s.newModel(t, name, "east")
	carol := cliFirstCommandLogin(t, s, oidcproc.Carol)
	acct, _, err := carol.Account(cliControllerName)
	if err != nil || acct.SessionToken == "" {
		t.Fatalf("carol's session token: %v, %+v", err, acct)
	}
	// The CLI does not even find the model; the endpoint itself refuses.
	first, err := cliLogStream(t, s, mi.UUID, "", acct.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	if first.Error == nil || first.Error.Code != "unauthorized access" || first.Error.Message != "permission denied" {
		t.Errorf("/model/%s/log for carol, who has no access: first frame %+v, want permission denied (unauthorized access)", mi.UUID, first)
	}
	s.ok(t, nil, "grant", oidcproc.Carol.Email, "read", name)
	if got := debugLog(t, s, carol, "admin/"+name, "--replay", "--no-tail"); len(got) == 0 {
		t.Errorf("juju debug-log as carol, a reader: no lines")
	}
	if first, err := cliLogStream(t, s, mi.UUID, "", acct.SessionToken); err != nil || first.Error != nil {
		t.Errorf("/model/%s/log for carol, a reader: %v, first frame %+v", mi.UUID, err, first)
	}
	if first, err := cliLogStream(t, s, mi.UUID, "user-admin", "wrong-password-1234"); err != nil || first.Error == nil || first.Error.Code != "unauthorized access" {
		t.Errorf("/model/%s/log with a wrong password: %v, first frame %+v", mi.UUID, err, first)
	}
}

// logStreamFirst is the first frame of a /log stream (params.ErrorResult).
type logStreamFirst struct {
	Error *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
}

// cliLogStream opens the broker's /model/<uuid>/log as the juju CLI does
// (basic authorization: user tag and password, or "" and a session
// token) and returns its first frame. The frame must be one JSON line.
func cliLogStream(t *testing.T, s *cliSuite, uuid, user, secret string) (logStreamFirst, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(s.e.caPEM))
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"}, HandshakeTimeout: 10 * time.Second}
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+secret)))
	h.Set("X-Juju-ClientVersion", "3.5.4")
	h.Set("Origin", "http://localhost/")
	url := fmt.Sprintf("wss://%s/model/%s/log?backlog=10&noTail=true", s.e.broker().Addr, uuid)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, url, h)
	if err != nil {
		if resp != nil {
			return logStreamFirst{}, fmt.Errorf("dial %s: %w (HTTP %d)", url, err, resp.StatusCode)
		}
		return logStreamFirst{}, fmt.Errorf("dial %s: %w", url, err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	kind, r, err := ws.NextReader()
	if err != nil || kind != websocket.TextMessage {
		return logStreamFirst{}, fmt.Errorf("%s: first frame: %v (type %d)", url, err, kind)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return logStreamFirst{}, fmt.Errorf("%s: the first frame %q is not one line: %w", url, line, err)
	}
	var first logStreamFirst
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&first); err != nil {
		return logStreamFirst{}, fmt.Errorf("%s: the first frame %q: %w", url, line, err)
	}
	return first, nil
}

// cliDebugLogPhases: after a migration, the model's log shows its
// phases, as the how-to has operators watch them.
func cliDebugLogPhases(t *testing.T, s *cliSuite) {
	name := s.modelName("howto")
	mi := s.newModel(t, name, "east")
	target := map[string]string{"ctl-1": "ctl-2", "ctl-2": "ctl-1"}[s.e.modelsByController(t)[mi.UUID]]
	s.e.jimmctl(t, "migrate", target, mi.UUID)
	if m := bmWaitMigration(t, s.e.ctl, mi.UUID, 2*time.Minute); m.Result != "succeeded" {
		t.Fatalf("migration: %+v", m)
	}
	var msgs []string
	for _, l := range debugLog(t, s, nil, name, "--replay", "--no-tail") {
		msgs = append(msgs, l[3])
	}
	joined := strings.Join(msgs, "\n")
	for _, phase := range []string{"QUIESCE", "IMPORT", "PROCESSRELATIONS", "VALIDATION", "SUCCESS"} {
		if !strings.Contains(joined, "setting migration phase to "+phase) {
			t.Errorf("juju debug-log after the migration has no %q:\n%s", "setting migration phase to "+phase, joined)
		}
	}
}
