package db_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

var quiet = slog.New(slog.DiscardHandler)

// TestConcurrentMigrate starts several "replicas" on one empty database at
// once: every one succeeds and each migration is applied exactly once.
func TestConcurrentMigrate(t *testing.T) {
	for _, tc := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"postgres", func(t *testing.T) string { return dbtest.EmptyPostgreSQL(t) }},
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "jimm.db") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := tc.dsn(t)
			var wg sync.WaitGroup
			errs := make([]error, 6)
			for i := range errs {
				wg.Go(func() {
					d, err := db.Open(t.Context(), dsn, quiet)
					if err != nil {
						errs[i] = err
						return
					}
					defer d.Close()
					errs[i] = d.Migrate(t.Context())
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("replica %d: %v", i, err)
				}
			}
			d, err := db.Open(t.Context(), dsn, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var applied []int
			if err := d.Raw("SELECT version FROM schema_migrations ORDER BY version").Scan(&applied).Error; err != nil {
				t.Fatal(err)
			}
			for i, v := range applied {
				if v != i+1 {
					t.Fatalf("applied versions %v, want 1, 2, ... each once", applied)
				}
			}
			if len(applied) < 2 {
				t.Fatalf("applied versions %v: fewer than the migrations this build has", applied)
			}
			// Migrating again is a no-op.
			if err := d.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRefuseNewerSchema(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		if err := d.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', CURRENT_TIMESTAMP)").Error; err != nil {
			t.Fatal(err)
		}
		err := d.Migrate(t.Context())
		if err == nil || !strings.Contains(err.Error(), "version 999, newer than this broker knows") {
			t.Fatalf("got %v, want a refusal naming version 999", err)
		}
	})
}

func addController(t *testing.T, d *db.DB, name, uuid string) *db.Controller {
	t.Helper()
	c := &db.Controller{Name: name, UUID: uuid, Addresses: []string{"127.0.0.1:17070", "[::1]:17070"},
		CACert: "pem", TLSServerName: "juju-apiserver", AdminUser: "admin", AdminPassword: []byte{1, 2, 3},
		AgentVersion: "3.5.4", Cloud: "localhost", CloudType: "lxd", Regions: []string{"r1", "r2"}}
	if err := d.WithContext(t.Context()).Create(c).Error; err != nil {
		t.Fatalf("create controller %s: %v", name, err)
	}
	return c
}

func TestRoundTripAndConstraints(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		c := addController(t, d, "ctl-a", "u-a")
		var got db.Controller
		if err := d.WithContext(ctx).Where("name = ?", "ctl-a").First(&got).Error; err != nil {
			t.Fatal(err)
		}
		if len(got.Addresses) != 2 || got.Addresses[1] != "[::1]:17070" || len(got.Regions) != 2 || string(got.AdminPassword) != "\x01\x02\x03" {
			t.Fatalf("controller round trip: %+v", got)
		}
		dup := &db.Controller{Name: "ctl-a", UUID: "u-other", Addresses: []string{}, Regions: []string{}, AdminPassword: []byte{}}
		if err := d.WithContext(ctx).Create(dup).Error; !errors.Is(err, db.ErrDuplicate) {
			t.Fatalf("duplicate controller name: got %v, want ErrDuplicate", err)
		}
		m := &db.Model{UUID: "m-1", Name: "one", Owner: "alice", ControllerID: c.ID, Cloud: "localhost", Region: "r1", Life: "alive"}
		if err := d.WithContext(ctx).Create(m).Error; err != nil {
			t.Fatal(err)
		}
		again := &db.Model{UUID: "m-2", Name: "one", Owner: "alice", ControllerID: c.ID, Cloud: "localhost", Region: "r1", Life: "alive"}
		if err := d.WithContext(ctx).Create(again).Error; !errors.Is(err, db.ErrDuplicate) {
			t.Fatalf("same owner and model name: got %v, want ErrDuplicate", err)
		}
		orphan := &db.Model{UUID: "m-3", Name: "two", Owner: "alice", ControllerID: 9999, Cloud: "localhost", Region: "r1", Life: "alive"}
		if err := d.WithContext(ctx).Create(orphan).Error; err == nil {
			t.Fatal("model on a missing controller was accepted: foreign key not enforced")
		}
		var loaded db.Model
		if err := d.WithContext(ctx).Preload("Controller").Where("uuid = ?", "m-1").First(&loaded).Error; err != nil || loaded.Controller.Name != "ctl-a" {
			t.Fatalf("model with controller: %v %+v", err, loaded)
		}
		var none db.Model
		if err := d.WithContext(ctx).Where("uuid = ?", "nope").First(&none).Error; !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("missing model: got %v, want ErrNotFound", err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	_, err := db.Open(ctx, "postgres://u:hunter2@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", quiet)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable server: got %v (must fail and not show the password)", err)
	}
	if _, err := db.Open(ctx, filepath.Join(t.TempDir(), "missing-dir", "x.db"), quiet); err == nil {
		t.Fatal("sqlite file in a missing directory: want error")
	}
}

func TestSettingIsSharedByReplicas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		var wg sync.WaitGroup
		got := make([]string, 8)
		for i := range got {
			wg.Go(func() {
				v, err := d.Setting(t.Context(), "uuid", func() string { return strings.Repeat(string(rune('a'+i)), 4) })
				if err != nil {
					t.Error(err)
				}
				got[i] = v
			})
		}
		wg.Wait()
		for _, v := range got {
			if v != got[0] || v == "" {
				t.Fatalf("replicas disagree on a setting: %v", got)
			}
		}
	})
}

func TestModelsForIsOneFilteredQuery(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		c := addController(t, d, "ctl-a", "u-a")
		for i, owner := range []string{"alice", "bob", "carol"} {
			m := &db.Model{UUID: "m" + owner, Name: "m", Owner: owner, ControllerID: c.ID, Cloud: "localhost", Region: "r1", Life: "alive"}
			if err := d.WithContext(ctx).Create(m).Error; err != nil {
				t.Fatal(err)
			}
			d.WithContext(ctx).Create(&db.Relation{Subject: "user:" + owner, Relation: "administrator", ObjectKind: "model", ObjectID: m.UUID})
			_ = i
		}
		d.WithContext(ctx).Create(&db.Relation{Subject: "group:ops#member", Relation: "reader", ObjectKind: "model", ObjectID: "mcarol"})
		d.WithContext(ctx).Create(&db.Relation{Subject: "user:alice", Relation: "reader", ObjectKind: "cloud", ObjectID: "mbob"})

		got, err := d.ModelsFor(ctx, []string{"user:alice", "group:ops#member"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		for _, m := range got {
			seen[m.UUID] = m.Relation
			if m.AgentVersion != "3.5.4" || m.CloudType != "lxd" {
				t.Fatalf("agent version and cloud type of %s: %q, %q", m.UUID, m.AgentVersion, m.CloudType)
			}
		}
		if len(got) != 2 || seen["malice"] != "administrator" || seen["mcarol"] != "reader" {
			t.Fatalf("models for alice+ops: %v (a cloud relation with a model's id must not count)", seen)
		}
		all, err := d.ModelsFor(ctx, nil, nil)
		if err != nil || len(all) != 3 {
			t.Fatalf("all models: %v, %d", err, len(all))
		}
		// An administrator of the controller: its models as administrator,
		// besides the subject's own relations.
		c2 := addController(t, d, "ctl-b", "u-b")
		d.WithContext(ctx).Create(&db.Model{UUID: "mdave", Name: "m", Owner: "dave", ControllerID: c2.ID, Cloud: "localhost", Region: "r1", Life: "alive"})
		got, err = d.ModelsFor(ctx, []string{"user:alice"}, []string{c2.Name})
		if err != nil {
			t.Fatal(err)
		}
		seen = map[string]string{}
		for _, m := range got {
			seen[m.UUID] = m.Relation
		}
		if len(got) != 2 || seen["malice"] != "administrator" || seen["mdave"] != "administrator" || got[0].AgentVersion != "3.5.4" {
			t.Fatalf("models for alice as administrator of ctl-b: %+v", got)
		}
	})
}

func TestNotifyBetweenReplicas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, a *db.DB) {
		// A second replica on the same database (SQLite is one process:
		// the same handle).
		b := a
		if a.Dialect() == "postgres" {
			var err error
			if b, err = db.Open(t.Context(), a.DSN(), quiet); err != nil {
				t.Fatal(err)
			}
			defer b.Close()
		}
		got := make(chan string, 16)
		if err := b.Listen(t.Context(), "jimm_test", func(p string) { got <- p }); err != nil {
			t.Fatal(err)
		}
		recv := func(want string) {
			t.Helper()
			select {
			case p := <-got:
				if p != want {
					t.Fatalf("got notification %q, want %q", p, want)
				}
			case <-time.After(time.Second):
				t.Fatalf("no notification %q within 1s", want)
			}
		}
		if err := a.Notify(t.Context(), "jimm_test", "plain"); err != nil {
			t.Fatal(err)
		}
		recv("plain")
		// Queued in a transaction: delivered on commit, not on rollback.
		err := a.Tx(t.Context(), func(tx *gorm.DB, notify func(string, string)) error {
			notify("jimm_test", "rolled-back")
			return errors.New("roll back")
		})
		if err == nil {
			t.Fatal("the transaction did not fail")
		}
		if err := a.Tx(t.Context(), func(tx *gorm.DB, notify func(string, string)) error {
			notify("jimm_test", "committed")
			return tx.Exec("INSERT INTO settings (name, value) VALUES ('k', 'v')").Error
		}); err != nil {
			t.Fatal(err)
		}
		recv("committed")
		select {
		case p := <-got:
			t.Fatalf("unexpected notification %q (a rolled-back one?)", p)
		case <-time.After(200 * time.Millisecond):
		}
	})
}

func TestListenReconnects(t *testing.T) {
	d := dbtest.PostgreSQL(t)
	got := make(chan string, 16)
	if err := d.Listen(t.Context(), "jimm_test", func(p string) { got <- p }); err != nil {
		t.Fatal(err)
	}
	// Kill the listener's backend, as a database restart would.
	if err := d.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()").Error; err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for resynced := false; !resynced; {
		select {
		case p := <-got:
			resynced = p == ""
		case <-deadline:
			t.Fatal("the listener did not come back (no resync notification)")
		}
	}
	if err := d.Notify(t.Context(), "jimm_test", "after"); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "after" {
			t.Fatalf("got %q after reconnecting, want %q", p, "after")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no notification after reconnecting")
	}
}
