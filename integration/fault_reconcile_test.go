package integration

// Faults against the broker's record of models: a broker killed in the
// middle of a burst of creations, a destroyed model re-created under the
// same name, a model made behind the broker's back. Each ends with the
// consistency checker (jimmctl check) finding no difference once the
// reconciler has run.

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
)

// reconcileArgs make the reconciler quick enough to watch in a test.
var reconcileArgs = []string{"--reconcile-interval", "2s", "--model-create-timeout", "10s"}

// TestFaultBrokerKilledMidCreates: two replicas take a burst of 200
// creations; one is killed with SIGKILL while creations are in flight on
// it (each controller takes 3 s to answer, after the model exists) and
// started again. The reconciler adopts what the dead replica's creations
// made, so that nothing is orphaned: every model on every controller is
// the broker's, every creation a client was told succeeded is there, no
// owner has two models of one name, and retrying a failed name either
// succeeds or says it exists, never making a second one.
func TestFaultBrokerKilledMidCreates(t *testing.T) {
	t.Parallel()
	bins := buildBrokerBins(t)
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	e.startBroker(newTestDatabase(t), reconcileArgs)
	e.addControllers(t, threeControllers, "--model-create-delay", "3s")
	b := e.startReplica(t, false)

	infoFor := func(p *jimmproc.Process) *api.Info {
		ca, err := os.ReadFile(p.CACertFile)
		if err != nil {
			t.Fatal(err)
		}
		info := e.apiInfo("")
		info.Addrs, info.CACert = []string{p.Addr}, string(ca)
		return info
	}
	const n, conns = 200, 10
	var clients [2][]*modelmanager.Client
	for r, p := range []*jimmproc.Process{e.broker(), b} {
		for range conns {
			conn, err := api.Open(infoFor(p), dialOpts)
			if err != nil {
				t.Fatalf("log in to replica %d: %v", r, err)
			}
			t.Cleanup(func() { conn.Close() })
			clients[r] = append(clients[r], modelmanager.NewClient(conn))
		}
	}
	type outcome struct {
		uuid string
		err  error
	}
	var (
		mu      sync.Mutex
		results = map[string]outcome{}
		wg      sync.WaitGroup
	)
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("burst-%03d", i)
		mm := clients[i%2][i/2%conns]
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := mm.CreateModel(name, "admin", "localhost", threeControllers[i%3].region, names.CloudCredentialTag{}, nil)
			mu.Lock()
			results[name] = outcome{info.UUID, err}
			mu.Unlock()
		}()
	}
	time.Sleep(1500 * time.Millisecond) // every creation in flight, on both replicas
	var killedAt time.Time
	e.replaceBroker(t, func(p *jimmproc.Process) {
		p.Kill()
		killedAt = time.Now()
	}, " after SIGKILL")
	wg.Wait()
	ok, failed := 0, 0
	for _, r := range results {
		if r.err == nil {
			ok++
		} else {
			failed++
		}
	}
	t.Logf("burst: %d creations acknowledged, %d failed (the killed replica's connections); killed %s after the burst began",
		ok, failed, killedAt.Sub(start).Round(time.Millisecond))
	if failed == 0 {
		t.Fatalf("no creation failed: the kill came after the burst, so it tests nothing")
	}

	converged := waitConsistent(t, e, 90*time.Second)
	t.Logf("FIGURE converged %.1f s after the broker was killed (%.1f s after it was started again; bound: heartbeat lease %s + reconcile interval 2s + a pass)",
		time.Since(killedAt).Seconds(), converged.Seconds(), "9s")

	// Every model on the controllers is the broker's, at most one per name,
	// and each acknowledged creation is there.
	routed := map[string]restModel{}
	for _, m := range e.listModels(t) {
		routed[m.UUID] = m
	}
	perName := map[string]int{}
	for ctl, sums := range hostedModels(t, e) {
		for _, s := range sums {
			perName[s.Name]++
			if m, ok := routed[s.UUID]; !ok || m.Controller != ctl {
				t.Errorf("controller %s hosts model %s (%s) that the broker routes to %q", ctl, s.Name, s.UUID, m.Controller)
			}
		}
	}
	for name, r := range results {
		if r.err == nil {
			if m, ok := routed[r.uuid]; !ok || m.Name != name {
				t.Errorf("creation of %s was acknowledged (uuid %s) but the broker has %+v", name, r.uuid, m)
			}
		}
	}
	for name, count := range perName {
		if count > 1 {
			t.Errorf("%d models named %s across the controllers, want at most 1", count, name)
		}
	}

	// Retrying every failed name through the surviving replica: created,
	// or "already exists" when the reconciler adopted it; never twice.
	mm := clients[1][0]
	adopted, created := 0, 0
	for name, r := range results {
		if r.err == nil {
			continue
		}
		_, err := mm.CreateModel(name, "admin", "localhost", "", names.CloudCredentialTag{}, nil)
		switch {
		case err == nil:
			created++
		case errCode(err) == params.CodeAlreadyExists:
			adopted++
		default:
			t.Errorf("retry CreateModel %s: %v (code %q), want success or %q", name, err, errCode(err), params.CodeAlreadyExists)
		}
	}
	t.Logf("retrying the %d failed names: %d were adopted by the reconciler (already exist), %d created now", failed, adopted, created)
	if adopted == 0 {
		t.Errorf("the reconciler adopted none of the killed replica's creations; want the ones in flight at the kill")
	}
	perName = map[string]int{}
	for _, sums := range hostedModels(t, e) {
		for _, s := range sums {
			perName[s.Name]++
		}
	}
	for i := range n {
		if name := fmt.Sprintf("burst-%03d", i); perName[name] != 1 {
			t.Errorf("after the retries %d models are named %s, want 1", perName[name], name)
		}
	}
	if d := checkFleet(t, e); len(d) != 0 {
		t.Errorf("after the retries jimmctl check lists %+v", d)
	}
}

// TestFaultReconcileNames: a destroyed model stops blocking its name as
// soon as its controller no longer has it (no second destroy), a dying
// record nobody touches is cleared by the reconciler, and a model made on
// a controller behind the broker's back is listed by jimmctl check and
// adopted by jimmctl import-model.
func TestFaultReconcileNames(t *testing.T) {
	t.Parallel()
	bins := buildBrokerBins(t)
	e := newBrokerEnv(t, bins, reconcileArgs...)
	mm := modelmanager.NewClient(e.open(t, ""))

	t.Run("destroy-then-recreate", func(t *testing.T) {
		first := createModel(t, e, mm, "again", "east")
		if err := mm.DestroyModel(names.NewModelTag(first.UUID), nil, nil, nil, nil); err != nil {
			t.Fatalf("DestroyModel: %v", err)
		}
		// Gone from its controller (it stays dying for a second there),
		// the broker not yet told by anybody.
		eventually(t, 20*time.Second, "the destroyed model gone from its controller", func() error {
			for ctl, sums := range hostedModels(t, e) {
				for _, s := range sums {
					if s.UUID == first.UUID {
						return fmt.Errorf("still on %s (%s)", ctl, s.Life)
					}
				}
			}
			return nil
		})
		second, err := mm.CreateModel("again", "admin", "localhost", "east", names.CloudCredentialTag{}, nil)
		if err != nil {
			t.Fatalf("re-create a destroyed model's name at the first attempt: %v", err)
		}
		if second.UUID == first.UUID {
			t.Errorf("the re-created model has the destroyed one's UUID %s", first.UUID)
		}
		if d := checkFleet(t, e); len(d) != 0 {
			t.Errorf("jimmctl check lists %+v", d)
		}
	})

	t.Run("dying-cleared", func(t *testing.T) {
		m := createModel(t, e, mm, "doomed", "west")
		if err := mm.DestroyModel(names.NewModelTag(m.UUID), nil, nil, nil, nil); err != nil {
			t.Fatalf("DestroyModel: %v", err)
		}
		eventually(t, 20*time.Second, "the reconciler forgetting the destroyed model", func() error {
			for _, rm := range e.listModels(t) {
				if rm.UUID == m.UUID {
					return fmt.Errorf("the broker still lists it, %s", rm.Life)
				}
			}
			return nil
		})
		waitConsistent(t, e, 10*time.Second)
		eventually(t, 5*time.Second, "the reconciler's clear-dying in the audit log", func() error {
			audit := e.jimmctl(t, "audit", "list", "--user", "jimm-reconciler", "--format", "json")
			if !strings.Contains(audit, "clear-dying") || !strings.Contains(audit, m.UUID) {
				return fmt.Errorf("no clear-dying event for %s by jimm-reconciler:\n%s", m.UUID, audit)
			}
			return nil
		})
	})

	t.Run("unknown-then-imported", func(t *testing.T) {
		direct := modelmanager.NewClient(e.ctls["ctl-3"].admin(t, ""))
		m, err := direct.CreateModel("behind-the-back", "admin", "", "west", names.CloudCredentialTag{}, nil)
		if err != nil {
			t.Fatalf("CreateModel on ctl-3 directly: %v", err)
		}
		ds := checkFleet(t, e)
		if len(ds) != 1 || ds[0].Kind != "unknown-model" || ds[0].ModelUUID != m.UUID || ds[0].Controller != "ctl-3" || ds[0].Model != "admin/behind-the-back" {
			t.Fatalf("jimmctl check lists %+v; want one unknown-model, %s on ctl-3", ds, m.UUID)
		}
		// The reconciler reports it and leaves it alone.
		res := e.run(t, "reconcile", "--format", "json")
		var rr restReconcileResult
		decodeStrictJSON(t, res.Stdout, &rr)
		if len(rr.Differences) != 1 || len(rr.Actions) != 0 {
			t.Errorf("jimmctl reconcile: %+v; want the one difference and no action", rr)
		}
		out := e.jimmctl(t, "import-model", "ctl-3", m.UUID)
		if !strings.Contains(out, "behind-the-back") {
			t.Errorf("jimmctl import-model printed %q", out)
		}
		if d := checkFleet(t, e); len(d) != 0 {
			t.Errorf("after import-model jimmctl check lists %+v", d)
		}
		conn := e.open(t, m.UUID) // routed through the broker now
		if _, ok := conn.ModelTag(); !ok {
			t.Errorf("no model tag on the imported model's connection")
		}
		wantCtlRefusal(t, "import the same model twice", e.run(t, "import-model", "ctl-3", m.UUID), "")
	})
}
