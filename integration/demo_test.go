package integration

// TestDemo tries `jimmd demo` as a new user would, by the README alone:
// start it, copy the lines it prints, use jimmctl and the Juju client with
// them, stop it with Ctrl-C, start it again.

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/base"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/names/v5"
	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
)

// demoController is the controller name the demo gives the broker in its
// JUJU_DATA.
const demoController = "jimm-demo"

// jujuControllers mirrors the juju CLI's controllers.yaml
// (jujuclient.Controllers and ControllerDetails, github.com/juju/juju
// jujuclient/controllers.go and interface.go). The integration module does
// not import jujuclient: it would pull Kubernetes client modules into its
// go.mod. The file is decoded with yaml.v3, as the CLI does, but refusing
// keys the CLI does not know.
type jujuControllers struct {
	Controllers map[string]struct {
		ControllerUUID               string              `yaml:"uuid"`
		APIEndpoints                 []string            `yaml:"api-endpoints,flow"`
		DNSCache                     map[string][]string `yaml:"dns-cache,omitempty,flow"`
		PublicDNSName                string              `yaml:"public-hostname,omitempty"`
		CACert                       string              `yaml:"ca-cert"`
		Cloud                        string              `yaml:"cloud"`
		CloudRegion                  string              `yaml:"region,omitempty"`
		CloudType                    string              `yaml:"type,omitempty"`
		AgentVersion                 string              `yaml:"agent-version,omitempty"`
		ControllerMachineCount       int                 `yaml:"controller-machine-count"`
		ActiveControllerMachineCount int                 `yaml:"active-controller-machine-count"`
		MachineCount                 *int                `yaml:"machine-count,omitempty"`
		Proxy                        any                 `yaml:"proxy-config,omitempty"`
	} `yaml:"controllers"`
	CurrentController string `yaml:"current-controller,omitempty"`
}

// jujuAccounts mirrors the juju CLI's accounts.yaml (jujuclient's
// accountsCollection and AccountDetails).
type jujuAccounts struct {
	Controllers map[string]struct {
		Type            string `yaml:"type,omitempty"`
		User            string `yaml:"user"`
		Password        string `yaml:"password,omitempty"`
		LastKnownAccess string `yaml:"last-known-access,omitempty"`
		SessionToken    string `yaml:"access-token,omitempty"`
	} `yaml:"controllers"`
}

// readJujuData decodes JUJU_DATA's file name into v.
func readJujuData(t *testing.T, dir, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("JUJU_DATA: %v", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("JUJU_DATA's %s, read as the juju CLI reads it: %v\n%s", name, err, raw)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes and reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// demoProc is one `jimmd demo` process.
type demoProc struct {
	cmd    *exec.Cmd
	stdout lockedBuffer // what it printed on stdout
	output lockedBuffer // stdout and stderr, interleaved
	done   chan struct{}
	err    error // from Wait, once done is closed
}

func (p *demoProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// demoPrinted is what the demo printed once it runs: the two export lines
// a user copies, and the broker UUID it names.
type demoPrinted struct {
	jimmExport, jujuExport string
	brokerUUID             string
}

var (
	demoExportJIMM = regexp.MustCompile(`(?m)^\s*(export JIMM_URL=.*)\n`)
	demoExportJuju = regexp.MustCompile(`(?m)^\s*(export JUJU_DATA=.*)\n`)
	demoBrokerLine = regexp.MustCompile(`(?m)^\s*broker\s+https://\S+\s+\(uuid ([0-9a-f-]{36})\)\s*$`)
)

const demoRunning = "jimm demo is running"

// startDemo runs `jimmd demo` with args and waits up to a minute for the
// "jimm demo is running" block and its two export lines. The process is
// killed when the test ends if it still runs, and its output logged if the
// test failed.
func startDemo(t *testing.T, bin string, args ...string) (*demoProc, demoPrinted, error) {
	t.Helper()
	p := &demoProc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"demo"}, args...)...)
	p.cmd.Env = withoutJIMMEnv(os.Environ())
	p.cmd.Stdout = io.MultiWriter(&p.stdout, &p.output)
	p.cmd.Stderr = &p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start jimmd demo: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
		if strings.Contains(p.output.String(), "WARNING: DATA RACE") {
			t.Errorf("jimmd demo (pid %d) reported a data race", p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("output of jimmd demo %s (pid %d):\n%s", strings.Join(args, " "), p.cmd.Process.Pid, p.output.String())
		}
	})

	deadline := time.Now().Add(time.Minute)
	for {
		out := p.stdout.String()
		if i := strings.Index(out, demoRunning); i >= 0 {
			block := out[i:]
			j, k := demoExportJIMM.FindStringSubmatch(block), demoExportJuju.FindStringSubmatch(block)
			if j != nil && k != nil {
				var pr demoPrinted
				pr.jimmExport, pr.jujuExport = j[1], k[1]
				if m := demoBrokerLine.FindStringSubmatch(block); m != nil {
					pr.brokerUUID = m[1]
				}
				return p, pr, nil
			}
		}
		if p.exited() {
			return p, demoPrinted{}, fmt.Errorf("jimmd demo exited (%v) before saying %q; output:\n%s", p.err, demoRunning, p.output.String())
		}
		if time.Now().After(deadline) {
			return p, demoPrinted{}, fmt.Errorf("jimmd demo did not say %q with both export lines within a minute; output:\n%s", demoRunning, p.output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// interrupt sends SIGINT (Ctrl-C) and checks that the demo exits within
// 10s with status 0.
func (p *demoProc) interrupt(t *testing.T, what string) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("%s: SIGINT: %v", what, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s: jimmd demo did not exit within 10s of SIGINT; killed it. Output:\n%s", what, p.output.String())
	}
	if p.err != nil {
		t.Fatalf("%s: jimmd demo exited with %v after SIGINT, want status 0. Output:\n%s", what, p.err, p.output.String())
	}
}

func withoutJIMMEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "JIMM_") || strings.HasPrefix(kv, "JUJU_DATA=")
	})
}

// shellExports runs an export line the demo printed through sh, as a user
// pasting it would, and returns the variables it sets.
func shellExports(t *testing.T, line string) map[string]string {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH")}
	run := func(script string, args ...string) map[string]string {
		cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("sh ran %q: %v\n%s", line, err, stderr.String())
		}
		vars := map[string]string{}
		for _, kv := range strings.Split(string(out), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				vars[k] = v
			}
		}
		return vars
	}
	before := run(`env -0`)
	after := run(`eval "$1" && env -0`, line)
	set := map[string]string{}
	for k, v := range after {
		if old, ok := before[k]; (!ok || old != v) && k != "_" {
			set[k] = v
		}
	}
	return set
}

// freeDemoPort returns a port in 20000–40000 such that it, the next three
// and port+9 (the demo's metrics) are free.
func freeDemoPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		port := 20000 + rand.IntN(20000-9)
		free := true
		for _, p := range []int{port, port + 1, port + 2, port + 3, port + 9} {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("no free port range for the demo in 20000-40000")
	return 0
}

// demoCtl is jimmctl with exactly the variables the demo's export line
// sets, and an isolated HOME and XDG_CONFIG_HOME.
func demoCtl(t *testing.T, bin string, exports map[string]string) *jimmproc.Ctl {
	t.Helper()
	for _, k := range []string{"JIMM_URL", "JIMM_CA_CERT", "JIMM_USER", "JIMM_PASSWORD"} {
		if exports[k] == "" {
			t.Fatalf("the demo's export line does not set %s: %v", k, exports)
		}
	}
	ctl := &jimmproc.Ctl{Bin: bin, ConfigDir: t.TempDir()}
	for _, k := range keys(exports) {
		ctl.Env = append(ctl.Env, k+"="+exports[k])
	}
	return ctl
}

// demoWaitControllers polls jimmctl list-controllers until it lists exactly
// the demo's three controllers, all up, in their regions, and returns how
// long that took.
func demoWaitControllers(t *testing.T, ctl *jimmproc.Ctl, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	want := map[string]string{"ctl-1": "east", "ctl-2": "east", "ctl-3": "west"}
	deadline := time.Now().Add(within)
	for {
		var cs []restController
		decodeStrictJSON(t, ctlOutput(t, ctl, "list-controllers", "--format", "json"), &cs)
		var problems []string
		if len(cs) != len(want) {
			problems = append(problems, fmt.Sprintf("%d controllers listed, want %d", len(cs), len(want)))
		}
		seen := map[string]bool{}
		for _, c := range cs {
			seen[c.Name] = true
			region, ok := want[c.Name]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("unexpected controller %q", c.Name))
			case c.Cloud != "localhost" || !slices.Equal(c.Regions, []string{region}):
				problems = append(problems, fmt.Sprintf("%s is on %s/%v, want localhost/[%s]", c.Name, c.Cloud, c.Regions, region))
			case c.Status != "up":
				problems = append(problems, fmt.Sprintf("%s is %q (%s), want up", c.Name, c.Status, c.StatusMessage))
			}
		}
		for name := range want {
			if !seen[name] {
				problems = append(problems, "no controller "+name)
			}
		}
		if len(problems) == 0 {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("jimmctl list-controllers, after %s: %s\n%+v", within, strings.Join(problems, "; "), cs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// demoModel returns the model named name that jimmctl list-models lists.
func demoModel(t *testing.T, ctl *jimmproc.Ctl, name string) (restModel, bool) {
	t.Helper()
	var ms []restModel
	decodeStrictJSON(t, ctlOutput(t, ctl, "list-models", "--format", "json"), &ms)
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	t.Logf("jimmctl list-models: %+v", ms)
	return restModel{}, false
}

// TestDemo: `jimmd demo` works by what it prints alone.
func TestDemo(t *testing.T) {
	t.Parallel()
	start := time.Now()
	bins := buildBrokerBins(t)
	dataDir := t.TempDir()

	// 1-2. Start it on a free port range and read what it prints.
	var (
		port    int
		p       *demoProc
		printed demoPrinted
		err     error
	)
	for range 3 {
		port = freeDemoPort(t)
		p, printed, err = startDemo(t, bins.jimmd, "--fresh", "--data-dir", dataDir, "--port", strconv.Itoa(port))
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("demo on port %d running after %s", port, time.Since(start).Round(time.Millisecond))
	jimmEnv := shellExports(t, printed.jimmExport)
	jujuEnv := shellExports(t, printed.jujuExport)
	if want := fmt.Sprintf("https://127.0.0.1:%d", port); jimmEnv["JIMM_URL"] != want {
		t.Errorf("JIMM_URL=%s, want %s", jimmEnv["JIMM_URL"], want)
	}
	if jimmEnv["JIMM_USER"] != "admin" {
		t.Errorf("JIMM_USER=%s, want admin", jimmEnv["JIMM_USER"])
	}
	jujuData := jujuEnv["JUJU_DATA"]
	if len(jujuEnv) != 1 || jujuData == "" {
		t.Fatalf("the JUJU_DATA line %q sets %v, want JUJU_DATA only", printed.jujuExport, jujuEnv)
	}

	// 3. jimmctl, with that environment only: the three controllers, up.
	ctl := demoCtl(t, bins.jimmctl, jimmEnv)
	t.Logf("first run: controllers up %s after the demo said it runs", demoWaitControllers(t, ctl, 10*time.Second).Round(time.Millisecond))

	// 4. JUJU_DATA, read as the juju CLI reads it.
	var ctls jujuControllers
	readJujuData(t, jujuData, "controllers.yaml", &ctls)
	cd, ok := ctls.Controllers[demoController]
	if !ok {
		t.Fatalf("JUJU_DATA's controllers.yaml has no controller %q: %+v", demoController, ctls)
	}
	if ctls.CurrentController != demoController {
		t.Errorf("JUJU_DATA's current controller is %q, want %q", ctls.CurrentController, demoController)
	}
	if len(cd.APIEndpoints) == 0 || cd.CACert == "" || cd.ControllerUUID == "" {
		t.Fatalf("controller %q in controllers.yaml lacks endpoints, CA or UUID: %+v", demoController, cd)
	}
	if printed.brokerUUID != "" && cd.ControllerUUID != printed.brokerUUID {
		t.Errorf("controllers.yaml's uuid %s is not the broker uuid the demo printed, %s", cd.ControllerUUID, printed.brokerUUID)
	}
	if ca, err := os.ReadFile(jimmEnv["JIMM_CA_CERT"]); err != nil {
		t.Errorf("JIMM_CA_CERT: %v", err)
	} else if strings.TrimSpace(string(ca)) != strings.TrimSpace(cd.CACert) {
		t.Errorf("controllers.yaml's ca-cert is not the CA of JIMM_CA_CERT (%s)", jimmEnv["JIMM_CA_CERT"])
	}
	var accounts jujuAccounts
	readJujuData(t, jujuData, "accounts.yaml", &accounts)
	acct, ok := accounts.Controllers[demoController]
	if !ok || acct.User == "" || acct.Password == "" {
		t.Fatalf("JUJU_DATA's accounts.yaml has no user and password for %q: %+v", demoController, accounts)
	}

	// The Juju client, with those values only: juju add-model demo
	// localhost/east, juju models, deploy, juju status.
	info := func(modelUUID string) *api.Info {
		i := &api.Info{Addrs: cd.APIEndpoints, CACert: cd.CACert, Tag: names.NewUserTag(acct.User), Password: acct.Password}
		if modelUUID != "" {
			i.ModelTag = names.NewModelTag(modelUUID)
		}
		return i
	}
	conn, err := api.Open(info(""), dialOpts)
	if err != nil {
		t.Fatalf("login to %s with JUJU_DATA's details: %v", demoController, err)
	}
	defer conn.Close()
	if got := conn.ControllerTag().Id(); got != cd.ControllerUUID {
		t.Errorf("login result controller tag %s, want controllers.yaml's uuid %s", got, cd.ControllerUUID)
	}
	mm := modelmanager.NewClient(conn)
	// The README's juju lines, verbatim, with the stock CLI.
	uuid := demoWithJujuCLI(t, jujuData, p.stdout.String())
	infos, err := mm.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
	if err != nil || len(infos) != 1 || infos[0].Error != nil {
		t.Fatalf("ModelInfo of the model juju add-model made: %v %+v", err, infos)
	}
	r := infos[0].Result
	mi := base.ModelInfo{Name: r.Name, UUID: r.UUID, CloudRegion: r.CloudRegion}
	if tag, err := names.ParseCloudTag(r.CloudTag); err == nil {
		mi.Cloud = tag.Id()
	}
	if mi.Name != "demo" || mi.Cloud != "localhost" || mi.CloudRegion != "east" || mi.UUID == "" {
		t.Errorf("CreateModel returned %+v, want demo in localhost/east", mi)
	}
	sums, err := mm.ListModelSummaries(acct.User, false)
	if err != nil {
		t.Fatalf("ListModelSummaries: %v", err)
	}
	if s, ok := findSummary(sums, mi.UUID); !ok || s.Name != "demo" {
		t.Errorf("ListModelSummaries(%s) lacks model demo (%s): %+v", acct.User, mi.UUID, sums)
	}
	mconn, err := api.Open(info(mi.UUID), dialOpts)
	if err != nil {
		t.Fatalf("login to model demo: %v", err)
	}
	defer mconn.Close()
	if got := mconn.ControllerTag().Id(); got != cd.ControllerUUID {
		t.Errorf("model login result controller tag %s, want controllers.yaml's uuid %s", got, cd.ControllerUUID)
	}
	deploy(t, mconn, "postgresql", 1)
	st := fullStatus(t, mconn)
	checkApp(t, st, "postgresql", []string{"postgresql/0"})
	if st.Model.Name != "demo" || st.Model.CloudRegion != "east" {
		t.Errorf("FullStatus model = %+v, want demo in east", st.Model)
	}
	mconn.Close()
	conn.Close()

	// 5. jimmctl list-models: on an east controller.
	m, ok := demoModel(t, ctl, "demo")
	if !ok {
		t.Fatal("jimmctl list-models does not list model demo")
	}
	if m.UUID != mi.UUID || (m.Controller != "ctl-1" && m.Controller != "ctl-2") || m.Region != "east" {
		t.Errorf("jimmctl list-models: demo is %+v; want %s on ctl-1 or ctl-2, region east", m, mi.UUID)
	}

	// 6. Ctrl-C.
	p.interrupt(t, "first run")
	t.Logf("first run stopped after %s", time.Since(start).Round(time.Millisecond))

	// 7. Again without --fresh: the state is kept.
	p2, printed2, err := startDemo(t, bins.jimmd, "--data-dir", dataDir, "--port", strconv.Itoa(port))
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	ctl2 := demoCtl(t, bins.jimmctl, shellExports(t, printed2.jimmExport))
	t.Logf("second run: controllers up %s after the demo said it runs", demoWaitControllers(t, ctl2, 10*time.Second).Round(time.Millisecond))
	m2, ok := demoModel(t, ctl2, "demo")
	if !ok {
		t.Error("second run: jimmctl list-models does not list model demo")
	} else if m2.UUID != m.UUID || m2.Controller != m.Controller {
		t.Errorf("second run: model demo is %+v, want %+v", m2, m)
	}
	p2.interrupt(t, "second run")
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}
