package devcontroller

import (
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// addUser adds a local user with a password (as admin).
func addUser(t *testing.T, admin *jujuapi.Client, name, password string) {
	t.Helper()
	var res params.AddUserResults
	if err := admin.Call(t.Context(), "UserManager", 3, "AddUser", params.AddUsers{Users: []params.AddUser{{Username: name, Password: password}}}, &res); err != nil || res.Results[0].Error != nil {
		t.Fatalf("add user %s: %v %+v", name, err, res)
	}
}

// grantModel gives a user access to a model (as admin).
func grantModel(t *testing.T, admin *jujuapi.Client, user, access, uuid string) {
	t.Helper()
	var res params.ErrorResults
	if err := admin.Call(t.Context(), "ModelManager", 10, "ModifyModelAccess", params.ModifyModelAccessRequest{Changes: []params.ModifyModelAccess{{
		UserTag: "user-" + user, Action: "grant", Access: params.UserAccessPermission(access), ModelTag: "model-" + uuid,
	}}}, &res); err != nil || res.Results[0].Error != nil {
		t.Fatalf("grant %s %s: %v %+v", user, access, err, res)
	}
}

// call makes a call that must succeed.
func call(t *testing.T, cl *jujuapi.Client, facade string, version int, method string, args, result any) {
	t.Helper()
	if err := cl.Call(t.Context(), facade, version, method, args, result); err != nil {
		t.Fatalf("%s(%d).%s: %v", facade, version, method, err)
	}
}

// wantItemError checks the error of one item of a bulk result.
func wantItemError(t *testing.T, what string, e *params.Error, code, msg string) {
	t.Helper()
	if e == nil {
		t.Fatalf("%s: no error, want %q (code %q)", what, msg, code)
	}
	if e.Code != code || (msg != "" && e.Message != msg) {
		t.Fatalf("%s: got %q (code %q), want %q (code %q)", what, e.Message, e.Code, msg, code)
	}
}

func ptr[T any](v T) *T { return &v }
