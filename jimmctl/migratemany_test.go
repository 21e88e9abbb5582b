package jimmctl

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// manyPhaseLines are the lines migrate --wait prints for models (names,
// migrated in that order, all with script) as it polls each in turn:
// every model's INITIATING, then each step for every model.
func manyPhaseLines(script []migrationStep, models ...string) []string {
	width := 0
	for _, m := range models {
		width = max(width, len(m))
	}
	steps := append([]migrationStep{{Phase: "INITIATING", Message: "asking the source controller to start the migration"}}, script...)
	var out []string
	for i, s := range steps {
		at := fakeTime.Add(time.Duration(i) * time.Minute).Local().Format("15:04:05")
		for _, m := range models {
			out = append(out, strings.TrimRight(fmt.Sprintf("%s %-*s %-16s %s", at, width, m, s.Phase, s.Message), " "))
		}
	}
	return out
}

// manyBroker is migrationBroker with a third model on ctl-a: stage (m-3).
func manyBroker(t *testing.T) *fakeBroker {
	t.Helper()
	f := migrationBroker(t)
	f.addModel(restapi.Model{UUID: "m-3", Name: "stage", Owner: "carol", Controller: "ctl-a", Cloud: "aws", Region: "eu-west-1", Life: "alive", CreatedAt: fakeTime})
	return f
}

func (f *fakeBroker) migrationCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.migrations)
}

func TestMigrateManyWithoutWait(t *testing.T) {
	t.Run("one refused", testMigrateManyRefused)
	t.Run("json", testMigrateManyJSON)
}

func testMigrateManyRefused(t *testing.T) {
	f := manyBroker(t)
	stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "m-404", "m-2")
	if err == nil {
		t.Fatal("migrate with a refused model succeeded")
	}
	want := []string{
		"started migration 1 of model prod from ctl-a to ctl-b: phase INITIATING",
		`refused migration of model m-404 to ctl-b: model "m-404" not found`,
		"started migration 2 of model dev from ctl-a to ctl-b: phase INITIATING",
		"follow them with `jimmctl migrations`, or one with `jimmctl show-migration <id>` (1, 2)",
	}
	if got := lines(stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("migrate printed:\n%s\nwant:\n%s", stdout, strings.Join(want, "\n"))
	}
	if want := "ERROR 1 of 3 migrations could not start: model m-404 refused\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if n := f.getMigrationCount(); n != 0 {
		t.Errorf("migrate without --wait polled %d times", n)
	}

}

// testMigrateManyJSON: all started, exit 0, the list of outcomes in json.
func testMigrateManyJSON(t *testing.T) {
	manyBroker(t)
	stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "m-2", "--format", "json")
	if err != nil {
		t.Fatalf("migrate --format json: %v\n%s", err, stderr)
	}
	var runs []migrationRun
	if err := json.Unmarshal([]byte(stdout), &runs); err != nil {
		t.Fatalf("parse json: %v\n%s", err, stdout)
	}
	if len(runs) != 2 || runs[0].ModelUUID != "m-1" || runs[0].Result != restapi.MigrationRunning || runs[0].Migration == nil || runs[0].Migration.ID != 1 ||
		runs[1].ModelUUID != "m-2" || runs[1].Migration == nil || runs[1].Migration.Target != "ctl-b" {
		t.Errorf("migrate --format json: %s", stdout)
	}
}

func TestMigrateManyWaitSucceeds(t *testing.T) {
	f := manyBroker(t)
	stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "m-2", "m-3", "--wait")
	if err != nil {
		t.Fatalf("migrate --wait: %v\n%s", err, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr %q", stderr)
	}
	got := lines(stdout)
	want := append([]string{
		"started migration 1 of model prod from ctl-a to ctl-b: phase INITIATING",
		"started migration 2 of model dev from ctl-a to ctl-b: phase INITIATING",
		"started migration 3 of model stage from ctl-a to ctl-b: phase INITIATING",
	}, manyPhaseLines(successScript, "prod", "dev", "stage")...)
	want = append(want, "")
	if len(got) != len(want)+4 || !reflect.DeepEqual(got[:len(want)], want) {
		t.Fatalf("migrate --wait printed:\n%s\nwant first:\n%s\nthen a table of 3 rows", stdout, strings.Join(want, "\n"))
	}
	table := got[len(want):]
	if h := strings.Fields(table[0]); !reflect.DeepEqual(h, migrationRunHeader) {
		t.Errorf("header %q, want %q", h, migrationRunHeader)
	}
	for i, name := range []string{"prod", "dev", "stage"} {
		wantRow := append([]string{name, fmt.Sprint(i + 1), "ctl-a", "ctl-b", "succeeded", "DONE"}, strings.Fields("migration completed")...)
		if row := strings.Fields(table[i+1]); !reflect.DeepEqual(row, wantRow) {
			t.Errorf("row %d %q, want %q", i+1, row, wantRow)
		}
	}
	for _, uuid := range []string{"m-1", "m-2", "m-3"} {
		if m, _ := f.model(uuid); m.Controller != "ctl-b" {
			t.Errorf("%s on %s, want ctl-b", uuid, m.Controller)
		}
	}
}

func TestMigrateManyWaitFails(t *testing.T) {
	for _, format := range []string{"tabular", "yaml"} {
		t.Run(format, func(t *testing.T) {
			f := manyBroker(t)
			f.setNextScript(failScript)
			// stage has a migration running already: refused.
			f.putMigration(restapi.Migration{ID: 1, ModelUUID: "m-3", ModelName: "stage", Source: "ctl-a", Target: "ctl-b",
				Phase: "IMPORT", Result: restapi.MigrationRunning, StartedAt: fakeTime, PhaseChangedAt: fakeTime})
			stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "m-3", "m-2", "--wait", "--format", format)
			if err == nil {
				t.Fatal("migrate --wait of failing migrations succeeded")
			}
			wantErr := "ERROR 3 of 3 migrations did not succeed: model prod failed in phase ABORTDONE, model m-3 refused, model dev failed in phase ABORTDONE\n"
			if stderr != wantErr {
				t.Errorf("stderr %q, want %q", stderr, wantErr)
			}
			refusal := "a migration of model stage is already running (migration 1, phase IMPORT) (see the model's latest migration with `jimmctl show-migration m-3`)"
			if format == "tabular" {
				ls := lines(stdout)
				if len(ls) < 4 || ls[1] != "refused migration of model m-3 to ctl-b: "+refusal {
					t.Errorf("migrate --wait printed:\n%s", stdout)
				}
				table := ls[len(ls)-4:]
				for i, want := range [][]string{
					{"prod", "2", "ctl-a", "ctl-b", "failed", "ABORTDONE"},
					{"m-3", "-", "-", "ctl-b", "refused", "-"},
					{"dev", "3", "ctl-a", "ctl-b", "failed", "ABORTDONE"},
				} {
					if row := strings.Fields(table[i+1]); len(row) < 6 || !reflect.DeepEqual(row[:6], want) {
						t.Errorf("row %d %q, want it to start %q", i+1, row, want)
					}
				}
				if !strings.HasSuffix(table[2], refusal) {
					t.Errorf("the refused row %q does not end with the refusal", table[2])
				}
				return
			}
			var runs []migrationRun
			if err := yaml.Unmarshal([]byte(stdout), &runs); err != nil {
				t.Fatalf("parse yaml: %v\n%s", err, stdout)
			}
			if len(runs) != 3 || runs[0].Result != restapi.MigrationFailed || runs[0].Migration.Phase != "ABORTDONE" ||
				runs[1].Result != migrationRefused || runs[1].Error != refusal || runs[1].Migration != nil || runs[1].Target != "ctl-b" ||
				runs[2].Result != restapi.MigrationFailed {
				t.Errorf("migrate --wait --format yaml:\n%s", stdout)
			}
		})
	}
}

func TestMigrateManyWaitTimeout(t *testing.T) {
	f := manyBroker(t)
	f.setNextScript(nil) // stuck in INITIATING
	stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "m-2", "--wait", "--timeout", "100ms")
	if err == nil {
		t.Fatal("migrate --wait of stuck migrations succeeded")
	}
	want := "ERROR timed out after 100ms waiting for 2 migration(s) still running (they go on on the broker: follow them with `jimmctl migrations`); " +
		"2 of 2 migrations did not succeed: model prod still running in phase INITIATING, model dev still running in phase INITIATING\n"
	if stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if ls := lines(stdout); len(ls) != 2+2+1+3 || strings.Fields(ls[len(ls)-1])[4] != restapi.MigrationRunning {
		t.Errorf("migrate --wait printed:\n%s", stdout)
	}
	if n := f.getMigrationCount(); n < 2 {
		t.Errorf("polled %d times", n)
	}
}

func TestMigrateManyArgumentErrors(t *testing.T) {
	f := manyBroker(t)
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"migrate", "ctl-b", "m-1", "m-2", "m-1"}, "ERROR model m-1 is given more than once\n"},
		{[]string{"migrate", "ctl-b", "m-1", "", "m-2"}, "ERROR empty model UUID\n"},
		{[]string{"migrate", "ctl-b", "m-1", "m-2", "--timeout", "1m"}, "ERROR --timeout applies only with --wait\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, err := run(t, "", tc.args...)
			if err == nil || stderr != tc.wantErr || stdout != "" {
				t.Errorf("%v: stdout %q stderr %q, want %q", err, stdout, stderr, tc.wantErr)
			}
		})
	}
	if n := f.migrationCount(); n != 0 {
		t.Errorf("the broker started %d migrations", n)
	}
}
