package integration

// The jujulib test's harness: it runs integration/jujulib/dashboard.mjs
// (the Juju dashboard's client library driving the broker, see that
// file's header for its protocol) with node, reads its step lines, and
// plays the other client when the script waits for one: the Juju Go API
// client creates a model, the juju CLI adds a unit.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/integration/internal/jujucli"
)

// jujulibDirEnv names the directory whose node_modules hold jujulib
// (.ci/tools.sh installs it).
const jujulibDirEnv = "JIMM_JUJULIB_DIR"

// jujulibConfig is dashboard.mjs's configuration file.
type jujulibConfig struct {
	ControllerURL string             `json:"controllerURL"`
	CACertFile    string             `json:"caCertFile"`
	Username      string             `json:"username"`
	Password      string             `json:"password"`
	ClientVersion string             `json:"clientVersion"`
	CreateModel   jujulibCreateModel `json:"createModel"`
	Model         jujulibModelOfConn `json:"model"`
	TimeoutMs     int                `json:"timeoutMs"`
	Debug         bool               `json:"debug"`
}

type jujulibCreateModel struct {
	Name   string `json:"name"`
	Cloud  string `json:"cloud"`
	Region string `json:"region"`
}

type jujulibModelOfConn struct {
	UUID        string `json:"uuid"`
	Application string `json:"application"`
}

// jujulibLine is one line the script prints: a step's outcome, or that it
// waits for the other client.
type jujulibLine struct {
	Step    string          `json:"step"`
	Call    string          `json:"call"`
	OK      bool            `json:"ok"`
	Skipped bool            `json:"skipped"`
	Ms      int64           `json:"ms"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Waiting string          `json:"waiting"`
}

// jujulibNotice tells the script what the other client made, and when it
// sent its request and got its answer (Unix milliseconds).
type jujulibNotice struct {
	UUID         string `json:"uuid,omitempty"`
	Name         string `json:"name,omitempty"`
	Unit         string `json:"unit,omitempty"`
	SentAtMs     int64  `json:"sentAtMs,omitempty"`
	AnsweredAtMs int64  `json:"answeredAtMs,omitempty"`
	Error        string `json:"error,omitempty"`
}

// jujulibFound is the result of a step that waited for a change: the
// watcher's delta for the new entity and when it came.
type jujulibFound struct {
	Found          json.RawMessage   `json:"found"`
	LatencyMs      int64             `json:"latencyMs"`
	SinceRequestMs int64             `json:"sinceRequestMs"`
	DeliveredAtMs  int64             `json:"deliveredAtMs"`
	Notice         jujulibNotice     `json:"notice"`
	Answers        []json.RawMessage `json:"answers"`
}

// jujulibOther is the other client: what it does when the script waits
// for a model or a unit.
type jujulibOther struct {
	model func() jujulibNotice
	unit  func() jujulibNotice
}

// runJujulib runs dashboard.mjs with cfg and returns its step lines by
// step name, in the order printed; the other client acts when the script
// waits. The script's stderr (jujulib's frame log when cfg.Debug) is
// logged if the test fails.
func runJujulib(t *testing.T, dir string, cfg jujulibConfig, other jujulibOther) ([]jujulibLine, map[string]jujulibLine) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the jujulib test runs node (Node.js 18 or later), which is not on PATH: %v", err)
	}
	script, err := filepath.Abs(filepath.Join("jujulib", "dashboard.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "jujulib.json")
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	// Each call and wait has its own timeout (cfg.TimeoutMs); this bounds
	// a script that hangs all the same.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, cfgFile)
	cmd.Env = append(os.Environ(), jujulibDirEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dashboard.mjs stderr:\n%s", stderr.String())
		}
	})
	var lines []jujulibLine
	byStep := map[string]jujulibLine{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		var l jujulibLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Step == "" {
			t.Errorf("dashboard.mjs printed a line that is no step: %q (%v)", sc.Text(), err)
			continue
		}
		if l.Waiting != "" {
			answerJujulib(t, stdin, l, other)
			continue
		}
		if _, dup := byStep[l.Step]; dup {
			t.Errorf("dashboard.mjs printed step %s twice", l.Step)
		}
		byStep[l.Step] = l
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Errorf("read dashboard.mjs's output: %v", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("node dashboard.mjs: %v (context: %v)", err, ctx.Err())
	}
	return lines, byStep
}

// answerJujulib has the other client make what the script waits for, and
// writes the notice on the script's stdin.
func answerJujulib(t *testing.T, stdin io.Writer, l jujulibLine, other jujulibOther) {
	t.Helper()
	var n jujulibNotice
	switch l.Waiting {
	case "model":
		n = other.model()
	case "unit":
		n = other.unit()
	default:
		n.Error = fmt.Sprintf("the test does not know how to make a %q", l.Waiting)
		t.Errorf("step %s waits for a %q, which the test does not make", l.Step, l.Waiting)
	}
	raw, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stdin.Write(append(raw, '\n')); err != nil {
		t.Errorf("tell dashboard.mjs about the new %s: %v", l.Waiting, err)
	}
}

// jujuFrame is a frame line of the juju CLI's trace (jujucli.TraceFlags).
var jujuFrame = regexp.MustCompile(`\bTRACE juju\.rpc\.jsoncodec \S+ (->|<-) (\{.*\})\s*$`)

// cliAddUnit runs juju add-unit app -m model with the RPC trace on,
// following its stderr as it prints it: the notice's times are when the
// CLI sent Application.AddUnits and when its answer came, and its unit
// the one the answer names.
func cliAddUnit(ctx context.Context, cli *jujucli.CLI, model, app string) (jujulibNotice, jujucli.Result) {
	args := append([]string{"add-unit", app, "-m", model}, jujucli.TraceFlags...)
	run, err := cli.Start(ctx, "", args...)
	if err != nil {
		return jujulibNotice{Error: err.Error()}, jujucli.Result{}
	}
	var (
		n     jujulibNotice
		reqID = -1
	)
	for line := range run.Lines() {
		m := jujuFrame.FindStringSubmatch(line.Text)
		if !line.Stderr || m == nil {
			continue
		}
		var f struct {
			RequestID int             `json:"request-id"`
			Type      string          `json:"type"`
			Request   string          `json:"request"`
			Response  json.RawMessage `json:"response"`
			Error     string          `json:"error"`
		}
		if json.Unmarshal([]byte(m[2]), &f) != nil {
			continue
		}
		now := time.Now().UnixMilli()
		switch {
		case m[1] == "->" && f.Type == "Application" && f.Request == "AddUnits":
			reqID, n.SentAtMs = f.RequestID, now
		case m[1] == "<-" && reqID >= 0 && f.RequestID == reqID && n.AnsweredAtMs == 0:
			n.AnsweredAtMs = now
			var units struct {
				Units []string `json:"units"`
			}
			switch {
			case f.Error != "":
				n.Error = "Application.AddUnits: " + f.Error
			case json.Unmarshal(f.Response, &units) != nil || len(units.Units) != 1:
				n.Error = fmt.Sprintf("Application.AddUnits answered %s, want one unit", f.Response)
			default:
				n.Unit = units.Units[0]
			}
		}
	}
	res, err := run.Wait()
	switch {
	case err != nil:
		n.Error = err.Error()
	case res.ExitCode != 0 && n.Error == "":
		n.Error = fmt.Sprintf("%s: exit %d: %s", res.Command(), res.ExitCode, lastLines(res.Stderr, 3))
	case n.Unit == "" && n.Error == "":
		n.Error = res.Command() + ": no Application.AddUnits answer in its trace"
	}
	return n, res
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
