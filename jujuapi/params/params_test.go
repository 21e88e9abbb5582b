package params_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jimmbroker/jimm/jujuapi"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Compile-time checks that Error (and a pointer to it) is an error.
var (
	_ error = &params.Error{}
	_ error = (*params.Error)(nil)
)

var lastConn = time.Date(2026, 11, 21, 9, 34, 12, 0, time.UTC)

// wireCase is one JSON body as a real Juju 3.5 client or server sends it.
type wireCase struct {
	name string
	// in is the JSON as seen on the wire.
	in string
	// newValue returns a pointer to the type to decode into.
	newValue func() any
	// dropped lists key paths present in `in` that we are expected to omit
	// when re-encoding (because they are empty and omitempty in Juju too).
	dropped []string
	// check inspects the decoded value.
	check func(t *testing.T, v any)
}

var wireCases = []wireCase{{
	name: "Admin.Login request (PROTOCOL.md)",
	in: `{"auth-tag":"user-admin","credentials":"secret","nonce":"","macaroons":null,
	 "bakery-version":3,"cli-args":"juju models","user-data":"","client-version":"3.5.4"}`,
	newValue: func() any { return new(params.LoginRequest) },
	check: func(t *testing.T, v any) {
		r := v.(*params.LoginRequest)
		want := params.LoginRequest{
			AuthTag:       "user-admin",
			Credentials:   "secret",
			BakeryVersion: 3,
			CLIArgs:       "juju models",
			ClientVersion: "3.5.4",
		}
		if !reflect.DeepEqual(*r, want) {
			t.Errorf("got %+v, want %+v", *r, want)
		}
	},
}, {
	name:     "Admin.Login token request",
	in:       `{"auth-tag":"user-bob@external","credentials":"","nonce":"","macaroons":null,"token":"ZXlKaGJHY2lPaUpTVXpJMU5pSjk=","user-data":""}`,
	newValue: func() any { return new(params.LoginRequest) },
	check: func(t *testing.T, v any) {
		r := v.(*params.LoginRequest)
		if r.Token != "ZXlKaGJHY2lPaUpTVXpJMU5pSjk=" || r.AuthTag != "user-bob@external" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "Admin.Login request with macaroons",
	in: `{"auth-tag":"","credentials":"","nonce":"","macaroons":[[{"l":"loc","i":"id","s64":"uJ5SE1W5pixRYM4btO0zNC5rm7W2hc-UsE0ePF-mNLE"}]],
	 "bakery-version":3,"user-data":""}`,
	newValue: func() any { return new(params.LoginRequest) },
	check: func(t *testing.T, v any) {
		r := v.(*params.LoginRequest)
		if len(r.Macaroons) != 1 || !strings.HasPrefix(string(r.Macaroons[0]), "[{") {
			t.Errorf("macaroons not kept as one slice: %q", r.Macaroons)
		}
	},
}, {
	name: "Admin.Login result (PROTOCOL.md)",
	in: `{"controller-tag":"controller-<uuid>","model-tag":"model-<uuid>","server-version":"3.5.4",
	 "public-dns-name":"","servers":[[{"value":"127.0.0.1","type":"ipv4","scope":"public","port":17070}]],
	 "user-info":{"display-name":"admin","identity":"user-admin","controller-access":"superuser",
	              "model-access":"admin","last-connection":"2026-11-21T09:34:12Z"},
	 "facades":[{"name":"Pinger","versions":[1]},{"name":"ModelManager","versions":[9,10]}]}`,
	newValue: func() any { return new(params.LoginResult) },
	// Juju tags public-dns-name omitempty, so an empty one is not sent.
	dropped: []string{"public-dns-name"},
	check: func(t *testing.T, v any) {
		r := v.(*params.LoginResult)
		if r.ControllerTag != "controller-<uuid>" || r.ModelTag != "model-<uuid>" || r.ServerVersion != "3.5.4" {
			t.Errorf("tags/version: %+v", *r)
		}
		wantServers := [][]params.HostPort{{{
			Address: params.Address{Value: "127.0.0.1", Type: params.AddressTypeIPv4, Scope: params.ScopePublic},
			Port:    17070,
		}}}
		if !reflect.DeepEqual(r.Servers, wantServers) {
			t.Errorf("servers: got %+v", r.Servers)
		}
		u := r.UserInfo
		if u == nil || u.Identity != "user-admin" || u.ControllerAccess != "superuser" || u.ModelAccess != "admin" ||
			u.LastConnection == nil || !u.LastConnection.Equal(lastConn) {
			t.Errorf("user-info: %+v", u)
		}
		wantFacades := []params.FacadeVersions{{Name: "Pinger", Versions: []int{1}}, {Name: "ModelManager", Versions: []int{9, 10}}}
		if !reflect.DeepEqual(r.Facades, wantFacades) {
			t.Errorf("facades: %+v", r.Facades)
		}
	},
}, {
	name: "redirect error-info (PROTOCOL.md)",
	in: `{"servers":[[{"value":"10.1.2.3","type":"ipv4","scope":"public","port":17070}]],
	   "ca-cert":"-----BEGIN CERTIFICATE-----\n...","controller-tag":"controller-<uuid>","controller-alias":"dst"}`,
	newValue: func() any { return new(params.RedirectErrorInfo) },
	check: func(t *testing.T, v any) {
		r := v.(*params.RedirectErrorInfo)
		if r.ControllerAlias != "dst" || r.ControllerTag != "controller-<uuid>" ||
			r.CACert != "-----BEGIN CERTIFICATE-----\n..." || len(r.Servers) != 1 || r.Servers[0][0].Value != "10.1.2.3" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Admin.RedirectInfo result",
	in:       `{"servers":[[{"value":"10.1.2.3","type":"ipv4","scope":"local-cloud","port":17070},{"value":"dst.example.com","type":"hostname","scope":"public","port":443}]],"ca-cert":"PEM"}`,
	newValue: func() any { return new(params.RedirectInfoResult) },
	check: func(t *testing.T, v any) {
		r := v.(*params.RedirectInfoResult)
		if len(r.Servers) != 1 || len(r.Servers[0]) != 2 || r.Servers[0][1].Type != params.AddressTypeHostname ||
			r.Servers[0][0].Scope != params.ScopeCloudLocal || r.CACert != "PEM" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Admin(4).LoginDevice result",
	in:       `{"verification-uri":"https://idp.example.com/device","user-code":"ABCD-EFGH"}`,
	newValue: func() any { return new(params.LoginDeviceResponse) },
	check: func(t *testing.T, v any) {
		r := v.(*params.LoginDeviceResponse)
		if r.VerificationURI != "https://idp.example.com/device" || r.UserCode != "ABCD-EFGH" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Admin(4).GetDeviceSessionToken result",
	in:       `{"session-token":"dG9rZW4="}`,
	newValue: func() any { return new(params.GetDeviceSessionTokenResponse) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.GetDeviceSessionTokenResponse); r.SessionToken != "dG9rZW4=" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Admin(4).LoginWithSessionToken request",
	in:       `{"session-token":"dG9rZW4="}`,
	newValue: func() any { return new(params.LoginWithSessionTokenRequest) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.LoginWithSessionTokenRequest); r.SessionToken != "dG9rZW4=" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Admin(4).LoginWithClientCredentials request",
	in:       `{"client-id":"svc-1","client-secret":"s3cret"}`,
	newValue: func() any { return new(params.LoginWithClientCredentialsRequest) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.LoginWithClientCredentialsRequest); r.ClientID != "svc-1" || r.ClientSecret != "s3cret" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "ModelSummaryWatcher.Next result",
	in: `{"models":[{"uuid":"9c2d1f6e-0000-4000-8000-000000000001","controller":"jimm","name":"default","admins":["admin"],
	   "cloud":"localhost","region":"localhost","credential":"localhost/admin/localhost",
	   "size":{"machines":2,"units":3},"status":"available","messages":[{"agent":"unit-demo-0","message":"hook failed"}]},
	  {"uuid":"9c2d1f6e-0000-4000-8000-000000000002","removed":true,"size":{}}]}`, // as Juju encodes it: omitempty keeps an empty struct
	newValue: func() any { return new(params.SummaryWatcherNextResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.SummaryWatcherNextResults)
		if len(r.Models) != 2 {
			t.Fatalf("got %d models", len(r.Models))
		}
		m := r.Models[0]
		if m.Removed || m.Controller != "jimm" || m.Name != "default" || len(m.Admins) != 1 || m.Credential != "localhost/admin/localhost" ||
			m.Size.Machines != 2 || m.Size.Units != 3 || m.Status != "available" || len(m.Messages) != 1 || m.Messages[0].Agent != "unit-demo-0" {
			t.Errorf("model: %+v", m)
		}
		if !r.Models[1].Removed || r.Models[1].Name != "" {
			t.Errorf("removed model: %+v", r.Models[1])
		}
	},
}, {
	name:     "ModelManager.ListModelSummaries request",
	in:       `{"user-tag":"user-admin","all":true}`,
	newValue: func() any { return new(params.ModelSummariesRequest) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.ModelSummariesRequest); r.UserTag != "user-admin" || !r.All {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "ModelManager.ListModelSummaries result",
	in: `{"results":[{"result":{"name":"default","uuid":"9c2d1f6e-0000-4000-8000-000000000001","type":"iaas",
	   "controller-uuid":"2a1b0c3d-0000-4000-8000-000000000002","is-controller":false,"provider-type":"lxd",
	   "cloud-tag":"cloud-localhost","cloud-region":"localhost","cloud-credential-tag":"cloudcred-localhost_admin_localhost",
	   "owner-tag":"user-admin","life":"alive","status":{"status":"available","info":"","since":"2026-11-21T09:34:12Z"},
	   "user-access":"admin","last-connection":"2026-11-21T09:34:12Z",
	   "counts":[{"entity":"machines","count":2},{"entity":"cores","count":4},{"entity":"units","count":3}],
	   "sla":{"level":"unsupported","owner":"admin"},"agent-version":"3.5.4"}},
	  {"error":{"message":"model not found","code":"not found"}}]}`,
	newValue: func() any { return new(params.ModelSummaryResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ModelSummaryResults)
		if len(r.Results) != 2 {
			t.Fatalf("got %d results", len(r.Results))
		}
		s := r.Results[0].Result
		if s == nil || s.Name != "default" || s.UserAccess != params.ModelAdminAccess || s.Life != params.LifeAlive ||
			s.AgentVersion == nil || *s.AgentVersion != "3.5.4" || s.SLA == nil || s.SLA.Level != "unsupported" ||
			s.Status.Status != "available" || s.UserLastConnection == nil {
			t.Errorf("summary: %+v", s)
		}
		if len(s.Counts) != 3 || s.Counts[0].Entity != params.Machines || s.Counts[0].Count != 2 {
			t.Errorf("counts: %+v", s.Counts)
		}
		if e := r.Results[1].Error; e == nil || e.Code != jujuapi.CodeNotFound {
			t.Errorf("error: %+v", e)
		}
	},
}, {
	name:     "ModelManager.ModelInfo request",
	in:       `{"entities":[{"tag":"model-9c2d1f6e-0000-4000-8000-000000000001"}]}`,
	newValue: func() any { return new(params.Entities) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.Entities); len(r.Entities) != 1 || r.Entities[0].Tag != "model-9c2d1f6e-0000-4000-8000-000000000001" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "ModelManager.ModelInfo result with a redirect error",
	in: `{"results":[{"result":{"name":"m","type":"iaas","uuid":"9c2d1f6e-0000-4000-8000-000000000001",
	   "controller-uuid":"2a1b0c3d-0000-4000-8000-000000000002","is-controller":false,"provider-type":"lxd",
	   "default-base":"ubuntu@22.04/stable","cloud-tag":"cloud-localhost","cloud-region":"localhost",
	   "cloud-credential-tag":"cloudcred-localhost_admin_localhost","cloud-credential-validity":true,"owner-tag":"user-admin",
	   "life":"alive","status":{"status":"available","info":"","since":"2026-11-21T09:34:12Z"},
	   "users":[{"model-tag":"model-9c2d1f6e-0000-4000-8000-000000000001","user":"admin","display-name":"admin",
	     "last-connection":"2026-11-21T09:34:12Z","access":"admin"}],
	   "machines":[{"id":"0","hardware":{"arch":"amd64","mem":8192,"cores":2},"instance-id":"juju-01","status":"started"}],
	   "secret-backends":[{"result":{"name":"internal","backend-type":"controller","config":{}},"id":"b1","num-secrets":0,"status":"active"}],
	   "migration":{"status":"importing","start":"2026-11-21T09:34:12Z"},
	   "sla":{"level":"unsupported","owner":"admin"},"agent-version":"3.5.4",
	   "supported-features":[{"name":"juju","description":"the version of Juju used by the model","version":"3.5.4"}]}},
	  {"error":{"message":"redirection to alternative server required","code":"redirection required",
	    "info":{"servers":[[{"value":"10.1.2.3","type":"ipv4","scope":"public","port":17070}]],"ca-cert":"PEM",
	            "controller-tag":"controller-2a1b0c3d-0000-4000-8000-000000000003","controller-alias":"dst"}}}]}`,
	newValue: func() any { return new(params.ModelInfoResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ModelInfoResults)
		if len(r.Results) != 2 {
			t.Fatalf("got %d results", len(r.Results))
		}
		m := r.Results[0].Result
		if m == nil || m.DefaultBase != "ubuntu@22.04/stable" || m.CloudTag != "cloud-localhost" ||
			m.CloudCredentialValidity == nil || !*m.CloudCredentialValidity || len(m.Users) != 1 ||
			m.Users[0].UserName != "admin" || m.Users[0].Access != params.ModelAdminAccess {
			t.Errorf("model info: %+v", m)
		}
		if len(m.Machines) != 1 || m.Machines[0].Hardware == nil || *m.Machines[0].Hardware.Mem != 8192 {
			t.Errorf("machines: %+v", m.Machines)
		}
		if m.Migration == nil || m.Migration.Start == nil || m.Migration.End != nil {
			t.Errorf("migration: %+v", m.Migration)
		}
		e := r.Results[1].Error
		if e == nil || e.Code != jujuapi.CodeRedirect {
			t.Fatalf("error: %+v", e)
		}
		var info params.RedirectErrorInfo
		if err := e.UnmarshalInfo(&info); err != nil {
			t.Fatal(err)
		}
		if info.ControllerAlias != "dst" || info.Servers[0][0].Port != 17070 {
			t.Errorf("redirect info: %+v", info)
		}
	},
}, {
	name: "ModelManager.CreateModel request",
	in: `{"name":"m","owner-tag":"user-admin","config":{"logging-config":"<root>=INFO"},
	   "cloud-tag":"cloud-localhost","region":"localhost","credential":"cloudcred-localhost_admin_localhost"}`,
	newValue: func() any { return new(params.ModelCreateArgs) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ModelCreateArgs)
		if r.CloudRegion != "localhost" || r.CloudCredentialTag != "cloudcred-localhost_admin_localhost" ||
			r.Config["logging-config"] != "<root>=INFO" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "ModelManager.ListModels result",
	in: `{"user-models":[{"model":{"name":"m","uuid":"9c2d1f6e-0000-4000-8000-000000000001","type":"iaas","owner-tag":"user-admin"},
	   "last-connection":null}]}`,
	newValue: func() any { return new(params.UserModelList) },
	check: func(t *testing.T, v any) {
		r := v.(*params.UserModelList)
		if len(r.UserModels) != 1 || r.UserModels[0].Model.Name != "m" || r.UserModels[0].LastConnection != nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "ModelManager.DestroyModels request",
	in: `{"models":[{"model-tag":"model-9c2d1f6e-0000-4000-8000-000000000001","destroy-storage":true,"force":false,
	   "max-wait":60000000000,"timeout":1800000000000}]}`,
	newValue: func() any { return new(params.DestroyModelsParams) },
	check: func(t *testing.T, v any) {
		r := v.(*params.DestroyModelsParams)
		m := r.Models[0]
		if m.DestroyStorage == nil || !*m.DestroyStorage || m.Force == nil || *m.Force ||
			m.MaxWait == nil || *m.MaxWait != time.Minute || m.Timeout == nil || *m.Timeout != 30*time.Minute {
			t.Errorf("unexpected %+v", m)
		}
	},
}, {
	name: "ModelManager.ModelStatus result",
	in: `{"models":[{"model-tag":"model-9c2d1f6e-0000-4000-8000-000000000001","life":"dying","type":"iaas",
	   "hosted-machine-count":1,"application-count":1,"unit-count":2,"owner-tag":"user-admin",
	   "applications":[{"name":"pg"}],"machines":[{"id":"0","status":"started"}]},
	  {"model-tag":"","life":"","type":"","hosted-machine-count":0,"application-count":0,"unit-count":0,"owner-tag":"",
	   "error":{"message":"model \"x\" not found","code":"not found"}}]}`,
	newValue: func() any { return new(params.ModelStatusResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ModelStatusResults)
		if len(r.Results) != 2 || r.Results[0].Life != params.LifeDying || r.Results[0].UnitCount != 2 ||
			r.Results[1].Error == nil || r.Results[1].Error.Code != jujuapi.CodeNotFound {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "Cloud.Clouds result",
	in: `{"clouds":{"cloud-localhost":{"type":"lxd","auth-types":["certificate"],"endpoint":"https://10.0.0.1:8443",
	   "regions":[{"name":"localhost"}],"is-controller-cloud":true}}}`,
	newValue: func() any { return new(params.CloudsResult) },
	check: func(t *testing.T, v any) {
		r := v.(*params.CloudsResult)
		c, ok := r.Clouds["cloud-localhost"]
		if !ok || c.Type != "lxd" || len(c.AuthTypes) != 1 || len(c.Regions) != 1 || c.Regions[0].Name != "localhost" ||
			!c.IsControllerCloud {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Controller.ControllerVersion result",
	in:       `{"version":"3.5.4","git-commit":"31b4b0914740"}`,
	newValue: func() any { return new(params.ControllerVersionResults) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.ControllerVersionResults); r.Version != "3.5.4" || r.GitCommit != "31b4b0914740" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Controller.GetControllerAccess result",
	in:       `{"results":[{"result":{"user-tag":"user-admin","access":"superuser"}}]}`,
	newValue: func() any { return new(params.UserAccessResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.UserAccessResults)
		if len(r.Results) != 1 || r.Results[0].Result == nil || r.Results[0].Result.Access != "superuser" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Controller.IdentityProviderURL result",
	in:       `{"result":""}`,
	newValue: func() any { return new(params.StringResult) },
	check:    func(t *testing.T, v any) {},
}, {
	name: "Controller.InitiateMigration request",
	in: `{"specs":[{"model-tag":"model-9c2d1f6e-0000-4000-8000-000000000001","target-info":{
	   "controller-tag":"controller-2a1b0c3d-0000-4000-8000-000000000003","controller-alias":"dst",
	   "addrs":["10.1.2.3:17070"],"ca-cert":"PEM","auth-tag":"user-admin","password":"secret"}}]}`,
	newValue: func() any { return new(params.InitiateMigrationArgs) },
	check: func(t *testing.T, v any) {
		r := v.(*params.InitiateMigrationArgs)
		ti := r.Specs[0].TargetInfo
		if ti.ControllerAlias != "dst" || ti.Addrs[0] != "10.1.2.3:17070" || ti.Password != "secret" || ti.Macaroons != "" {
			t.Errorf("unexpected %+v", ti)
		}
	},
}, {
	name:     "Controller.InitiateMigration result",
	in:       `{"results":[{"model-tag":"model-9c2d1f6e-0000-4000-8000-000000000001","migration-id":"9c2d1f6e-0000-4000-8000-000000000001:0"}]}`,
	newValue: func() any { return new(params.InitiateMigrationResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.InitiateMigrationResults)
		if r.Results[0].MigrationId != "9c2d1f6e-0000-4000-8000-000000000001:0" || r.Results[0].Error != nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "UserManager.UserInfo request",
	in:       `{"entities":[{"tag":"user-admin"}],"include-disabled":false}`,
	newValue: func() any { return new(params.UserInfoRequest) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.UserInfoRequest); len(r.Entities) != 1 || r.IncludeDisabled {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "UserManager.UserInfo result",
	in: `{"results":[{"result":{"username":"admin","display-name":"admin","access":"superuser","created-by":"admin",
	   "date-created":"2026-11-21T09:34:12Z","last-connection":"2026-11-21T09:34:12Z","disabled":false}},
	  {"error":{"message":"user \"bob\" not found","code":"user not found"}}]}`,
	newValue: func() any { return new(params.UserInfoResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.UserInfoResults)
		u := r.Results[0].Result
		if u == nil || u.Username != "admin" || !u.DateCreated.Equal(lastConn) || u.LastConnection == nil {
			t.Errorf("unexpected %+v", u)
		}
		if r.Results[1].Error.Code != jujuapi.CodeUserNotFound {
			t.Errorf("unexpected %+v", r.Results[1].Error)
		}
	},
}, {
	name:     "UserManager.AddUser result",
	in:       `{"results":[{"tag":"user-bob","secret-key":"AQID"}]}`,
	newValue: func() any { return new(params.AddUserResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.AddUserResults)
		if r.Results[0].Tag != "user-bob" || string(r.Results[0].SecretKey) != "\x01\x02\x03" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "ModelConfig.ModelGet result",
	in: `{"config":{"name":{"value":"m","source":"model"},"automatically-retry-hooks":{"value":true,"source":"default"},
	   "num-provision-workers":{"value":16,"source":"default"}}}`,
	newValue: func() any { return new(params.ModelConfigResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ModelConfigResults)
		if r.Config["name"].Value != "m" || r.Config["automatically-retry-hooks"].Value != true ||
			r.Config["num-provision-workers"].Value != float64(16) || r.Config["name"].Source != "model" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Client.FullStatus request",
	in:       `{"patterns":null}`,
	newValue: func() any { return new(params.StatusParams) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.StatusParams); r.Patterns != nil || r.IncludeStorage {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Client.FullStatus result",
	in:       fullStatusJSON,
	newValue: func() any { return new(params.FullStatus) },
	check: func(t *testing.T, v any) {
		r := v.(*params.FullStatus)
		if r.Model.Name != "m" || r.Model.CloudRegion != "localhost" || r.Model.ModelStatus.Status != "available" {
			t.Errorf("model: %+v", r.Model)
		}
		m := r.Machines["0"]
		if m.Base.Name != "ubuntu" || m.InstanceId != "juju-c8a3e8-0" || len(m.Jobs) != 1 || m.Jobs[0] != params.JobHostUnits ||
			m.Containers["0/lxd/0"].Id != "0/lxd/0" {
			t.Errorf("machine: %+v", m)
		}
		a := r.Applications["pg"]
		if a.Charm != "ch:amd64/jammy/postgresql-345" || a.Units["pg/0"].Machine != "0" || !a.Units["pg/0"].Leader ||
			a.Relations["db"][0] != "wp" || a.EndpointBindings[""] != "alpha" {
			t.Errorf("application: %+v", a)
		}
		if len(r.Relations) != 1 || r.Relations[0].Endpoints[0].ApplicationName != "pg" {
			t.Errorf("relations: %+v", r.Relations)
		}
		if r.ControllerTimestamp == nil || !r.ControllerTimestamp.Equal(lastConn) {
			t.Errorf("timestamp: %v", r.ControllerTimestamp)
		}
	},
}, {
	name: "Application.Deploy request",
	in: `{"applications":[{"application":"pg","charm-url":"ch:amd64/jammy/postgresql-345",
	   "charm-origin":{"source":"charm-hub","type":"charm","id":"abc","hash":"h","risk":"stable","revision":345,
	     "track":"14","architecture":"amd64","base":{"name":"ubuntu","channel":"22.04"},"instance-key":"k"},
	   "channel":"14/stable","num-units":1,"config-yaml":"","constraints":{"arch":"amd64","mem":2048},
	   "placement":[{"scope":"#","directive":"0"}],"storage":{"pgdata":{"Pool":"rootfs","Size":1024,"Count":1}},
	   "endpoint-bindings":{"":"alpha"},"resources":{"file":"1"},"Force":false}]}`,
	newValue: func() any { return new(params.ApplicationsDeploy) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ApplicationsDeploy)
		d := r.Applications[0]
		if d.CharmOrigin == nil || *d.CharmOrigin.Revision != 345 || *d.CharmOrigin.Track != "14" ||
			*d.Constraints.Mem != 2048 || d.Placement[0].Directive != "0" || d.Storage["pgdata"].Size != 1024 {
			t.Errorf("unexpected %+v", d)
		}
	},
}, {
	name:     "Application.AddUnits request",
	in:       `{"application":"pg","num-units":2,"placement":null}`,
	newValue: func() any { return new(params.AddApplicationUnits) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.AddApplicationUnits); r.ApplicationName != "pg" || r.NumUnits != 2 {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Application.DestroyApplication request",
	in:       `{"applications":[{"application-tag":"application-pg","destroy-storage":true,"force":false,"dry-run":true}]}`,
	newValue: func() any { return new(params.DestroyApplicationsParams) },
	check: func(t *testing.T, v any) {
		r := v.(*params.DestroyApplicationsParams)
		if a := r.Applications[0]; a.ApplicationTag != "application-pg" || !a.DestroyStorage || !a.DryRun || a.MaxWait != nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Application.DestroyApplication result",
	in:       `{"results":[{"info":{"destroyed-storage":[{"tag":"storage-pgdata-0"}],"destroyed-units":[{"tag":"unit-pg-0"}]}}]}`,
	newValue: func() any { return new(params.DestroyApplicationResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.DestroyApplicationResults)
		if i := r.Results[0].Info; i == nil || i.DestroyedUnits[0].Tag != "unit-pg-0" || i.DetachedStorage != nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "MachineManager.AddMachines request",
	in: `{"params":[{"base":{"name":"ubuntu","channel":"22.04/stable"},"constraints":{"cores":2},"jobs":["JobHostUnits"],
	   "parent-id":"","container-type":"","instance-id":"","nonce":"","hardware-characteristics":{},"addresses":null}]}`,
	newValue: func() any { return new(params.AddMachines) },
	check: func(t *testing.T, v any) {
		r := v.(*params.AddMachines)
		if m := r.MachineParams[0]; m.Base == nil || m.Base.Channel != "22.04/stable" || *m.Constraints.CpuCores != 2 {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "MachineManager.AddMachines result",
	in:       `{"machines":[{"machine":"1"},{"machine":"","error":{"message":"boom","code":""}}]}`,
	newValue: func() any { return new(params.AddMachinesResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.AddMachinesResults)
		if r.Machines[0].Machine != "1" || r.Machines[1].Error.Error() != "boom" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "MigrationTarget.Prechecks request",
	in: `{"uuid":"9c2d1f6e-0000-4000-8000-000000000001","name":"m","owner-tag":"user-admin","agent-version":"3.5.4",
	   "controller-agent-version":"3.5.4","facade-versions":{"MigrationTarget":[1,2,3]}}`,
	newValue: func() any { return new(params.MigrationModelInfo) },
	check: func(t *testing.T, v any) {
		r := v.(*params.MigrationModelInfo)
		if r.AgentVersion != "3.5.4" || !reflect.DeepEqual(r.FacadeVersions["MigrationTarget"], []int{1, 2, 3}) {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "MigrationTarget.Import request",
	in: `{"bytes":"aGVsbG8=","charms":["ch:amd64/jammy/postgresql-345"],
	   "tools":[{"version":"3.5.4-ubuntu-amd64","uri":"/tools/3.5.4-ubuntu-amd64"}],"resources":[]}`,
	newValue: func() any { return new(params.SerializedModel) },
	check: func(t *testing.T, v any) {
		r := v.(*params.SerializedModel)
		if string(r.Bytes) != "hello" || r.Tools[0].URI != "/tools/3.5.4-ubuntu-amd64" || r.Resources == nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "MigrationTarget.Activate request",
	in: `{"model-tag":"model-9c2d1f6e-0000-4000-8000-000000000001","controller-tag":"controller-2a1b0c3d-0000-4000-8000-000000000002",
	   "controller-alias":"src","source-api-addrs":["10.0.0.1:17070"],"source-ca-cert":"PEM","cross-model-uuids":null}`,
	newValue: func() any { return new(params.ActivateModelArgs) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ActivateModelArgs)
		if r.ControllerAlias != "src" || r.SourceAPIAddrs[0] != "10.0.0.1:17070" || r.SourceCACert != "PEM" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "MigrationTarget.Abort request",
	in:       `{"model-tag":"model-9c2d1f6e-0000-4000-8000-000000000001"}`,
	newValue: func() any { return new(params.ModelArgs) },
	check:    func(t *testing.T, v any) {},
}, {
	name:     "bulk error results",
	in:       `{"results":[{},{"error":{"message":"not allowed","code":"unauthorized access","info":{"k":"v"}}}]}`,
	newValue: func() any { return new(params.ErrorResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ErrorResults)
		if r.Results[0].Error != nil || r.Results[1].Error.Code != jujuapi.CodeUnauthorized || r.Results[1].Error.Info["k"] != "v" {
			t.Errorf("unexpected %+v", *r)
		}
		if err := r.Combine(); err == nil || err.Error() != "not allowed" {
			t.Errorf("Combine() = %v", err)
		}
	},
}, {
	name: "Cloud.CloudInfo result (details inline)",
	in: `{"results":[{"result":{"type":"lxd","auth-types":["certificate","interactive"],"endpoint":"https://10.0.0.1:8443",
	   "regions":[{"name":"default"}],"users":[{"user":"admin","display-name":"admin","access":"admin"}]}},
	  {"error":{"message":"cloud \"nope\" not found","code":"not found"}}]}`,
	newValue: func() any { return new(params.CloudInfoResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.CloudInfoResults)
		ci := r.Results[0].Result
		if ci == nil || ci.Type != "lxd" || ci.Endpoint != "https://10.0.0.1:8443" || len(ci.Regions) != 1 ||
			len(ci.Users) != 1 || ci.Users[0].UserName != "admin" || ci.Users[0].Access != "admin" ||
			r.Results[1].Error == nil || r.Results[1].Error.Code != jujuapi.CodeNotFound {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Cloud.ListCloudInfo result (details inline)",
	in:       `{"results":[{"result":{"type":"lxd","auth-types":["certificate"],"regions":[{"name":"default"}],"user-access":"add-model"}}]}`,
	newValue: func() any { return new(params.ListCloudInfoResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ListCloudInfoResults)
		if len(r.Results) != 1 || r.Results[0].Result.Access != "add-model" || r.Results[0].Result.Type != "lxd" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Cloud.UserCredentials request",
	in:       `{"user-clouds":[{"user-tag":"user-admin","cloud-tag":"cloud-localhost"}]}`,
	newValue: func() any { return new(params.UserClouds) },
	check: func(t *testing.T, v any) {
		r := v.(*params.UserClouds)
		if len(r.UserClouds) != 1 || r.UserClouds[0].UserTag != "user-admin" || r.UserClouds[0].CloudTag != "cloud-localhost" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Cloud.UserCredentials result",
	in:       `{"results":[{"result":["cloudcred-localhost_admin_default"]},{"error":{"message":"permission denied","code":"unauthorized access"}}]}`,
	newValue: func() any { return new(params.StringsResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.StringsResults)
		if len(r.Results) != 2 || r.Results[0].Result[0] != "cloudcred-localhost_admin_default" || r.Results[1].Error == nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Cloud.Credential result",
	in:       `{"results":[{"result":{"auth-type":"userpass","attrs":{"username":"bob"},"redacted":["password"]}}]}`,
	newValue: func() any { return new(params.CloudCredentialResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.CloudCredentialResults)
		c := r.Results[0].Result
		if c == nil || c.AuthType != "userpass" || c.Attributes["username"] != "bob" || len(c.Redacted) != 1 {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Cloud.CredentialContents request",
	in:       `{"credentials":[{"cloud-name":"localhost","credential-name":"mine"}],"include-secrets":true}`,
	newValue: func() any { return new(params.CloudCredentialArgs) },
	check: func(t *testing.T, v any) {
		r := v.(*params.CloudCredentialArgs)
		if !r.IncludeSecrets || len(r.Credentials) != 1 || r.Credentials[0].CredentialName != "mine" || r.Credentials[0].CloudName != "localhost" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Cloud.CredentialContents request, all of the caller's",
	in:       `{"include-secrets":false}`,
	newValue: func() any { return new(params.CloudCredentialArgs) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.CloudCredentialArgs); r.IncludeSecrets || r.Credentials != nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "Cloud.CredentialContents result",
	in: `{"results":[{"result":{"content":{"name":"mine","cloud":"localhost","auth-type":"userpass","valid":true,
	   "attrs":{"username":"bob","password":"s3cret"}},"models":[{"model":"m1","access":"admin"}]}},
	  {"error":{"message":"credential \"localhost/bob/x\" not found","code":"not found"}}]}`,
	newValue: func() any { return new(params.CredentialContentResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.CredentialContentResults)
		c := r.Results[0].Result
		if c == nil || c.Content.Name != "mine" || c.Content.Valid == nil || !*c.Content.Valid ||
			c.Content.Attributes["password"] != "s3cret" || len(c.Models) != 1 || c.Models[0].Access != "admin" ||
			r.Results[1].Error.Code != jujuapi.CodeNotFound {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "Cloud.UpdateCredentialsCheckModels request",
	in: `{"credentials":[{"tag":"cloudcred-localhost_bob_mine","credential":{"auth-type":"userpass",
	   "attrs":{"username":"bob","password":"s3cret"}}}],"force":false}`,
	newValue: func() any { return new(params.UpdateCredentialArgs) },
	check: func(t *testing.T, v any) {
		r := v.(*params.UpdateCredentialArgs)
		if len(r.Credentials) != 1 || r.Credentials[0].Tag != "cloudcred-localhost_bob_mine" ||
			r.Credentials[0].Credential.Attributes["password"] != "s3cret" || r.Force {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "Cloud.UpdateCredentialsCheckModels result",
	in: `{"results":[{"tag":"cloudcred-localhost_bob_mine","models":[{"uuid":"u1","name":"m1",
	   "errors":[{"error":{"message":"boom","code":""}}]}]},{"tag":"cloudcred-x","error":{"message":"permission denied","code":"unauthorized access"}}]}`,
	newValue: func() any { return new(params.UpdateCredentialResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.UpdateCredentialResults)
		if len(r.Results) != 2 || len(r.Results[0].Models) != 1 || r.Results[0].Models[0].ModelName != "m1" ||
			r.Results[0].Models[0].Errors[0].Error.Message != "boom" || r.Results[1].Error.Code != jujuapi.CodeUnauthorized {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Cloud.AddCredentials request",
	in:       `{"credentials":[{"tag":"cloudcred-localhost_bob_mine","credential":{"auth-type":"certificate"}}]}`,
	newValue: func() any { return new(params.TaggedCredentials) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.TaggedCredentials); len(r.Credentials) != 1 || r.Credentials[0].Credential.AuthType != "certificate" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Cloud.RevokeCredentialsCheckModels request",
	in:       `{"credentials":[{"tag":"cloudcred-localhost_bob_mine","force":true}]}`,
	newValue: func() any { return new(params.RevokeCredentialArgs) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.RevokeCredentialArgs); len(r.Credentials) != 1 || !r.Credentials[0].Force {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Cloud.ModifyCloudAccess request",
	in:       `{"changes":[{"user-tag":"user-bob","cloud-tag":"cloud-localhost","action":"grant","access":"add-model"}]}`,
	newValue: func() any { return new(params.ModifyCloudAccessRequest) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ModifyCloudAccessRequest)
		if len(r.Changes) != 1 || r.Changes[0].Action != params.GrantCloudAccess || r.Changes[0].Access != "add-model" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "ModelManager.ModelDefaultsForClouds result",
	in: `{"results":[{"config":{"ftp-proxy":{"default":"","controller":"10.0.0.1","regions":[{"region-name":"east","value":"10.0.0.2"}]},
	   "logging-config":{"default":"<root>=INFO"}}},{"config":null,"error":{"message":"cloud \"x\" not found","code":"not found"}}]}`,
	newValue: func() any { return new(params.ModelDefaultsResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ModelDefaultsResults)
		d := r.Results[0].Config["ftp-proxy"]
		if d.Controller != "10.0.0.1" || len(d.Regions) != 1 || d.Regions[0].RegionName != "east" || d.Regions[0].Value != "10.0.0.2" ||
			r.Results[0].Config["logging-config"].Default != "<root>=INFO" || r.Results[1].Error == nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "ModelManager.SetModelDefaults request",
	in:       `{"config":[{"config":{"ftp-proxy":"10.0.0.1"}},{"cloud-tag":"cloud-localhost","cloud-region":"east","config":{"ftp-proxy":"10.0.0.2"}}]}`,
	newValue: func() any { return new(params.SetModelDefaults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.SetModelDefaults)
		if len(r.Config) != 2 || r.Config[0].CloudTag != "" || r.Config[1].CloudRegion != "east" || r.Config[1].Config["ftp-proxy"] != "10.0.0.2" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "ModelManager.UnsetModelDefaults request",
	in:       `{"keys":[{"cloud-tag":"cloud-localhost","keys":["ftp-proxy"]}]}`,
	newValue: func() any { return new(params.UnsetModelDefaults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.UnsetModelDefaults)
		if len(r.Keys) != 1 || r.Keys[0].CloudTag != "cloud-localhost" || r.Keys[0].Keys[0] != "ftp-proxy" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "ModelManager.ChangeModelCredential request",
	in:       `{"model-credentials":[{"model-tag":"model-u1","credential-tag":"cloudcred-localhost_bob_mine"}]}`,
	newValue: func() any { return new(params.ChangeModelCredentialsParams) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.ChangeModelCredentialsParams); len(r.Models) != 1 || r.Models[0].CloudCredentialTag != "cloudcred-localhost_bob_mine" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "ModelConfig.GetModelConstraints result",
	in:       `{"constraints":{"arch":"amd64","cores":2,"mem":4096,"tags":["a","b"],"zones":["z1"]}}`,
	newValue: func() any { return new(params.GetConstraintsResults) },
	check: func(t *testing.T, v any) {
		c := v.(*params.GetConstraintsResults).Constraints
		if c.Arch == nil || *c.Arch != "amd64" || c.CpuCores == nil || *c.CpuCores != 2 || c.Mem == nil || *c.Mem != 4096 ||
			c.Tags == nil || len(*c.Tags) != 2 || c.Zones == nil {
			t.Errorf("unexpected %+v", c)
		}
	},
}, {
	name:     "ModelConfig.GetModelConstraints result, none set",
	in:       `{"constraints":{}}`,
	newValue: func() any { return new(params.GetConstraintsResults) },
	check:    func(t *testing.T, v any) {},
}, {
	name:     "ModelConfig.SetModelConstraints request",
	in:       `{"application":"","constraints":{"mem":8192,"allocate-public-ip":true}}`,
	newValue: func() any { return new(params.SetConstraints) },
	check: func(t *testing.T, v any) {
		c := v.(*params.SetConstraints).Constraints
		if c.Mem == nil || *c.Mem != 8192 || c.AllocatePublicIP == nil || !*c.AllocatePublicIP {
			t.Errorf("unexpected %+v", c)
		}
	},
}, {
	name:     "ModelConfig.Sequences result",
	in:       `{"sequences":{"machine":3,"application-pg":2}}`,
	newValue: func() any { return new(params.ModelSequencesResult) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.ModelSequencesResult); r.Sequences["machine"] != 3 {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Block.List result",
	in:       `{"results":[{"result":{"id":"1","tag":"model-u1","type":"BlockDestroy","message":"not today"}}]}`,
	newValue: func() any { return new(params.BlockResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.BlockResults)
		if len(r.Results) != 1 || r.Results[0].Result.Type != params.BlockDestroy || r.Results[0].Result.Message != "not today" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Block.List result, none",
	in:       `{}`,
	newValue: func() any { return new(params.BlockResults) },
	check:    func(t *testing.T, v any) {},
}, {
	name:     "Block.SwitchBlockOn request",
	in:       `{"type":"BlockChange","message":"frozen"}`,
	newValue: func() any { return new(params.BlockSwitchParams) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.BlockSwitchParams); r.Type != params.BlockChange || r.Message != "frozen" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Bundle.ExportBundle request",
	in:       `{"include-charm-defaults":true,"include-series":true}`,
	newValue: func() any { return new(params.ExportBundleParams) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.ExportBundleParams); !r.IncludeCharmDefaults || !r.IncludeSeries {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Bundle.ExportBundle result",
	in:       `{"result":"applications:\n  pg:\n    charm: postgresql\n"}`,
	newValue: func() any { return new(params.StringResult) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.StringResult); !strings.HasPrefix(r.Result, "applications:") {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Bundle.GetChangesMapArgs request",
	in:       `{"yaml":"applications: {}\n","bundleURL":""}`,
	newValue: func() any { return new(params.BundleChangesParams) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.BundleChangesParams); r.BundleDataYAML != "applications: {}\n" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "Bundle.GetChangesMapArgs result",
	in: `{"changes":[{"id":"addCharm-0","method":"addCharm","args":{"charm":"postgresql","base":"ubuntu@22.04"},"requires":[]},
	   {"id":"deploy-1","method":"deploy","args":{"application":"pg"},"requires":["addCharm-0"]}]}`,
	newValue: func() any { return new(params.BundleChangesMapArgsResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.BundleChangesMapArgsResults)
		if len(r.Changes) != 2 || r.Changes[1].Requires[0] != "addCharm-0" || r.Changes[0].Args["charm"] != "postgresql" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Bundle.GetChanges result with errors",
	in:       `{"errors":["application \"x\" has no charm"]}`,
	newValue: func() any { return new(params.BundleChangesResults) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.BundleChangesResults); len(r.Errors) != 1 || r.Changes != nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Bundle.GetChanges result",
	in:       `{"changes":[{"id":"addCharm-0","method":"addCharm","args":["postgresql","ubuntu@22.04",""],"requires":[]}]}`,
	newValue: func() any { return new(params.BundleChangesResults) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.BundleChangesResults); len(r.Changes) != 1 || len(r.Changes[0].Args) != 3 {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "ModelUpgrader.UpgradeModel request",
	in:       `{"model-tag":"model-u1","target-version":"3.5.5","agent-stream":"released","ignore-agent-versions":true,"dry-run":true}`,
	newValue: func() any { return new(params.UpgradeModelParams) },
	check: func(t *testing.T, v any) {
		r := v.(*params.UpgradeModelParams)
		if r.TargetVersion != "3.5.5" || !r.DryRun || !r.IgnoreAgentVersions || r.AgentStream != "released" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "ModelUpgrader.UpgradeModel result",
	in:       `{"chosen-version":"3.5.5"}`,
	newValue: func() any { return new(params.UpgradeModelResult) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.UpgradeModelResult); r.ChosenVersion != "3.5.5" || r.Error != nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "ModelUpgrader.AbortModelUpgrade request",
	in:       `{"model-tag":"model-u1"}`,
	newValue: func() any { return new(params.ModelParam) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.ModelParam); r.ModelTag != "model-u1" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "MachineManager(10).DestroyMachineWithParams request",
	in:       `{"machine-tags":["machine-1","machine-2"],"force":true,"keep":true,"dry-run":true,"max-wait":60000000000}`,
	newValue: func() any { return new(params.DestroyMachinesParams) },
	check: func(t *testing.T, v any) {
		r := v.(*params.DestroyMachinesParams)
		if len(r.MachineTags) != 2 || !r.Force || !r.Keep || !r.DryRun || r.MaxWait == nil || *r.MaxWait != time.Minute {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name: "MachineManager(10).DestroyMachineWithParams result",
	in: `{"results":[{"info":{"machine-id":"1","destroyed-units":[{"tag":"unit-pg-0"}],
	   "destroyed-containers":[{"info":{"machine-id":"1/lxd/0"}}]}},{"error":{"message":"machine 9 not found","code":"not found"}}]}`,
	newValue: func() any { return new(params.DestroyMachineResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.DestroyMachineResults)
		if len(r.Results) != 2 || r.Results[0].Info.MachineId != "1" || r.Results[0].Info.DestroyedUnits[0].Tag != "unit-pg-0" ||
			r.Results[0].Info.DestroyedContainers[0].Info.MachineId != "1/lxd/0" || r.Results[1].Error.Code != jujuapi.CodeNotFound {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "debug-log record (LogMessage)",
	in:       `{"tag":"machine-0","ts":"2026-11-21T09:34:12Z","sev":"INFO","mod":"juju.worker.migrationmaster","loc":"worker.go:42","msg":"migration phase is now: QUIESCE","lab":null}`,
	newValue: func() any { return new(params.LogMessage) },
	check: func(t *testing.T, v any) {
		r := v.(*params.LogMessage)
		if r.Entity != "machine-0" || !r.Timestamp.Equal(lastConn) || r.Severity != "INFO" || r.Module != "juju.worker.migrationmaster" ||
			r.Location != "worker.go:42" || r.Message != "migration phase is now: QUIESCE" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "debug-log initial frame, an error",
	in:       `{"error":{"message":"authorization failed: permission denied","code":"unauthorized access"}}`,
	newValue: func() any { return new(params.ErrorResult) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.ErrorResult); r.Error == nil || r.Error.Code != jujuapi.CodeUnauthorized {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "logsink record (LogRecord)",
	in:       `{"t":"2026-11-21T09:34:12Z","m":"juju.worker.uniter","l":"uniter.go:7","v":"DEBUG","x":"hook ran","e":"unit-pg-0","c":["http"]}`,
	newValue: func() any { return new(params.LogRecord) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.LogRecord); r.Entity != "unit-pg-0" || r.Level != "DEBUG" || len(r.Labels) != 1 {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Annotations.Get result (error always sent)",
	in:       `{"results":[{"entity":"application-pg","annotations":{"gui-x":"10"},"error":{}}]}`,
	newValue: func() any { return new(params.AnnotationsGetResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.AnnotationsGetResults)
		if len(r.Results) != 1 || r.Results[0].Annotations["gui-x"] != "10" || r.Results[0].Error.Error != nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Application.CharmConfig request",
	in:       `{"args":[{"application":"pg","branch":"master"}]}`,
	newValue: func() any { return new(params.ApplicationGetArgs) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.ApplicationGetArgs); len(r.Args) != 1 || r.Args[0].BranchName != "master" {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Application.CharmConfig result keeps Juju's untagged Results",
	in:       `{"Results":[{"config":{"port":{"value":5432,"source":"user","type":"int","description":"p"}}}]}`,
	newValue: func() any { return new(params.ApplicationGetConfigResults) },
	check: func(t *testing.T, v any) {
		if r := v.(*params.ApplicationGetConfigResults); len(r.Results) != 1 || r.Results[0].Config["port"] == nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Application.GetConstraints result",
	in:       `{"results":[{"constraints":{"mem":2048}},{"constraints":{},"error":{"message":"application \"x\" not found","code":"not found"}}]}`,
	newValue: func() any { return new(params.ApplicationGetConstraintsResults) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ApplicationGetConstraintsResults)
		if len(r.Results) != 2 || *r.Results[0].Constraints.Mem != 2048 || r.Results[1].Error == nil {
			t.Errorf("unexpected %+v", *r)
		}
	},
}, {
	name:     "Controller.ListBlockedModels result",
	in:       `{"models":[{"name":"m","model-uuid":"u1","owner-tag":"user-admin","blocks":["BlockDestroy","BlockChange"]}]}`,
	newValue: func() any { return new(params.ModelBlockInfoList) },
	check: func(t *testing.T, v any) {
		r := v.(*params.ModelBlockInfoList)
		if len(r.Models) != 1 || r.Models[0].UUID != "u1" || len(r.Models[0].Blocks) != 2 {
			t.Errorf("unexpected %+v", *r)
		}
	},
}}

// fullStatusJSON is a FullStatus as a Juju 3.5 controller sends it: every
// key without omitempty is present.
const fullStatusJSON = `{
 "model":{"name":"m","type":"iaas","cloud-tag":"cloud-localhost","region":"localhost","version":"3.5.4",
  "available-version":"","model-status":{"status":"available","info":"","data":{},"since":"2026-11-21T09:34:12Z",
  "kind":"","version":"","life":""},"meter-status":{"color":"","message":""},"sla":"unsupported"},
 "machines":{"0":{
  "agent-status":{"status":"started","info":"","data":{},"since":"2026-11-21T09:34:12Z","kind":"","version":"3.5.4","life":""},
  "instance-status":{"status":"running","info":"Running","data":{},"since":"2026-11-21T09:34:12Z","kind":"","version":"","life":""},
  "modification-status":{"status":"applied","info":"","data":{},"since":"2026-11-21T09:34:12Z","kind":"","version":"","life":""},
  "hostname":"juju-c8a3e8-0","dns-name":"10.0.0.5","ip-addresses":["10.0.0.5"],"instance-id":"juju-c8a3e8-0",
  "display-name":"","base":{"name":"ubuntu","channel":"22.04"},"id":"0",
  "network-interfaces":{"eth0":{"ip-addresses":["10.0.0.5"],"mac-address":"00:16:3e:00:00:01","gateway":"10.0.0.1",
    "dns-nameservers":["10.0.0.1"],"space":"alpha","is-up":true}},
  "containers":{"0/lxd/0":{
    "agent-status":{"status":"pending","info":"","data":null,"since":null,"kind":"","version":"","life":""},
    "instance-status":{"status":"pending","info":"","data":null,"since":null,"kind":"","version":"","life":""},
    "modification-status":{"status":"idle","info":"","data":null,"since":null,"kind":"","version":"","life":""},
    "dns-name":"","instance-id":"pending","display-name":"","base":{"name":"ubuntu","channel":"22.04"},"id":"0/lxd/0",
    "containers":{},"constraints":"","hardware":"","jobs":["JobHostUnits"],"has-vote":false,"wants-vote":false}},
  "constraints":"arch=amd64","hardware":"arch=amd64 cores=2 mem=8192M","jobs":["JobHostUnits"],
  "has-vote":false,"wants-vote":false}},
 "applications":{"pg":{"charm":"ch:amd64/jammy/postgresql-345","charm-version":"","charm-profile":"",
  "charm-channel":"14/stable","base":{"name":"ubuntu","channel":"22.04"},"exposed":false,"life":"",
  "relations":{"db":["wp"]},"can-upgrade-to":"","subordinate-to":[],
  "units":{"pg/0":{
    "agent-status":{"status":"idle","info":"","data":{},"since":"2026-11-21T09:34:12Z","kind":"","version":"3.5.4","life":""},
    "workload-status":{"status":"active","info":"Primary","data":{},"since":"2026-11-21T09:34:12Z","kind":"","version":"","life":""},
    "workload-version":"14.11","machine":"0","opened-ports":["5432/tcp"],"public-address":"10.0.0.5","charm":"",
    "subordinates":null,"leader":true}},
  "meter-statuses":null,
  "status":{"status":"active","info":"Primary","data":{},"since":"2026-11-21T09:34:12Z","kind":"","version":"","life":""},
  "workload-version":"14.11","endpoint-bindings":{"":"alpha","db":"alpha"},"public-address":""}},
 "remote-applications":{},"offers":{},
 "relations":[{"id":0,"key":"pg:replicas","interface":"postgresql_peers","scope":"global",
  "endpoints":[{"application":"pg","name":"replicas","role":"peer","subordinate":false}],
  "status":{"status":"joined","info":"","data":{},"since":"2026-11-21T09:34:12Z","kind":"","version":"","life":""}}],
 "controller-timestamp":"2026-11-21T09:34:12Z","branches":{}}`

func TestWireRoundTrip(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.newValue()
			dec := json.NewDecoder(strings.NewReader(tc.in))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("decode: %v", err)
			}
			tc.check(t, v)

			out, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			want := generic(t, []byte(tc.in))
			for _, path := range tc.dropped {
				delete(want.(map[string]any), path)
			}
			got := generic(t, out)

			wantKeys, gotKeys := keyPaths(want), keyPaths(got)
			if !reflect.DeepEqual(wantKeys, gotKeys) {
				t.Errorf("emitted keys differ\n missing: %v\n extra:   %v",
					minus(wantKeys, gotKeys), minus(gotKeys, wantKeys))
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("re-encoded JSON differs\n got:  %s\n want: %s", out, mustMarshal(t, want))
			}
		})
	}
}

func TestRedirectErrorEnvelope(t *testing.T) {
	// The error part of the RPC envelope from PROTOCOL.md, decoded into Error.
	const env = `{"request-id":1,"error":"redirection to alternative server required","error-code":"redirection required",
	 "error-info":{"servers":[[{"value":"10.1.2.3","type":"ipv4","scope":"public","port":17070}]],
	   "ca-cert":"-----BEGIN CERTIFICATE-----\n...","controller-tag":"controller-<uuid>","controller-alias":"dst"},
	 "response":{}}`
	var raw struct {
		Error     string         `json:"error"`
		ErrorCode string         `json:"error-code"`
		ErrorInfo map[string]any `json:"error-info"`
	}
	if err := json.Unmarshal([]byte(env), &raw); err != nil {
		t.Fatal(err)
	}
	e := &params.Error{Message: raw.Error, Code: raw.ErrorCode, Info: raw.ErrorInfo}
	if e.Code != jujuapi.CodeRedirect {
		t.Errorf("code = %q", e.Code)
	}
	var info params.RedirectErrorInfo
	if err := e.UnmarshalInfo(&info); err != nil {
		t.Fatal(err)
	}
	if info.ControllerAlias != "dst" || info.Servers[0][0].Value != "10.1.2.3" || info.Servers[0][0].Scope != params.ScopePublic {
		t.Errorf("info = %+v", info)
	}
	// AsMap must reproduce exactly the error-info keys.
	m := info.AsMap()
	if !reflect.DeepEqual(m, raw.ErrorInfo) {
		t.Errorf("AsMap() = %v, want %v", m, raw.ErrorInfo)
	}
}

func TestErrorIsAnError(t *testing.T) {
	e := &params.Error{Message: "model \"m\" not found", Code: jujuapi.CodeNotFound}
	var err error = e
	if err.Error() != `model "m" not found` {
		t.Errorf("Error() = %q", err.Error())
	}
	wrapped := fmt.Errorf("calling ModelInfo: %w", err)
	var target *params.Error
	if !errors.As(wrapped, &target) || jujuapi.ErrorCode(wrapped) != jujuapi.CodeNotFound {
		t.Errorf("errors.As failed: %v", target)
	}

	data, err := json.Marshal(params.Error{Message: "m", Code: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"message":"m","code":"c"}` {
		t.Errorf("encoded %s; info must be omitted when empty", data)
	}
}

func TestErrorResultsOneError(t *testing.T) {
	tests := []struct {
		name    string
		results params.ErrorResults
		want    string
	}{
		{"none", params.ErrorResults{}, "expected 1 result, got 0"},
		{"ok", params.ErrorResults{Results: []params.ErrorResult{{}}}, ""},
		{"failed", params.ErrorResults{Results: []params.ErrorResult{{Error: &params.Error{Message: "boom"}}}}, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.results.OneError()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("OneError() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEncodeKeys checks the exact keys we emit for values built in Go,
// including the quirky names Juju uses.
func TestEncodeKeys(t *testing.T) {
	yes := true
	wait := time.Minute
	version := "3.5.4"
	tests := []struct {
		name  string
		value any
		want  []string
	}{{
		name:  "zero LoginRequest",
		value: params.LoginRequest{},
		want:  []string{"auth-tag", "credentials", "macaroons", "nonce", "user-data"},
	}, {
		name:  "zero LoginResult",
		value: params.LoginResult{},
		want:  []string{},
	}, {
		name:  "HostPort",
		value: params.HostPort{Address: params.Address{Value: "10.0.0.1", Type: "ipv4", Scope: "public"}, Port: 17070},
		want:  []string{"port", "scope", "type", "value"},
	}, {
		name:  "ApplicationDeploy keeps Juju's untagged Force",
		value: params.ApplicationDeploy{Force: true},
		want:  []string{"Force", "application", "channel", "charm-url", "config-yaml", "constraints", "num-units"},
	}, {
		name:  "ApplicationStatus scale is sent as int",
		value: params.ApplicationStatus{Scale: 3},
		want: []string{"base", "can-upgrade-to", "charm", "charm-profile", "charm-version", "endpoint-bindings", "exposed",
			"int", "life", "meter-statuses", "public-address", "relations", "status", "subordinate-to", "units", "workload-version"},
	}, {
		name:  "DestroyModelParams with options",
		value: params.DestroyModelParams{ModelTag: "model-x", DestroyStorage: &yes, Force: &yes, MaxWait: &wait, Timeout: &wait},
		want:  []string{"destroy-storage", "force", "max-wait", "model-tag", "timeout"},
	}, {
		name:  "zero ModelInfo",
		value: params.ModelInfo{AgentVersion: &version},
		want: []string{"agent-version", "cloud-tag", "controller-uuid", "is-controller", "life", "machines", "name",
			"owner-tag", "secret-backends", "sla", "status", "type", "users", "uuid"},
	}, {
		name:  "zero MigrationTargetInfo",
		value: params.MigrationTargetInfo{},
		want:  []string{"addrs", "auth-tag", "ca-cert", "controller-tag"},
	}, {
		name:  "StorageConstraints use Go field names",
		value: params.StorageConstraints{Pool: "rootfs"},
		want:  []string{"Count", "Pool", "Size"},
	}, {
		name:  "zero CloudInfo: details inline, users always sent",
		value: params.CloudInfo{},
		want:  []string{"type", "users"},
	}, {
		name:  "zero UpgradeModelParams",
		value: params.UpgradeModelParams{},
		want:  []string{"model-tag", "target-version"},
	}, {
		name:  "zero GetConstraintsResults",
		value: params.GetConstraintsResults{},
		want:  []string{"constraints"},
	}, {
		name:  "zero LogMessage keeps lab",
		value: params.LogMessage{},
		want:  []string{"lab", "loc", "mod", "msg", "sev", "tag", "ts"},
	}, {
		name:  "zero DestroyMachineInfo",
		value: params.DestroyMachineInfo{},
		want:  []string{"machine-id"},
	}, {
		name:  "zero CredentialContent",
		value: params.CredentialContent{},
		want:  []string{"auth-type", "cloud", "name"},
	}, {
		name:  "HardwareCharacteristics cores key",
		value: params.HardwareCharacteristics{CpuCores: new(uint64)},
		want:  []string{"cpu-cores"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			got := make([]string, 0, len(m))
			for k := range m {
				got = append(got, k)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("keys = %v, want %v (json %s)", got, tt.want, data)
			}
		})
	}
}

func TestDurationsAreNanoseconds(t *testing.T) {
	wait := 90 * time.Second
	data, err := json.Marshal(params.DestroyModelParams{ModelTag: "model-x", MaxWait: &wait})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"model-tag":"model-x","max-wait":90000000000}`; string(data) != want {
		t.Errorf("got %s, want %s", data, want)
	}
}

func generic(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	return v
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// keyPaths lists every object key path in v, e.g. "results[].result.name".
// Map-like objects (whose keys are data, such as machine ids) are included
// too, which is fine: the decoded and re-encoded documents must agree.
func keyPaths(v any) []string {
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := prefix + "." + k
				set[p] = true
				walk(p, e)
			}
		case []any:
			for _, e := range x {
				walk(prefix+"[]", e)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// minus returns the elements of a that are not in b.
func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}
