package integration

// Faults against the broker's view of its fleet: a controller added or
// removed through one replica must reach the other at once; a controller
// that took part in a migration must still be removable, its history
// kept; the broker must never take itself for one of its controllers.

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/base"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/names/v5"
	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
)

// TestFaultFleet runs the fleet scenarios in parallel, each on a broker,
// database and controllers of its own.
func TestFaultFleet(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{"ControllerAddedThroughOtherReplica", testFleetAddedThroughOtherReplica},
		{"RemoveWithMigrationHistory", testFleetRemoveWithMigrationHistory},
		{"BrokerOfferedToItself", testFleetBrokerOfferedToItself},
	})
}

// replicaClient is a Juju client and a jimmctl that talk to replica b
// only.
func replicaClient(t *testing.T, e *brokerEnv, b *jimmproc.Process) (*modelmanager.Client, *jimmproc.Ctl) {
	t.Helper()
	ca, err := os.ReadFile(b.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	info := e.apiInfo("")
	info.Addrs, info.CACert = []string{b.Addr}, string(ca)
	conn, err := api.Open(info, dialOpts)
	if err != nil {
		t.Fatalf("login through replica B: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ctl := *e.ctl
	ctl.URL, ctl.CACert, ctl.ConfigDir = "https://"+b.Addr, b.CACertFile, t.TempDir()
	return modelmanager.NewClient(conn), &ctl
}

// checkModelGauges fails the test unless jimm_models on each metrics
// listener (name → address) shows, for every registered controller, the
// model count the database has (list-controllers), and shows no other
// controller.
func checkModelGauges(t *testing.T, e *brokerEnv, listeners map[string]string) {
	t.Helper()
	ctls := e.listControllers(t)
	for who, addr := range listeners {
		total := 0
		for _, c := range ctls {
			got, found := bmTryMetric(t, addr, fmt.Sprintf("jimm_models{controller=%q}", c.Name))
			if !found || int(got) != c.ModelCount {
				t.Errorf("%s: jimm_models{controller=%q} = %v (found %v), the database counts %d", who, c.Name, got, found, c.ModelCount)
			}
			total += c.ModelCount
		}
		if got, _ := bmTryMetric(t, addr, "jimm_models"); int(got) != total {
			t.Errorf("%s: jimm_models sums to %v over its controllers, the database counts %d models on %d controllers", who, got, total, len(ctls))
		}
	}
}

// testFleetAddedThroughOtherReplica: two replicas on one database. A
// controller added through replica A, the only one of its region, takes a
// model created through replica B within a second of add-controller
// returning; both replicas' jimm_models agree with the database whichever
// replica placed the models; a removal through A stops B from placing on
// it, from checking it and from holding a connection to it.
func testFleetAddedThroughOtherReplica(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	b := e.startReplica(t, true)
	mmA := modelmanager.NewClient(e.open(t, ""))
	mmB, ctlB := replicaClient(t, e, b)
	metrics := map[string]string{"replica A": e.metricsAddr(), "replica B": b.Opts.MetricsListen}
	// B places only on controllers its health checks have seen up.
	waitSeesUp(t, b.Opts.MetricsListen, "ctl-1", "ctl-2", "ctl-3")

	// Models placed through each replica: each replica's gauge counts
	// the other's too.
	createModel(t, e, mmA, "through-a", "east")
	createModel(t, e, mmB, "through-b-1", "west")
	createModel(t, e, mmB, "through-b-2", "east")
	checkModelGauges(t, e, metrics)

	// No controller in north yet: B cannot place there.
	if _, err := mmB.CreateModel("too-early", "admin", "localhost", "north", names.CloudCredentialTag{}, nil); err == nil {
		t.Fatal("replica B created a model in localhost/north before any controller there was registered")
	}

	ctl4 := e.launchController("ctl-4", "north")
	e.jimmctl(t, "add-controller", ctl4.FilePath) // through A
	added := time.Now()
	var (
		info     base.ModelInfo
		err      error
		attempts int
	)
	for {
		attempts++
		info, err = mmB.CreateModel("north-1", "admin", "localhost", "north", names.CloudCredentialTag{}, nil)
		if err == nil || time.Since(added) > time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(added)
	if err != nil {
		t.Fatalf("replica B still cannot place a model on ctl-4, registered through replica A %s ago (%d attempts): %v", took.Round(time.Millisecond), attempts, err)
	}
	t.Logf("replica B placed a model on ctl-4 %s after add-controller returned through replica A (%d attempts)", took.Round(time.Millisecond), attempts)
	if m := bmShowModel(t, ctlB, info.UUID); m.Controller != "ctl-4" || m.Region != "north" {
		t.Fatalf("the model created through B in north is on %q in %q, want ctl-4 in north", m.Controller, m.Region)
	}
	var seen restController
	var ctls []restController
	decodeStrictJSON(t, ctlOutput(t, ctlB, "list-controllers", "--format", "json"), &ctls)
	for _, c := range ctls {
		if c.Name == "ctl-4" {
			seen = c
		}
	}
	if seen.Status != "up" || seen.ModelCount != 1 {
		t.Errorf("replica B's list-controllers shows ctl-4 as %+v; want up, with 1 model", seen)
	}
	createModel(t, e, mmA, "north-2", "north")
	checkModelGauges(t, e, metrics)
	if up := bmMetric(t, b.Opts.MetricsListen, `jimm_controller_up{controller="ctl-4"}`); up != 1 {
		t.Errorf("replica B: jimm_controller_up{controller=\"ctl-4\"} = %v, want 1", up)
	}
	port4 := portOf(t, ctl4.Addr)
	if n, err := connsTo(b.Pid(), port4); err != nil || n == 0 {
		t.Fatalf("replica B holds %d connections to ctl-4 (%v) while it uses it", n, err)
	}

	// Removed through A: B places nothing more on it, stops checking it
	// and closes its connection.
	e.jimmctl(t, "remove-controller", "ctl-4", "--force")
	if _, err := mmB.CreateModel("north-3", "admin", "localhost", "north", names.CloudCredentialTag{}, nil); err == nil {
		t.Fatal("replica B created a model in localhost/north after ctl-4, the only controller there, was removed through replica A")
	}
	eventually(t, 2*time.Second, "replica B closes its connections to the removed ctl-4", func() error {
		if n, err := connsTo(b.Pid(), port4); err != nil || n != 0 {
			return fmt.Errorf("%d connections (%v)", n, err)
		}
		return nil
	})
	for who, addr := range metrics {
		if _, found := bmTryMetric(t, addr, `jimm_controller_up{controller="ctl-4"}`); found {
			t.Errorf("%s still reports jimm_controller_up for the removed ctl-4", who)
		}
		if _, found := bmTryMetric(t, addr, `jimm_models{controller="ctl-4"}`); found {
			t.Errorf("%s still reports jimm_models for the removed ctl-4", who)
		}
	}
	checkModelGauges(t, e, metrics)
	// The others are still used through B.
	createModel(t, e, mmB, "after-removal", "west")
	checkModelGauges(t, e, metrics)
	waitConsistent(t, e, 30*time.Second)
}

// testFleetRemoveWithMigrationHistory: a controller a model migrated away
// from can be removed (no --force: it hosts nothing), and the migration is
// still listed, from it.
func testFleetRemoveWithMigrationHistory(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := bmModelOn(t, e, mm, "wanderer", "ctl-1")
	if res := e.run(t, "migrate", "ctl-2", uuid, "--wait"); res.ExitCode != 0 {
		t.Fatalf("migrate the model from ctl-1 to ctl-2: %s", res)
	}
	before := bmShowMigration(t, e.ctl, uuid)
	if before.Source != "ctl-1" || before.Target != "ctl-2" || before.Result != "succeeded" {
		t.Fatalf("the migration before the removal: %+v", before)
	}

	res := e.run(t, "remove-controller", "ctl-1")
	if res.ExitCode != 0 {
		t.Fatalf("remove ctl-1, which a migration left: %s", res)
	}
	for _, c := range e.listControllers(t) {
		if c.Name == "ctl-1" {
			t.Fatalf("ctl-1 is still listed after its removal: %+v", c)
		}
	}
	after := bmShowMigration(t, e.ctl, uuid)
	if after.ID != before.ID || after.Source != "ctl-1" || after.Target != "ctl-2" || after.Result != "succeeded" || after.EndedAt == nil {
		t.Errorf("show-migration after ctl-1's removal: %+v; want migration %d from ctl-1 to ctl-2, succeeded", after, before.ID)
	}
	found := false
	for _, m := range bmListMigrations(t, e.ctl) {
		if m.ID == before.ID {
			found = true
			if m.Source != "ctl-1" || m.Target != "ctl-2" {
				t.Errorf("migrations lists migration %d as %s → %s, want ctl-1 → ctl-2", m.ID, m.Source, m.Target)
			}
		}
	}
	if !found {
		t.Errorf("migrations no longer lists migration %d after ctl-1's removal", before.ID)
	}
	tab := e.jimmctl(t, "migrations")
	if !strings.Contains(tab, "ctl-1") || !strings.Contains(tab, "wanderer") {
		t.Errorf("jimmctl migrations does not name ctl-1 and the model:\n%s", tab)
	}
	// The model lives on, on ctl-2.
	if m := bmShowModel(t, e.ctl, uuid); m.Controller != "ctl-2" {
		t.Errorf("the migrated model is on %q after ctl-1's removal, want ctl-2", m.Controller)
	}
	fullStatus(t, e.open(t, uuid))
	waitConsistent(t, e, 30*time.Second)
}

// testFleetBrokerOfferedToItself: add-controller with a controller file
// that names the broker itself (its UUID, its address however written,
// or an address that forwards to it) is refused, and nothing is stored.
func testFleetBrokerOfferedToItself(t *testing.T, bins *brokerBins) {
	e := newBrokerEnv(t, bins)
	p := e.broker()
	_, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	alias := forwarder(t, p.Addr)
	const otherUUID = "5e55c0de-0000-4000-8000-00000000f00d"
	for i, tt := range []struct {
		name, uuid, addr, says string
	}{
		{"its UUID and address", p.UUID, p.Addr, "UUID " + p.UUID + " is the broker's own"},
		{"its UUID at another address", p.UUID, e.ctls["ctl-1"].Addr, "UUID " + p.UUID + " is the broker's own"},
		{"its address", otherUUID, p.Addr, "address " + p.Addr + " is the broker's own"},
		{"its address as localhost", otherUUID, "localhost:" + port, "address localhost:" + port + " is the broker's own"},
		{"an address that forwards to it", otherUUID, alias, "answers with the broker's own UUID " + p.UUID},
	} {
		file := devproc.ControllerFile{
			Name: fmt.Sprintf("jimm-itself-%d", i), UUID: tt.uuid, APIAddresses: []string{tt.addr}, CACert: e.caPEM,
			AdminUser: "admin", AdminPassword: brokerAdminPassword,
		}
		raw, err := yaml.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "itself.yaml")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		res := e.run(t, "add-controller", path)
		if res.ExitCode != 1 || res.Stdout != "" ||
			!strings.Contains(res.Stderr, "refusing to register the broker itself as a controller") || !strings.Contains(res.Stderr, tt.says) {
			t.Errorf("add-controller naming %s: want a refusal saying it is the broker itself (%q); got %s", tt.name, tt.says, res)
		}
		var names []string
		for _, c := range e.listControllers(t) {
			names = append(names, c.Name)
		}
		if strings.Join(names, ",") != "ctl-1,ctl-2,ctl-3" {
			t.Errorf("after refusing %s the broker lists controllers %v, want ctl-1, ctl-2, ctl-3", tt.name, names)
		}
	}
	// The broker is still whole: models go to its real controllers.
	mm := modelmanager.NewClient(e.open(t, ""))
	createModel(t, e, mm, "after-refusals", "east")
	waitConsistent(t, e, 30*time.Second)
}

// forwarder relays TCP connections on a new local address to target, as
// a proxy or a DNS alias in front of it would; it stops when the test
// ends.
func forwarder(t *testing.T, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	return l.Addr().String()
}
