package integration

// TestDemo's juju lines: the README's demo instructions verbatim with the
// stock juju CLI: with the JUJU_DATA
// the demo prints, `juju add-model demo localhost/east`, `juju models`,
// `juju status -m demo` — the lines the demo prints, run as printed.
// juju add-model needs the broker's Cloud(7).Cloud and UserCredentials.

import (
	"regexp"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/integration/internal/jujucli"
)

// demoJujuLine is a juju command line in the demo's instructions.
var demoJujuLine = regexp.MustCompile(`(?m)^\s+(juju .*)$`)

func demoWithJujuCLI(t *testing.T, jujuData, stdout string) string {
	t.Helper()
	c := &jujucli.CLI{Bin: jujuBin(t), Home: t.TempDir(), Data: jujuData}
	var lines []string
	for _, m := range demoJujuLine.FindAllStringSubmatch(stdout[strings.Index(stdout, demoRunning):], -1) {
		lines = append(lines, strings.TrimSpace(m[1]))
	}
	want := []string{"juju add-model demo localhost/east", "juju models", "juju status -m demo"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the demo prints the juju lines %q, want %q", lines, want)
	}
	results := map[string]jujucli.Result{}
	for _, line := range lines {
		res, err := c.Run(t.Context(), "", strings.Fields(line)[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: exit %d in %s", line, res.ExitCode, res.Duration)
		if res.ExitCode != 0 {
			t.Fatalf("the demo's line %q failed:\n%s", line, res)
		}
		results[line] = res
	}
	if added := results[want[0]]; !strings.Contains(added.Stderr, "Added 'demo' model on localhost/east") {
		t.Errorf("juju add-model demo localhost/east does not say it added it:\n%s", added)
	}
	if row := tableRow(results[want[1]].Stdout, "demo"); row == nil || !strings.Contains(strings.Join(row, " "), "localhost/east") {
		t.Errorf("juju models does not list demo in localhost/east:\n%s", results[want[1]])
	}
	if row := tableRow(results[want[2]].Stdout, "demo"); row == nil || row[1] != demoController {
		t.Errorf("juju status -m demo does not show model demo on %s:\n%s", demoController, results[want[2]])
	}
	var out map[string]cliModelInfo
	res, err := c.Run(t.Context(), "", "show-model", "demo", "--format", "json")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("juju show-model demo: %v\n%s", err, res)
	}
	if err := jujucli.DecodeJSON(res.Stdout, &out); err != nil || out["demo"].UUID == "" {
		t.Fatalf("juju show-model demo --format json: %v\n%s", err, res)
	}
	return out["demo"].UUID
}
