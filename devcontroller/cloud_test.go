package devcontroller

import (
	"slices"
	"testing"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func updateCredential(t *testing.T, cl *jujuapi.Client, tag, authType string, attrs map[string]string, force bool) (params.UpdateCredentialResults, error) {
	t.Helper()
	var res params.UpdateCredentialResults
	err := cl.Call(t.Context(), "Cloud", 7, "UpdateCredentialsCheckModels", params.UpdateCredentialArgs{
		Credentials: []params.TaggedCredential{{Tag: tag, Credential: params.CloudCredential{AuthType: authType, Attributes: attrs}}},
		Force:       force,
	}, &res)
	return res, err
}

// grantCloud gives a user access to the controller's cloud.
func grantCloud(t *testing.T, c *Controller, user, access string) {
	t.Helper()
	if _, err := c.store.UpdateMeta(t.Context(), func(m *store.Meta) error {
		if m.CloudAccess == nil {
			m.CloudAccess = map[string]string{}
		}
		m.CloudAccess[user] = access
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCloudVisibility(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")
	bob := mustLogin(t, c, "/api", "bob", "bobpw")

	// A user without access to the cloud does not see it.
	var clouds params.CloudsResult
	call(t, bob, "Cloud", 7, "Clouds", nil, &clouds)
	if len(clouds.Clouds) != 0 {
		t.Fatalf("bob sees clouds %v without access", clouds.Clouds)
	}
	var cr params.CloudResults
	call(t, bob, "Cloud", 7, "Cloud", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &cr)
	wantItemError(t, "bob's Cloud", cr.Results[0].Error, jujuapi.CodeNotFound, `cloud "localhost" not found`)
	var info params.CloudInfoResults
	call(t, bob, "Cloud", 7, "CloudInfo", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &info)
	wantItemError(t, "bob's CloudInfo", info.Results[0].Error, jujuapi.CodeUnauthorized, "permission denied")

	// With add-model access, bob sees it, and himself only among its users.
	grantCloud(t, c, "bob", "add-model")
	call(t, bob, "Cloud", 7, "Clouds", nil, &clouds)
	if _, ok := clouds.Clouds["cloud-localhost"]; !ok {
		t.Fatalf("bob with add-model access: %+v", clouds)
	}
	info = params.CloudInfoResults{}
	call(t, bob, "Cloud", 7, "CloudInfo", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &info)
	if r := info.Results[0].Result; r == nil || len(r.Users) != 1 || r.Users[0].UserName != "bob" || r.Users[0].Access != "add-model" {
		t.Fatalf("bob's CloudInfo: %+v", info.Results[0])
	}

	// The admin sees it, its regions and its users.
	call(t, admin, "Cloud", 7, "Clouds", nil, &clouds)
	cl, ok := clouds.Clouds["cloud-localhost"]
	if !ok || cl.Type != "lxd" || len(cl.Regions) != 2 || !slices.Equal(cl.AuthTypes, []string{"certificate", "interactive"}) {
		t.Fatalf("admin's clouds: %+v", clouds)
	}
	info = params.CloudInfoResults{}
	call(t, admin, "Cloud", 7, "CloudInfo", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}, {Tag: "cloud-aws"}}}, &info)
	if r := info.Results[0].Result; r == nil || r.Type != "lxd" || len(r.Users) != 2 || r.Users[0].UserName != "admin" || r.Users[0].Access != "admin" || r.Users[1].UserName != "bob" {
		t.Fatalf("CloudInfo: %+v", info.Results[0])
	}
	wantItemError(t, "CloudInfo of another cloud", info.Results[1].Error, jujuapi.CodeNotFound, `cloud "aws" not found`)
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	c, stop := runController(t, dir)
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")
	bob := mustLogin(t, c, "/api", "bob", "bobpw")
	const bobCred = "cloudcred-localhost_bob_mine"
	secretCert := map[string]string{"client-cert": "CERT", "client-key": "KEY", "server-cert": "SERVER", "other": "dropped"}

	// The admin holds a credential from the start.
	var tags params.StringsResults
	call(t, admin, "Cloud", 7, "UserCredentials", params.UserClouds{UserClouds: []params.UserCloud{{UserTag: "user-admin", CloudTag: "cloud-localhost"}}}, &tags)
	if got := tags.Results[0].Result; len(got) != 1 || got[0] != "cloudcred-localhost_admin_default" {
		t.Fatalf("admin's credentials: %+v", tags)
	}

	writes := []struct {
		name      string
		cl        *jujuapi.Client
		tag, auth string
		force     bool
		code, msg string // an item error; callErr for the whole call
		callErr   bool
	}{
		{name: "own credential", cl: bob, tag: bobCred, auth: "certificate"},
		{name: "another user's", cl: bob, tag: "cloudcred-localhost_admin_x", auth: "certificate", code: jujuapi.CodeUnauthorized, msg: "permission denied"},
		{name: "auth type the cloud lacks", cl: bob, tag: "cloudcred-localhost_bob_up", auth: "userpass", code: jujuapi.CodeNotSupported,
			msg: `updating cloud credentials: validating credential "localhost/bob/up" for cloud "localhost": supported auth-types ["certificate" "interactive"], "userpass" not supported`},
		{name: "another cloud", cl: bob, tag: "cloudcred-aws_bob_x", auth: "certificate", msg: `cannot update credential "x": controller does not manage cloud "aws"`},
		{name: "bad tag", cl: bob, tag: "cloudcred-nonsense", auth: "certificate", code: jujuapi.CodeNotValid, msg: `"cloudcred-nonsense" is not a valid cloudcred tag`},
		{name: "force by a user", cl: bob, tag: bobCred, auth: "certificate", force: true, callErr: true, code: jujuapi.CodeBadRequest, msg: "unexpected force specified: invalid request"},
		{name: "a superuser for another", cl: admin, tag: "cloudcred-localhost_bob_byadmin", auth: "interactive"},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			res, err := updateCredential(t, w.cl, w.tag, w.auth, secretCert, w.force)
			if w.callErr {
				wantCode(t, err, w.code, w.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Results[0].CredentialTag != w.tag {
				t.Fatalf("result tag %q", res.Results[0].CredentialTag)
			}
			if w.msg == "" {
				if res.Results[0].Error != nil {
					t.Fatalf("unexpected error %v", res.Results[0].Error)
				}
				return
			}
			wantItemError(t, w.name, res.Results[0].Error, w.code, w.msg)
		})
	}

	// A model made with bob's credential records it.
	grantCloud(t, c, "bob", "add-model")
	var m params.ModelInfo
	call(t, bob, "ModelManager", 10, "CreateModel", params.ModelCreateArgs{Name: "bobs", OwnerTag: "user-bob", CloudTag: "cloud-localhost", CloudRegion: "r1", CloudCredentialTag: bobCred}, &m)
	if m.CloudCredentialTag != bobCred || m.CloudCredentialValidity == nil || !*m.CloudCredentialValidity {
		t.Fatalf("model credential: %q valid %v", m.CloudCredentialTag, m.CloudCredentialValidity)
	}
	err := bob.Call(t.Context(), "ModelManager", 10, "CreateModel", params.ModelCreateArgs{Name: "nope", OwnerTag: "user-bob", CloudCredentialTag: "cloudcred-localhost_bob_nothere"}, nil)
	wantCode(t, err, jujuapi.CodeNotFound, `getting credential: cloud credential "localhost/bob/nothere" not found`)
	// The admin's models use the admin's credential.
	if am := createModel(t, admin, "admins", "admin"); am.CloudCredentialTag != "cloudcred-localhost_admin_default" {
		t.Fatalf("admin's model credential %q", am.CloudCredentialTag)
	}

	contents := func(cl *jujuapi.Client, args params.CloudCredentialArgs) (params.CredentialContentResults, error) {
		var res params.CredentialContentResults
		err := cl.Call(t.Context(), "Cloud", 7, "CredentialContents", args, &res)
		return res, err
	}
	// Without secrets: only the schema's visible attributes (none for LXD
	// certificates); with them, every attribute of the schema.
	res, err := contents(bob, params.CloudCredentialArgs{})
	if err != nil || len(res.Results) != 2 {
		t.Fatalf("bob's contents: %v %+v", err, res)
	}
	var mine *params.ControllerCredentialInfo
	for _, r := range res.Results {
		if r.Result.Content.Name == "mine" {
			mine = r.Result
		}
	}
	if mine == nil || len(mine.Content.Attributes) != 0 || mine.Content.AuthType != "certificate" || mine.Content.Valid == nil || !*mine.Content.Valid ||
		len(mine.Models) != 1 || mine.Models[0].Model != "bobs" || mine.Models[0].Access != "admin" {
		t.Fatalf("contents without secrets: %+v", mine)
	}
	res, _ = contents(bob, params.CloudCredentialArgs{IncludeSecrets: true, Credentials: []params.CloudCredentialArg{{CloudName: "localhost", CredentialName: "mine"}, {CloudName: "localhost", CredentialName: "gone"}}})
	attrs := res.Results[0].Result.Content.Attributes
	if len(attrs) != 3 || attrs["client-key"] != "KEY" || attrs["other"] != "" {
		t.Fatalf("contents with secrets: %v", attrs)
	}
	wantItemError(t, "a credential bob lacks", res.Results[1].Error, jujuapi.CodeNotFound, `cloud credential "localhost/bob/gone" not found`)
	// Only the owner sees contents: a superuser has no credential of bob's.
	addUser(t, admin, "carol", "carolpw")
	carol := mustLogin(t, c, "/api", "carol", "carolpw")
	_, err = contents(carol, params.CloudCredentialArgs{})
	wantCode(t, err, jujuapi.CodeNotFound, `cloud credentials for "carol" not found`)
	// Cloud.Credential redacts the secrets.
	var cred params.CloudCredentialResults
	call(t, admin, "Cloud", 7, "Credential", params.Entities{Entities: []params.Entity{{Tag: bobCred}}}, &cred)
	if r := cred.Results[0].Result; r == nil || r.Attributes["other"] != "dropped" || r.Attributes["client-key"] != "" || len(r.Redacted) != 3 {
		t.Fatalf("Credential: %+v", cred.Results[0])
	}
	cred = params.CloudCredentialResults{}
	call(t, carol, "Cloud", 7, "Credential", params.Entities{Entities: []params.Entity{{Tag: bobCred}}}, &cred)
	wantItemError(t, "carol reading bob's credential", cred.Results[0].Error, jujuapi.CodeUnauthorized, "permission denied")

	// A credential in use is revoked only by force; then models lose it.
	revoke := func(force bool) *params.Error {
		var res params.ErrorResults
		call(t, bob, "Cloud", 7, "RevokeCredentialsCheckModels", params.RevokeCredentialArgs{Credentials: []params.RevokeCredentialArg{{Tag: bobCred, Force: force}}}, &res)
		return res.Results[0].Error
	}
	wantItemError(t, "revoking a credential in use", revoke(false), "", "cannot revoke credential cloudcred-localhost_bob_mine: it is still used by 1 model")

	// Credentials and the model's use of them survive a restart.
	stop()
	c = startController(t, dir)
	bob = mustLogin(t, c, "/api", "bob", "bobpw")
	if mi := modelInfoOf(t, bob, m.UUID); mi.Result == nil || mi.Result.CloudCredentialTag != bobCred {
		t.Fatalf("model after restart: %+v", mi)
	}
	if e := revoke(true); e != nil {
		t.Fatalf("forced revoke: %v", e)
	}
	if mi := modelInfoOf(t, bob, m.UUID); mi.Result.CloudCredentialTag != "" {
		t.Fatalf("model keeps revoked credential %q", mi.Result.CloudCredentialTag)
	}
	if e := revoke(false); e != nil {
		t.Fatalf("revoking a credential that is gone: %v", e)
	}
}
