package params_test

import (
	"encoding/json"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Watcher, Charms and Application bodies as Juju 3.5 sends them.
func init() {
	wireCases = append(wireCases, wireCase{
		name: "AllWatcher.Next result",
		in: `{"deltas":[
		 ["unit","change",{"model-uuid":"m","name":"web/0","application":"web","base":"ubuntu@22.04","charm-url":"local:jammy/demo-0",
		  "life":"alive","public-address":"10.0.0.1","private-address":"10.0.0.1","machine-id":"0","ports":[],"port-ranges":[],
		  "principal":"","subordinate":false,
		  "workload-status":{"current":"active","message":"","since":"2026-11-21T09:34:12Z","version":""},
		  "agent-status":{"current":"idle","message":"","since":"2026-11-21T09:34:12Z","version":"3.5.4"}}],
		 ["relation","remove",{"model-uuid":"m","key":"web:backend api:website","id":3,"endpoints":[
		  {"application-name":"web","relation":{"name":"backend","role":"requirer","interface":"http","optional":true,"limit":1,"scope":"global"}},
		  {"application-name":"api","relation":{"name":"website","role":"provider","interface":"http","optional":false,"limit":0,"scope":"global"}}]}],
		 ["model","change",{"model-uuid":"m","name":"m","life":"alive","owner":"admin","controller-uuid":"c","is-controller":false,
		  "config":{"name":"m"},"status":{"current":"available","message":"","since":"2026-11-21T09:34:12Z","version":""},
		  "constraints":{},"sla":{"level":"unsupported","owner":""},"type":"iaas","cloud":"localhost","cloud-region":"east","version":"3.5.4"}],
		 ["application","change",{"model-uuid":"m","name":"web","exposed":true,"charm-url":"local:jammy/demo-0","owner-tag":"","life":"alive",
		  "min-units":0,"constraints":{},"config":{"port":9000},"subordinate":false,
		  "status":{"current":"active","message":"","since":"2026-11-21T09:34:12Z","version":""},"workload-version":""}],
		 ["machine","change",{"model-uuid":"m","id":"0","instance-id":"i-0","agent-status":{"current":"started","message":"","version":"3.5.4"},
		  "instance-status":{"current":"running","message":"Running","version":""},"life":"alive","base":"ubuntu@22.04","container-type":"",
		  "supported-containers":["lxd"],"supported-containers-known":true,"hardware-characteristics":{"arch":"amd64","mem":1024,"cpu-cores":1},
		  "jobs":["JobHostUnits"],"addresses":[{"value":"10.0.0.1","type":"ipv4","scope":"local-cloud"}],"has-vote":false,"wants-vote":false,
		  "hostname":"juju-0"}],
		 ["charm","change",{"model-uuid":"m","charm-url":"local:jammy/demo-0","charm-version":"1.0","life":"alive","profile":null,"config":{"port":8080}}]]}`,
		newValue: func() any { return new(params.AllWatcherNextResults) },
		check: func(t *testing.T, v any) {
			r := v.(*params.AllWatcherNextResults)
			if len(r.Deltas) != 6 {
				t.Fatalf("%d deltas", len(r.Deltas))
			}
			u, ok := r.Deltas[0].Entity.(*params.UnitInfo)
			if !ok || r.Deltas[0].Removed || u.Name != "web/0" || u.AgentStatus.Version != "3.5.4" || u.EntityId() != (params.EntityId{Kind: "unit", ModelUUID: "m", Id: "web/0"}) {
				t.Errorf("unit delta %+v", r.Deltas[0])
			}
			rel, ok := r.Deltas[1].Entity.(*params.RelationInfo)
			if !ok || !r.Deltas[1].Removed || rel.Id != 3 || rel.Endpoints[0].Relation.Limit != 1 || rel.EntityId().Id != "web:backend api:website" {
				t.Errorf("relation delta %+v", r.Deltas[1])
			}
		},
	}, wireCase{
		name:     "ModelSummaryWatcher.Next result",
		in:       `{"models":[{"uuid":"u1","controller":"dev","name":"m","admins":["admin"],"cloud":"localhost","region":"east","credential":"localhost/admin/default","size":{"machines":2,"applications":1,"units":2},"status":"green"},{"uuid":"u2","removed":true,"size":{}}]}`,
		newValue: func() any { return new(params.SummaryWatcherNextResults) },
		check: func(t *testing.T, v any) {
			r := v.(*params.SummaryWatcherNextResults)
			if len(r.Models) != 2 || r.Models[0].Size.Units != 2 || !r.Models[1].Removed {
				t.Errorf("%+v", r)
			}
		},
	}, wireCase{
		name:     "watcher ids",
		in:       `{"watcher-id":"1"}`,
		newValue: func() any { return new(params.AllWatcherId) },
		check: func(t *testing.T, v any) {
			if v.(*params.AllWatcherId).AllWatcherId != "1" {
				t.Errorf("%+v", v)
			}
		},
	}, wireCase{
		name: "Charms.CharmInfo result",
		in: `{"revision":0,"url":"local:jammy/demo-0","config":{"port":{"type":"int","description":"p","default":8080}},
		 "meta":{"name":"demo","summary":"s","description":"d","subordinate":false,
		  "provides":{"website":{"name":"website","role":"provider","interface":"http","optional":false,"limit":0,"scope":"global"}},
		  "min-juju-version":"0.0.0"},
		 "manifest":{"bases":[{"name":"ubuntu","channel":"22.04/stable","architectures":["amd64"]}]}}`,
		newValue: func() any { return new(params.Charm) },
		check: func(t *testing.T, v any) {
			c := v.(*params.Charm)
			if c.Meta.Provides["website"].Interface != "http" || c.Manifest.Bases[0].Channel != "22.04/stable" {
				t.Errorf("%+v", c)
			}
		},
	}, wireCase{
		name:     "charms endpoint error",
		in:       `{"error":"cannot upload charm: invalid charm archive: missing metadata.yaml","error-code":"bad request"}`,
		newValue: func() any { return new(params.CharmsResponse) },
		check: func(t *testing.T, v any) {
			if r := v.(*params.CharmsResponse); r.ErrorCode != "bad request" {
				t.Errorf("%+v", r)
			}
		},
	}, wireCase{
		name:     "Application.SetConfigs request",
		in:       `{"Args":[{"application":"api","generation":"master","config":{"port":"9090"},"config-yaml":""}]}`,
		newValue: func() any { return new(params.ConfigSetArgs) },
		check: func(t *testing.T, v any) {
			if r := v.(*params.ConfigSetArgs); r.Args[0].Config["port"] != "9090" {
				t.Errorf("%+v", r)
			}
		},
	}, wireCase{
		name: "Application.DeployFromRepository request and result",
		in: `{"Args":[{"CharmName":"postgresql","ApplicationName":"","AttachStorage":null,"ConfigYAML":"","Cons":{},"Devices":null,
		 "DryRun":false,"Placement":null,"Storage":null,"Trust":false,"num-units":1}]}`,
		newValue: func() any { return new(params.DeployFromRepositoryArgs) },
		check: func(t *testing.T, v any) {
			if r := v.(*params.DeployFromRepositoryArgs); r.Args[0].CharmName != "postgresql" || *r.Args[0].NumUnits != 1 {
				t.Errorf("%+v", r)
			}
		},
	}, wireCase{
		name:     "Application.DestroyUnit result",
		in:       `{"results":[{"info":{}},{"error":{"message":"unit \"web/9\" does not exist","code":""}}]}`,
		newValue: func() any { return new(params.DestroyUnitResults) },
		check: func(t *testing.T, v any) {
			if r := v.(*params.DestroyUnitResults); r.Results[0].Info == nil || r.Results[1].Error == nil {
				t.Errorf("%+v", r)
			}
		},
	})
}

// TestDeltaRefusesUnknown: a delta of an unknown shape is an error, not
// a silent nil entity.
func TestDeltaRefusesUnknown(t *testing.T) {
	for _, in := range []string{`["unit","change"]`, `["unit","delete",{}]`, `["widget","change",{}]`, `{}`} {
		var d params.Delta
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s decoded as %+v", in, d)
		}
	}
	if _, err := json.Marshal(params.Delta{}); err == nil {
		t.Error("a delta without an entity encoded")
	}
}
