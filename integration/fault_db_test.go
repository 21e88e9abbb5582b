package integration

// Database outages: the broker's PostgreSQL stops under a running broker.
// No client may be told something false ("not found", "a controller this
// broker does not know", a controller's fault) nor see the driver's words
// (the database's user, name or address): each waits and succeeds, or is
// told "database unavailable; try again".

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juju/juju/api/client/client"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/pgproc"
)

// TestFaultDB runs the database outage scenarios, each on a broker,
// PostgreSQL cluster and controllers of its own.
func TestFaultDB(t *testing.T) {
	serverDSN(t) // skips without PostgreSQL
	bins := buildBrokerBins(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *brokerBins)
	}{
		{"DownAtCutover", testFaultDBDownAtCutover},
		{"StoppedDuringCreates", testFaultDBStoppedDuringCreates},
	} {
		t.Run(sc.name, func(t *testing.T) {
			start := time.Now()
			sc.run(t, bins)
			t.Logf("%s took %s", sc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// dbLeaks lists what of the database's connection details an error text
// shows.
func dbLeaks(pg *pgproc.Cluster, text string) []string {
	var out []string
	for _, s := range []string{"user=", "database=", "postgres://", "dial tcp", "SQLSTATE 08", ":" + strconv.Itoa(pg.Port())} {
		if strings.Contains(text, s) {
			out = append(out, s)
		}
	}
	return out
}

// falseAnswer says what is false in an error a client got during an
// outage, or "": only "try again" for the database is true.
func falseAnswer(pg *pgproc.Cluster, err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	switch {
	case len(dbLeaks(pg, msg)) > 0:
		return fmt.Sprintf("shows the database's details %v", dbLeaks(pg, msg))
	case strings.Contains(msg, "not found"), strings.Contains(msg, "does not know"):
		return "a false answer"
	case errCode(err) != "try again":
		return fmt.Sprintf("code %q, want \"try again\"", errCode(err))
	}
	return ""
}

// testFaultDBDownAtCutover: PostgreSQL stops while a migration hands its
// model over (the source finishes SUCCESS and lets the model go meanwhile;
// the broker cannot flip the route). Calls on a model connection opened
// before, and new logins to the model during the outage, wait and succeed
// or are told "try again"; none is told "not found" or that the model
// moved to a controller the broker does not know. Once PostgreSQL is back,
// the migration ends as succeeded and the model works on its target.
func testFaultDBDownAtCutover(t *testing.T, bins *brokerBins) {
	e, pg := newBrokerEnvOnCluster(t, bins)
	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := bmModelOn(t, e, mm, "dbcut", "ctl-1")
	mconn := e.open(t, uuid)
	deploy(t, mconn, "postgresql", 1)
	want := comparableStatus(t, fullStatus(t, mconn))
	// Hold the migration in SUCCESS long enough to stop PostgreSQL there.
	bmModelSet(t, mconn, map[string]any{bmPhaseDelayKey: "SUCCESS:3s"})

	var started bmMigration
	decodeStrictJSON(t, e.jimmctl(t, "migrate", "ctl-2", uuid, "--format", "json"), &started)
	ref := strconv.FormatInt(started.ID, 10)
	eventually(t, time.Minute, "migration "+ref+" in SUCCESS", func() error {
		if m := bmShowMigration(t, e.ctl, ref); m.Phase != "SUCCESS" {
			if m.Result != "running" {
				t.Fatalf("migration %s ended before the test saw it in SUCCESS: %+v", ref, m)
			}
			return fmt.Errorf("phase %s", m.Phase)
		}
		return nil
	})
	stopPostgres(t, pg)
	outage := time.Now()
	t.Logf("PostgreSQL stopped in SUCCESS")

	var (
		mu      sync.Mutex
		answers []string // what each client was told, for the log
		wrong   []string
	)
	record := func(what string, err error, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		answers = append(answers, fmt.Sprintf("%s after %s: %v (code %q)", what, took.Round(time.Millisecond), err, errCode(err)))
		if bad := falseAnswer(pg, err); bad != "" {
			wrong = append(wrong, fmt.Sprintf("%s: %v: %s", what, err, bad))
		}
	}
	var wg sync.WaitGroup
	// Calls on the connection opened before, one after another: some are
	// in flight while the source lets the model go.
	stopCalls := make(chan struct{})
	wg.Go(func() {
		st := client.NewClient(mconn, testLogger{t})
		for i := 0; ; i++ {
			select {
			case <-stopCalls:
				return
			default:
			}
			start := time.Now()
			_, err := st.Status(nil)
			record(fmt.Sprintf("FullStatus %d on the connection opened before", i), err, time.Since(start))
			if err != nil && errCode(err) == "" && strings.Contains(err.Error(), "shut down") {
				return // the connection is gone: nothing more to ask on it
			}
			time.Sleep(300 * time.Millisecond)
		}
	})
	// New logins to the model through the outage, each making a call.
	for i, at := range []time.Duration{0, 2 * time.Second, 5 * time.Second, 8 * time.Second} {
		wg.Go(func() {
			time.Sleep(at)
			start := time.Now()
			conn, err := e.tryOpen(uuid)
			if err == nil {
				_, err = client.NewClient(conn, testLogger{t}).Status(nil)
				conn.Close()
			}
			record(fmt.Sprintf("login %d (%s into the outage) and a call", i, at), err, time.Since(start))
		})
	}
	time.Sleep(10*time.Second - time.Since(outage))
	startPostgres(t, pg)
	t.Logf("PostgreSQL started again after %s", time.Since(outage).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // calls on the old connection after the database is back
	close(stopCalls)
	wg.Wait()
	for _, a := range answers {
		t.Log(a)
	}
	for _, w := range wrong {
		t.Errorf("during the outage at the cutover: %s", w)
	}

	done := bmWaitMigration(t, e.ctl, ref, time.Minute)
	if done.Result != "succeeded" {
		t.Fatalf("the migration after the outage: %+v, want succeeded", done)
	}
	if m := bmShowModel(t, e.ctl, uuid); m.Controller != "ctl-2" {
		t.Fatalf("show-model after the migration: %q, want ctl-2", m.Controller)
	}
	conn := e.open(t, uuid)
	sameStatus(t, "FullStatus through the broker after the outage", want, comparableStatus(t, fullStatus(t, conn)))
	waitConsistent(t, e, 30*time.Second)
}

// testFaultDBStoppedDuringCreates: PostgreSQL stops in the middle of a
// burst of concurrent model creations and starts again. Every creation
// that fails is told "database unavailable; try again" (or lost its
// connection), never the driver's words; and no controller is left with a
// model the broker does not route.
func testFaultDBStoppedDuringCreates(t *testing.T, bins *brokerBins) {
	e, pg := newBrokerEnvOnCluster(t, bins)
	const conns, perConn = 6, 10
	clients := make([]*modelmanager.Client, conns)
	for i := range clients {
		clients[i] = modelmanager.NewClient(e.open(t, ""))
	}
	var (
		mu       sync.Mutex
		created  = map[string]string{} // name → uuid
		failures []error               // each the client's own error, its code intact
		failed   []string
		began    sync.WaitGroup
	)
	const first = conns * perConn / 6
	began.Add(first)
	var wg sync.WaitGroup
	for c := range conns {
		for i := range perConn {
			wg.Go(func() {
				name := fmt.Sprintf("burst-%d-%d", c, i)
				time.Sleep(time.Duration(i) * 300 * time.Millisecond) // spread over ~3s
				info, err := clients[c].CreateModel(name, "admin", "localhost", []string{"east", "west"}[i%2], names.CloudCredentialTag{}, nil)
				mu.Lock()
				if err != nil {
					failures, failed = append(failures, err), append(failed, name)
				} else {
					created[name] = info.UUID
				}
				n := len(created) + len(failures)
				mu.Unlock()
				if n <= first {
					began.Done()
				}
			})
		}
	}
	began.Wait() // a sixth answered: stop the database under the rest
	stopPostgres(t, pg)
	t.Logf("PostgreSQL stopped after %d of %d creations answered", first, conns*perConn)
	time.Sleep(5 * time.Second)
	startPostgres(t, pg)
	wg.Wait()
	t.Logf("%d models created, %d creations failed", len(created), len(failures))
	if len(failures) == 0 {
		t.Errorf("no creation failed: the outage hit nothing, the test proves nothing")
	}
	for i, err := range failures {
		msg := err.Error()
		if leaks := dbLeaks(pg, msg); len(leaks) > 0 {
			t.Errorf("create %s: %v: shows the database's details %v", failed[i], err, leaks)
			continue
		}
		lost := errCode(err) == "" && (strings.Contains(msg, "shut down") || strings.Contains(msg, "connection"))
		if !lost && (errCode(err) != "try again" || !strings.Contains(msg, "database unavailable")) {
			t.Errorf("create %s: %v (code %q): want code \"try again\" saying database unavailable", failed[i], err, errCode(err))
		}
	}

	// Every model a controller hosts is one the broker routes there, once
	// the broker has had the time it gives itself to finish what it began.
	var orphans []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		routed := map[string]string{}
		for _, m := range e.listModels(t) {
			routed[m.UUID] = m.Controller
		}
		orphans = orphans[:0]
		for ctl, sums := range hostedModels(t, e) {
			for _, s := range sums {
				if routed[s.UUID] != ctl {
					orphans = append(orphans, fmt.Sprintf("%s/%s (%s) on %s, routed to %q", s.Owner, s.Name, s.UUID, ctl, routed[s.UUID]))
				}
			}
		}
		if len(orphans) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, o := range orphans {
		t.Errorf("a controller hosts a model the broker does not route there: %s", o)
	}
	routed := map[string]bool{}
	for _, m := range e.listModels(t) {
		routed[m.UUID] = true
	}
	for name, uuid := range created {
		if !routed[uuid] {
			t.Errorf("model %s (%s) was created for its client but the broker does not route it", name, uuid)
		}
	}
	// The broker works again.
	createModel(t, e, modelmanager.NewClient(e.open(t, "")), "after-the-outage", "east")
	waitConsistent(t, e, 30*time.Second)
}
