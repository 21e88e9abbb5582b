package db_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// notes records the notifications a database delivers on channels.
type notes struct {
	mu  sync.Mutex
	got []string // "channel payload"
}

func listen(t *testing.T, d *db.DB, channels ...string) *notes {
	t.Helper()
	n := &notes{}
	for _, ch := range channels {
		if err := d.Listen(t.Context(), ch, func(p string) {
			n.mu.Lock()
			n.got = append(n.got, ch+" "+p)
			n.mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// await waits (up to 10s) until want has been delivered.
func (n *notes) await(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		n.mu.Lock()
		ok := slices.Contains(n.got, want)
		n.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("notification %q never came; got %q", want, n.got)
		}
	}
}

func (n *notes) has(want string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.got, want)
}

func TestModelRoutes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		n := listen(t, d, db.RoutesChannel, db.RelationsChannel)
		a, b := addController(t, d, "ctl-a", "u-a"), addController(t, d, "ctl-b", "u-b")
		if _, err := d.ModelByUUID(ctx, "m-1"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("ModelByUUID of a missing model: %v, want ErrNotFound", err)
		}
		m := &db.Model{UUID: "m-1", Name: "one", Owner: "alice", ControllerID: a.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive}
		if err := d.AddModel(ctx, m, "user:alice"); err != nil {
			t.Fatal(err)
		}
		n.await(t, db.RelationsChannel+" ")
		n.await(t, db.RoutesChannel+" m-1") // a new model is a route change every replica hears of
		var rels []db.Relation
		if err := d.WithContext(ctx).Where("object_id = ?", "m-1").Find(&rels).Error; err != nil || len(rels) != 1 ||
			rels[0].Subject != "user:alice" || rels[0].Relation != "administrator" || rels[0].ObjectKind != "model" {
			t.Fatalf("the owner's relation after AddModel: %v %+v", err, rels)
		}
		// A second model of the same owner and name is refused whole: no
		// relation is left for it.
		dup := &db.Model{UUID: "m-dup", Name: "one", Owner: "alice", ControllerID: b.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive}
		if err := d.AddModel(ctx, dup, "user:alice"); !errors.Is(err, db.ErrDuplicate) {
			t.Fatalf("AddModel of a taken name: %v, want ErrDuplicate", err)
		}
		var count int64
		d.WithContext(ctx).Model(&db.Relation{}).Where("object_id = ?", "m-dup").Count(&count)
		if count != 0 {
			t.Fatalf("a refused AddModel left %d relations", count)
		}
		for _, c := range []struct {
			owner, name string
			want        bool
		}{{"alice", "one", true}, {"alice", "two", false}, {"bob", "one", false}} {
			m, err := d.ModelByOwnerName(ctx, c.owner, c.name)
			if got := err == nil && m.UUID == "m-1" && m.Controller.Name == "ctl-a"; got != c.want || (!c.want && !errors.Is(err, db.ErrNotFound)) {
				t.Errorf("ModelByOwnerName(%s, %s) = %+v, %v; want found: %v", c.owner, c.name, m, err, c.want)
			}
		}
		// Administrators: users only (not groups), sorted, by model.
		for _, r := range []db.Relation{
			{Subject: "user:carol", Relation: "administrator", ObjectKind: "model", ObjectID: "m-1"},
			{Subject: "group:g1#member", Relation: "administrator", ObjectKind: "model", ObjectID: "m-1"},
			{Subject: "user:dave", Relation: "reader", ObjectKind: "model", ObjectID: "m-1"},
			{Subject: "user:erin", Relation: "administrator", ObjectKind: "controller", ObjectID: "m-1"},
		} {
			if err := d.WithContext(ctx).Create(&r).Error; err != nil {
				t.Fatal(err)
			}
		}
		uuids := []string{"m-1", "m-none"}
		for i := range 2 * 1000 { // more than one query's worth
			uuids = append(uuids, "m-x"+strconv.Itoa(i))
		}
		admins, err := d.ModelAdmins(ctx, uuids)
		if err != nil || len(admins) != 1 || !slices.Equal(admins["m-1"], []string{"alice", "carol"}) {
			t.Fatalf("ModelAdmins: %v %v", err, admins)
		}
		d.WithContext(ctx).Where("object_kind = 'controller'").Delete(&db.Relation{})
		got, err := d.ModelByUUID(ctx, "m-1")
		if err != nil || got.Controller.Name != "ctl-a" || got.Name != "one" {
			t.Fatalf("ModelByUUID: %v %+v", err, got)
		}
		if err := d.SetModelCounts(ctx, "m-1", 3, -1); err != nil {
			t.Fatal(err)
		}
		if err := d.SetModelCounts(ctx, "m-1", -1, 7); err != nil {
			t.Fatal(err)
		}
		got, _ = d.ModelByUUID(ctx, "m-1")
		if got.MachineCount != 3 || got.CoreCount != 3 || got.UnitCount != 7 {
			t.Fatalf("counts after SetModelCounts(3, -1) and (-1, 7): %+v", got)
		}

		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		from, err := d.FlipRoute(ctx, "m-1", b.ID, 0, at)
		if err != nil || from != "ctl-a" {
			t.Fatalf("FlipRoute: %q, %v", from, err)
		}
		n.await(t, db.RoutesChannel+" m-1")
		got, _ = d.ModelByUUID(ctx, "m-1")
		if got.Controller.Name != "ctl-b" || !got.UpdatedAt.Equal(at) {
			t.Fatalf("after the flip: on %s, updated %s", got.Controller.Name, got.UpdatedAt)
		}
		if _, err := d.FlipRoute(ctx, "m-missing", a.ID, 0, at); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("FlipRoute of a missing model: %v", err)
		}

		if err := d.SetModelLife(ctx, "m-1", db.LifeDying); err != nil {
			t.Fatal(err)
		}
		if got, _ = d.ModelByUUID(ctx, "m-1"); got.Life != db.LifeDying {
			t.Fatalf("life after SetModelLife: %s", got.Life)
		}
		ctl, err := d.RemoveModel(ctx, "m-1")
		if err != nil || ctl != "ctl-b" {
			t.Fatalf("RemoveModel: %q, %v", ctl, err)
		}
		d.WithContext(ctx).Model(&db.Relation{}).Where("object_id = ?", "m-1").Count(&count)
		if count != 0 {
			t.Fatalf("RemoveModel left %d relations to the model", count)
		}
		if _, err := d.RemoveModel(ctx, "m-1"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("RemoveModel again: %v, want ErrNotFound", err)
		}
		if c, err := d.ControllerByUUID(ctx, "u-b"); err != nil || c.Name != "ctl-b" {
			t.Fatalf("ControllerByUUID: %v %+v", err, c)
		}
		if _, err := d.ControllerByUUID(ctx, "u-none"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("ControllerByUUID of an unknown UUID: %v", err)
		}
	})
}

func addRunningMigration(t *testing.T, d *db.DB, uuid string, src, dst *db.Controller, at time.Time) *db.Migration {
	t.Helper()
	m := &db.Migration{ModelUUID: uuid, ModelName: "one", Owner: "alice", SourceControllerID: src.ID, TargetControllerID: dst.ID,
		Phase: "INITIATING", Result: db.MigrationRunning, StartedAt: at, PhaseChangedAt: at}
	if err := d.AddMigration(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMigrationLeasesAndPhases(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		n := listen(t, d, db.CutoverChannel, db.RoutesChannel)
		a, b := addController(t, d, "ctl-a", "u-a"), addController(t, d, "ctl-b", "u-b")
		if err := d.AddModel(ctx, &db.Model{UUID: "m-1", Name: "one", Owner: "alice", ControllerID: a.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive}, "user:alice"); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		mig := addRunningMigration(t, d, "m-1", a, b, t0)
		// One running migration per model.
		again := &db.Migration{ModelUUID: "m-1", ModelName: "one", Owner: "alice", SourceControllerID: a.ID, TargetControllerID: b.ID,
			Phase: "INITIATING", Result: db.MigrationRunning, StartedAt: t0, PhaseChangedAt: t0}
		if err := d.AddMigration(ctx, again); !errors.Is(err, db.ErrDuplicate) {
			t.Fatalf("a second running migration of a model: %v, want ErrDuplicate", err)
		}
		if err := d.SetControllerMigrationID(ctx, mig.ID, "m-1:0"); err != nil {
			t.Fatal(err)
		}

		// Unheld: it is unclaimed; replica r1 claims it for 15s.
		if un, err := d.UnclaimedMigrations(ctx, t0); err != nil || len(un) != 1 || un[0].ID != mig.ID || un[0].Source.Name != "ctl-a" || un[0].Target.Name != "ctl-b" {
			t.Fatalf("UnclaimedMigrations before any claim: %v %+v", err, un)
		}
		claim := func(owner string, now time.Time) bool {
			t.Helper()
			ok, err := d.ClaimMigration(ctx, mig.ID, owner, now, now.Add(15*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !claim("r1", t0) {
			t.Fatal("r1 cannot claim an unheld migration")
		}
		if claim("r2", t0.Add(10*time.Second)) {
			t.Fatal("r2 claimed a migration r1 holds")
		}
		if un, _ := d.UnclaimedMigrations(ctx, t0.Add(10*time.Second)); len(un) != 0 {
			t.Fatalf("a held migration is listed unclaimed: %+v", un)
		}
		if !claim("r1", t0.Add(10*time.Second)) {
			t.Fatal("r1 cannot renew its own lease")
		}
		// r1 stops renewing: once its lease lapses, r2 adopts it.
		lapsed := t0.Add(26 * time.Second)
		if un, _ := d.UnclaimedMigrations(ctx, lapsed); len(un) != 1 {
			t.Fatalf("a lapsed lease is not listed unclaimed: %+v", un)
		}
		if !claim("r2", lapsed) {
			t.Fatal("r2 cannot adopt a migration whose lease lapsed")
		}
		if claim("r1", lapsed.Add(time.Second)) {
			t.Fatal("r1 took back a migration r2 adopted")
		}

		if err := d.SetMigrationPhase(ctx, mig, "IMPORT", "importing", t0.Add(time.Minute), false); err != nil {
			t.Fatal(err)
		}
		if err := d.SetMigrationPhase(ctx, mig, "SUCCESS", "successful", t0.Add(2*time.Minute), true); err != nil {
			t.Fatal(err)
		}
		n.await(t, db.CutoverChannel+" m-1")
		got, err := d.MigrationByRef(ctx, "m-1")
		if err != nil || got.Phase != "SUCCESS" || got.Message != "successful" || got.ControllerMigrationID != "m-1:0" || got.LeaseOwner != "r2" {
			t.Fatalf("MigrationByRef(model uuid): %v %+v", err, got)
		}

		// The flip ends the migration in the same transaction.
		end := t0.Add(3 * time.Minute)
		if _, err := d.FlipRoute(ctx, "m-1", b.ID, mig.ID, end); err != nil {
			t.Fatal(err)
		}
		n.await(t, db.RoutesChannel+" m-1")
		got, err = d.MigrationByRef(ctx, strconv.FormatInt(mig.ID, 10))
		if err != nil || got.Result != db.MigrationSucceeded || got.Phase != "DONE" || got.EndedAt == nil || !got.EndedAt.Equal(end) || got.LeaseOwner != "" {
			t.Fatalf("the migration after the flip: %v %+v", err, got)
		}
		if ok, _ := d.ClaimMigration(ctx, mig.ID, "r2", end, end.Add(time.Minute)); ok {
			t.Fatal("an ended migration was claimed")
		}
		// A flip naming a migration that does not exist changes nothing.
		if _, err := d.FlipRoute(ctx, "m-1", a.ID, 99999, end); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("FlipRoute with an unknown migration: %v", err)
		}
		if m, _ := d.ModelByUUID(ctx, "m-1"); m.Controller.Name != "ctl-b" {
			t.Fatalf("a failed flip moved the model to %s", m.Controller.Name)
		}

		// A second migration, back, fails.
		back := addRunningMigration(t, d, "m-1", b, a, end)
		if err := d.EndMigration(ctx, back.ID, db.MigrationFailed, "ABORTDONE", "aborted", end.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		all, err := d.Migrations(ctx)
		if err != nil || len(all) != 2 || all[0].ID != back.ID || all[0].Result != db.MigrationFailed || all[0].Source.Name != "ctl-b" {
			t.Fatalf("Migrations, newest first: %v %+v", err, all)
		}
		if _, err := d.MigrationByRef(ctx, "no-such-model"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("MigrationByRef of nothing: %v", err)
		}
		if n.has(db.CutoverChannel + " ") {
			t.Fatal("a phase change without cutover notified the cutover channel")
		}
	})
}

func TestIdentitiesAndSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		t1 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		for _, name := range []string{"bob", "alice", "alice"} {
			if err := d.TouchIdentity(ctx, name, t1); err != nil {
				t.Fatal(err)
			}
			t1 = t1.Add(time.Minute)
		}
		all, err := d.Identities(ctx, nil)
		if err != nil || len(all) != 2 || all[0].Name != "alice" || all[1].Name != "bob" {
			t.Fatalf("Identities(nil): %v %+v", err, all)
		}
		if !all[0].LastLogin.Equal(time.Date(2026, 12, 1, 10, 2, 0, 0, time.UTC)) {
			t.Fatalf("alice's last login %s: want her second", all[0].LastLogin)
		}
		some, err := d.Identities(ctx, []string{"bob", "carol"})
		if err != nil || len(some) != 1 || some[0].Name != "bob" {
			t.Fatalf("Identities(bob, carol): %v %+v", err, some)
		}
		if none, err := d.Identities(ctx, []string{}); err != nil || len(none) != 0 {
			t.Fatalf("Identities(none): %v %+v", err, none)
		}

		hash := []byte("hash-of-a-token")
		if err := d.AddSession(ctx, hash, "alice", t1.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if who, err := d.SessionIdentity(ctx, hash); err != nil || who != "alice" {
			t.Fatalf("SessionIdentity: %q, %v", who, err)
		}
		if err := d.RevokeSession(ctx, hash); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SessionIdentity(ctx, hash); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("SessionIdentity after revoking: %v, want ErrNotFound", err)
		}
		if err := d.RevokeSession(ctx, hash); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
	})
}

// Sessions expired before the cut-off go, in batches; the others stay.
func TestPurgeSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		cut := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		var expired, live [][]byte
		for i := range 7 {
			h := []byte(fmt.Sprintf("expired-%d", i))
			if err := d.AddSession(ctx, h, "alice", cut.Add(-time.Duration(i+1)*time.Minute)); err != nil {
				t.Fatal(err)
			}
			expired = append(expired, h)
		}
		for i, at := range []time.Time{cut, cut.Add(time.Hour)} {
			h := []byte(fmt.Sprintf("live-%d", i))
			if err := d.AddSession(ctx, h, "bob", at); err != nil {
				t.Fatal(err)
			}
			live = append(live, h)
		}
		n, err := d.PurgeSessions(ctx, cut, 3)
		if err != nil || n != int64(len(expired)) {
			t.Fatalf("PurgeSessions: %d, %v; want %d", n, err, len(expired))
		}
		for _, h := range expired {
			if _, err := d.SessionIdentity(ctx, h); !errors.Is(err, db.ErrNotFound) {
				t.Fatalf("session %s expired before the cut-off is still there: %v", h, err)
			}
		}
		for _, h := range live {
			if who, err := d.SessionIdentity(ctx, h); err != nil || who != "bob" {
				t.Fatalf("session %s (not expired before the cut-off): %q, %v", h, who, err)
			}
		}
		if n, err := d.PurgeSessions(ctx, cut, 3); err != nil || n != 0 {
			t.Fatalf("purging again: %d, %v; want 0", n, err)
		}
	})
}

func TestChangeSigningKeys(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		n := listen(t, d, db.KeysChannel)
		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		add := func(kid string) db.KeyChanges {
			return db.KeyChanges{Add: &db.SigningKey{KID: kid, Algorithm: "ES256", PrivateKey: []byte{1}, ActivateAt: &at}}
		}
		seen := 0
		changed, err := d.ChangeSigningKeys(ctx, func(keys []db.SigningKey) (db.KeyChanges, error) {
			seen = len(keys)
			return add("k1"), nil
		})
		if err != nil || !changed || seen != 0 {
			t.Fatalf("first key: changed %v, %v, saw %d keys", changed, err, seen)
		}
		n.await(t, db.KeysChannel+" ")
		// Nothing to do: nothing changes, and no replica is told.
		n.mu.Lock()
		n.got = nil
		n.mu.Unlock()
		changed, err = d.ChangeSigningKeys(ctx, func(keys []db.SigningKey) (db.KeyChanges, error) { return db.KeyChanges{}, nil })
		if err != nil || changed {
			t.Fatalf("no change: changed %v, %v", changed, err)
		}
		// Retire k1, add k2, in one step; then delete k1.
		if _, err := d.ChangeSigningKeys(ctx, func(keys []db.SigningKey) (db.KeyChanges, error) {
			c := add("k2")
			c.RetireKID, c.RetireAt = keys[0].KID, at.Add(time.Hour)
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		keys, err := d.SigningKeys(ctx)
		if err != nil || len(keys) != 2 || keys[0].KID != "k1" || keys[0].RetireAt == nil || !keys[0].RetireAt.Equal(at.Add(time.Hour)) || keys[1].KID != "k2" {
			t.Fatalf("keys after retiring k1 and adding k2: %v %+v", err, keys)
		}
		// A plan that fails changes nothing.
		boom := errors.New("boom")
		if _, err := d.ChangeSigningKeys(ctx, func([]db.SigningKey) (db.KeyChanges, error) {
			return db.KeyChanges{Delete: []string{"k1", "k2"}}, boom
		}); !errors.Is(err, boom) {
			t.Fatalf("a failing plan: %v", err)
		}
		if _, err := d.ChangeSigningKeys(ctx, func([]db.SigningKey) (db.KeyChanges, error) {
			return db.KeyChanges{Delete: []string{"k1"}}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if keys, _ = d.SigningKeys(ctx); len(keys) != 1 || keys[0].KID != "k2" {
			t.Fatalf("keys after deleting k1: %+v", keys)
		}
		n.await(t, db.KeysChannel+" ")
	})
}

// On PostgreSQL, the purge of expired sessions finds them through an
// index, not by reading every session: with 20,000 sessions of which 50
// have expired, its plan uses session_tokens_expires.
func TestSessionPurgeUsesIndex(t *testing.T) {
	d := dbtest.PostgreSQL(t)
	ctx := t.Context()
	cut := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := d.WithContext(ctx).Exec(`INSERT INTO session_tokens (created_at, token_hash, identity, expires_at)
		SELECT now(), decode(md5(i::text), 'hex'), 'user-' || (i % 100), ?::timestamptz + (i - 50) * interval '1 minute'
		FROM generate_series(0, 19999) AS i`, cut).Error; err != nil {
		t.Fatal(err)
	}
	if err := d.WithContext(ctx).Exec("ANALYZE session_tokens").Error; err != nil {
		t.Fatal(err)
	}
	var plan []string
	if err := d.WithContext(ctx).Raw("EXPLAIN "+db.SessionPurgeStatement(), cut, 10000).Scan(&plan).Error; err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "session_tokens_expires") {
		t.Fatalf("the session purge's plan does not use the expiry index:\n%s", text)
	}
	if n, err := d.PurgeSessions(ctx, cut, 0); err != nil || n != 50 {
		t.Fatalf("PurgeSessions: %d, %v; want 50", n, err)
	}
}
