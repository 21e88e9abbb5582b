package integration

// The fault tests' harness: a broker whose PostgreSQL is a cluster of the
// test's own (pgproc), so that the test can stop and start the database
// under a running broker without touching the server the other tests share.

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/juju/juju/api/base"
	"github.com/juju/juju/api/client/modelmanager"

	"github.com/jimmbroker/jimm/integration/internal/pgproc"
)

// startPrivatePostgres starts a PostgreSQL cluster of the test's own with
// one database, "jimm"; it is destroyed when the test ends (after the
// brokers started later, which stop first).
func startPrivatePostgres(t *testing.T) *pgproc.Cluster {
	t.Helper()
	serverDSN(t) // the broker tests' condition: PostgreSQL is provided
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := pgproc.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Destroy)
	if err := pg.CreateDatabase(ctx, "jimm"); err != nil {
		t.Fatal(err)
	}
	return pg
}

// newBrokerEnvOnCluster is newBrokerEnv with the broker's database on a
// private cluster, which the test may stop (stopPostgres) and start again
// (startPostgres).
func newBrokerEnvOnCluster(t *testing.T, bins *brokerBins, jimmdArgs ...string) (*brokerEnv, *pgproc.Cluster) {
	t.Helper()
	pg := startPrivatePostgres(t)
	e := &brokerEnv{t: t, bins: bins, ctls: map[string]*controller{}}
	e.startBroker(pg.DSN("jimm"), jimmdArgs)
	e.addControllers(t, threeControllers)
	return e, pg
}

// stopPostgres stops the cluster as an operator's restart does (sessions
// ended, clients told).
func stopPostgres(t testing.TB, pg *pgproc.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// startPostgres starts the stopped cluster again and waits until it
// accepts connections.
func startPostgres(t testing.TB, pg *pgproc.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pg.StartAgain(ctx); err != nil {
		t.Fatal(err)
	}
}

// checkFleet runs jimmctl check, the broker's consistency checker, and
// returns the differences it lists between the broker's models and its
// controllers' (none: exit status 0; some: exit status 1).
func checkFleet(t testing.TB, e *brokerEnv) []restDifference {
	t.Helper()
	res := e.run(t, "check", "--format", "json")
	var out restConsistencyReport
	if res.ExitCode > 1 || json.Unmarshal([]byte(res.Stdout), &out) != nil {
		t.Fatalf("jimmctl check: %s", res)
	}
	if (res.ExitCode == 0) != (len(out.Differences) == 0) {
		t.Errorf("jimmctl check exited %d listing %d differences; want 0 exactly when there are none", res.ExitCode, len(out.Differences))
	}
	return out.Differences
}

// waitConsistent waits until jimmctl check lists no difference, as the
// reconciler runs by itself, and returns how long that took; it fails the
// test with the last differences after within.
func waitConsistent(t testing.TB, e *brokerEnv, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last []restDifference
	for time.Since(start) < within {
		if last = checkFleet(t, e); len(last) == 0 {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("the broker and its controllers still disagree %s later: %+v", within, last)
	return 0
}

// hostedModels lists the models (not the controller model) each of e's
// controllers hosts, asking the controllers themselves, by controller
// name.
func hostedModels(t testing.TB, e *brokerEnv) map[string][]base.UserModelSummary {
	t.Helper()
	out := map[string][]base.UserModelSummary{}
	for name, c := range e.ctls {
		sums, err := modelmanager.NewClient(c.admin(t, "")).ListModelSummaries("admin", true)
		if err != nil {
			t.Fatalf("list the models of controller %s: %v", name, err)
		}
		for _, s := range sums {
			if !s.IsController {
				out[name] = append(out[name], s)
			}
		}
	}
	return out
}

// restDifference mirrors restapi.Difference (broker/restapi/fleet.go).
type restDifference struct {
	Kind       string `json:"kind" yaml:"kind"`
	Controller string `json:"controller,omitempty" yaml:"controller,omitempty"`
	ModelUUID  string `json:"model-uuid,omitempty" yaml:"model-uuid,omitempty"`
	Model      string `json:"model,omitempty" yaml:"model,omitempty"`
	Detail     string `json:"detail" yaml:"detail"`
}

// restConsistencyReport mirrors restapi.ConsistencyReport.
type restConsistencyReport struct {
	Differences []restDifference `json:"differences" yaml:"differences"`
}

// restReconcileAction mirrors restapi.ReconcileAction.
type restReconcileAction struct {
	Action     string `json:"action" yaml:"action"`
	Controller string `json:"controller,omitempty" yaml:"controller,omitempty"`
	ModelUUID  string `json:"model-uuid,omitempty" yaml:"model-uuid,omitempty"`
	Model      string `json:"model,omitempty" yaml:"model,omitempty"`
	Error      string `json:"error,omitempty" yaml:"error,omitempty"`
}

// restReconcileResult mirrors restapi.ReconcileResult.
type restReconcileResult struct {
	Differences []restDifference      `json:"differences" yaml:"differences"`
	Actions     []restReconcileAction `json:"actions" yaml:"actions"`
}

// TestFleetRESTTypes keeps the mirrors of broker/restapi/fleet.go in step
// with the source.
func TestFleetRESTTypes(t *testing.T) {
	t.Parallel()
	checkMirrors(t, "fleet.go", map[string]any{"Difference": restDifference{}, "ConsistencyReport": restConsistencyReport{},
		"ReconcileAction": restReconcileAction{}, "ReconcileResult": restReconcileResult{}})
}
