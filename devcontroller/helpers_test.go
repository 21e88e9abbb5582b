package devcontroller

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/jimmbroker/jimm/devcontroller/testcharms"
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

// chOrigin is the origin the Juju client sends for a Charmhub charm.
func chOrigin() *params.CharmOrigin {
	return &params.CharmOrigin{Source: "charm-hub", Type: "charm", Risk: "stable", Architecture: "amd64",
		Base: params.Base{Name: "ubuntu", Channel: "22.04/stable"}}
}

// localOrigin is the origin the Juju client sends for a local charm.
func localOrigin() *params.CharmOrigin {
	return &params.CharmOrigin{Source: "local", Architecture: "amd64", Base: params.Base{Name: "ubuntu", Channel: "22.04/stable"}}
}

// packCharm packs one of the test charms.
func packCharm(t testing.TB, name string) []byte {
	t.Helper()
	data, err := testcharms.Pack(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// charmsDo makes a request to a charms endpoint as user (password
// "secret" unless the user is "" for none) and returns the status and
// body.
func charmsDo(t testing.TB, c *Controller, method, path, user, password string, header http.Header, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "https://"+c.Addr()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if user != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	}
	resp, err := httpsClient(c).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw, resp.Header
}

// uploadCharm uploads a test charm to a model as admin over the legacy
// endpoint with the given query, and returns the charm URL.
func uploadCharm(t testing.TB, c *Controller, uuid, query, name string) string {
	t.Helper()
	status, body, _ := charmsDo(t, c, "POST", "/model/"+uuid+"/charms?"+query, "user-admin", "secret",
		http.Header{"Content-Type": {"application/zip"}}, packCharm(t, name))
	var res params.CharmsResponse
	if err := json.Unmarshal(body, &res); err != nil || status != http.StatusOK || res.CharmURL == "" {
		t.Fatalf("upload %s: %d %s %v", name, status, body, err)
	}
	return res.CharmURL
}
