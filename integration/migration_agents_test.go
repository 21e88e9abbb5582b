package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api/client/modelmanager"
	jujucontroller "github.com/juju/juju/api/controller/controller"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

type devAgents = devproc.Agents

// agentsOf asks controller c (as admin) how many agents of model uuid are
// connected to it and how many it runs.
func (c *controller) agentsOf(uuid string) (devAgents, error) { return c.Agents(uuid, adminPassword) }

// waitAgents waits until want(c's view of the model's agents) holds.
func waitAgents(t *testing.T, c *controller, uuid, what string, within time.Duration, want func(devAgents) bool) devAgents {
	t.Helper()
	var last devAgents
	eventually(t, within, fmt.Sprintf("%s: %s", c.Opts.Name, what), func() error {
		var err error
		last, err = c.agentsOf(uuid)
		if err != nil {
			return err
		}
		if !want(last) {
			return fmt.Errorf("agents %+v", last)
		}
		return nil
	})
	return last
}

// TestMigrationAgents migrates a model whose 6 machines and 10 units each
// have an agent with two connections: in VALIDATION the agents move to
// ctl-b through its agent login rate limit (set with the real client's
// ConfigSet), and once the migration is done ctl-b runs every one of them
// and ctl-a none.
func TestMigrationAgents(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	b := startController(t, "ctl-b")

	// The target's limit: 4 logins at once, then one per 50ms.
	bctl := jujucontroller.NewClient(b.admin(t, ""))
	if err := bctl.ConfigSet(map[string]any{"agent-ratelimit-max": 4, "agent-ratelimit-rate": "50ms"}); err != nil {
		t.Fatalf("ConfigSet: %v", err)
	}
	cfg, err := bctl.ControllerConfig()
	if err != nil || cfg.AgentRateLimitMax() != 4 || cfg.AgentRateLimitRate() != 50*time.Millisecond || cfg.MigrationMinionWaitMax() != 15*time.Minute {
		t.Fatalf("ControllerConfig after ConfigSet: %v %v", cfg, err)
	}
	err = bctl.ConfigSet(map[string]any{"agent-ratelimit-rate": "2m"})
	wantErr(t, "ConfigSet of a rate over 1m", err, "not valid", "agent-ratelimit-rate must be between 0..1m")

	conn := a.admin(t, "")
	info, err := modelmanager.NewClient(conn).CreateModel("agents", "admin", "localhost", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	uuid := info.UUID
	mconn := a.admin(t, uuid)
	addMachines(t, mconn, 4)
	for _, app := range []string{"postgresql", "redis"} {
		deploy(t, mconn, app, 0)
		addUnitsOn(t, mconn, app, []int{0, 1, 2, 3})
	}
	deploy(t, mconn, "web", 2) // two more machines
	st := fullStatus(t, mconn)
	units := 0
	for _, app := range st.Applications {
		units += len(app.Units)
	}
	total := len(st.Machines) + units
	if len(st.Machines) != 6 || units != 10 {
		t.Fatalf("model: %d machines, %d units", len(st.Machines), units)
	}
	for id, m := range st.Machines {
		if m.AgentStatus.Status != "started" {
			t.Errorf("machine %s agent %q", id, m.AgentStatus.Status)
		}
	}
	waitAgents(t, a, uuid, "every agent connected", 30*time.Second, func(d devAgents) bool {
		return d.Agents == total && d.Connected == total && d.Connections == 2*total && d.Hosted.Here == total
	})

	start := time.Now()
	if _, err := jujucontroller.NewClient(conn).InitiateMigration(migrationSpec(uuid, b, "ctl-b")); err != nil {
		t.Fatalf("InitiateMigration: %v", err)
	}
	waitMigrated(t, modelmanager.NewClient(conn), uuid, 60*time.Second)
	took := time.Since(start)
	// 2 logins per agent, 4 at once then one per 50ms.
	if floor := time.Duration(2*total-4) * 50 * time.Millisecond; took < floor {
		t.Errorf("migration took %v, less than the rate limit allows (%v)", took, floor)
	}
	t.Logf("migration with %d agents took %v", total, took)
	if out := a.Output(); !strings.Contains(out, "all agents reported from the target controller") || !strings.Contains(out, "agents="+strconv.Itoa(total)) {
		t.Errorf("ctl-a did not log that the %d agents reported", total)
	}

	// ctl-b runs every agent, each connected; ctl-a none.
	got := waitAgents(t, b, uuid, "every agent on the target", 30*time.Second, func(d devAgents) bool {
		return d.Connected == total && d.Hosted.Here == total && d.Connections == 2*total
	})
	if got.Agents != total {
		t.Errorf("ctl-b: %d agents of %d machines and %d units", got.Agents, len(st.Machines), units)
	}
	waitAgents(t, a, uuid, "no agent left on the source", 30*time.Second, func(d devAgents) bool {
		return d.Connected == 0 && d.Connections == 0 && d.Hosted.Here+d.Hosted.Elsewhere+d.Hosted.Nowhere == 0
	})
	// Statuses travel unchanged.
	after := fullStatus(t, b.admin(t, uuid))
	for un, u := range after.Applications["postgresql"].Units {
		if u.AgentStatus.Status != "idle" {
			t.Errorf("unit %s agent %q on ctl-b", un, u.AgentStatus.Status)
		}
	}
}
