package facades

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/brokertest"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// summaryOf is a model's summary as the broker built it before the
// listings were encoded by hand: the reference the encoder must match
// byte for byte.
func summaryOf(brokerUUID string, m *db.ListedModel, access string) *params.ModelSummary {
	since := m.UpdatedAt
	status := "available"
	if m.Life != db.LifeAlive {
		status = "destroying"
	}
	agentVersion := m.AgentVersion
	return &params.ModelSummary{
		Name: m.Name, UUID: m.UUID, Type: m.Type, ProviderType: m.CloudType, ControllerUUID: brokerUUID,
		CloudTag: jujuapi.CloudTag(m.Cloud).String(), CloudRegion: m.Region,
		OwnerTag: jujuapi.UserTag(m.Owner).String(), Life: m.Life,
		Status:     params.EntityStatus{Status: status, Since: &since},
		UserAccess: params.UserAccessPermission(access),
		Counts: []params.ModelEntityCount{
			{Entity: params.Machines, Count: m.MachineCount},
			{Entity: params.Cores, Count: m.CoreCount},
			{Entity: params.Units, Count: m.UnitCount},
		},
		SLA:          &params.ModelSLAInfo{Level: "unsupported", Owner: m.Owner},
		AgentVersion: &agentVersion,
	}
}

// TestListingEncoderMatchesJSON: the hand-written encoders write what
// json.Marshal writes for the params types, strings that need escaping
// (quotes, control characters, HTML's <>&, non-ASCII, U+2028, invalid
// UTF-8), empty optional fields, a dying model and any time zone and
// precision included.
func TestListingEncoderMatchesJSON(t *testing.T) {
	plain := db.ListedModel{UUID: "00000000-0000-4000-8000-000000000001", Name: "00000000-0000-4000-8000-000000000001", Owner: "alice", Type: "iaas", Cloud: "localhost",
		Region: "default", Life: db.LifeAlive, UpdatedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		MachineCount: 3, CoreCount: 12, UnitCount: 1 << 40, AgentVersion: "3.5.4", CloudType: "lxd"}
	cases := map[string]func(m *db.ListedModel){
		"plain": func(*db.ListedModel) {},
		"dying, no region or cloud type": func(m *db.ListedModel) {
			m.Life, m.Region, m.CloudType, m.MachineCount = "dying", "", "", 0
		},
		"escapes": func(m *db.ListedModel) {
			m.Name, m.Owner, m.Cloud, m.Region = `a"b\c`+"\n\t\x01", "bob@example.com<&>", "clöud\u2028", "r\xff"
			m.AgentVersion, m.Type = "3.5.4\u2029", "ca\"as"
		},
		"nanoseconds, another zone": func(m *db.ListedModel) {
			m.UpdatedAt = time.Date(2025, 12, 31, 23, 59, 59, 123456789, time.FixedZone("x", -(3*3600+30*60)))
		},
		"zero time": func(m *db.ListedModel) { m.UpdatedAt = time.Time{} },
	}
	a := &API{brokerUUID: brokertest.BrokerUUID}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			m := plain
			change(&m)
			for _, access := range []string{authz.AccessAdmin, authz.AccessRead, ""} {
				got, err := a.appendSummaryResult(nil, &m, access)
				if err != nil {
					t.Fatal(err)
				}
				want, err := json.Marshal(params.ModelSummaryResult{Result: summaryOf(a.brokerUUID, &m, access)})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("summary with access %q:\n got %s\nwant %s", access, got, want)
				}
			}
			got, _ := appendUserModel(nil, &m, "")
			want, err := json.Marshal(params.UserModel{Model: params.Model{Name: m.Name, UUID: m.UUID, Type: m.Type, OwnerTag: jujuapi.UserTag(m.Owner).String()}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("user model:\n got %s\nwant %s", got, want)
			}
		})
	}
	// A year json.Marshal refuses fails the summary, as it failed the
	// whole response.
	m := plain
	m.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := a.appendSummaryResult(nil, &m, authz.AccessAdmin); err == nil {
		t.Fatal("a summary of year 10000 encoded without error")
	}
}

// TestListingsMatchIdentityModels: ListModels and ListModelSummaries list
// exactly the models identity.Service.Models gives each caller, in its
// order, once each with the best access (a model's own relations, a
// group's, a controller's administrators', the broker administrator's),
// and the bytes are json.Marshal's of the params types.
func TestListingsMatchIdentityModels(t *testing.T) {
	ctx := t.Context()
	p := brokertest.New(t)
	ctls := p.AddControllers(t, "ctl-a", "ctl-b")
	// Models with owners and names out of insertion order.
	models := []struct {
		uuid, owner, name string
		ctl               int
		life              string
	}{
		{"00000000-0000-4000-8000-000000000001", "zed", "prod", 0, db.LifeAlive},
		{"00000000-0000-4000-8000-000000000002", "alice", "prod", 1, db.LifeAlive},
		{"00000000-0000-4000-8000-000000000003", "alice", "dev", 0, "dying"},
		{"00000000-0000-4000-8000-000000000004", "bob", "prod", 0, db.LifeAlive},
		{"00000000-0000-4000-8000-000000000005", "bob", "stage", 1, db.LifeAlive},
		{"00000000-0000-4000-8000-000000000006", "carol", "x", 1, db.LifeAlive},
	}
	for i, m := range models {
		row := &db.Model{UUID: m.uuid, Name: m.name, Owner: m.owner, ControllerID: ctls[m.ctl].ID, Cloud: "c", Region: "r", Life: m.life,
			MachineCount: i, UnitCount: 2 * i}
		if err := p.DB.WithContext(ctx).Create(row).Error; err != nil {
			t.Fatal(err)
		}
		if err := p.Rel.Add(ctx, authz.Tuple{Subject: "user:" + m.owner, Relation: authz.Administrator, Object: "model:" + m.uuid}); err != nil {
			t.Fatal(err)
		}
	}
	groups := p.Rel.Groups()
	if _, err := groups.AddGroup(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if err := groups.AddMember(ctx, "ops", "user:dave"); err != nil {
		t.Fatal(err)
	}
	for _, tu := range []authz.Tuple{
		{Subject: "user:dave", Relation: authz.Reader, Object: "model:00000000-0000-4000-8000-000000000001"},
		{Subject: "group:ops#member", Relation: authz.Writer, Object: "model:00000000-0000-4000-8000-000000000001"}, // dave's best on m-1: write
		{Subject: "group:ops#member", Relation: authz.Reader, Object: "model:00000000-0000-4000-8000-000000000004"},
		{Subject: "user:dave", Relation: authz.Writer, Object: "model:00000000-0000-4000-8000-000000000004"},
		{Subject: "user:erin", Relation: authz.Administrator, Object: "controller:ctl-b"},                    // every model of ctl-b
		{Subject: "user:erin", Relation: authz.Reader, Object: "model:00000000-0000-4000-8000-000000000002"}, // and admin beats read
		{Subject: "user:erin", Relation: authz.Reader, Object: "model:00000000-0000-4000-8000-000000000003"},
		{Subject: "user:frank", Relation: authz.Administrator, Object: "controller:jimm"}, // a broker administrator
	} {
		if err := p.Rel.Add(ctx, tu); err != nil {
			t.Fatal(err)
		}
	}
	a := &API{db: p.DB, identity: p.IDs, rel: p.Rel, brokerUUID: brokertest.BrokerUUID, log: quiet}
	for _, c := range []struct {
		caller, user string
		admin, all   bool
		want         int
	}{
		{"alice", "alice", false, false, 2},
		{"dave", "dave", false, false, 2},
		{"erin", "erin", false, false, 4},
		{"nobody", "nobody", false, false, 0},
		{"frank", "frank", true, false, 6},
		{identity.AdminName, identity.AdminName, true, false, 6},
		{identity.AdminName, "dave", true, false, 2},
		{identity.AdminName, "alice", true, true, 6},
	} {
		t.Run(fmt.Sprintf("%s lists %s's, all %v", c.caller, c.user, c.all), func(t *testing.T) {
			rows, err := p.IDs.Models(ctx, c.user, c.all)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != c.want {
				t.Fatalf("identity.Models: %d models, want %d: %+v", len(rows), c.want, rows)
			}
			want := params.ModelSummaryResults{Results: make([]params.ModelSummaryResult, len(rows))}
			wantList := userModelList(rows)
			for i, r := range rows {
				lm := db.ListedModel{UUID: r.UUID, Name: r.Name, Owner: r.Owner, Type: r.Type, Cloud: r.Cloud, Region: r.Region, Life: r.Life,
					UpdatedAt: r.UpdatedAt, MachineCount: int64(r.MachineCount), CoreCount: int64(r.CoreCount), UnitCount: int64(r.UnitCount),
					AgentVersion: r.AgentVersion, CloudType: r.CloudType}
				want.Results[i].Result = summaryOf(a.brokerUUID, &lm, r.Relation)
			}
			s := &session{api: a, id: &identity.Identity{Name: c.caller, Admin: c.admin}, log: quiet}
			got, err := s.listModelSummaries(ctx, params.ModelSummariesRequest{UserTag: jujuapi.UserTag(c.user).String(), All: c.all})
			if err != nil {
				t.Fatal(err)
			}
			if wantJSON, _ := json.Marshal(want); !bytes.Equal(got.Result(), wantJSON) {
				t.Errorf("ListModelSummaries:\n got %s\nwant %s", got.Result(), wantJSON)
			}
			if c.all {
				return
			}
			gotList, err := s.listModels(ctx, params.Entity{Tag: jujuapi.UserTag(c.user).String()})
			if err != nil {
				t.Fatal(err)
			}
			if wantJSON, _ := json.Marshal(wantList); !bytes.Equal(gotList.Result(), wantJSON) {
				t.Errorf("ListModels:\n got %s\nwant %s", gotList.Result(), wantJSON)
			}
		})
	}
	// Another user's models, or every model, are for administrators only.
	alice := &session{api: a, id: &identity.Identity{Name: "alice"}, log: quiet}
	if _, err := alice.listModelSummaries(ctx, params.ModelSummariesRequest{UserTag: "user-dave"}); jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
		t.Errorf("alice lists dave's summaries: %v", err)
	}
	if _, err := alice.listModelSummaries(ctx, params.ModelSummariesRequest{UserTag: "user-alice", All: true}); jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
		t.Errorf("alice lists every summary: %v", err)
	}
	if _, err := alice.listModels(ctx, params.Entity{Tag: "user-dave"}); jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
		t.Errorf("alice lists dave's models: %v", err)
	}
	if _, err := alice.listModels(ctx, params.Entity{Tag: "model-x"}); err == nil {
		t.Error("ListModels of a model tag succeeded")
	}
}

// userModelList is the list of models ListModels gives for rows, built as
// json.Marshal would encode it: the reference the encoder is held to.
func userModelList(rows []db.ModelAccess) params.UserModelList {
	out := params.UserModelList{UserModels: make([]params.UserModel, 0, len(rows))}
	for _, m := range rows {
		out.UserModels = append(out.UserModels, params.UserModel{
			Model: params.Model{Name: m.Name, UUID: m.UUID, Type: m.Type, OwnerTag: jujuapi.UserTag(m.Owner).String()},
		})
	}
	return out
}
