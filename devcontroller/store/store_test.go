package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func newModel(uuid, owner, name string) *Model {
	return &Model{UUID: uuid, Name: name, Owner: owner, Life: LifeAlive,
		Users: map[string]string{owner: AccessAdmin}, Config: map[string]any{},
		Machines: map[string]*Machine{}, Applications: map[string]*Application{}}
}

func TestModelLifecycleSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateMeta(ctx, func(m *Meta) error { m.UUID = "c1"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateModel(ctx, newModel("m1", "alice", "one")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateModel(ctx, newModel("m2", "alice", "one")); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("same owner and name: got %v, want ErrAlreadyExists", err)
	}
	if err := s.CreateModel(ctx, newModel("m2", "bob", "one")); err != nil {
		t.Fatalf("same name, other owner: %v", err)
	}
	if _, err := s.UpdateModel(ctx, "m1", func(m *Model) error {
		m.Machines["0"] = &Machine{ID: "0"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A failing update changes nothing, in memory or on disk.
	before, _ := s.Model("m1")
	if _, err := s.UpdateModel(ctx, "m1", func(m *Model) error {
		m.Machines["1"] = &Machine{ID: "1"}
		return errors.New("boom")
	}); err == nil {
		t.Fatal("failing update: want error")
	}
	after, _ := s.Model("m1")
	if after != before || len(after.Machines) != 1 {
		t.Fatalf("failing update leaked: %d machines", len(after.Machines))
	}
	if err := s.DeleteModel(ctx, "m2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, "alice", false, func(*User) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing user: got %v", err)
	}
	if _, err := s.UpdateUser(ctx, "alice", true, func(u *User) error { u.Access = AccessLogin; return nil }); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Meta() == nil || s.Meta().UUID != "c1" {
		t.Fatalf("meta after reopen: %+v", s.Meta())
	}
	m, ok := s.Model("m1")
	if !ok || len(m.Machines) != 1 || m.Machines["0"].ID != "0" {
		t.Fatalf("m1 after reopen: %+v", m)
	}
	if _, ok := s.Model("m2"); ok {
		t.Fatal("deleted model m2 is back after reopen")
	}
	if u, ok := s.User("alice"); !ok || u.Access != AccessLogin {
		t.Fatalf("alice after reopen: %+v", u)
	}
}

// writerEnv makes the test binary act as a writer that a test kills.
const writerEnv = "STORE_TEST_WRITER"

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		runWriter(path)
		return
	}
	os.Exit(m.Run())
}

// runWriter adds machines to one model forever, and prints the model's
// NextMachineID after each commit. Every committed model has
// NextMachineID == len(Machines): a torn or half-applied write breaks that.
func runWriter(path string) {
	ctx := context.Background()
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, ok := s.Model("m"); !ok {
		if err := s.CreateModel(ctx, newModel("m", "admin", "busy")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println("ready")
	for i := 0; ; i++ {
		m, err := s.UpdateModel(ctx, "m", func(m *Model) error {
			id := strconv.Itoa(m.NextMachineID)
			m.Machines[id] = &Machine{ID: id, Hostname: fmt.Sprintf("host-%0100d", i)}
			m.NextMachineID++
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(m.NextMachineID)
	}
}

func TestKill9LeavesConsistentState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	last := -1
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), writerEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		if !lines.Scan() || lines.Text() != "ready" {
			t.Fatalf("round %d: writer did not start: %q %v", round, lines.Text(), lines.Err())
		}
		// Kill it once it has committed some more, a different number
		// each round, while it goes on writing.
		committed := last
		for committed < last+1+round*37 {
			if !lines.Scan() {
				t.Fatalf("round %d: writer stopped after committing %d: %v", round, committed, lines.Err())
			}
			if committed, err = strconv.Atoi(lines.Text()); err != nil {
				t.Fatalf("round %d: writer printed %q", round, lines.Text())
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		s, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		m, ok := s.Model("m")
		if !ok {
			t.Fatalf("round %d: model lost", round)
		}
		if len(m.Machines) != m.NextMachineID {
			t.Fatalf("round %d: torn state: %d machines, next id %d", round, len(m.Machines), m.NextMachineID)
		}
		if m.NextMachineID < committed {
			t.Fatalf("round %d: lost writes: the writer committed next id %d, the reopened state has %d", round, committed, m.NextMachineID)
		}
		last = m.NextMachineID
		s.Close()
	}
	t.Logf("%d committed writes survived 5 kill -9s", last)
}

func TestMigrationDocumentsSurviveReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// An importing model: a normal one only replaces it by activation.
	in := newModel("in", "alice", "arriving")
	if err := s.PutImportingModel(ctx, in); !errors.Is(err, ErrNotImporting) {
		t.Fatalf("put a model that is not importing: %v", err)
	}
	in.MigrationMode = MigrationModeImporting
	for range 2 {
		if err := s.PutImportingModel(ctx, in); err != nil {
			t.Fatalf("put importing model: %v", err)
		}
	}
	if err := s.CreateModel(ctx, newModel("other", "alice", "arriving")); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("create a model named like an importing one: %v", err)
	}
	// A model that left, and came back.
	out := newModel("out", "bob", "leaving")
	if err := s.CreateModel(ctx, out); err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("refused")
	if err := s.ReapModel(ctx, "out", func(*Model) error { return refuse }, &Redirect{ControllerUUID: "c2"}); !errors.Is(err, refuse) {
		t.Fatalf("reap refused by check: %v", err)
	}
	if err := s.ReapModel(ctx, "out", func(*Model) error { return nil }, &Redirect{ControllerUUID: "c2", Addrs: []string{"10.0.0.2:17070"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Model("out"); ok {
		t.Fatal("reaped model still there")
	}
	back := newModel("back", "carol", "returning")
	if err := s.CreateModel(ctx, back); err != nil {
		t.Fatal(err)
	}
	s.ReapModel(ctx, "back", func(*Model) error { return nil }, &Redirect{ControllerUUID: "c3"})
	back.MigrationMode = MigrationModeImporting
	if err := s.PutImportingModel(ctx, back); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActivateModel(ctx, "back", func(m *Model) error { m.MigrationMode = MigrationModeNone; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActivateModel(ctx, "back", func(*Model) error { return nil }); !errors.Is(err, ErrNotImporting) {
		t.Fatalf("activate an active model: %v", err)
	}
	if err := s.DeleteImportingModel(ctx, "back"); !errors.Is(err, ErrNotImporting) {
		t.Fatalf("delete an active model as importing: %v", err)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m, ok := s.Model("in"); !ok || m.MigrationMode != MigrationModeImporting {
		t.Fatalf("importing model after reopen: %+v", m)
	}
	if r, ok := s.Redirect("out"); !ok || r.ModelUUID != "out" || r.ControllerUUID != "c2" || r.Addrs[0] != "10.0.0.2:17070" {
		t.Fatalf("redirect after reopen: %+v", r)
	}
	if _, ok := s.Redirect("back"); ok {
		t.Fatal("the redirect of a model that came back is still there")
	}
	if err := s.DeleteImportingModel(ctx, "in"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImportingModel(ctx, "in"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestOnModelChange(t *testing.T) {
	ctx := t.Context()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	s.OnModelChange(func(uuid string) { got = append(got, uuid) })
	s.CreateModel(ctx, newModel("m1", "alice", "one"))
	s.UpdateModel(ctx, "m1", func(m *Model) error { return nil })
	s.UpdateModel(ctx, "m1", func(m *Model) error { return errors.New("no") }) // nothing changes
	s.DeleteModel(ctx, "m1")
	imp := newModel("m2", "alice", "two")
	imp.MigrationMode = MigrationModeImporting
	s.PutImportingModel(ctx, imp)
	s.ActivateModel(ctx, "m2", func(m *Model) error { m.MigrationMode = ""; return nil })
	s.ReapModel(ctx, "m2", func(*Model) error { return nil }, &Redirect{})
	imp.UUID, imp.Name = "m3", "three"
	s.PutImportingModel(ctx, imp)
	s.DeleteImportingModel(ctx, "m3")
	want := []string{"m1", "m1", "m1", "m2", "m2", "m2", "m3", "m3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("changes %v, want %v", got, want)
	}
}
