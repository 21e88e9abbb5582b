package integration

import (
	"cmp"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/names/v5"
)

// TestRestartAndCrash checks that state survives a clean restart (SIGTERM)
// and a crash (SIGKILL) in the middle of writes: the controller keeps its
// identity and CA, and every model whose creation was acknowledged is there
// afterwards.
func TestRestartAndCrash(t *testing.T) {
	t.Parallel()
	c := startController(t, "ctl-restart", "--model-destroy-delay", "2s")
	uuid, ca := c.UUID, c.File.CACert

	info, err := modelmanager.NewClient(c.admin(t, "")).CreateModel("keep", "admin", "", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	deploy(t, c.admin(t, info.UUID), "db", 2)

	checkKept := func(t *testing.T, c *controller) {
		t.Helper()
		if c.UUID != uuid || c.File.UUID != uuid {
			t.Errorf("after restart the controller says UUID %s (controller.yaml %s), want %s", c.UUID, c.File.UUID, uuid)
		}
		if c.File.CACert != ca {
			t.Errorf("after restart controller.yaml holds a different CA certificate")
		}
		conn := c.admin(t, "") // the CA from before the restart still verifies it
		if got := conn.ControllerTag().Id(); got != uuid {
			t.Errorf("after restart login gives controller tag %s, want %s", got, uuid)
		}
		if _, ok := findModel(listModels(t, modelmanager.NewClient(conn), "admin"), info.UUID); !ok {
			t.Fatalf("after restart model %s is gone", info.UUID)
		}
		checkApp(t, fullStatus(t, c.admin(t, info.UUID)), "db", []string{"db/0", "db/1"})
	}

	t.Run("sigterm", func(t *testing.T) {
		// A model destroyed just before the restart finishes dying after it.
		mm := modelmanager.NewClient(c.admin(t, ""))
		doomed, err := mm.CreateModel("doomed", "admin", "", "", names.CloudCredentialTag{}, nil)
		if err != nil {
			t.Fatalf("CreateModel: %v", err)
		}
		if err := mm.DestroyModel(names.NewModelTag(doomed.UUID), nil, nil, nil, nil); err != nil {
			t.Fatalf("DestroyModel: %v", err)
		}

		c = c.restart(t)
		checkKept(t, c)

		mm = modelmanager.NewClient(c.admin(t, ""))
		eventually(t, 10*time.Second, "model destroyed before the restart is removed after it", func() error {
			sts, err := mm.ModelStatus(names.NewModelTag(doomed.UUID))
			if err != nil {
				return err
			}
			if sts[0].Error == nil {
				return fmt.Errorf("model still there, life %q", sts[0].Life)
			}
			if code := errCode(sts[0].Error); code != "not found" {
				t.Fatalf("ModelStatus error %v has code %q, want not found", sts[0].Error, code)
			}
			return nil
		})
	})

	t.Run("sigkill while creating models", func(t *testing.T) {
		// Two writers create models as fast as they can until the
		// controller dies under them; we remember every acknowledged one.
		var (
			mu       sync.Mutex
			acked    = map[string]string{} // uuid → name
			firstErr error                 // why a writer stopped
			wg       sync.WaitGroup
		)
		enough := make(chan struct{})
		var once sync.Once
		for w := range 2 {
			mm := modelmanager.NewClient(c.admin(t, ""))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					name := fmt.Sprintf("crash-%d-%d", w, i)
					mi, err := mm.CreateModel(name, "admin", "", "", names.CloudCredentialTag{}, nil)
					mu.Lock()
					if err != nil {
						// The controller went away (or, before the crash,
						// something is wrong).
						firstErr = cmp.Or(firstErr, err)
						mu.Unlock()
						return
					}
					acked[mi.UUID] = name
					if len(acked) >= 100 {
						once.Do(func() { close(enough) })
					}
					mu.Unlock()
				}
			}()
		}
		writersDone := make(chan struct{})
		go func() { wg.Wait(); close(writersDone) }()
		start := time.Now()
		select {
		case <-enough:
			t.Logf("100 models acknowledged in %s", time.Since(start).Round(time.Millisecond))
		case <-writersDone:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("both writers stopped before the crash, after %d models: %v", len(acked), firstErr)
		case <-time.After(2 * time.Minute):
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("fewer than 100 models acknowledged within 2m (%d)", len(acked))
		}
		c = c.crashRestart(t)
		<-writersDone

		checkKept(t, c)
		mm := modelmanager.NewClient(c.admin(t, ""))
		present := map[string]string{}
		for _, m := range listModels(t, mm, "admin") {
			present[m.UUID] = m.Name
		}
		mu.Lock()
		defer mu.Unlock()
		for id, name := range acked {
			if got, ok := present[id]; !ok {
				t.Errorf("model %s (%s) was created before the crash but is gone", name, id)
			} else if got != name {
				t.Errorf("model %s is named %q after the crash, want %q", id, got, name)
			}
		}
		t.Logf("%d models acknowledged before SIGKILL, %d models after restart", len(acked), len(present))
		// The state is writable after the crash.
		if _, err := mm.CreateModel("after-crash", "admin", "", "", names.CloudCredentialTag{}, nil); err != nil {
			t.Errorf("CreateModel after the crash: %v", err)
		}
	})
}

// TestAdminPasswordKeptWithoutFlag restarts a controller without
// --admin-password: the password it started with still logs in and
// controller.yaml still holds it.
func TestAdminPasswordKeptWithoutFlag(t *testing.T) {
	t.Parallel()
	c := startController(t, "ctl-pw")
	c.Opts.AdminPassword = ""
	c = c.restart(t)
	if c.File.AdminPassword != adminPassword {
		t.Errorf("after a restart without --admin-password controller.yaml holds admin-password %q, want %q", c.File.AdminPassword, adminPassword)
	}
	c.admin(t, "")
}

// TestControllerFileRewrittenWithUsablePassword deletes controller.yaml and
// restarts without --admin-password: the controller writes the file again,
// and the admin-password in it must log in (a broker registers controllers
// from this file).
func TestControllerFileRewrittenWithUsablePassword(t *testing.T) {
	t.Parallel()
	c := startController(t, "ctl-pw-file")
	c.stopped.Store(true)
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := os.Remove(c.FilePath); err != nil {
		t.Fatal(err)
	}
	opts := c.Opts
	opts.AdminPassword = ""
	c = launch(t, opts)
	if c.File.UUID != c.UUID || c.File.CACert == "" {
		t.Errorf("rewritten controller.yaml = %+v", c.File)
	}
	conn, err := c.tryOpen(c.File.AdminUser, c.File.AdminPassword, "")
	if err != nil {
		t.Fatalf("login with the credentials of the rewritten controller.yaml (user %q, password %q): %v", c.File.AdminUser, c.File.AdminPassword, err)
	}
	conn.Close()
}
