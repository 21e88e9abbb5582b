package devcontroller

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/devcontroller/testcharms"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// zipOf builds a zip archive of files (name → content).
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	data, err := testcharms.Zip(files)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sha7 is what the Juju client puts in an S3 charm object's name.
func sha7(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:7]
}

// TestCharmUpload: the model's charms endpoints, legacy (POST
// /model/<uuid>/charms) and S3 (PUT /model-<uuid>/charms/<name>-<sha7>),
// store good charms and refuse the rest with Juju's statuses, codes and
// messages.
func TestCharmUpload(t *testing.T) {
	c := startController(t, t.TempDir(), func(cfg *Config) { cfg.MaxCharmSize = 64 << 10 })
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "m", "admin")
	addUser(t, admin, "reader", "secret")
	grantModel(t, admin, "reader", "read", m.UUID)
	addUser(t, admin, "writer", "secret")
	grantModel(t, admin, "writer", "write", m.UUID)
	addUser(t, admin, "stranger", "secret")

	demo := packCharm(t, testcharms.Demo)
	nested := zipOf(t, map[string]string{"demo/metadata.yaml": "name: nested\nsummary: s\ndescription: d\n", "demo/dispatch": "#!/bin/sh\n"})
	ambiguous := zipOf(t, map[string]string{"a/metadata.yaml": "name: a\nsummary: s\ndescription: d\n", "b/metadata.yaml": "name: b\nsummary: s\ndescription: d\n"})
	noMeta := zipOf(t, map[string]string{"config.yaml": "options: {}\n"})
	badMeta := zipOf(t, map[string]string{"metadata.yaml": "summary: s\ndescription: d\n"})
	badConfig := zipOf(t, map[string]string{"metadata.yaml": "name: x\nsummary: s\ndescription: d\n", "config.yaml": "options:\n  a:\n    type: int\n    default: nope\n"})
	large := bytes.Repeat([]byte("x"), 65<<10+1)
	zipH := http.Header{"Content-Type": {"application/zip"}}
	s3 := func(data []byte, name string) (string, http.Header) {
		return "/model-" + m.UUID + "/charms/" + name + "-" + sha7(data), http.Header{"Content-Type": {"application/zip"}, "Juju-Curl": {"local:jammy/" + name + "-0"}}
	}
	legacy := "/model/" + m.UUID + "/charms?series=jammy&schema=local&revision=0"

	type want struct {
		status int
		code   string
		msg    string // the JSON error, or the text body for 401/403
		url    string
	}
	s3Path, s3Header := s3(demo, "demo")
	badSHAPath := "/model-" + m.UUID + "/charms/demo-0000000"
	for _, tc := range []struct {
		name, method, path, user string
		header                   http.Header
		body                     []byte
		want                     want
	}{
		{"legacy upload", "POST", legacy, "user-admin", zipH, demo, want{status: 200, url: "local:jammy/demo-0"}},
		{"legacy upload again: next revision", "POST", legacy, "user-writer", zipH, demo, want{status: 200, url: "local:jammy/demo-1"}},
		{"S3 upload", "PUT", s3Path, "user-admin", s3Header, demo, want{status: 200, url: "local:jammy/demo-2"}},
		{"revision asked above the next", "POST", "/model/" + m.UUID + "/charms?series=jammy&revision=7", "user-admin", zipH, demo, want{status: 200, url: "local:jammy/demo-7"}},
		{"name from the query", "POST", "/model/" + m.UUID + "/charms?name=renamed", "user-admin", zipH, demo, want{status: 200, url: "local:renamed-0"}},
		{"charm in a directory of the archive", "POST", legacy, "user-admin", zipH, nested, want{status: 200, url: "local:jammy/nested-0"}},
		{"not a zip", "POST", legacy, "user-admin", zipH, []byte("not a zip"), want{400, "bad request", "cannot upload charm: cannot open charm archive: zip: not a valid zip file", ""}},
		{"no metadata.yaml", "POST", legacy, "user-admin", zipH, noMeta, want{400, "bad request", "cannot upload charm: invalid charm archive: missing metadata.yaml", ""}},
		{"two roots", "POST", legacy, "user-admin", zipH, ambiguous, want{400, "bad request", "cannot upload charm: invalid charm archive: ambiguous root directory", ""}},
		{"metadata without a name", "POST", legacy, "user-admin", zipH, badMeta, want{400, "bad request", "cannot upload charm: invalid charm archive: metadata: name: expected string, got nothing", ""}},
		{"config default of the wrong type", "POST", legacy, "user-admin", zipH, badConfig, want{400, "bad request", `cannot upload charm: invalid charm archive: invalid config default: option "a" expected int, got "nope"`, ""}},
		{"too large", "POST", legacy, "user-admin", zipH, large, want{400, "bad request", "cannot upload charm: charm archive of 66561 bytes is larger than this controller's limit of 65536 bytes", ""}},
		{"wrong content type", "POST", legacy, "user-admin", http.Header{"Content-Type": {"text/plain"}}, demo, want{400, "bad request", "cannot upload charm: expected Content-Type: application/zip, got: text/plain", ""}},
		{"charmhub schema", "POST", "/model/" + m.UUID + "/charms?schema=ch", "user-admin", zipH, demo, want{400, "bad request", "cannot upload charm: charms may only be uploaded during model migration import", ""}},
		{"S3 sha mismatch", "PUT", badSHAPath, "user-admin", s3Header, demo, want{400, "bad request", "cannot upload charm: Uploaded charm sha256 (" + sha7(demo) + ") does not match sha in url (0000000)", ""}},
		{"S3 without Juju-Curl", "PUT", s3Path, "user-admin", zipH, demo, want{400, "bad request", `cannot upload charm: "" is not a valid charm url`, ""}},
		{"reader", "POST", legacy, "user-reader", zipH, demo, want{403, "", "authorization failed: permission denied", ""}},
		{"user without access", "PUT", s3Path, "user-stranger", s3Header, demo, want{403, "", "authorization failed: permission denied", ""}},
		{"wrong password", "POST", legacy, "user-admin-typo", zipH, demo, want{401, "", "authentication failed: invalid entity name or password", ""}},
		{"no credentials", "POST", legacy, "", zipH, demo, want{401, "", "authentication failed: no credentials provided", ""}},
		{"unknown model", "POST", "/model/00000000-0000-4000-8000-000000000000/charms", "user-admin", zipH, demo, want{404, "model not found", `cannot upload charm: unknown model: "00000000-0000-4000-8000-000000000000"`, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, password := tc.user, "secret"
			if user == "user-admin-typo" {
				user, password = "user-admin", "nope"
			}
			status, body, hdr := charmsDo(t, c, tc.method, tc.path, user, password, tc.header, tc.body)
			if status != tc.want.status {
				t.Fatalf("status %d, want %d: %s", status, tc.want.status, body)
			}
			switch {
			case status == 200:
				var res params.CharmsResponse
				if err := json.Unmarshal(body, &res); err != nil || res.CharmURL != tc.want.url || hdr.Get("Juju-Curl") != tc.want.url {
					t.Errorf("answer %s (Juju-Curl %q), want %s", body, hdr.Get("Juju-Curl"), tc.want.url)
				}
			case status == 401 || status == 403:
				if got := strings.TrimSpace(string(body)); got != tc.want.msg {
					t.Errorf("body %q, want %q", got, tc.want.msg)
				}
			default:
				var res params.CharmsResponse
				if err := json.Unmarshal(body, &res); err != nil {
					t.Fatalf("body %s is not a CharmsResponse: %v", body, err)
				}
				if res.Error != tc.want.msg || res.ErrorCode != tc.want.code || hdr.Get("Content-Type") != "application/json" {
					t.Errorf("error %q (code %q, %s), want %q (code %q)", res.Error, res.ErrorCode, hdr.Get("Content-Type"), tc.want.msg, tc.want.code)
				}
			}
		})
	}

	// What was stored is listed and described, and its files served.
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	var list params.CharmsListResult
	call(t, mc, "Charms", 7, "List", params.CharmsList{Names: []string{"demo"}}, &list)
	if want := []string{"local:jammy/demo-0", "local:jammy/demo-1", "local:jammy/demo-2", "local:jammy/demo-7"}; !slices.Equal(list.CharmURLs, want) {
		t.Errorf("List: %v, want %v", list.CharmURLs, want)
	}
	status, body, _ := charmsDo(t, c, "GET", "/model/"+m.UUID+"/charms?url=local:jammy/demo-0", "user-reader", "secret", nil, nil)
	var files params.CharmsResponse
	json.Unmarshal(body, &files)
	if status != 200 || !slices.Contains(files.Files, "metadata.yaml") || !slices.Contains(files.Files, "revision") {
		t.Errorf("files: %d %s", status, body)
	}
	status, body, _ = charmsDo(t, c, "GET", "/model/"+m.UUID+"/charms?url=local:jammy/demo-0&file=config.yaml", "user-reader", "secret", nil, nil)
	if status != 200 || !strings.Contains(string(body), "greeting") {
		t.Errorf("config.yaml: %d %s", status, body)
	}
	status, body, _ = charmsDo(t, c, "GET", "/model/"+m.UUID+"/charms?url=local:jammy/demo-0&file=*", "user-reader", "secret", nil, nil)
	if status != 200 || !bytes.Equal(body, demo) {
		t.Errorf("archive: %d, %d bytes", status, len(body))
	}
	status, body, _ = charmsDo(t, c, "GET", "/model-"+m.UUID+"/charms/demo-"+sha7(demo), "user-reader", "secret", nil, nil)
	if status != 200 || !bytes.Equal(body, demo) {
		t.Errorf("S3 GET of the archive: %d, %d bytes", status, len(body))
	}
	for _, tc := range []struct {
		path, code, msg string
		status          int
	}{
		{"/model/" + m.UUID + "/charms?url=local:jammy/nope-3", "not found", `cannot retrieve charm: cannot get charm from state: charm "local:jammy/nope-3" not found`, 404},
		{"/model/" + m.UUID + "/charms", "bad request", "cannot retrieve charm: expected url=CharmURL query argument", 400},
		{"/model/" + m.UUID + "/charms?url=local:jammy/demo-0&file=nope.txt", "not found", "cannot retrieve charm: charm file not found", 404},
	} {
		status, body, _ := charmsDo(t, c, "GET", tc.path, "user-admin", "secret", nil, nil)
		var res params.CharmsResponse
		json.Unmarshal(body, &res)
		if res.Error != tc.msg || res.ErrorCode != tc.code || status != tc.status {
			t.Errorf("GET %s: %d %s, want %q (%s)", tc.path, status, body, tc.msg, tc.code)
		}
	}
	if status, _, _ := charmsDo(t, c, "GET", "/model/"+m.UUID+"/charms?url=local:jammy/demo-0", "user-stranger", "secret", nil, nil); status != 403 {
		t.Errorf("GET by a user without access: %d", status)
	}
	if status, _, _ := charmsDo(t, c, "DELETE", "/model/"+m.UUID+"/charms", "user-admin", "secret", nil, nil); status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", status)
	}
}

// TestCharmsFacade: what the client reads of an uploaded charm, and
// Juju's refusals for what the development controller cannot do.
func TestCharmsFacade(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "m", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	url := uploadCharm(t, c, m.UUID, "series=jammy&revision=0", testcharms.Demo)

	var ch params.Charm
	call(t, mc, "Charms", 7, "CharmInfo", params.CharmURL{URL: url}, &ch)
	if ch.URL != url || ch.Revision != 0 || ch.Meta == nil || ch.Meta.Name != "demo" || ch.Meta.MinJujuVersion != "0.0.0" {
		t.Fatalf("CharmInfo: %+v", ch)
	}
	if p := ch.Meta.Provides["website"]; p != (params.CharmRelation{Name: "website", Role: "provider", Interface: "http", Scope: "global"}) {
		t.Errorf("provides: %+v", p)
	}
	if r := ch.Meta.Requires["backend"]; r != (params.CharmRelation{Name: "backend", Role: "requirer", Interface: "http", Optional: true, Limit: 1, Scope: "global"}) {
		t.Errorf("requires: %+v", r)
	}
	if o := ch.Config["port"]; o.Type != "int" || o.Default != float64(8080) {
		t.Errorf("config port: %+v", o)
	}
	if ch.Manifest == nil || len(ch.Manifest.Bases) != 1 || !reflect.DeepEqual(ch.Manifest.Bases[0], params.CharmBase{Name: "ubuntu", Channel: "22.04/stable", Architectures: []string{"amd64"}}) {
		t.Errorf("manifest: %+v", ch.Manifest)
	}
	err := mc.Call(t.Context(), "Charms", 7, "CharmInfo", params.CharmURL{URL: "local:jammy/demo-9"}, nil)
	wantCode(t, err, jujuapi.CodeNotFound, `charm "local:jammy/demo-9" not found`)

	err = mc.Call(t.Context(), "Charms", 7, "AddCharm", params.AddCharmWithOrigin{URL: url, Origin: *localOrigin()}, nil)
	wantCode(t, err, "", `unknown schema for charm URL "local:jammy/demo-0"`)
	err = mc.Call(t.Context(), "Charms", 7, "AddCharm", params.AddCharmWithOrigin{URL: "ch:postgresql", Origin: params.CharmOrigin{Source: "charm-hub"}}, nil)
	wantCode(t, err, jujuapi.CodeBadRequest, "base required for Charmhub charms")
	var metered params.IsMeteredResult
	call(t, mc, "Charms", 7, "IsMetered", params.CharmURL{URL: url}, &metered)
	var res params.CharmResourcesResults
	call(t, mc, "Charms", 7, "ListCharmResources", params.CharmURLAndOrigins{Entities: []params.CharmURLAndOrigin{{CharmURL: url, Origin: *localOrigin()}}}, &res)
	if len(res.Results) != 1 || len(res.Results[0]) != 0 {
		t.Errorf("ListCharmResources: %+v", res)
	}

	// The charm and its archive survive a restart.
	dir := t.TempDir()
	c2, stop := runController(t, dir)
	admin2 := mustLogin(t, c2, "/api", "admin", "secret")
	m2 := createModel(t, admin2, "m", "admin")
	url2 := uploadCharm(t, c2, m2.UUID, "series=jammy", testcharms.Demo)
	stop()
	c2, _ = runController(t, dir)
	mc2 := mustLogin(t, c2, "/model/"+m2.UUID+"/api", "admin", "secret")
	call(t, mc2, "Charms", 7, "CharmInfo", params.CharmURL{URL: url2}, &ch)
	status, body, _ := charmsDo(t, c2, "GET", "/model/"+m2.UUID+"/charms?url="+url2+"&file=*", "user-admin", "secret", nil, nil)
	if status != 200 || !bytes.Equal(body, packCharm(t, testcharms.Demo)) {
		t.Errorf("archive after a restart: %d, %d bytes", status, len(body))
	}
}

// TestMigrationCarriesCharms: a migrated model keeps its uploaded charms
// (archives too), relations and expose and trust settings.
func TestMigrationCarriesCharms(t *testing.T) {
	src, _ := runController(t, t.TempDir(), named("src"))
	dst, _ := runController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	m := createModel(t, admin, "apps", "admin")
	mc := mustLogin(t, src, "/model/"+m.UUID+"/api", "admin", "secret")
	url := uploadCharm(t, src, m.UUID, "series=jammy", testcharms.Demo)
	deployLocal(t, mc, "web", url, 1)
	deployLocal(t, mc, "api", url, 1)
	call(t, mc, "Application", 20, "AddRelation", params.AddRelation{Endpoints: []string{"web", "api:website"}}, nil)
	call(t, mc, "Application", 20, "Expose", params.ApplicationExpose{ApplicationName: "api"}, nil)
	var res params.ErrorResults
	call(t, mc, "Application", 20, "SetConfigs", params.ConfigSetArgs{Args: []params.ConfigSet{{ApplicationName: "api", Config: map[string]string{"trust": "true", "port": "1234"}}}}, &res)
	before := fullStatusOf(t, mc)

	if _, perr := initiate(t, admin, m.UUID, targetInfo(dst)); perr != nil {
		t.Fatal(perr)
	}
	waitRedirect(t, src, m.UUID)
	tc := mustLogin(t, dst, "/model/"+m.UUID+"/api", "admin", "secret")
	after := fullStatusOf(t, tc)
	if len(after.Relations) != 1 || after.Relations[0].Key != before.Relations[0].Key || !after.Applications["api"].Exposed ||
		after.Applications["web"].Charm != url {
		t.Errorf("on the target: relations %+v, api exposed %v", after.Relations, after.Applications["api"].Exposed)
	}
	var get params.ApplicationGetResults
	call(t, tc, "Application", 20, "Get", params.ApplicationGet{ApplicationName: "api"}, &get)
	if get.ApplicationConfig["trust"].(map[string]any)["value"] != true || get.CharmConfig["port"].(map[string]any)["value"] != float64(1234) {
		t.Errorf("api's config on the target: %+v %+v", get.ApplicationConfig, get.CharmConfig)
	}
	status, body, _ := charmsDo(t, dst, "GET", "/model/"+m.UUID+"/charms?url="+url+"&file=*", "user-admin", "secret", nil, nil)
	if status != 200 || !bytes.Equal(body, packCharm(t, testcharms.Demo)) {
		t.Errorf("archive on the target: %d, %d bytes", status, len(body))
	}
	deployLocal(t, tc, "again", url, 1)
	// A new upload on the target takes the next revision.
	if got := uploadCharm(t, dst, m.UUID, "series=jammy", testcharms.Demo); got != "local:jammy/demo-1" {
		t.Errorf("upload on the target got %s, want local:jammy/demo-1", got)
	}
}
