package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

// ciSkipsLog is go test -v output of two packages with skips of every
// shape go test prints: a test skipped in sequence, one skipped after
// running in parallel (=== CONT), a subtest skipped with a two-line
// message, one printed without -v (message after the result), and
// passing and failing tests whose output is no skip message.
const ciSkipsLog = `=== RUN   TestSeq
    a_test.go:10: needs the moon
--- SKIP: TestSeq (0.00s)
=== RUN   TestPar
=== PAUSE TestPar
=== RUN   TestPasses
    a_test.go:20: passing along
--- PASS: TestPasses (0.01s)
=== CONT  TestPar
    a_test.go:30: needs PostgreSQL
--- SKIP: TestPar (0.00s)
=== RUN   TestAllowedOne
    a_test.go:35: skipped on purpose
--- SKIP: TestAllowedOne (0.00s)
=== RUN   TestAllowedOneMore
    a_test.go:36: a longer name than the allowed one
--- SKIP: TestAllowedOneMore (0.00s)
PASS
ok  	example.com/a	0.5s
=== RUN   TestParent
=== RUN   TestParent/postgres
    b_test.go:40: no server:
        set JIMM_TEST_DSN
=== RUN   TestParent/sqlite
    b_test.go:41: sqlite works
=== NAME  TestParent
    b_test.go:42: parent output
--- PASS: TestParent (0.02s)
    --- SKIP: TestParent/postgres (0.00s)
    --- PASS: TestParent/sqlite (0.01s)
=== RUN   TestFails
    b_test.go:50: it broke
--- FAIL: TestFails (0.00s)
--- SKIP: TestNotVerbose (0.00s)
    b_test.go:60: printed after the result
FAIL
FAIL	example.com/b	0.7s
`

// TestCISkips runs .ci/skips, which .ci/run uses to fail CI on a skipped
// test, on ciSkipsLog: it lists each skip with its package and message
// and fails naming those its allowlist does not hold.
func TestCISkips(t *testing.T) {
	t.Parallel()
	root, err := devproc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logFile := filepath.Join(dir, "test.log")
	if err := os.WriteFile(logFile, []byte(ciSkipsLog), 0o600); err != nil {
		t.Fatal(err)
	}
	skips := func(t *testing.T, allowed string) (string, int) {
		t.Helper()
		allowedFile := filepath.Join(t.TempDir(), "allowed-skips")
		if err := os.WriteFile(allowedFile, []byte(allowed), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("bash", filepath.Join(root, ".ci", "skips"), logFile, allowedFile).CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &exit):
			return string(out), exit.ExitCode()
		}
		t.Fatalf("run .ci/skips: %v\n%s", err, out)
		return "", 0
	}

	t.Run("some not allowed", func(t *testing.T) {
		out, code := skips(t, "# comment\n\nTestAllowedOne  skipped on purpose in CI\n")
		if code != 1 {
			t.Errorf(".ci/skips exited %d, want 1 (skips not allowed)\n%s", code, out)
		}
		for _, want := range []string{
			"skips: 6 tests skipped\n",
			"  example.com/a TestSeq\n      a_test.go:10: needs the moon\n",
			"  example.com/a TestPar\n      a_test.go:30: needs PostgreSQL\n",
			"  example.com/a TestAllowedOne (allowed)\n      a_test.go:35: skipped on purpose\n",
			"  example.com/a TestAllowedOneMore\n      a_test.go:36: a longer name than the allowed one\n",
			"  example.com/b TestParent/postgres\n      b_test.go:40: no server:\n      set JIMM_TEST_DSN\n",
			"  example.com/b TestNotVerbose\n      b_test.go:60: printed after the result\n",
			"skips: 5 skipped tests CI must run (not in ",
			"): TestSeq TestPar TestAllowedOneMore TestParent/postgres TestNotVerbose\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf(".ci/skips output lacks %q:\n%s", want, out)
			}
		}
		for _, not := range []string{"passing along", "sqlite works", "parent output", "it broke", "TestFails", "TestPasses"} {
			if strings.Contains(out, not) {
				t.Errorf(".ci/skips output names %q, which is no skip:\n%s", not, out)
			}
		}
	})
	t.Run("all allowed", func(t *testing.T) {
		out, code := skips(t, "Test(Seq|Par)  reason one\nTestAllowedOne.*  reason two\nTestParent/.*\treason three\nTestNotVerbose reason four\n")
		if code != 0 || !strings.Contains(out, "skips: 6 tests skipped\n") || strings.Contains(out, "CI must run") {
			t.Errorf(".ci/skips with every skip allowed exited %d, want 0 with 6 skips listed and none refused:\n%s", code, out)
		}
	})
	t.Run("entry without a reason", func(t *testing.T) {
		out, code := skips(t, "TestSeq\n")
		if code != 2 || !strings.Contains(out, "entry TestSeq gives no reason") {
			t.Errorf(".ci/skips with an entry without a reason exited %d, want 2 saying so:\n%s", code, out)
		}
	})
}
