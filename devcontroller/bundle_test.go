package devcontroller

import (
	"github.com/jimmbroker/jimm/devcontroller/testcharms"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func TestExportBundleAndDiffCalls(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "outsider", "pw")
	m := createModel(t, admin, "bundled", "admin")
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")

	var s params.StringResult
	err := mc.Call(t.Context(), "Bundle", 6, "ExportBundle", params.ExportBundleParams{}, &s)
	wantCode(t, err, "", "nothing to export as there are no applications")

	uploadCharm(t, c, m.UUID, "name=web&revision=3", testcharms.Demo)
	var res params.ErrorResults
	call(t, mc, "Application", 19, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{{
		ApplicationName: "pg", CharmURL: "ch:amd64/jammy/postgresql-345", CharmOrigin: chOrigin(), Channel: "14/stable", NumUnits: 2,
		Config: map[string]string{"profile": "testing", "port": "5432"}, Constraints: params.Constraints{Mem: ptr(uint64(2048))},
	}, {
		ApplicationName: "web", CharmURL: "local:web-3", CharmOrigin: localOrigin(), NumUnits: 1,
		Placement: []*params.Placement{{Scope: "#", Directive: "0"}},
	}}}, &res)
	if err := res.Combine(); err != nil {
		t.Fatal(err)
	}
	var set params.ErrorResults
	call(t, mc, "Annotations", 2, "Set", params.AnnotationsSet{Annotations: []params.EntityAnnotations{
		{EntityTag: "application-pg", Annotations: map[string]string{"gui-x": "10"}},
		{EntityTag: "machine-9", Annotations: map[string]string{"a": "b"}},
	}}, &set)
	if len(set.Results) != 1 {
		t.Fatalf("annotation results %+v, want the one failure", set)
	}
	wantItemError(t, "annotating a machine that is not there", set.Results[0].Error, jujuapi.CodeNotFound, "cannot update annotations on machine-9: machine 9 not found")

	call(t, mc, "Bundle", 6, "ExportBundle", params.ExportBundleParams{}, &s)
	const want = `default-base: ubuntu@22.04/stable
applications:
  pg:
    charm: postgresql
    channel: 14/stable
    revision: 345
    num_units: 2
    to:
    - "0"
    - "1"
    options:
      port: "5432"
      profile: testing
    annotations:
      gui-x: "10"
    constraints: mem=2048
  web:
    charm: local:web-3
    num_units: 1
    to:
    - "0"
machines:
  "0":
    constraints: mem=2048
  "1":
    constraints: mem=2048
`
	if s.Result != want {
		t.Fatalf("exported bundle:\n%s\nwant:\n%s", s.Result, want)
	}
	// A user who may not read the model may not export it.
	if _, _, err := login(t, c, "/model/"+m.UUID+"/api", "outsider", "pw"); jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
		t.Fatalf("outsider login: %v", err)
	}

	// What diff-bundle reads.
	var ann params.AnnotationsGetResults
	call(t, mc, "Annotations", 2, "Get", params.Entities{Entities: []params.Entity{{Tag: "application-pg"}, {Tag: "machine-0"}}}, &ann)
	if ann.Results[0].Annotations["gui-x"] != "10" || ann.Results[0].Error.Error != nil || len(ann.Results[1].Annotations) != 0 {
		t.Fatalf("annotations: %+v", ann)
	}
	var seq params.ModelSequencesResult
	call(t, mc, "ModelConfig", 3, "Sequences", nil, &seq)
	if seq.Sequences["machine"] != 2 || seq.Sequences["application-pg"] != 2 || seq.Sequences["application-web"] != 1 {
		t.Fatalf("sequences: %v", seq.Sequences)
	}
	var cc params.ApplicationGetConfigResults
	call(t, mc, "Application", 19, "CharmConfig", params.ApplicationGetArgs{Args: []params.ApplicationGet{{ApplicationName: "pg", BranchName: "master"}, {ApplicationName: "nope"}}}, &cc)
	if v, _ := cc.Results[0].Config["profile"].(map[string]any); v["value"] != "testing" || v["source"] != "user" {
		t.Fatalf("charm config: %+v", cc.Results[0])
	}
	wantItemError(t, "charm config of nothing", cc.Results[1].Error, jujuapi.CodeNotFound, `application "nope" not found`)
	var cons params.ApplicationGetConstraintsResults
	call(t, mc, "Application", 19, "GetConstraints", params.Entities{Entities: []params.Entity{{Tag: "application-pg"}, {Tag: "application-web"}}}, &cons)
	if c := cons.Results[0].Constraints; c.Mem == nil || *c.Mem != 2048 || cons.Results[1].Constraints.Mem != nil {
		t.Fatalf("application constraints: %+v", cons)
	}
}
