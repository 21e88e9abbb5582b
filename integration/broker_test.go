package integration

// End-to-end tests of the broker: a real jimmd on its own PostgreSQL
// database in front of three development controllers (ctl-1 and ctl-2 in
// localhost/east, ctl-3 in localhost/west), administered with jimmctl and
// used with the real Juju client, which only ever dials the broker.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/base"
	"github.com/juju/juju/api/client/client"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"
)

// TestBroker runs the broker scenarios in parallel, each on a broker,
// database and controllers of its own. jimmd and jimmctl are built once,
// for all of them.
func TestBroker(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{"Registry", testBrokerRegistry},
		{"PlacementAndHealth", testBrokerPlacementAndHealth},
		{"ModelConnection", testBrokerModelConnection},
		{"Errors", testBrokerErrors},
		{"Restart", testBrokerRestart},
		{"ControllerConnections", testBrokerControllerConnections},
		{"IdleDetach", testBrokerIdleDetach},
		{"SlowCreate", testBrokerSlowCreate},
	})
}

// createModel creates a model in localhost/region through the broker.
func createModel(t testing.TB, e *brokerEnv, mm *modelmanager.Client, name, region string) base.ModelInfo {
	t.Helper()
	info, err := mm.CreateModel(name, "admin", "localhost", region, names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("CreateModel %s in localhost/%s through the broker: %v", name, region, err)
	}
	if info.Name != name || info.CloudRegion != region || info.Cloud != "localhost" || info.Owner != "admin" ||
		info.ControllerUUID != e.broker().UUID || info.UUID == "" {
		t.Errorf("CreateModel %s returned %+v; want localhost/%s, owner admin, controller UUID %s (the broker's)",
			name, info, region, e.broker().UUID)
	}
	return info
}

// testBrokerRegistry: jimmctl add-controller registers each controller
// from its controller.yaml, and list-controllers shows them all up, with
// their version, cloud, regions and model counts, in every format.
func testBrokerRegistry(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)

	// Some models, so that the counts mean something.
	mm := modelmanager.NewClient(e.open(t, ""))
	for i, region := range []string{"east", "east", "east", "west"} {
		createModel(t, e, mm, fmt.Sprintf("reg-%d", i), region)
	}
	counts := map[string]int{}
	for _, ctl := range e.modelsByController(t) {
		counts[ctl]++
	}
	if counts["ctl-1"]+counts["ctl-2"] != 3 || counts["ctl-3"] != 1 {
		t.Errorf("list-models places the models %v; want 3 on ctl-1 and ctl-2, 1 on ctl-3", counts)
	}

	// A second registration under the same name is refused.
	res := e.run(t, "add-controller", e.ctls["ctl-1"].FilePath)
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "already exists") {
		t.Errorf("registering ctl-1 twice: want a failure saying it already exists; got %s", res)
	}

	check := func(format string, cs []restController) {
		t.Helper()
		var got []string
		for _, c := range cs {
			got = append(got, c.Name)
		}
		if !slices.Equal(got, []string{"ctl-1", "ctl-2", "ctl-3"}) {
			t.Fatalf("list-controllers --format %s lists %v, want ctl-1, ctl-2, ctl-3", format, got)
		}
		for i, c := range cs {
			spec, proc := e.specs[i], e.ctls[c.Name]
			want := restController{
				Name: spec.name, UUID: proc.File.UUID, Status: "up", AgentVersion: "3.5.4",
				Cloud: "localhost", CloudType: "lxd", Regions: []string{spec.region},
				Addresses: proc.File.APIAddresses, ModelCount: counts[spec.name],
				StatusSince: c.StatusSince, AddedAt: c.AddedAt,
			}
			if proc.File.UUID != proc.UUID {
				t.Errorf("%s: controller.yaml says UUID %s, the controller printed %s", c.Name, proc.File.UUID, proc.UUID)
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("list-controllers --format %s: %s is\n%+v\nwant\n%+v", format, c.Name, c, want)
			}
			if c.StatusSince.IsZero() || c.AddedAt.IsZero() || c.AddedAt.After(time.Now()) {
				t.Errorf("list-controllers --format %s: %s status-since %v, added-at %v; want both set, in the past",
					format, c.Name, c.StatusSince, c.AddedAt)
			}
		}
	}
	fromJSON := e.listControllers(t)
	check("json", fromJSON)

	var fromYAML []restController
	decodeStrictYAML(t, e.jimmctl(t, "list-controllers", "--format", "yaml"), &fromYAML)
	check("yaml", fromYAML)
	for i := range fromYAML {
		// Statuses are stable here: the same instants in both formats.
		if !fromYAML[i].StatusSince.Equal(fromJSON[i].StatusSince) || !fromYAML[i].AddedAt.Equal(fromJSON[i].AddedAt) {
			t.Errorf("%s: yaml times (%v, %v) differ from json's (%v, %v)", fromYAML[i].Name,
				fromYAML[i].StatusSince, fromYAML[i].AddedAt, fromJSON[i].StatusSince, fromJSON[i].AddedAt)
		}
	}

	for _, cmd := range []string{"list-controllers", "controllers"} { // tabular is the default
		out := e.jimmctl(t, cmd)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 4 {
			t.Errorf("jimmctl %s prints %d lines, want a header and 3 rows:\n%s", cmd, len(lines), out)
			continue
		}
		if h := strings.Fields(lines[0]); !slices.Equal(h, []string{"NAME", "STATUS", "VERSION", "CLOUD/REGIONS", "MODELS", "MACHINES", "UNITS", "AGENTS", "ADDRESS", "PRIORITY"}) {
			t.Errorf("jimmctl %s header %q", cmd, lines[0])
		}
		for i, spec := range e.specs {
			// The models here are empty: no machines, units or agents.
			want := []string{spec.name, "up", "3.5.4", "localhost/" + spec.region, strconv.Itoa(counts[spec.name]), "0", "0", "0",
				e.ctls[spec.name].File.APIAddresses[0], "0"}
			if got := strings.Fields(lines[i+1]); !slices.Equal(got, want) {
				t.Errorf("jimmctl %s row %d = %q, want %q", cmd, i+1, got, want)
			}
		}
	}

	// show-controller agrees.
	var one restController
	decodeStrictJSON(t, e.jimmctl(t, "show-controller", "ctl-3", "--format", "json"), &one)
	if !reflect.DeepEqual(one, fromJSON[2]) {
		t.Errorf("show-controller ctl-3 = %+v, list-controllers says %+v", one, fromJSON[2])
	}
}

// latencies summarises creation times.
type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "none"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("n=%d mean=%s p50=%s p90=%s max=%s", len(s),
		(sum / time.Duration(len(s))).Round(time.Microsecond*100), q(0.5).Round(time.Microsecond*100),
		q(0.9).Round(time.Microsecond*100), s[len(s)-1].Round(time.Microsecond*100))
}

// testBrokerPlacementAndHealth: new models in localhost/east spread over
// ctl-1 and ctl-2 and never reach ctl-3; a controller that stops is seen
// down within 10s and gets no new models; back on its port, it is up again
// within 10s.
func testBrokerPlacementAndHealth(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	mm := modelmanager.NewClient(e.open(t, ""))

	create := func(prefix string, n int) ([]string, latencies) {
		var uuids []string
		var lat latencies
		for i := range n {
			start := time.Now()
			info := createModel(t, e, mm, fmt.Sprintf("%s-%02d", prefix, i), "east")
			lat = append(lat, time.Since(start))
			uuids = append(uuids, info.UUID)
		}
		return uuids, lat
	}

	first, lat := create("spread", 60)
	t.Logf("60 CreateModel calls through the broker, one after another: %s", lat)
	where := e.modelsByController(t)
	perCtl := map[string]int{}
	for _, uuid := range first {
		ctl, ok := where[uuid]
		if !ok {
			t.Fatalf("list-models lacks model %s", uuid)
		}
		perCtl[ctl]++
	}
	t.Logf("placement of 60 models in localhost/east: %v", perCtl)
	if perCtl["ctl-1"] < 15 || perCtl["ctl-2"] < 15 || perCtl["ctl-3"] != 0 || perCtl["ctl-1"]+perCtl["ctl-2"] != 60 {
		t.Errorf("60 models in localhost/east went %v; want at least 15 each on ctl-1 and ctl-2, none on ctl-3", perCtl)
	}
	for _, m := range e.listModels(t) {
		if m.Cloud != "localhost" || m.Region != "east" || m.Owner != "admin" || m.Life != "alive" {
			t.Errorf("list-models: %+v; want localhost/east, owner admin, alive", m)
		}
	}
	countsOf := func() map[string]int {
		out := map[string]int{}
		for _, c := range e.listControllers(t) {
			out[c.Name] = c.ModelCount
		}
		return out
	}
	if got := countsOf(); !reflect.DeepEqual(got, map[string]int{"ctl-1": perCtl["ctl-1"], "ctl-2": perCtl["ctl-2"], "ctl-3": 0}) {
		t.Errorf("list-controllers model counts %v, want %v (and ctl-3: 0)", got, perCtl)
	}

	// ctl-2 stops: down within 10s, with a reason.
	e.stopController(t, "ctl-2")
	took := e.waitStatus(t, "ctl-2", "down", 10*time.Second)
	t.Logf("ctl-2 shown down %s after it stopped", took.Round(time.Millisecond))
	for _, c := range e.listControllers(t) {
		switch {
		case c.Name == "ctl-2" && c.StatusMessage == "":
			t.Errorf("ctl-2 is down without a status message: %+v", c)
		case c.Name != "ctl-2" && c.Status != "up":
			t.Errorf("%s is %s while only ctl-2 stopped: %+v", c.Name, c.Status, c)
		}
	}

	second, lat := create("failover", 20)
	t.Logf("20 CreateModel calls with ctl-2 down: %s", lat)
	where = e.modelsByController(t)
	for _, uuid := range second {
		if where[uuid] != "ctl-1" {
			t.Errorf("model %s created while ctl-2 was down went to %q, want ctl-1", uuid, where[uuid])
		}
	}
	if got := countsOf(); got["ctl-1"] != perCtl["ctl-1"]+20 || got["ctl-2"] != perCtl["ctl-2"] || got["ctl-3"] != 0 {
		t.Errorf("list-controllers model counts %v after 20 more, want ctl-1 %d, ctl-2 %d, ctl-3 0",
			got, perCtl["ctl-1"]+20, perCtl["ctl-2"])
	}

	// ctl-2 back on its port: up within 10s, and its models answer again.
	e.startControllerAgain(t, "ctl-2")
	took = e.waitStatus(t, "ctl-2", "up", 10*time.Second)
	t.Logf("ctl-2 shown up %s after it started again", took.Round(time.Millisecond))
	for _, uuid := range first {
		if where[uuid] == "ctl-2" {
			st := fullStatus(t, e.open(t, uuid))
			if st.Model.CloudRegion != "east" {
				t.Errorf("FullStatus of model %s on ctl-2 after its restart: region %q", uuid, st.Model.CloudRegion)
			}
			break
		}
	}
}

// hostPorts lists a connection's servers as host:port/scope.
func hostPorts(conn api.Connection) []string {
	var out []string
	for _, hps := range conn.APIHostPorts() {
		for _, hp := range hps {
			out = append(out, fmt.Sprintf("%s:%d/%s", hp.Host(), hp.Port(), hp.AddressScope()))
		}
	}
	return out
}

// checkBrokerLogin checks that a login through the broker presents the
// broker: its UUID, its address only (scope public), its version.
func checkBrokerLogin(t testing.TB, e *brokerEnv, what string, conn api.Connection, modelUUID string) {
	t.Helper()
	p := e.broker()
	if got := conn.ControllerTag().Id(); got != p.UUID {
		t.Errorf("%s: login result controller tag %s, want the broker's %s", what, got, p.UUID)
	}
	if got := hostPorts(conn); !slices.Equal(got, []string{p.Addr + "/public"}) {
		t.Errorf("%s: login result servers %v, want only the broker's %s/public", what, got, p.Addr)
	}
	if got := conn.PublicDNSName(); got != "" {
		t.Errorf("%s: login result public DNS name %q, want none", what, got)
	}
	if v, ok := conn.ServerVersion(); !ok || v.String() != "3.5.4" {
		t.Errorf("%s: server version %v (%v), want 3.5.4", what, v, ok)
	}
	if tag, ok := conn.ModelTag(); modelUUID != "" && (!ok || tag.Id() != modelUUID) {
		t.Errorf("%s: model tag %v (%v), want %s", what, tag, ok, modelUUID)
	}
	e.checkNoLeak(t, what+": login servers", conn.APIHostPorts())
}

// rawCall makes a call and returns the response's JSON exactly as it
// arrived, to search it for what it should not say.
func rawCall(t testing.TB, conn api.Connection, facade, method string, args any) json.RawMessage {
	t.Helper()
	var raw json.RawMessage
	if err := conn.APICall(facade, conn.BestFacadeVersion(facade), "", method, args, &raw); err != nil {
		t.Fatalf("%s.%s: %v", facade, method, err)
	}
	return raw
}

func findSummary(sums []base.UserModelSummary, uuid string) (base.UserModelSummary, bool) {
	for _, s := range sums {
		if s.UUID == uuid {
			return s, true
		}
	}
	return base.UserModelSummary{}, false
}

// testBrokerModelConnection: a model created through the broker is used
// through the broker with the Juju client (deploy, status, info, lists,
// destroy), and nothing the client receives names a controller.
func testBrokerModelConnection(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	brokerUUID := e.broker().UUID
	conn := e.open(t, "")
	checkBrokerLogin(t, e, "login on /api", conn, "")
	mm := modelmanager.NewClient(conn)

	info := createModel(t, e, mm, "app", "east")
	e.checkNoLeak(t, "CreateModel result", info)
	uuid, tag := info.UUID, names.NewModelTag(info.UUID)

	mconn := e.open(t, uuid)
	checkBrokerLogin(t, e, "login on the model", mconn, uuid)
	deploy(t, mconn, "postgresql", 3)
	st := fullStatus(t, mconn)
	checkApp(t, st, "postgresql", []string{"postgresql/0", "postgresql/1", "postgresql/2"})
	if st.Model.Name != "app" || st.Model.CloudTag != "cloud-localhost" || st.Model.CloudRegion != "east" || st.Model.Version != "3.5.4" {
		t.Errorf("FullStatus model = %+v; want app in cloud-localhost/east, 3.5.4", st.Model)
	}
	e.checkNoLeak(t, "FullStatus", st)
	e.checkNoLeak(t, "FullStatus response", rawCall(t, mconn, "Client", "FullStatus", params.StatusParams{}))
	if err := mconn.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
		t.Errorf("Ping on the model connection: %v", err)
	}

	// The raw login results, as the client received them.
	for _, path := range []string{"/api", "/model/" + uuid + "/api"} {
		r := e.dialRaw(t, path)
		resp := r.login(brokerAdminPassword)
		if resp.Error != "" {
			t.Fatalf("raw login on %s: %s (%s)", path, resp.Error, resp.ErrorCode)
		}
		e.checkNoLeak(t, "login result on "+path, resp.Response)
		var lr params.LoginResult
		if err := json.Unmarshal(resp.Response, &lr); err != nil {
			t.Fatalf("login result on %s: %v", path, err)
		}
		if lr.ControllerTag != "controller-"+brokerUUID {
			t.Errorf("login result on %s: controller-tag %s, want the broker's", path, lr.ControllerTag)
		}
	}

	// ModelInfo, ListModels, ListModelSummaries and ModelStatus on /api.
	infos, err := mm.ModelInfo([]names.ModelTag{tag})
	if err != nil || len(infos) != 1 || infos[0].Error != nil {
		t.Fatalf("ModelInfo: %+v, %v", infos, err)
	}
	mi := infos[0].Result
	if mi.ControllerUUID != brokerUUID || mi.UUID != uuid || mi.Name != "app" || mi.Life != "alive" ||
		mi.CloudTag != "cloud-localhost" || mi.CloudRegion != "east" || mi.OwnerTag != "user-admin" || len(mi.Machines) != 3 {
		t.Errorf("ModelInfo = %+v; want controller UUID %s (the broker's), app in localhost/east, alive, 3 machines", mi, brokerUUID)
	}
	e.checkNoLeak(t, "ModelInfo", infos)
	e.checkNoLeak(t, "ModelInfo response", rawCall(t, conn, "ModelManager", "ModelInfo", params.Entities{Entities: []params.Entity{{Tag: tag.String()}}}))

	if _, ok := findModel(listModels(t, mm, "admin"), uuid); !ok {
		t.Errorf("ListModels(admin) lacks model %s", uuid)
	}
	e.checkNoLeak(t, "ListModels response", rawCall(t, conn, "ModelManager", "ListModels", params.Entity{Tag: "user-admin"}))

	sums, err := mm.ListModelSummaries("admin", false)
	if err != nil {
		t.Fatalf("ListModelSummaries: %v", err)
	}
	s, ok := findSummary(sums, uuid)
	if !ok {
		t.Fatalf("ListModelSummaries(admin) lacks model %s: %+v", uuid, sums)
	}
	if s.ControllerUUID != brokerUUID || s.Name != "app" || s.Cloud != "localhost" || s.CloudRegion != "east" ||
		s.Life != "alive" || s.ModelUserAccess != "admin" || s.AgentVersion == nil || s.AgentVersion.String() != "3.5.4" {
		t.Errorf("summary = %+v; want controller UUID %s (the broker's), app in localhost/east, alive, admin access, 3.5.4", s, brokerUUID)
	}
	e.checkNoLeak(t, "ListModelSummaries", sums)
	e.checkNoLeak(t, "ListModelSummaries response", rawCall(t, conn, "ModelManager", "ListModelSummaries", params.ModelSummariesRequest{UserTag: "user-admin"}))

	sts, err := mm.ModelStatus(tag)
	if err != nil || len(sts) != 1 || sts[0].Error != nil {
		t.Fatalf("ModelStatus: %+v, %v", sts, err)
	}
	if sts[0].Life != "alive" || sts[0].UnitCount != 3 || sts[0].ApplicationCount != 1 || sts[0].HostedMachineCount != 3 {
		t.Errorf("ModelStatus = %+v; want alive, 1 application, 3 units, 3 machines", sts[0])
	}
	e.checkNoLeak(t, "ModelStatus response", rawCall(t, conn, "ModelManager", "ModelStatus", params.Entities{Entities: []params.Entity{{Tag: tag.String()}}}))

	// `juju models` after `juju status`: the summary counts what is there.
	sums, err = mm.ListModelSummaries("admin", false)
	if err != nil {
		t.Fatalf("ListModelSummaries: %v", err)
	}
	if s, _ := findSummary(sums, uuid); !slices.ContainsFunc(s.Counts, func(c base.EntityCount) bool { return c.Entity == "machines" && c.Count == 3 }) {
		t.Errorf("summary counts %+v, want 3 machines", s.Counts)
	}

	// Destroy, as juju destroy-model does: dying, then ModelStatus until
	// "not found".
	if err := mm.DestroyModel(tag, nil, nil, nil, nil); err != nil {
		t.Fatalf("DestroyModel: %v", err)
	}
	sts, err = mm.ModelStatus(tag)
	if err != nil || len(sts) != 1 {
		t.Fatalf("ModelStatus after destroy: %+v, %v", sts, err)
	}
	if sts[0].Error != nil || sts[0].Life != "dying" {
		t.Errorf("ModelStatus right after destroy: life %q, error %v; want dying", sts[0].Life, sts[0].Error)
	}
	sums, err = mm.ListModelSummaries("admin", false)
	if err != nil {
		t.Fatalf("ListModelSummaries: %v", err)
	}
	if s, ok := findSummary(sums, uuid); !ok || s.Life != "dying" {
		t.Errorf("summary right after destroy: %+v (listed: %v); want life dying", s, ok)
	}
	start := time.Now()
	waitModelGone(t, mm, tag, 15*time.Second)
	t.Logf("destroyed model gone %s after DestroyModels", time.Since(start).Round(time.Millisecond))
	if _, ok := findModel(listModels(t, mm, "admin"), uuid); ok {
		t.Errorf("ListModels still lists destroyed model %s", uuid)
	}
	sums, err = mm.ListModelSummaries("admin", false)
	if err != nil {
		t.Fatalf("ListModelSummaries: %v", err)
	}
	if _, ok := findSummary(sums, uuid); ok {
		t.Errorf("ListModelSummaries still lists destroyed model %s", uuid)
	}
	infos, err = mm.ModelInfo([]names.ModelTag{tag})
	if err != nil || len(infos) != 1 || infos[0].Error == nil || infos[0].Error.Code != params.CodeNotFound {
		t.Errorf("ModelInfo of a destroyed model: %+v, %v; want a not found error", infos, err)
	}
	if _, ok := e.modelsByController(t)[uuid]; ok {
		t.Errorf("jimmctl list-models still lists destroyed model %s", uuid)
	}
	_, err = e.tryOpen(uuid)
	wantErr(t, "login to the destroyed model's endpoint", err, params.CodeModelNotFound, uuid)
	if err := conn.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
		t.Errorf("Ping on /api after destroy: %v", err)
	}
}

// bigFrame is a valid request of n bytes.
func bigFrame(n int) []byte {
	head, tail := `{"request-id":1,"type":"Pinger","version":1,"request":"Ping","params":{"pad":"`, `"}}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// prober keeps a Juju client busy on the broker (Ping and ListModels on
// /api, FullStatus on a model) until stopped, recording failures.
type prober struct {
	stop   chan struct{}
	done   chan struct{}
	rounds atomic.Int64
	mu     sync.Mutex
	errs   []string
}

func startProber(conn, mconn api.Connection) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	mm := modelmanager.NewClient(conn)
	fail := func(what string, err error) {
		p.mu.Lock()
		p.errs = append(p.errs, fmt.Sprintf("%s at %s: %v", what, time.Now().Format("15:04:05.000"), err))
		p.mu.Unlock()
	}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if err := conn.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
				fail("Ping", err)
			}
			if _, err := mm.ListModels("admin"); err != nil {
				fail("ListModels", err)
			}
			if err := mconn.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
				fail("Ping on the model", err)
			}
			p.rounds.Add(1)
		}
	}()
	return p
}

// finish stops the prober and fails the test if any call failed.
func (p *prober) finish(t testing.TB, what string) {
	t.Helper()
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		t.Errorf("a well-behaved client failed %d times during %s; first: %s", len(p.errs), what, p.errs[0])
	}
	if p.rounds.Load() < 5 {
		t.Errorf("a well-behaved client made only %d rounds of calls during %s", p.rounds.Load(), what)
	}
	t.Logf("well-behaved client: %d rounds of Ping, ListModels and a model Ping during %s", p.rounds.Load(), what)
}

// testBrokerErrors: unknown models, models on a dead (or hung)
// controller, malformed and oversized frames each get a prompt, clear
// error, while other clients and models keep being served.
func testBrokerErrors(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins, "--max-frame-size", "65536")
	conn := e.open(t, "")
	mm := modelmanager.NewClient(conn)

	// steady lives on ctl-3 (the only west controller), doomed on one east
	// controller, frozen on the other.
	steady := createModel(t, e, mm, "steady", "west")
	deploy(t, e.open(t, steady.UUID), "app", 1)
	doomed := createModel(t, e, mm, "doomed", "east")
	doomedCtl := e.modelsByController(t)[doomed.UUID]
	var frozen base.ModelInfo
	for i := 0; frozen.UUID == ""; i++ {
		if i == 30 {
			t.Fatalf("30 models in localhost/east all went to %s", doomedCtl)
		}
		info := createModel(t, e, mm, fmt.Sprintf("frozen-%d", i), "east")
		if e.modelsByController(t)[info.UUID] != doomedCtl {
			frozen = info
		}
	}
	frozenCtl := e.modelsByController(t)[frozen.UUID]
	if e.modelsByController(t)[steady.UUID] != "ctl-3" {
		t.Fatalf("model steady in localhost/west is not on ctl-3")
	}

	steadyConn := e.open(t, steady.UUID)
	doomedConn := e.open(t, doomed.UUID)
	probe := startProber(conn, steadyConn)
	defer probe.finish(t, "the error scenarios")

	t.Run("unknown model", func(t *testing.T) {
		unknown := "5f0e1d2c-3b4a-4968-8776-a5b4c3d2e1f0"
		_, err := e.tryOpen(unknown)
		wantErr(t, "login to an unknown model's endpoint", err, params.CodeModelNotFound, unknown)
		infos, err := mm.ModelInfo([]names.ModelTag{names.NewModelTag(unknown)})
		if err != nil || len(infos) != 1 || infos[0].Error == nil || infos[0].Error.Code != params.CodeNotFound {
			t.Errorf("ModelInfo of an unknown model: %+v, %v; want a not found error", infos, err)
		}
	})

	model := "/model/" + steady.UUID + "/api"
	// closesEverywhere sends frame on /api and on a model connection,
	// before and after logging in, and wants each closed with code.
	closesEverywhere := func(t *testing.T, what string, frame []byte, code int) {
		t.Helper()
		for _, path := range []string{"/api", model} {
			for _, login := range []bool{false, true} {
				r := e.dialRaw(t, path)
				if login {
					if resp := r.login(brokerAdminPassword); resp.Error != "" {
						t.Fatalf("raw login on %s: %s", path, resp.Error)
					}
				}
				t.Logf("%s on %s (logged in: %v)", what, path, login)
				r.wantClose(websocket.TextMessage, frame, code)
			}
		}
	}
	t.Run("malformed frames", func(t *testing.T) {
		closesEverywhere(t, "non-JSON", []byte("this is { not JSON"), websocket.CloseInvalidFramePayloadData)
		// A request just under the limit is served.
		for _, path := range []string{"/api", model} {
			r := e.dialRaw(t, path)
			if resp := r.login(brokerAdminPassword); resp.Error != "" {
				t.Fatalf("raw login on %s: %s", path, resp.Error)
			}
			frame := bigFrame(60 << 10)
			frame = []byte(strings.Replace(string(frame), `"request-id":1`, `"request-id":2`, 1))
			if err := r.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				t.Fatalf("send a 60 KiB Ping on %s: %v", path, err)
			}
			r.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			var resp rawResponse
			if err := r.ws.ReadJSON(&resp); err != nil || resp.RequestID != 2 || resp.Error != "" {
				t.Errorf("60 KiB Ping on %s: %+v, %v; want an answer", path, resp, err)
			}
		}
	})

	t.Run("oversized frames", func(t *testing.T) {
		closesEverywhere(t, "256 KiB frame", bigFrame(256<<10), websocket.CloseMessageTooBig)
	})

	// failsPromptly wants a login to a model to fail with "try again",
	// without naming the controller: the broker gives up on the
	// controller itself (after its own dial and login timeouts) rather
	// than leave the client waiting. The login may take up to a minute;
	// how long it took is logged.
	failsPromptly := func(t *testing.T, what, uuid string) {
		t.Helper()
		type opened struct {
			conn api.Connection
			err  error
		}
		start := time.Now()
		result := make(chan opened, 1)
		go func() {
			conn, err := e.tryOpen(uuid)
			result <- opened{conn, err}
		}()
		var r opened
		select {
		case r = <-result:
		case <-time.After(time.Minute):
			// (The Juju client bounds its dial, not its login.)
			t.Fatalf("%s: the login neither failed nor succeeded within a minute", what)
		}
		err := r.err
		t.Logf("%s: login failed after %s: %v", what, time.Since(start).Round(time.Millisecond), err)
		if err == nil {
			r.conn.Close()
			t.Fatalf("%s: login succeeded", what)
		}
		if code := errCode(err); code != params.CodeTryAgain || !strings.Contains(err.Error(), "unavailable") {
			t.Errorf("%s: error %q (code %q), want code %q saying the controller is unavailable", what, err, code, params.CodeTryAgain)
		}
		e.checkNoLeak(t, what+": error", err.Error())
	}
	stillServed := func(t *testing.T) {
		t.Helper()
		checkApp(t, fullStatus(t, steadyConn), "app", []string{"app/0"})
		checkApp(t, fullStatus(t, e.open(t, steady.UUID)), "app", []string{"app/0"})
		infos, err := mm.ModelInfo([]names.ModelTag{names.NewModelTag(steady.UUID)})
		if err != nil || infos[0].Error != nil {
			t.Errorf("ModelInfo of model steady: %+v, %v", infos, err)
		}
	}

	t.Run("dead controller", func(t *testing.T) {
		stopped := time.Now()
		e.stopController(t, doomedCtl)
		select {
		case <-doomedConn.Broken():
			t.Logf("the client connected to model doomed saw its connection end %s after %s stopped", time.Since(stopped).Round(time.Millisecond), doomedCtl)
		case <-time.After(30 * time.Second):
			t.Errorf("a client connected to model doomed is not told within 30s that %s went away", doomedCtl)
		}
		failsPromptly(t, "model on a controller just stopped", doomed.UUID)
		stillServed(t)
		e.waitStatus(t, doomedCtl, "down", 10*time.Second)
		failsPromptly(t, "model on a controller seen down", doomed.UUID)
		infos, err := mm.ModelInfo([]names.ModelTag{names.NewModelTag(doomed.UUID)})
		if err != nil || len(infos) != 1 || infos[0].Error == nil || infos[0].Error.Code != params.CodeTryAgain {
			t.Errorf("ModelInfo of a model on a dead controller: %+v, %v; want a %q error", infos, err, params.CodeTryAgain)
		} else {
			e.checkNoLeak(t, "ModelInfo error", infos[0].Error.Error())
		}
		stillServed(t)
	})

	t.Run("hung controller", func(t *testing.T) {
		// SIGSTOP: the controller's socket still accepts, nothing answers.
		pid := e.ctls[frozenCtl].Pid()
		thaw := freeze(t, pid)
		defer thaw()
		failsPromptly(t, "model on a hung controller", frozen.UUID)
		stillServed(t)
		thaw()
		e.waitStatus(t, frozenCtl, "up", 10*time.Second)
		fullStatus(t, e.open(t, frozen.UUID))
	})
}

// testBrokerRestart: after jimmd restarts (SIGTERM, then the same
// arguments and database) it has the same identity, controllers and
// models, and models created before still open through it.
func testBrokerRestart(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	conn := e.open(t, "")
	mm := modelmanager.NewClient(conn)
	var keep base.ModelInfo
	for i, region := range []string{"east", "east", "east", "east", "west", "west"} {
		info := createModel(t, e, mm, fmt.Sprintf("pre-%d", i), region)
		if i == 0 {
			keep = info
		}
	}
	mconn := e.open(t, keep.UUID)
	deploy(t, mconn, "db", 2)
	before := fullStatus(t, mconn)
	ctlsBefore, modelsBefore := e.listControllers(t), e.listModels(t)
	old := e.broker()

	p := e.restartBroker(t)
	if p.UUID != old.UUID || p.Addr != old.Addr {
		t.Errorf("after restart jimmd is %s on %s, want %s on %s", p.UUID, p.Addr, old.UUID, old.Addr)
	}
	for what, c := range map[string]api.Connection{"/api": conn, "model": mconn} {
		select {
		case <-c.Broken():
		case <-time.After(30 * time.Second):
			t.Errorf("the %s connection open before the restart is not broken 30s after it", what)
		}
	}

	start := time.Now()
	for _, s := range e.specs {
		e.waitStatus(t, s.name, "up", 10*time.Second-time.Since(start))
	}
	t.Logf("all controllers up %s after jimmd started again", time.Since(start).Round(time.Millisecond))
	ctlsAfter := e.listControllers(t)
	if len(ctlsAfter) != len(ctlsBefore) {
		t.Fatalf("after restart list-controllers lists %d controllers, want %d", len(ctlsAfter), len(ctlsBefore))
	}
	for i, a := range ctlsAfter {
		b := ctlsBefore[i]
		// Health is new: the status's start differs.
		a.StatusSince, b.StatusSince = time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("controller after restart\n%+v\nbefore\n%+v", a, b)
		}
	}
	if modelsAfter := e.listModels(t); !reflect.DeepEqual(modelsAfter, modelsBefore) {
		t.Errorf("list-models after restart:\n%+v\nbefore:\n%+v", modelsAfter, modelsBefore)
	}

	// The model opens through the restarted broker (the controllers take
	// its tokens: same signing key) and its status is what it was.
	mconn = e.open(t, keep.UUID)
	checkBrokerLogin(t, e, "model login after restart", mconn, keep.UUID)
	after := fullStatus(t, mconn)
	before.ControllerTimestamp, after.ControllerTimestamp = nil, nil
	bj, _ := json.Marshal(before)
	aj, _ := json.Marshal(after)
	if string(aj) != string(bj) {
		t.Errorf("FullStatus after restart:\n%s\nbefore:\n%s", aj, bj)
	}
	mm = modelmanager.NewClient(e.open(t, ""))
	var got []string
	for _, m := range listModels(t, mm, "admin") {
		got = append(got, m.UUID)
	}
	var want []string
	for _, m := range modelsBefore {
		want = append(want, m.UUID)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("ListModels after restart: %v, want %v", got, want)
	}
	// And new models go where they should.
	info := createModel(t, e, mm, "post", "west")
	if ctl := e.modelsByController(t)[info.UUID]; ctl != "ctl-3" {
		t.Errorf("model created in localhost/west after restart went to %q, want ctl-3", ctl)
	}
}

// testBrokerControllerConnections: the broker shares one connection per
// controller for its own calls (health checks, model creation, model
// info) instead of opening one per call and leaving it open.
func testBrokerControllerConnections(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	mm := modelmanager.NewClient(e.open(t, ""))
	var tags []names.ModelTag
	for i := range 20 {
		tags = append(tags, names.NewModelTag(createModel(t, e, mm, fmt.Sprintf("conn-%02d", i), "east").UUID))
	}
	for range 5 {
		infos, err := mm.ModelInfo(tags)
		if err != nil {
			t.Fatalf("ModelInfo: %v", err)
		}
		for _, r := range infos {
			if r.Error != nil {
				t.Fatalf("ModelInfo: %v", r.Error)
			}
		}
	}
	// Two health checks of each controller (every 2s by default) after
	// all that.
	pings := func(ctl string) float64 {
		return bmMetric(t, e.metricsAddr(), `jimm_controller_ping_duration_seconds_count{controller="`+ctl+`"}`)
	}
	pinged := map[string]float64{}
	for _, s := range e.specs {
		pinged[s.name] = pings(s.name)
	}
	start := time.Now()
	for _, s := range e.specs {
		eventually(t, time.Minute, "two more health checks of "+s.name, func() error {
			if n := pings(s.name) - pinged[s.name]; n < 2 {
				return fmt.Errorf("%v so far", n)
			}
			return nil
		})
	}
	t.Logf("two more health checks of every controller in %s", time.Since(start).Round(time.Millisecond))
	pid := e.broker().Pid()
	for _, s := range e.specs {
		addr := e.ctls[s.name].Addr
		_, portStr, _ := strings.Cut(addr, ":")
		port, _ := strconv.Atoi(portStr)
		n, err := connsTo(pid, port)
		if err != nil {
			t.Fatalf("count jimmd's connections: %v", err)
		}
		t.Logf("jimmd holds %d connections to %s (%s)", n, s.name, addr)
		if n > 2 {
			t.Errorf("after 20 model creations, 100 ModelInfo lookups and two rounds of health checks, jimmd holds %d connections to %s; "+
				"want its one pooled connection (2 at most while it replaces one): it opens a connection per call and leaks it", n, s.name)
		}
	}
}

// TestBrokerRESTTypes checks that the harness's mirrors of the admin API's
// types (restController, restModel, restError) have exactly the fields and tags of
// broker/restapi's, so that decoding jimmctl's output with them means
// what it says.
func TestBrokerRESTTypes(t *testing.T) {
	t.Parallel()
	checkMirrors(t, "types.go", map[string]any{"Controller": restController{}, "Model": restModel{}, "Error": restError{}})
}

// freeze stops process pid with SIGSTOP: its sockets still accept,
// nothing answers. thaw sends SIGCONT, once however often it is called.
func freeze(t testing.TB, pid int) (thaw func()) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	return sync.OnceFunc(func() { syscall.Kill(pid, syscall.SIGCONT) })
}

// testBrokerIdleDetach: a model connection with no call in flight for
// --proxy-detach-after drops its controller connection (pings are then
// answered by the broker) and logs in again on its next call, with the
// same results; a connection that named a server-side object keeps its
// controller connection.
func testBrokerIdleDetach(t *testing.T, bins *brokerBins) {
	const detachAfter = 400 * time.Millisecond
	e := newBrokerEnv(t, bins, "--proxy-detach-after", detachAfter.String())
	mm := modelmanager.NewClient(e.open(t, ""))
	info := createModel(t, e, mm, "idle", "east")
	host := e.modelsByController(t)[info.UUID]
	_, portStr, _ := strings.Cut(e.ctls[host].Addr, ":")
	port, _ := strconv.Atoi(portStr)
	pid := e.broker().Pid()
	conns := func() int {
		t.Helper()
		n, err := connsTo(pid, port)
		if err != nil {
			t.Fatalf("count jimmd's connections to %s: %v", host, err)
		}
		return n
	}
	waitConns := func(want int, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for n := conns(); n != want; n = conns() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: jimmd holds %d connections to %s, want %d", what, n, host, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	base := conns() // the broker's own pooled connection

	a := e.open(t, info.UUID)
	before, err := client.NewClient(a, nil).Status(nil)
	if err != nil {
		t.Fatalf("FullStatus: %v", err)
	}
	waitConns(base+1, "an active model connection")
	waitConns(base, "the model connection idle for longer than --proxy-detach-after")
	if err := a.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
		t.Fatalf("Ping while detached: %v", err)
	}
	if n := conns(); n != base {
		t.Fatalf("a ping reattached the idle connection: %d connections to %s, want %d", n, host, base)
	}
	after, err := client.NewClient(a, nil).Status(nil)
	if err != nil {
		t.Fatalf("FullStatus after detaching: %v", err)
	}
	if len(after.Applications) != len(before.Applications) || len(after.Machines) != len(before.Machines) || after.Model.Name != before.Model.Name {
		t.Fatalf("FullStatus after reattaching differs: %+v, before %+v", after.Model, before.Model)
	}
	waitConns(base+1, "a call on a detached connection")

	// A call that names a server-side object pins the connection: b, on
	// a model of ctl-3 (the only controller in localhost/west), keeps its
	// controller connection while a, called after b, goes idle and
	// detaches twice: by then b has been idle for over twice
	// --proxy-detach-after (the broker looks every tenth of it).
	pinned := createModel(t, e, mm, "pinned", "west")
	if ctl := e.modelsByController(t)[pinned.UUID]; ctl != "ctl-3" {
		t.Fatalf("model pinned in localhost/west is on %q, want ctl-3", ctl)
	}
	port3 := portOf(t, e.ctls["ctl-3"].Addr)
	base3 := bmConns(t, pid, port3)
	b := e.open(t, pinned.UUID)
	if err := b.APICall("Pinger", 1, "object-1", "Ping", nil, nil); err != nil {
		t.Fatalf("Ping with an id: %v", err)
	}
	for i := range 2 {
		if _, err := client.NewClient(a, nil).Status(nil); err != nil {
			t.Fatalf("FullStatus after the other connection's Ping with an id: %v", err)
		}
		waitConns(base, fmt.Sprintf("a idle for longer than --proxy-detach-after (%d of 2) after b's call", i+1))
	}
	if n := bmConns(t, pid, port3); n != base3+1 {
		t.Errorf("jimmd holds %d connections to ctl-3 once a connection idle for less long than b has detached twice, want %d: "+
			"b, which named a server-side object, detached", n, base3+1)
	}
}

// testBrokerSlowCreate: a controller that does not create a model within
// --model-create-timeout is passed over for the next candidate; once it
// resumes it creates the model it was asked for, and the broker finds
// that model and destroys it, so no orphan is left on it.
func testBrokerSlowCreate(t *testing.T, bins *brokerBins) {
	const frozenCtl = "ctl-1"
	e := newBrokerEnv(t, bins, "--model-create-timeout", "1s", "--health-interval", "5s")
	mm := modelmanager.NewClient(e.open(t, ""))
	// A creation that gave up on ctl-1 counts a controller error for it.
	timedOut := `jimm_placements_total{controller="` + frozenCtl + `",result="controller-error"}`
	// Freeze ctl-1 while the broker still believes it up (its next health
	// check is up to 5s away).
	pid := e.ctls[frozenCtl].Pid()
	thaw := freeze(t, pid)
	defer thaw()
	// Placement tries ctl-1 first about half the time: such a creation
	// waits out the timeout, then lands on ctl-2.
	var slow string
	for i := 0; i < 12 && slow == ""; i++ {
		before, _ := bmTryMetric(t, e.metricsAddr(), timedOut)
		start := time.Now()
		info := createModel(t, e, mm, fmt.Sprintf("slow-%02d", i), "east")
		took := time.Since(start)
		if after, _ := bmTryMetric(t, e.metricsAddr(), timedOut); after == before {
			continue // placed on ctl-2 straight away
		}
		slow = info.Name
		if host := e.modelsByController(t)[info.UUID]; host != "ctl-2" {
			t.Fatalf("model %s, created after %s timed out, is on %s; want ctl-2", info.Name, frozenCtl, host)
		}
		t.Logf("model %s took %s: %s timed out, ctl-2 created it", info.Name, took.Round(time.Millisecond), frozenCtl)
	}
	if slow == "" {
		t.Fatal("no creation was tried on the frozen controller first: cannot check the timeout path")
	}
	thaw()
	resumed := time.Now()
	// Resumed, ctl-1 creates the model it was asked for (it appears in its
	// own model list, which its admin sees whole); then the broker must
	// destroy it (it goes from that list).
	direct := modelmanager.NewClient(e.ctls[frozenCtl].admin(t, ""))
	onFrozen := func() (base.UserModelSummary, bool, error) {
		sums, err := direct.ListModelSummaries("admin", true)
		if err != nil {
			return base.UserModelSummary{}, false, fmt.Errorf("list the models of %s as its admin: %w", frozenCtl, err)
		}
		for _, m := range sums {
			if m.Name == slow && m.Owner == "admin" {
				return m, true, nil
			}
		}
		return base.UserModelSummary{}, false, nil
	}
	var orphan base.UserModelSummary
	eventually(t, time.Minute, "model "+slow+" appears on "+frozenCtl+" once it resumes", func() error {
		m, ok, err := onFrozen()
		switch {
		case err != nil:
			return err
		case !ok:
			return fmt.Errorf("%s has no model named %s", frozenCtl, slow)
		}
		orphan = m
		return nil
	})
	t.Logf("model %s (%s, %s) appeared on %s %s after it resumed", slow, orphan.UUID, orphan.Life, frozenCtl, time.Since(resumed).Round(time.Millisecond))
	eventually(t, time.Minute, "the broker destroys model "+slow+" ("+orphan.UUID+") on "+frozenCtl, func() error {
		m, ok, err := onFrozen()
		switch {
		case err != nil:
			return err
		case ok:
			return fmt.Errorf("%s still has it (%s), life %s: the broker left an orphan", frozenCtl, m.UUID, m.Life)
		}
		return nil
	})
	t.Logf("model %s gone from %s %s after it resumed", slow, frozenCtl, time.Since(resumed).Round(time.Millisecond))
	// The broker's own model of that name is untouched.
	found := false
	for _, m := range e.listModels(t) {
		if m.Name == slow {
			found = m.Controller == "ctl-2" && m.UUID != orphan.UUID
		}
	}
	if !found {
		t.Fatalf("the routing table lost model %s on ctl-2", slow)
	}
}
