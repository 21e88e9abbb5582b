package devcontroller

import (
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func TestUserManager(t *testing.T) {
	dir := t.TempDir()
	c, stop := runController(t, dir)
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")
	bob := mustLogin(t, c, "/api", "bob", "bobpw")

	// AddUser is for superusers; a user without a password gets a
	// registration key.
	err := bob.Call(t.Context(), "UserManager", 3, "AddUser", params.AddUsers{Users: []params.AddUser{{Username: "eve", Password: "x"}}}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")
	var added params.AddUserResults
	call(t, admin, "UserManager", 3, "AddUser", params.AddUsers{Users: []params.AddUser{
		{Username: "carol", DisplayName: "Carol"}, {Username: "bob", Password: "again"}, {Username: "-bad-"},
	}}, &added)
	if r := added.Results[0]; r.Error != nil || r.Tag != "user-carol" || len(r.SecretKey) != 32 {
		t.Fatalf("carol: %+v", r)
	}
	wantItemError(t, "bob again", added.Results[1].Error, jujuapi.CodeAlreadyExists, "failed to create user: user bob already exists")
	wantItemError(t, "bad name", added.Results[2].Error, "", `failed to create user: invalid user name "-bad-"`)

	// Passwords: one's own, or anyone's for a superuser.
	setPw := func(cl *jujuapi.Client, user, pw string) *params.Error {
		var res params.ErrorResults
		call(t, cl, "UserManager", 3, "SetPassword", params.EntityPasswords{Changes: []params.EntityPassword{{Tag: "user-" + user, Password: pw}}}, &res)
		return res.Results[0].Error
	}
	wantItemError(t, "bob for carol", setPw(bob, "carol", "x"), jujuapi.CodeUnauthorized, "permission denied")
	wantItemError(t, "empty", setPw(bob, "bob", ""), "", "cannot use an empty password")
	if e := setPw(admin, "carol", "carolpw"); e != nil {
		t.Fatal(e)
	}
	mustLogin(t, c, "/api", "carol", "carolpw")

	// ModelUserInfo: the model's users, for those who may read it.
	m := createModel(t, admin, "shared", "admin")
	grantModel(t, admin, "bob", "read", m.UUID)
	var mui params.ModelUserInfoResults
	call(t, bob, "UserManager", 3, "ModelUserInfo", params.Entities{Entities: []params.Entity{{Tag: "model-" + m.UUID}}}, &mui)
	if len(mui.Results) != 2 || mui.Results[0].Result.UserName != "admin" || mui.Results[1].Result.UserName != "bob" ||
		mui.Results[1].Result.Access != "read" || mui.Results[1].Result.ModelTag != "model-"+m.UUID {
		t.Fatalf("ModelUserInfo: %+v", mui)
	}
	carol := mustLogin(t, c, "/api", "carol", "carolpw")
	err = carol.Call(t.Context(), "UserManager", 3, "ModelUserInfo", params.Entities{Entities: []params.Entity{{Tag: "model-" + m.UUID}}}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	// RemoveUser, never the controller's owner; users survive restarts.
	var removed params.ErrorResults
	call(t, admin, "UserManager", 3, "RemoveUser", params.Entities{Entities: []params.Entity{{Tag: "user-carol"}, {Tag: "user-admin"}, {Tag: "user-nobody"}}}, &removed)
	if removed.Results[0].Error != nil {
		t.Fatal(removed.Results[0].Error)
	}
	wantItemError(t, "the owner", removed.Results[1].Error, "", `cannot delete controller owner "admin"`)
	wantItemError(t, "nobody", removed.Results[2].Error, jujuapi.CodeUserNotFound, `user "nobody" not found`)
	stop()
	c = startController(t, dir)
	if _, _, err := login(t, c, "/api", "carol", "carolpw"); jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
		t.Fatalf("removed user logs in after restart: %v", err)
	}
	mustLogin(t, c, "/api", "bob", "bobpw")
}
