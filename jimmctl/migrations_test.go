package jimmctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// migrationBroker is a fake broker with ctl-a hosting models prod (m-1)
// and dev (m-2), and ctl-b, the target, with the environment pointing at
// it and migrate --wait polling fast.
func migrationBroker(t *testing.T) *fakeBroker {
	t.Helper()
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)
	for _, c := range sampleControllers() {
		f.putController(c)
	}
	f.addModel(restapi.Model{UUID: "m-1", Name: "prod", Owner: "alice", Controller: "ctl-a", Cloud: "aws", Region: "eu-west-1", Life: "alive", CreatedAt: fakeTime})
	f.addModel(restapi.Model{UUID: "m-2", Name: "dev", Owner: "bob", Controller: "ctl-a", Cloud: "aws", Region: "eu-west-1", Life: "alive", CreatedAt: fakeTime})
	f.setNextScript(successScript)
	fastPolling(t)
	return f
}

// fastPolling shortens migrate --wait's poll interval for the test.
func fastPolling(t *testing.T) {
	t.Helper()
	if migrationPollInterval != 200*time.Millisecond {
		t.Errorf("migrationPollInterval = %s, want 200ms", migrationPollInterval)
	}
	old := migrationPollInterval
	migrationPollInterval = 5 * time.Millisecond
	t.Cleanup(func() { migrationPollInterval = old })
}

// phaseLines are the lines migrate --wait prints for the INITIATING phase
// the fake starts in and then for each step of script, one minute apart.
func phaseLines(script []migrationStep) []string {
	steps := append([]migrationStep{{Phase: "INITIATING", Message: "asking the source controller to start the migration"}}, script...)
	var out []string
	for i, s := range steps {
		at := fakeTime.Add(time.Duration(i) * time.Minute).Local().Format("15:04:05")
		out = append(out, strings.TrimRight(fmt.Sprintf("%s %-16s %s", at, s.Phase, s.Message), " "))
	}
	return out
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestMigrateWithoutWait(t *testing.T) {
	f := migrationBroker(t)

	stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1")
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	want := "started migration 1 of model prod from ctl-a to ctl-b: phase INITIATING\n" +
		"follow it with `jimmctl show-migration 1`\n"
	if stdout != want {
		t.Errorf("migrate printed %q, want %q", stdout, want)
	}
	if n := f.getMigrationCount(); n != 0 {
		t.Errorf("migrate without --wait polled the migration %d times", n)
	}

	stdout, stderr, err = run(t, "", "migrate", "ctl-b", "m-2", "--format", "json")
	if err != nil {
		t.Fatalf("migrate --format json: %v\n%s", err, stderr)
	}
	var m restapi.Migration
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("parse json: %v\n%s", err, stdout)
	}
	if m.ID != 2 || m.ModelUUID != "m-2" || m.Source != "ctl-a" || m.Target != "ctl-b" ||
		m.Phase != "INITIATING" || m.Result != restapi.MigrationRunning {
		t.Errorf("migrate json = %+v", m)
	}

	// The models have not moved yet.
	if got, _ := f.model("m-1"); got.Controller != "ctl-a" {
		t.Errorf("m-1 on %q, want ctl-a", got.Controller)
	}
}

func TestMigrateArgumentErrors(t *testing.T) {
	f := migrationBroker(t)
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"migrate", "ctl-b"}, wantErr: "ERROR migrate takes <controller> <model-uuid>, got 1 argument(s)"},
		{args: []string{"migrate", "ctl-b", "m-1", "--timeout", "1m"}, wantErr: "ERROR --timeout applies only with --wait"},
		{args: []string{"migrate", "ctl-b", "m-1", "--wait", "--timeout", "0s"}, wantErr: "ERROR --timeout must be positive, got 0s"},
		{args: []string{"migrate", "ctl-b", "m-1", "--wait", "--format", "xml"}, wantErr: "valid formats are tabular, yaml, json"},
		{args: []string{"migrate", "ctl-b", "m-404"}, wantErr: `ERROR migrate model "m-404" to controller "ctl-b": model "m-404" not found`},
		{args: []string{"migrate", "ctl-z", "m-1"}, wantErr: `ERROR migrate model "m-1" to controller "ctl-z": controller "ctl-z" not found`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, err := run(t, "", tt.args...)
			if err == nil || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("%v: stderr %q, want %q", err, stderr, tt.wantErr)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.migrations) != 0 {
		t.Errorf("the broker started %d migrations", len(f.migrations))
	}
}

func TestMigrateWaitSucceeds(t *testing.T) {
	f := migrationBroker(t)

	stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "--wait")
	if err != nil {
		t.Fatalf("migrate --wait: %v\n%s", err, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr = %q", stderr)
	}
	want := append(phaseLines(successScript), "migration 1 succeeded: model prod now lives on ctl-b")
	if got := lines(stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("migrate --wait printed:\n%s\nwant:\n%s", stdout, strings.Join(want, "\n"))
	}
	// The shape of a phase line: time, phase, message.
	shape := regexp.MustCompile(`^\d\d:\d\d:\d\d IMPORT +importing model into target controller$`)
	if got := lines(stdout); len(got) < 3 || !shape.MatchString(got[2]) {
		t.Errorf("IMPORT line does not look like `hh:mm:ss IMPORT    message`:\n%s", stdout)
	}
	if got, _ := f.model("m-1"); got.Controller != "ctl-b" {
		t.Errorf("after the migration m-1 is on %q, want ctl-b", got.Controller)
	}

	// show-model puts the new controller in its CONTROLLER column.
	stdout, _, err = run(t, "", "show-model", "m-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(stdout); len(got) != 2 || strings.Fields(got[0])[3] != "CONTROLLER" || strings.Fields(got[1])[3] != "ctl-b" {
		t.Errorf("show-model printed:\n%s", stdout)
	}
}

func TestMigrateWaitSucceedsJSONAndYAML(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			migrationBroker(t)
			stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "--wait", "--format", format)
			if err != nil {
				t.Fatalf("migrate --wait: %v\n%s", err, stderr)
			}
			// Only the final document: one JSON value, or one YAML document.
			var m restapi.Migration
			if format == "json" {
				dec := json.NewDecoder(strings.NewReader(stdout))
				if err := dec.Decode(&m); err != nil {
					t.Fatalf("parse json: %v\n%s", err, stdout)
				}
				if dec.More() {
					t.Errorf("more than one JSON value:\n%s", stdout)
				}
			} else {
				if strings.Contains(stdout, "\n---") {
					t.Errorf("more than one YAML document:\n%s", stdout)
				}
				if err := yaml.Unmarshal([]byte(stdout), &m); err != nil {
					t.Fatalf("parse yaml: %v\n%s", err, stdout)
				}
			}
			if m.ID != 1 || m.Phase != "DONE" || m.Result != restapi.MigrationSucceeded || m.EndedAt == nil {
				t.Errorf("final migration = %+v", m)
			}
		})
	}
}

func TestMigrateWaitFails(t *testing.T) {
	const wantErr = "ERROR migration 1 of model prod failed in phase ABORTDONE: import failed: target refused the model: agent version 3.4.0 too old\n"

	t.Run("tabular", func(t *testing.T) {
		f := migrationBroker(t)
		f.setNextScript(failScript)
		stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "--wait")
		if err == nil {
			t.Fatal("migrate --wait of a failing migration succeeded")
		}
		if stderr != wantErr {
			t.Errorf("stderr = %q, want %q", stderr, wantErr)
		}
		if got, want := lines(stdout), phaseLines(failScript); !reflect.DeepEqual(got, want) {
			t.Errorf("migrate --wait printed:\n%s\nwant:\n%s", stdout, strings.Join(want, "\n"))
		}
		if got, _ := f.model("m-1"); got.Controller != "ctl-a" {
			t.Errorf("after the failed migration m-1 is on %q, want ctl-a", got.Controller)
		}
	})

	t.Run("yaml", func(t *testing.T) {
		f := migrationBroker(t)
		f.setNextScript(failScript)
		stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "--wait", "--format", "yaml")
		if err == nil {
			t.Fatal("migrate --wait of a failing migration succeeded")
		}
		if stderr != wantErr {
			t.Errorf("stderr = %q, want %q", stderr, wantErr)
		}
		var m restapi.Migration
		if err := yaml.Unmarshal([]byte(stdout), &m); err != nil {
			t.Fatalf("parse yaml: %v\n%s", err, stdout)
		}
		if m.Phase != "ABORTDONE" || m.Result != restapi.MigrationFailed {
			t.Errorf("final migration = %+v", m)
		}
	})
}

func TestMigrateWaitTimeout(t *testing.T) {
	f := migrationBroker(t)
	f.setNextScript(nil) // stuck in INITIATING

	start := time.Now()
	stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "--wait", "--timeout", "200ms")
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("migrate --wait of a stuck migration succeeded")
	}
	want := "ERROR timed out after 200ms waiting for migration 1 of model prod, in phase INITIATING " +
		"(it goes on on the broker: follow it with `jimmctl show-migration 1`)\n"
	if stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	if got, want := lines(stdout), phaseLines(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if elapsed < 200*time.Millisecond || elapsed > 10*time.Second {
		t.Errorf("gave up after %s, want about 200ms", elapsed)
	}
	if n := f.getMigrationCount(); n < 2 {
		t.Errorf("polled %d times", n)
	}

	// In json, the last state is printed as well as the error.
	stdout, stderr, err = run(t, "", "migrate", "ctl-b", "m-2", "--wait", "--timeout", "50ms", "--format", "json")
	if err == nil || !strings.HasPrefix(stderr, "ERROR timed out after 50ms waiting for migration 2 of model dev") {
		t.Errorf("%v: stderr %q", err, stderr)
	}
	var m restapi.Migration
	if err := json.Unmarshal([]byte(stdout), &m); err != nil || m.ID != 2 || m.Result != restapi.MigrationRunning {
		t.Errorf("stdout %q: %+v, %v", stdout, m, err)
	}
}

func TestMigrateWaitRidesOutBrokerErrors(t *testing.T) {
	f := migrationBroker(t)
	f.setFailMigrations(3)
	stdout, stderr, err := run(t, "", "migrate", "ctl-b", "m-1", "--wait")
	if err != nil {
		t.Fatalf("migrate --wait: %v\n%s", err, stderr)
	}
	want := `WARNING get migration "1": database unavailable; still trying` + "\n"
	if stderr != want {
		t.Errorf("stderr = %q, want one warning %q", stderr, want)
	}
	if got, want := lines(stdout), append(phaseLines(successScript), "migration 1 succeeded: model prod now lives on ctl-b"); !reflect.DeepEqual(got, want) {
		t.Errorf("migrate --wait printed:\n%s", stdout)
	}
}

func TestMigrateConflict(t *testing.T) {
	f := migrationBroker(t)
	f.putMigration(restapi.Migration{ID: 1, ModelUUID: "m-1", ModelName: "prod", Source: "ctl-a", Target: "ctl-b",
		Phase: "IMPORT", Result: restapi.MigrationRunning, StartedAt: fakeTime, PhaseChangedAt: fakeTime})

	for _, args := range [][]string{{"migrate", "ctl-b", "m-1"}, {"migrate", "ctl-b", "m-1", "--wait"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, err := run(t, "", args...)
			if err == nil {
				t.Fatal("migrate succeeded")
			}
			want := `ERROR migrate model "m-1" to controller "ctl-b": a migration of model prod is already running (migration 1, phase IMPORT)` +
				" (see the model's latest migration with `jimmctl show-migration m-1`)\n"
			if stderr != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q", stdout)
			}
		})
	}
}

// sampleMigrations are newest first, as the broker lists them.
func sampleMigrations() []restapi.Migration {
	ended := fakeTime.Add(-50 * time.Minute)
	failedAt := fakeTime.Add(-2 * time.Hour)
	return []restapi.Migration{{
		ID: 3, ModelUUID: "m-1", ModelName: "prod", Owner: "alice", Source: "ctl-a", Target: "ctl-b",
		ControllerID: "m-1:1", Phase: "IMPORT", Message: "importing model into target controller",
		Result: restapi.MigrationRunning, StartedAt: fakeTime, PhaseChangedAt: fakeTime.Add(time.Minute),
	}, {
		ID: 2, ModelUUID: "m-2", ModelName: "dev", Owner: "bob", Source: "ctl-b", Target: "ctl-a",
		ControllerID: "m-2:0", Phase: "DONE", Result: restapi.MigrationSucceeded,
		StartedAt: fakeTime.Add(-time.Hour), PhaseChangedAt: ended, EndedAt: &ended,
	}, {
		ID: 1, ModelUUID: "m-1", ModelName: "prod", Owner: "alice", Source: "ctl-a", Target: "ctl-b",
		ControllerID: "m-1:0", Phase: "ABORTDONE", Message: "target refused the model",
		Result: restapi.MigrationFailed, StartedAt: fakeTime.Add(-3 * time.Hour), PhaseChangedAt: failedAt, EndedAt: &failedAt,
	}}
}

func putSampleMigrations(f *fakeBroker) {
	ms := sampleMigrations()
	for i := len(ms) - 1; i >= 0; i-- {
		f.putMigration(ms[i])
	}
}

func TestListMigrationsFormats(t *testing.T) {
	f := migrationBroker(t)

	// None yet.
	stdout, stderr, err := run(t, "", "migrations")
	if err != nil || stdout != "" || stderr != "No migrations.\n" {
		t.Errorf("migrations with none: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	stdout, _, err = run(t, "", "migrations", "--format", "json")
	if err != nil || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("migrations --format json with none: %v, %q", err, stdout)
	}

	putSampleMigrations(f)
	want := sampleMigrations()
	tests := []struct {
		format string
		check  func(t *testing.T, out string)
	}{{
		format: "json",
		check: func(t *testing.T, out string) {
			var got []restapi.Migration
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("parse json: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("json round trip:\n got %+v\nwant %+v", got, want)
			}
			if !strings.Contains(out, `"model-uuid"`) || !strings.Contains(out, `"phase-changed-at"`) {
				t.Errorf("json lacks the restapi names:\n%s", out)
			}
		},
	}, {
		format: "yaml",
		check: func(t *testing.T, out string) {
			var got []restapi.Migration
			if err := yaml.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("parse yaml: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("yaml round trip:\n got %+v\nwant %+v", got, want)
			}
			if !strings.Contains(out, "controller-migration-id: m-1:1") {
				t.Errorf("yaml lacks the restapi names:\n%s", out)
			}
		},
	}, {
		format: "tabular",
		check: func(t *testing.T, out string) {
			ls := lines(out)
			if len(ls) != 4 {
				t.Fatalf("want a header and 3 rows, got:\n%s", out)
			}
			if got := strings.Fields(ls[0]); !reflect.DeepEqual(got, migrationHeader) {
				t.Errorf("header = %q, want %q", got, migrationHeader)
			}
			for i, m := range want {
				ended := "-"
				if m.EndedAt != nil {
					ended = formatTime(*m.EndedAt)
				}
				wantRow := strings.Fields(strings.Join([]string{fmt.Sprint(m.ID), m.ModelName, m.Source, m.Target, m.Phase, m.Result,
					formatTime(m.StartedAt), ended}, " "))
				if got := strings.Fields(ls[i+1]); !reflect.DeepEqual(got, wantRow) {
					t.Errorf("row %d = %q, want %q", i+1, got, wantRow)
				}
			}
			// Columns line up under their headers.
			if col := strings.Index(ls[0], "PHASE"); col < 0 || !strings.HasPrefix(ls[1][col:], "IMPORT ") {
				t.Errorf("PHASE column misaligned:\n%s", out)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			for _, cmd := range []string{"migrations", "list-migrations"} {
				stdout, stderr, err := run(t, "", cmd, "--format", tt.format)
				if err != nil {
					t.Fatalf("%s: %v\n%s", cmd, err, stderr)
				}
				tt.check(t, stdout)
			}
		})
	}
}

func TestShowMigration(t *testing.T) {
	f := migrationBroker(t)
	putSampleMigrations(f)
	ms := sampleMigrations()

	tests := []struct {
		name string
		arg  string
		want restapi.Migration
	}{
		{name: "by id", arg: "2", want: ms[1]},
		{name: "by id, an old one", arg: "1", want: ms[2]},
		{name: "by model uuid: its latest", arg: "m-1", want: ms[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := run(t, "", "show-migration", tt.arg)
			if err != nil {
				t.Fatalf("show-migration: %v\n%s", err, stderr)
			}
			m := tt.want
			ended := "-"
			if m.EndedAt != nil {
				ended = formatTime(*m.EndedAt)
			}
			wantKV := [][2]string{
				{"id", fmt.Sprint(m.ID)}, {"model-uuid", m.ModelUUID}, {"model-name", m.ModelName}, {"owner", m.Owner},
				{"source", m.Source}, {"target", m.Target}, {"controller-migration-id", m.ControllerID},
				{"phase", m.Phase}, {"message", m.Message}, {"result", m.Result},
				{"started-at", formatTime(m.StartedAt)}, {"phase-changed-at", formatTime(m.PhaseChangedAt)}, {"ended-at", ended},
			}
			ls := lines(stdout)
			if len(ls) != len(wantKV) {
				t.Fatalf("show-migration printed %d lines, want %d:\n%s", len(ls), len(wantKV), stdout)
			}
			for i, kv := range wantKV {
				key, value, ok := strings.Cut(ls[i], ":")
				if !ok || key != kv[0] {
					t.Errorf("line %d = %q, want key %q", i, ls[i], kv[0])
					continue
				}
				v := strings.TrimSpace(value)
				if kv[1] == "" {
					kv[1] = "-"
				}
				if v != kv[1] {
					t.Errorf("%s: %q, want %q", key, v, kv[1])
				}
			}

			for _, format := range []string{"json", "yaml"} {
				stdout, stderr, err := run(t, "", "show-migration", tt.arg, "--format", format)
				if err != nil {
					t.Fatalf("show-migration --format %s: %v\n%s", format, err, stderr)
				}
				var got restapi.Migration
				if format == "json" {
					err = json.Unmarshal([]byte(stdout), &got)
				} else {
					err = yaml.Unmarshal([]byte(stdout), &got)
				}
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Errorf("show-migration --format %s = %+v, %v; want %+v", format, got, err, tt.want)
				}
			}
		})
	}

	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"show-migration", "99"}, wantErr: `ERROR get migration "99": no migration "99"`},
		{args: []string{"show-migration", "m-404"}, wantErr: `ERROR get migration "m-404": no migration "m-404"`},
		{args: []string{"show-migration"}, wantErr: "ERROR show-migration takes <id | model-uuid>, got 0 argument(s)"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, err := run(t, "", tt.args...)
			if err == nil || !strings.HasPrefix(stderr, tt.wantErr) {
				t.Errorf("%v: stderr %q, want prefix %q", err, stderr, tt.wantErr)
			}
		})
	}
}

func TestUpdateMigratedModel(t *testing.T) {
	f := migrationBroker(t)

	stdout, stderr, err := run(t, "", "update-migrated-model", "ctl-b", "m-1")
	if err != nil {
		t.Fatalf("update-migrated-model: %v\n%s", err, stderr)
	}
	if want := "model prod (m-1) now routes to ctl-b\n"; stdout != want {
		t.Errorf("printed %q, want %q", stdout, want)
	}
	if m, _ := f.model("m-1"); m.Controller != "ctl-b" {
		t.Errorf("m-1 routes to %q, want ctl-b", m.Controller)
	}
	if c, _ := f.controller("ctl-b"); c.ModelCount != 1 {
		t.Errorf("ctl-b hosts %d models, want 1", c.ModelCount)
	}

	stdout, stderr, err = run(t, "", "update-migrated-model", "ctl-b", "m-2", "--format", "json")
	if err != nil {
		t.Fatalf("update-migrated-model --format json: %v\n%s", err, stderr)
	}
	var m restapi.Model
	if err := json.Unmarshal([]byte(stdout), &m); err != nil || m.UUID != "m-2" || m.Name != "dev" || m.Controller != "ctl-b" {
		t.Errorf("json %q: %+v, %v", stdout, m, err)
	}

	// show-model shows where it lives now.
	stdout, _, err = run(t, "", "show-model", "m-2")
	if err != nil || !strings.Contains(stdout, "CONTROLLER") || strings.Fields(lines(stdout)[1])[3] != "ctl-b" {
		t.Errorf("show-model: %v\n%s", err, stdout)
	}

	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"update-migrated-model", "ctl-z", "m-1"}, wantErr: `ERROR update model "m-1" as migrated to controller "ctl-z": controller "ctl-z" not found`},
		{args: []string{"update-migrated-model", "ctl-a", "m-404"}, wantErr: `ERROR update model "m-404" as migrated to controller "ctl-a": model "m-404" not found`},
		{args: []string{"update-migrated-model", "ctl-a"}, wantErr: "ERROR update-migrated-model takes <controller> <model-uuid>, got 1 argument(s)"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, err := run(t, "", tt.args...)
			if err == nil || !strings.HasPrefix(stderr, tt.wantErr) {
				t.Errorf("%v: stderr %q, want prefix %q", err, stderr, tt.wantErr)
			}
		})
	}
}

func TestClientMigrationCalls(t *testing.T) {
	f := newFakeBroker(t)
	for _, c := range sampleControllers() {
		f.putController(c)
	}
	f.addModel(restapi.Model{UUID: "m-1", Name: "prod", Owner: "alice", Controller: "ctl-a"})
	f.setNextScript(successScript)
	ctx := context.Background()
	c, err := NewClient(Config{URL: f.url, CACertPEM: f.caPEM, Token: f.issueToken(fakeAdmin)})
	if err != nil {
		t.Fatal(err)
	}

	m, err := c.Migrate(ctx, restapi.MigrateRequest{Controller: "ctl-b", ModelUUID: "m-1"})
	if err != nil || m.ID != 1 || m.Phase != "INITIATING" || m.Target != "ctl-b" {
		t.Fatalf("Migrate = %+v, %v", m, err)
	}
	_, err = c.Migrate(ctx, restapi.MigrateRequest{Controller: "ctl-b", ModelUUID: "m-1"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 409 || ErrorCode(err) != restapi.CodeMigrating {
		t.Errorf("second Migrate: %v, want a 409 with code %q", err, restapi.CodeMigrating)
	}
	got, err := c.GetMigration(ctx, "1")
	if err != nil || got.Phase != "QUIESCE" {
		t.Errorf("GetMigration by id = %+v, %v", got, err)
	}
	got, err = c.GetMigration(ctx, "m-1")
	if err != nil || got.ID != 1 || got.Phase != "IMPORT" {
		t.Errorf("GetMigration by model = %+v, %v", got, err)
	}
	list, err := c.ListMigrations(ctx)
	if err != nil || len(list) != 1 || list[0].ID != 1 {
		t.Errorf("ListMigrations = %+v, %v", list, err)
	}
	model, err := c.UpdateMigratedModel(ctx, "ctl-b", "m-1")
	if err != nil || model.Controller != "ctl-b" {
		t.Errorf("UpdateMigratedModel = %+v, %v", model, err)
	}

	// Empty arguments never reach the broker.
	before := f.authCount()
	migrate := func(controller, uuid string) error {
		_, err := c.Migrate(ctx, restapi.MigrateRequest{Controller: controller, ModelUUID: uuid})
		return err
	}
	for name, err := range map[string]error{
		"Migrate no controller":   migrate("", "m-1"),
		"Migrate no model":        migrate("ctl-b", " "),
		"GetMigration empty":      func() error { _, err := c.GetMigration(ctx, ""); return err }(),
		"UpdateMigrated no ctl":   func() error { _, err := c.UpdateMigratedModel(ctx, "", "m-1"); return err }(),
		"UpdateMigrated no model": func() error { _, err := c.UpdateMigratedModel(ctx, "ctl-b", ""); return err }(),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "empty ") {
			t.Errorf("%s: %v, want an `empty ...` error", name, err)
		}
	}
	if f.authCount() != before {
		t.Error("a call with an empty argument reached the broker")
	}
}
