package integration

import (
	"testing"

	"github.com/juju/juju/api/client/modelconfig"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/api/client/usermanager"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"
)

// TestPasswordLogin checks password logins: wrong passwords and unknown
// users are refused as Juju refuses them, and a user added with a password
// sees and may change exactly what it is granted.
func TestPasswordLogin(t *testing.T) {
	t.Parallel()
	c := startController(t, "ctl-users")

	for _, tc := range []struct{ user, password string }{
		{"admin", "wrong"},
		{"admin", ""},
		{"nobody", adminPassword},
	} {
		conn, err := c.tryOpen(tc.user, tc.password, "")
		if err == nil {
			conn.Close()
		}
		wantErr(t, "login as "+tc.user+" with password "+tc.password, err, params.CodeUnauthorized, "invalid entity name or password")
	}

	adminConn := c.admin(t, "")
	mm := modelmanager.NewClient(adminConn)
	info, err := mm.CreateModel("shared", "admin", "", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	uuid := info.UUID
	tag, _, err := usermanager.NewClient(adminConn).AddUser("alice", "Alice", "alice-secret")
	if err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	if tag.Id() != "alice" {
		t.Errorf("AddUser returned tag %s, want user-alice", tag)
	}
	_, _, err = usermanager.NewClient(adminConn).AddUser("alice", "Alice", "other")
	wantErr(t, "AddUser of an existing user", err, params.CodeAlreadyExists, "already exists")

	_, err = c.tryOpen("alice", "not-alice-secret", "")
	wantErr(t, "login as alice with a wrong password", err, params.CodeUnauthorized, "invalid entity name or password")

	alice := c.openAs(t, "alice", "alice-secret", "")
	if alice.AuthTag().String() != "user-alice" || alice.ControllerAccess() != "login" {
		t.Errorf("alice logged in as %s with controller access %q, want user-alice with login", alice.AuthTag(), alice.ControllerAccess())
	}
	amm := modelmanager.NewClient(alice)
	if ms := listModels(t, amm, "alice"); len(ms) != 0 {
		t.Errorf("alice, granted nothing, sees models %+v", ms)
	}
	if sums, err := amm.ListModelSummaries("alice", false); err != nil || len(sums) != 0 {
		t.Errorf("alice's ListModelSummaries = %+v, %v; want none", sums, err)
	}
	_, err = amm.ListModelSummaries("alice", true)
	wantErr(t, "alice's ListModelSummaries(all)", err, params.CodeUnauthorized, "permission denied")
	_, err = amm.ListModels("admin")
	wantErr(t, "alice listing admin's models", err, params.CodeUnauthorized, "permission denied")
	_, _, err = usermanager.NewClient(alice).AddUser("mallory", "", "pw")
	wantErr(t, "AddUser by alice", err, params.CodeUnauthorized, "permission denied")
	_, err = amm.CreateModel("alices", "alice", "", "", names.CloudCredentialTag{}, nil)
	wantErr(t, "CreateModel by alice without cloud access", err, params.CodeUnauthorized, "permission denied")
	if conn, err := c.tryOpen("alice", "alice-secret", uuid); err == nil {
		conn.Close()
		t.Errorf("alice opened model %s without access", uuid)
	} else if errCode(err) != params.CodeUnauthorized {
		t.Errorf("alice's login to a model she may not see: %v (code %q), want code %q", err, errCode(err), params.CodeUnauthorized)
	}

	// Read access: she sees the model and its status, but may not change it.
	if err := mm.GrantModel("alice", "read", uuid); err != nil {
		t.Fatalf("GrantModel read: %v", err)
	}
	ms := listModels(t, amm, "alice")
	if len(ms) != 1 || ms[0].UUID != uuid || ms[0].Owner != "admin" {
		t.Errorf("alice with read sees models %+v, want just %s", ms, uuid)
	}
	sums, err := amm.ListModelSummaries("alice", false)
	if err != nil || len(sums) != 1 || sums[0].UUID != uuid || sums[0].ModelUserAccess != "read" {
		t.Errorf("alice's summaries = %+v, %v; want %s with read access", sums, err, uuid)
	}
	err = amm.DestroyModel(names.NewModelTag(uuid), nil, nil, nil, nil)
	wantErr(t, "DestroyModel by a reader", err, params.CodeUnauthorized, "permission denied")

	// A reader sees only herself among the model's users; the owner sees all.
	infos, err := amm.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
	if err != nil || len(infos) != 1 || infos[0].Error != nil {
		t.Fatalf("alice's ModelInfo: %+v, %v", infos, err)
	}
	if us := infos[0].Result.Users; len(us) != 1 || us[0].UserName != "alice" || us[0].Access != "read" {
		t.Errorf("alice's ModelInfo users = %+v, want just alice with read", us)
	}
	infos, err = mm.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
	if err != nil || len(infos) != 1 || infos[0].Error != nil || len(infos[0].Result.Users) != 2 {
		t.Errorf("admin's ModelInfo = %+v, %v; want admin and alice among the users", infos, err)
	}

	am := c.openAs(t, "alice", "alice-secret", uuid)
	if st := fullStatus(t, am); st.Model.Name != "shared" {
		t.Errorf("alice's status names model %q, want shared", st.Model.Name)
	}
	mc := modelconfig.NewClient(am)
	if _, err := mc.ModelGet(); err != nil {
		t.Errorf("alice's ModelGet with read: %v", err)
	}
	err = mc.ModelSet(map[string]any{"logging-config": "<root>=DEBUG"})
	wantErr(t, "ModelSet with read", err, params.CodeUnauthorized, "permission denied")
	err = mc.ModelUnset("logging-config")
	wantErr(t, "ModelUnset with read", err, params.CodeUnauthorized, "permission denied")

	// Write access applies to the connection she already has.
	if err := mm.GrantModel("alice", "write", uuid); err != nil {
		t.Fatalf("GrantModel write: %v", err)
	}
	if err := mc.ModelSet(map[string]any{"logging-config": "<root>=DEBUG"}); err != nil {
		t.Fatalf("ModelSet with write: %v", err)
	}
	cfg, err := modelconfig.NewClient(c.admin(t, uuid)).ModelGetWithMetadata()
	if err != nil {
		t.Fatalf("admin's ModelGet: %v", err)
	}
	if v := cfg["logging-config"]; v.Value != "<root>=DEBUG" || v.Source != "model" {
		t.Errorf("after alice's ModelSet, admin sees logging-config = %+v", v)
	}

	// Revoking read takes the model away again.
	if err := mm.RevokeModel("alice", "read", uuid); err != nil {
		t.Fatalf("RevokeModel read: %v", err)
	}
	if ms := listModels(t, amm, "alice"); len(ms) != 0 {
		t.Errorf("alice still sees %+v after her access was revoked", ms)
	}
	_, err = mc.ModelGet()
	wantErr(t, "alice's ModelGet after her access was revoked", err, params.CodeNotFound, `model "`+uuid+`" not found`)
}

// TestModelStatusNeedsAdmin checks that ModelManager.ModelStatus, like
// Juju's (apiserver/common/modelstatus.go: HasModelAdmin, else ErrPerm),
// answers only model admins: a reader gets "permission denied" for the
// model, an admin its status.
func TestModelStatusNeedsAdmin(t *testing.T) {
	t.Parallel()
	c := startController(t, "ctl-status-perm")
	adminConn := c.admin(t, "")
	mm := modelmanager.NewClient(adminConn)
	info, err := mm.CreateModel("watched", "admin", "", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	if _, _, err := usermanager.NewClient(adminConn).AddUser("carol", "", "carol-secret"); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	tag := names.NewModelTag(info.UUID)
	for _, access := range []string{"read", "write"} {
		if err := mm.GrantModel("carol", access, info.UUID); err != nil {
			t.Fatalf("GrantModel %s: %v", access, err)
		}
		sts, err := modelmanager.NewClient(c.openAs(t, "carol", "carol-secret", "")).ModelStatus(tag)
		if err != nil || len(sts) != 1 {
			t.Fatalf("ModelStatus: %+v, %v", sts, err)
		}
		if sts[0].Error == nil {
			t.Errorf("ModelStatus for a user with %s access gave the model's status (life %q, %d machines), want permission denied",
				access, sts[0].Life, sts[0].HostedMachineCount)
		} else {
			wantErr(t, "ModelStatus with "+access+" access", sts[0].Error, params.CodeUnauthorized, "permission denied")
		}
	}
	if err := mm.GrantModel("carol", "admin", info.UUID); err != nil {
		t.Fatalf("GrantModel admin: %v", err)
	}
	sts, err := modelmanager.NewClient(c.openAs(t, "carol", "carol-secret", "")).ModelStatus(tag)
	if err != nil || len(sts) != 1 || sts[0].Error != nil || sts[0].Life != "alive" {
		t.Errorf("ModelStatus for a model admin: %+v, %v; want the model alive", sts, err)
	}
}
