package integration

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/base"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/client"
	"github.com/juju/juju/api/client/machinemanager"
	"github.com/juju/juju/api/client/modelconfig"
	"github.com/juju/juju/api/client/modelmanager"
	apicharm "github.com/juju/juju/api/common/charm"
	corebase "github.com/juju/juju/core/base"
	"github.com/juju/juju/core/model"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"
)

// testLogger satisfies the Juju client's Logger with t.Logf.
type testLogger struct{ t testing.TB }

func (l testLogger) Errorf(format string, args ...any) { l.t.Logf("juju client: "+format, args...) }

// deploy deploys a charm-hub postgresql application with n units on a
// model connection.
func deploy(t testing.TB, conn api.Connection, name string, n int) {
	t.Helper()
	err := application.NewClient(conn).Deploy(application.DeployArgs{
		CharmID: application.CharmID{URL: "ch:amd64/jammy/postgresql-12"},
		CharmOrigin: apicharm.Origin{
			Source: apicharm.OriginCharmHub, Risk: "stable", Architecture: "amd64",
			Base: corebase.MustParseBaseFromString("ubuntu@22.04"),
		},
		ApplicationName: name,
		NumUnits:        n,
	})
	if err != nil {
		t.Fatalf("deploy %s with %d units: %v", name, n, err)
	}
}

// fullStatus calls Client.FullStatus on a model connection.
func fullStatus(t testing.TB, conn api.Connection) *params.FullStatus {
	t.Helper()
	st, err := client.NewClient(conn, testLogger{t}).Status(nil)
	if err != nil {
		t.Fatalf("FullStatus: %v", err)
	}
	return st
}

// checkApp checks that status shows app with exactly units units, each on a
// machine that status lists with a started agent.
func checkApp(t testing.TB, st *params.FullStatus, app string, units []string) {
	t.Helper()
	a, ok := st.Applications[app]
	if !ok {
		t.Fatalf("status has no application %q; applications: %v", app, keys(st.Applications))
	}
	if got := keys(a.Units); !slices.Equal(got, units) {
		t.Errorf("application %s has units %v, want %v", app, got, units)
	}
	for name, u := range a.Units {
		m, ok := st.Machines[u.Machine]
		switch {
		case u.Machine == "":
			t.Errorf("unit %s is on no machine", name)
		case !ok:
			t.Errorf("unit %s is on machine %q, which status does not list (machines %v)", name, u.Machine, keys(st.Machines))
		case m.AgentStatus.Status != "started":
			t.Errorf("machine %s of unit %s has agent status %q, want started", u.Machine, name, m.AgentStatus.Status)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func findModel(models []base.UserModel, uuid string) (base.UserModel, bool) {
	for _, m := range models {
		if m.UUID == uuid {
			return m, true
		}
	}
	return base.UserModel{}, false
}

func listModels(t testing.TB, mm *modelmanager.Client, user string) []base.UserModel {
	t.Helper()
	ms, err := mm.ListModels(user)
	if err != nil {
		t.Fatalf("ListModels(%s): %v", user, err)
	}
	return ms
}

// waitModelGone waits until ModelStatus reports a destroyed model not
// found, failing on any other error it reports.
func waitModelGone(t testing.TB, mm *modelmanager.Client, tag names.ModelTag, within time.Duration) {
	t.Helper()
	eventually(t, within, "destroyed model reported not found by ModelStatus", func() error {
		sts, err := mm.ModelStatus(tag)
		if err != nil {
			return err
		}
		if sts[0].Error == nil {
			return fmt.Errorf("model still there, life %q", sts[0].Life)
		}
		if code := errCode(sts[0].Error); code != params.CodeNotFound {
			t.Fatalf("ModelStatus error %v has code %q, want %q", sts[0].Error, code, params.CodeNotFound)
		}
		return nil
	})
}

// TestModelLifecycle drives one model through its life with the Juju
// client as admin: create, list, inspect, deploy, scale, add a machine,
// status, config, destroy.
func TestModelLifecycle(t *testing.T) {
	t.Parallel()
	c := startController(t, "ctl-life", "--model-destroy-delay", "2s")

	// controller.yaml says how to reach and log in to the controller.
	f := c.File
	if c.FileMode != 0o600 {
		t.Errorf("controller.yaml has mode %o, want 600", c.FileMode)
	}
	if f.Name != "ctl-life" || f.UUID != c.UUID || f.AdminUser != "admin" || f.AdminPassword != adminPassword ||
		f.Cloud != "localhost" || f.CloudType != "lxd" || !slices.Equal(f.Regions, []string{"default"}) ||
		f.AgentVersion != "3.5.4" || !slices.Contains(f.APIAddresses, c.Addr) || f.CACert == "" {
		t.Errorf("controller.yaml = %+v; want name ctl-life, uuid %s, admin/%s, cloud localhost (lxd, [default]), agent 3.5.4, address %s, a CA",
			f, c.UUID, adminPassword, c.Addr)
	}

	conn := c.admin(t, "")
	if got := conn.ControllerTag().Id(); got != c.UUID {
		t.Errorf("login result controller tag %s, want %s", got, c.UUID)
	}
	if got := conn.ControllerAccess(); got != "superuser" {
		t.Errorf("admin's controller access %q, want superuser", got)
	}
	if v, ok := conn.ServerVersion(); !ok || v.String() != "3.5.4" {
		t.Errorf("login result server version %v (%v), want 3.5.4", v, ok)
	}
	// The login result's servers are what the CLI keeps as the controller's
	// addresses: the dialled one, with a scope the CLI does not drop.
	var servers []string
	for _, hps := range conn.APIHostPorts() {
		for _, hp := range hps {
			servers = append(servers, fmt.Sprintf("%s:%d/%s", hp.Host(), hp.Port(), hp.AddressScope()))
		}
	}
	if !slices.Contains(servers, c.Addr+"/public") {
		t.Errorf("login result servers %v lack %s with scope public", servers, c.Addr)
	}
	mm := modelmanager.NewClient(conn)

	info, err := mm.CreateModel("lifecycle", "admin", "localhost", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	if info.Name != "lifecycle" || info.Owner != "admin" || info.Cloud != "localhost" || info.CloudRegion != "default" ||
		info.ControllerUUID != c.UUID || info.Life != "alive" || info.Type != model.IAAS || info.UUID == "" {
		t.Errorf("CreateModel returned %+v", info)
	}
	uuid := info.UUID
	_, err = mm.CreateModel("lifecycle", "admin", "localhost", "", names.CloudCredentialTag{}, nil)
	wantErr(t, "CreateModel with a taken name", err, params.CodeAlreadyExists, "already exists")

	// A model connection: deploy 3 units, add one, add a machine.
	mconn := c.admin(t, uuid)
	if got := mconn.ControllerTag().Id(); got != c.UUID {
		t.Errorf("model login: controller tag %s, want %s", got, c.UUID)
	}
	deploy(t, mconn, "postgresql", 3)
	added, err := application.NewClient(mconn).AddUnits(application.AddUnitsParams{ApplicationName: "postgresql", NumUnits: 1})
	if err != nil {
		t.Fatalf("AddUnits: %v", err)
	}
	if !slices.Equal(added, []string{"postgresql/3"}) {
		t.Errorf("AddUnits added %v, want [postgresql/3]", added)
	}
	machines, err := machinemanager.NewClient(mconn).AddMachines([]params.AddMachineParams{{
		Jobs: []model.MachineJob{model.JobHostUnits}, Base: &params.Base{Name: "ubuntu", Channel: "22.04"},
	}})
	if err != nil || len(machines) != 1 || machines[0].Error != nil || machines[0].Machine == "" {
		t.Fatalf("AddMachines: %+v, %v", machines, err)
	}
	spare := machines[0].Machine

	st := fullStatus(t, mconn)
	if st.Model.Name != "lifecycle" || st.Model.CloudTag != "cloud-localhost" || st.Model.Version != "3.5.4" {
		t.Errorf("status model = %+v", st.Model)
	}
	checkApp(t, st, "postgresql", []string{"postgresql/0", "postgresql/1", "postgresql/2", "postgresql/3"})
	if len(st.Machines) != 5 {
		t.Errorf("status lists machines %v, want 5 (4 for units + %s)", keys(st.Machines), spare)
	}
	for id, m := range st.Machines {
		if m.AgentStatus.Status != "started" {
			t.Errorf("machine %s agent status %q, want started", id, m.AgentStatus.Status)
		}
	}
	if _, ok := st.Machines[spare]; !ok {
		t.Errorf("status lacks the added machine %s: %v", spare, keys(st.Machines))
	}
	seen := map[string]string{}
	for name, u := range st.Applications["postgresql"].Units {
		if other, dup := seen[u.Machine]; dup {
			t.Errorf("units %s and %s share machine %s", name, other, u.Machine)
		}
		seen[u.Machine] = name
	}

	// Lists and info, now that the model has machines and units.
	m, ok := findModel(listModels(t, mm, "admin"), uuid)
	if !ok {
		t.Fatalf("ListModels(admin) lacks model %s", uuid)
	}
	if m.Name != "lifecycle" || m.Owner != "admin" || m.Type != model.IAAS {
		t.Errorf("ListModels entry = %+v", m)
	}
	sums, err := mm.ListModelSummaries("admin", false)
	if err != nil {
		t.Fatalf("ListModelSummaries: %v", err)
	}
	var found bool
	for _, s := range sums {
		if s.UUID != uuid {
			continue
		}
		found = true
		counts := map[string]int64{}
		for _, ec := range s.Counts {
			counts[ec.Entity] = ec.Count
		}
		if s.Name != "lifecycle" || s.Owner != "admin" || s.Cloud != "localhost" || s.CloudRegion != "default" ||
			s.ModelUserAccess != "admin" || s.Life != "alive" || s.ControllerUUID != c.UUID ||
			s.AgentVersion == nil || s.AgentVersion.String() != "3.5.4" {
			t.Errorf("summary = %+v", s)
		}
		if counts["machines"] != 5 || counts["units"] != 4 {
			t.Errorf("summary counts = %v, want 5 machines and 4 units", counts)
		}
	}
	if !found {
		t.Errorf("ListModelSummaries(admin) lacks model %s: %+v", uuid, sums)
	}

	infos, err := mm.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
	if err != nil || len(infos) != 1 || infos[0].Error != nil {
		t.Fatalf("ModelInfo: %+v, %v", infos, err)
	}
	mi := infos[0].Result
	if mi.Life != "alive" || mi.Status.Status != "available" || mi.AgentVersion == nil || mi.AgentVersion.String() != "3.5.4" ||
		mi.OwnerTag != "user-admin" || mi.CloudTag != "cloud-localhost" || mi.CloudRegion != "default" {
		t.Errorf("ModelInfo = %+v", mi)
	}
	var adminUser bool
	for _, u := range mi.Users {
		if u.UserName == "admin" && u.Access == "admin" {
			adminUser = true
		}
	}
	if !adminUser {
		t.Errorf("ModelInfo users %+v lack admin with admin access", mi.Users)
	}

	// Model config: defaults, set, unset.
	mc := modelconfig.NewClient(mconn)
	cfg, err := mc.ModelGetWithMetadata()
	if err != nil {
		t.Fatalf("ModelGet: %v", err)
	}
	if v := cfg["name"]; v.Value != "lifecycle" {
		t.Errorf("config name = %+v, want lifecycle", v)
	}
	if v := cfg["uuid"]; v.Value != uuid {
		t.Errorf("config uuid = %+v, want %s", v, uuid)
	}
	const key = "update-status-hook-interval"
	def := cfg[key]
	if def.Source != "default" || def.Value == nil {
		t.Errorf("config %s = %+v, want a default", key, def)
	}
	if err := mc.ModelSet(map[string]any{key: "17m"}); err != nil {
		t.Fatalf("ModelSet: %v", err)
	}
	cfg, err = mc.ModelGetWithMetadata()
	if err != nil {
		t.Fatalf("ModelGet: %v", err)
	}
	if v := cfg[key]; v.Value != "17m" || v.Source != "model" {
		t.Errorf("after ModelSet, %s = %+v, want 17m from model", key, v)
	}
	err = mc.ModelSet(map[string]any{"uuid": "not-mine"})
	wantErr(t, "ModelSet of uuid", err, params.CodeNotValid, `model config "uuid" cannot be changed`)
	if err := mc.ModelUnset(key); err != nil {
		t.Fatalf("ModelUnset: %v", err)
	}
	cfg, err = mc.ModelGetWithMetadata()
	if err != nil {
		t.Fatalf("ModelGet: %v", err)
	}
	if v := cfg[key]; v.Source != "default" || v.Value != def.Value {
		t.Errorf("after ModelUnset, %s = %+v, want the default %+v", key, v, def)
	}

	// Destroy: dying at once, then gone.
	tag := names.NewModelTag(uuid)
	if err := mm.DestroyModel(tag, nil, nil, nil, nil); err != nil {
		t.Fatalf("DestroyModel: %v", err)
	}
	sts, err := mm.ModelStatus(tag)
	if err != nil || len(sts) != 1 {
		t.Fatalf("ModelStatus: %+v, %v", sts, err)
	}
	if sts[0].Error != nil || sts[0].Life != "dying" {
		t.Errorf("ModelStatus right after destroy: life %q, error %v; want dying", sts[0].Life, sts[0].Error)
	}
	if sts[0].UnitCount != 4 || sts[0].ApplicationCount != 1 || sts[0].HostedMachineCount != 5 {
		t.Errorf("ModelStatus counts: %d units, %d applications, %d machines; want 4, 1, 5", sts[0].UnitCount, sts[0].ApplicationCount, sts[0].HostedMachineCount)
	}
	infos, err = mm.ModelInfo([]names.ModelTag{tag})
	if err != nil || len(infos) != 1 || infos[0].Error != nil || infos[0].Result.Life != "dying" {
		t.Errorf("ModelInfo right after destroy: %+v, %v; want life dying", infos, err)
	}
	waitModelGone(t, mm, tag, 10*time.Second)
	if _, ok := findModel(listModels(t, mm, "admin"), uuid); ok {
		t.Errorf("ListModels still lists destroyed model %s", uuid)
	}
	infos, err = mm.ModelInfo([]names.ModelTag{tag})
	if err != nil || len(infos) != 1 || infos[0].Error == nil || infos[0].Error.Code != params.CodeNotFound {
		t.Errorf("ModelInfo of a removed model: %+v, %v; want a not found error", infos, err)
	}
	_, err = c.tryOpen("admin", adminPassword, uuid)
	wantErr(t, "login to the removed model's endpoint", err, params.CodeModelNotFound, "unknown model")
	// The model connection is still up (the model went, the connection did
	// not), and the controller connection still answers.
	if err := conn.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
		t.Errorf("Ping after destroy: %v", err)
	}
}

// TestConcurrentCreateModel races several connections creating the same
// model: exactly one wins, the others are told it already exists.
func TestConcurrentCreateModel(t *testing.T) {
	t.Parallel()
	c := startController(t, "ctl-race")
	const n = 8
	clients := make([]*modelmanager.Client, n)
	for i := range clients {
		clients[i] = modelmanager.NewClient(c.admin(t, ""))
	}
	errs := make(chan error, n)
	start := make(chan struct{})
	for _, mm := range clients {
		go func() {
			<-start
			_, err := mm.CreateModel("contested", "admin", "", "", names.CloudCredentialTag{}, nil)
			errs <- err
		}()
	}
	close(start)
	won := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			won++
		case errCode(err) != params.CodeAlreadyExists:
			t.Errorf("losing CreateModel: %v (code %q), want code %q", err, errCode(err), params.CodeAlreadyExists)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent CreateModel calls for one name succeeded, want 1", won, n)
	}
	var named int
	for _, m := range listModels(t, clients[0], "admin") {
		if m.Name == "contested" {
			named++
		}
	}
	if named != 1 {
		t.Errorf("ListModels shows %d models named contested, want 1", named)
	}
}
