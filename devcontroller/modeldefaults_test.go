package devcontroller

import (
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func modelConfigOf(t *testing.T, cl *jujuapi.Client) map[string]params.ConfigValue {
	t.Helper()
	var res params.ModelConfigResults
	call(t, cl, "ModelConfig", 3, "ModelGet", nil, &res)
	return res.Config
}

func TestModelDefaults(t *testing.T) {
	dir := t.TempDir()
	c, stop := runController(t, dir)
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")
	bob := mustLogin(t, c, "/api", "bob", "bobpw")
	before := createModel(t, admin, "before", "admin") // in r2

	set := func(cl *jujuapi.Client, vals ...params.ModelDefaultValues) ([]params.ErrorResult, error) {
		var res params.ErrorResults
		err := cl.Call(t.Context(), "ModelManager", 10, "SetModelDefaults", params.SetModelDefaults{Config: vals}, &res)
		return res.Results, err
	}
	res, err := set(admin,
		params.ModelDefaultValues{Config: map[string]any{"ftp-proxy": "10.0.0.1", "logging-config": "<root>=WARNING"}},
		params.ModelDefaultValues{CloudTag: "cloud-localhost", CloudRegion: "r2", Config: map[string]any{"ftp-proxy": "10.0.0.2"}},
		params.ModelDefaultValues{CloudTag: "cloud-localhost", Config: map[string]any{"agent-version": "3.5.5"}},
		params.ModelDefaultValues{CloudTag: "cloud-localhost", CloudRegion: "nowhere", Config: map[string]any{"a": "b"}},
		params.ModelDefaultValues{CloudTag: "cloud-aws", Config: map[string]any{"a": "b"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ code, msg string }{
		{}, {},
		{"", "agent-version cannot have a default value"},
		{jujuapi.CodeNotFound, `region "nowhere" of cloud "localhost" (it has r1, r2) not found`},
		{jujuapi.CodeNotFound, `cloud "aws" not found`},
	} {
		if want.msg == "" {
			if res[i].Error != nil {
				t.Fatalf("set %d: %v", i, res[i].Error)
			}
			continue
		}
		wantItemError(t, "set", res[i].Error, want.code, want.msg)
	}
	// Only superusers see or set defaults.
	res, _ = set(bob, params.ModelDefaultValues{Config: map[string]any{"ftp-proxy": "x"}})
	wantItemError(t, "bob setting defaults", res[0].Error, jujuapi.CodeUnauthorized, "permission denied")
	err = bob.Call(t.Context(), "ModelManager", 10, "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, nil)
	wantCode(t, err, jujuapi.CodeUnauthorized, "permission denied")

	var defs params.ModelDefaultsResults
	call(t, admin, "ModelManager", 10, "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &defs)
	ftp := defs.Results[0].Config["ftp-proxy"]
	if ftp.Controller != "10.0.0.1" || len(ftp.Regions) != 1 || ftp.Regions[0].RegionName != "r2" || ftp.Regions[0].Value != "10.0.0.2" {
		t.Fatalf("ftp-proxy defaults: %+v", ftp)
	}
	if lc := defs.Results[0].Config["logging-config"]; lc.Default != "<root>=INFO" || lc.Controller != "<root>=WARNING" {
		t.Fatalf("logging-config defaults: %+v", lc)
	}
	// Values come as the CLI types them, strings; a bool key holds a bool.
	res, _ = set(admin, params.ModelDefaultValues{CloudRegion: "r1", Config: map[string]any{"automatically-retry-hooks": "false"}},
		params.ModelDefaultValues{Config: map[string]any{"enable-os-upgrade": "perhaps"}})
	if res[0].Error != nil {
		t.Fatal(res[0].Error)
	}
	wantItemError(t, "a bool default that is no bool", res[1].Error, jujuapi.CodeNotValid, `enable-os-upgrade: expected bool, got string("perhaps")`)
	call(t, admin, "ModelManager", 10, "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &defs)
	if rh := defs.Results[0].Config["automatically-retry-hooks"]; len(rh.Regions) != 1 || rh.Regions[0].Value != false {
		t.Fatalf("automatically-retry-hooks defaults after setting \"false\": %+v", rh)
	}
	res, _ = set(admin, params.ModelDefaultValues{CloudRegion: "r1", Config: map[string]any{"automatically-retry-hooks": true}})
	if res[0].Error != nil {
		t.Fatal(res[0].Error)
	}

	// New models take the defaults (region over cloud over Juju's); ModelGet
	// names the sources; existing models keep their config.
	var inR1, inR2 params.ModelInfo
	call(t, admin, "ModelManager", 10, "CreateModel", params.ModelCreateArgs{Name: "r1m", OwnerTag: "user-admin", CloudRegion: "r1",
		Config: map[string]any{"logging-config": "<root>=ERROR"}}, &inR1)
	call(t, admin, "ModelManager", 10, "CreateModel", params.ModelCreateArgs{Name: "r2m", OwnerTag: "user-admin", CloudRegion: "r2"}, &inR2)
	cases := []struct {
		uuid, key    string
		value, src   string
		absentBefore bool
	}{
		{inR1.UUID, "ftp-proxy", "10.0.0.1", "controller", false},
		{inR1.UUID, "logging-config", "<root>=ERROR", "model", false},
		{inR2.UUID, "ftp-proxy", "10.0.0.2", "region", false},
		{inR2.UUID, "logging-config", "<root>=WARNING", "controller", false},
		{inR2.UUID, "enable-os-upgrade", "true", "default", false},
		{inR2.UUID, "name", "r2m", "model", false},
		{inR2.UUID, "default-series", "jammy", "default", false},
		{before.UUID, "logging-config", "<root>=INFO", "default", false},
		{before.UUID, "ftp-proxy", "", "", true},
	}
	for _, tc := range cases {
		mc := mustLogin(t, c, "/model/"+tc.uuid+"/api", "admin", "secret")
		v, ok := modelConfigOf(t, mc)[tc.key]
		if tc.absentBefore {
			if ok {
				t.Errorf("model %s has %s=%v, set before the default", tc.uuid, tc.key, v)
			}
			continue
		}
		if !ok || fmtValue(v.Value) != tc.value || v.Source != tc.src {
			t.Errorf("model %s: %s = %v (%s), want %s (%s)", tc.uuid, tc.key, v.Value, v.Source, tc.value, tc.src)
		}
	}

	// Resetting a model's key takes the inherited value back.
	r1 := mustLogin(t, c, "/model/"+inR1.UUID+"/api", "admin", "secret")
	call(t, r1, "ModelConfig", 3, "ModelUnset", params.ModelUnset{Keys: []string{"logging-config"}}, nil)
	if v := modelConfigOf(t, r1)["logging-config"]; v.Value != "<root>=WARNING" || v.Source != "controller" {
		t.Fatalf("after reset: %+v", v)
	}

	// Defaults survive a restart; unsetting removes them.
	stop()
	c = startController(t, dir)
	admin = mustLogin(t, c, "/api", "admin", "secret")
	var unset params.ErrorResults
	call(t, admin, "ModelManager", 10, "UnsetModelDefaults", params.UnsetModelDefaults{Keys: []params.ModelUnsetKeys{
		{CloudTag: "cloud-localhost", CloudRegion: "r2", Keys: []string{"ftp-proxy"}},
	}}, &unset)
	if unset.Results[0].Error != nil {
		t.Fatal(unset.Results[0].Error)
	}
	defs = params.ModelDefaultsResults{}
	call(t, admin, "ModelManager", 10, "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: "cloud-localhost"}}}, &defs)
	if ftp := defs.Results[0].Config["ftp-proxy"]; ftp.Controller != "10.0.0.1" || len(ftp.Regions) != 0 {
		t.Fatalf("ftp-proxy after restart and unset: %+v", ftp)
	}
	// An existing model whose value came from the region now shows it as
	// its own, as in Juju.
	r2 := mustLogin(t, c, "/model/"+inR2.UUID+"/api", "admin", "secret")
	if v := modelConfigOf(t, r2)["ftp-proxy"]; v.Value != "10.0.0.2" || v.Source != "model" {
		t.Fatalf("r2 model after region default unset: %+v", v)
	}
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return "?"
}

func TestModelConstraints(t *testing.T) {
	dir := t.TempDir()
	c, stop := runController(t, dir)
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "reader", "pw")
	m := createModel(t, admin, "cons", "admin")
	grantModel(t, admin, "reader", "read", m.UUID)
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	rc := mustLogin(t, c, "/model/"+m.UUID+"/api", "reader", "pw")

	var got params.GetConstraintsResults
	call(t, rc, "ModelConfig", 3, "GetModelConstraints", nil, &got)
	if formatConstraints(got.Constraints) != "" {
		t.Fatalf("constraints of a new model: %+v", got)
	}
	set := []struct {
		name      string
		cl        *jujuapi.Client
		cons      params.Constraints
		code, msg string
	}{
		{"reader", rc, params.Constraints{Mem: ptr(uint64(4096))}, jujuapi.CodeUnauthorized, "permission denied"},
		{"bad arch", mc, params.Constraints{Arch: ptr("vax")}, jujuapi.CodeNotValid, "invalid constraint value: arch=vax\nvalid values are: [amd64 arm64 ppc64el riscv64 s390x]"},
		{"instance type and mem", mc, params.Constraints{InstanceType: ptr("m1"), Mem: ptr(uint64(1))}, jujuapi.CodeNotValid, `ambiguous constraints: "instance-type" overlaps with "mem"`},
		{"admin", mc, params.Constraints{Mem: ptr(uint64(4096)), CpuCores: ptr(uint64(2)), Tags: &[]string{"a", "b"}}, "", ""},
	}
	for _, tc := range set {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cl.Call(t.Context(), "ModelConfig", 3, "SetModelConstraints", params.SetConstraints{Constraints: tc.cons}, nil)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.code, tc.msg)
		})
	}
	// Machines take the model's constraints, overridden by their own, and
	// status shows them with the hardware asked for.
	var added params.AddMachinesResults
	call(t, mc, "MachineManager", 10, "AddMachines", params.AddMachines{MachineParams: []params.AddMachineParams{{Constraints: params.Constraints{Mem: ptr(uint64(8192))}}}}, &added)
	st := fullStatusOf(t, mc)
	mach := st.Machines[added.Machines[0].Machine]
	if mach.Constraints != "cores=2 mem=8192M tags=a,b" || mach.Hardware != "arch=amd64 cores=2 mem=8192M" {
		t.Fatalf("machine constraints %q hardware %q", mach.Constraints, mach.Hardware)
	}
	// The model's constraints survive a restart.
	stop()
	c = startController(t, dir)
	rc = mustLogin(t, c, "/model/"+m.UUID+"/api", "reader", "pw")
	got = params.GetConstraintsResults{}
	call(t, rc, "ModelConfig", 3, "GetModelConstraints", nil, &got)
	if s := formatConstraints(got.Constraints); s != "cores=2 mem=4096M tags=a,b" {
		t.Fatalf("constraints after restart: %q", s)
	}
}
