// Command migbench measures a model migration between two development
// controllers with the real Juju Go client, agents included: every machine
// and unit of the model has an agent holding two API connections, and in
// VALIDATION all of them move to the target through its agent login rate
// limit (agent-ratelimit-max, agent-ratelimit-rate).
//
// Run it from the integration module:
//
//	go run ./cmd/migbench [-machines 56] [-units 167] [-limits 10/250ms,100/50ms] [-bin path]
//
// For each max/rate pair it starts two fresh devcontrollers (built from
// ../cmd/devcontroller unless -bin or $JIMM_DEVCONTROLLER_BIN names one),
// sets the target's limits with Controller.ConfigSet, creates a model with
// the given machines and units on the source (units spread over the
// machines by placement), waits for every agent to connect, migrates the
// model with Controller.InitiateMigration, follows it with
// ModelManager.ModelInfo until the source redirects (DONE), and waits for
// the target to report every agent connected to it (GET /dev/agents). It
// prints human-readable lines and ends with one machine-readable line:
//
//	migbench: agents=... run1_max=... run1_rate_ms=... run1_done_s=... run1_validation_s=... run1_reported=... run1_on_target=... ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/machinemanager"
	"github.com/juju/juju/api/client/modelmanager"
	apicharm "github.com/juju/juju/api/common/charm"
	jujucontroller "github.com/juju/juju/api/controller/controller"
	corebase "github.com/juju/juju/core/base"
	"github.com/juju/juju/core/instance"
	"github.com/juju/juju/core/model"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "migbench:", err)
		os.Exit(1)
	}
}

type limit struct {
	max  int
	rate time.Duration
}

type config struct {
	machines, units int
	limits          []limit
	bin             string
	timeout         time.Duration
}

func parseLimits(s string) ([]limit, error) {
	var out []limit
	for _, part := range strings.Split(s, ",") {
		m, r, ok := strings.Cut(strings.TrimSpace(part), "/")
		n, err1 := strconv.Atoi(m)
		d, err2 := time.ParseDuration(r)
		if !ok || err1 != nil || err2 != nil || n < 0 || d <= 0 {
			return nil, fmt.Errorf("-limits: %q is not max/rate, e.g. 10/250ms", part)
		}
		out = append(out, limit{n, d})
	}
	return out, nil
}

func run() error {
	var cfg config
	var limits string
	flag.IntVar(&cfg.machines, "machines", 56, "machines in the model")
	flag.IntVar(&cfg.units, "units", 167, "units in the model, spread over the machines")
	flag.StringVar(&limits, "limits", "10/250ms,100/50ms", "comma-separated agent-ratelimit-max/agent-ratelimit-rate pairs of the target, one run each")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "bound on each migration")
	flag.StringVar(&cfg.bin, "bin", "", "devcontroller binary (default: $"+devproc.BinEnv+", else built from ../cmd/devcontroller)")
	flag.Parse()
	if cfg.machines < 1 || cfg.units < 0 {
		return errors.New("-machines must be positive and -units not negative")
	}
	var err error
	if cfg.limits, err = parseLimits(limits); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "migbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	if cfg.bin == "" {
		if os.Getenv(devproc.BinEnv) == "" {
			fmt.Println("building devcontroller...")
		}
		if cfg.bin, err = devproc.Build(ctx, tmp); err != nil {
			return err
		}
	}
	fmt.Printf("devcontroller binary: %s\n", cfg.bin)
	agents := cfg.machines + cfg.units
	fmt.Printf("model: %d machines, %d units = %d agents, 2 API connections each\n", cfg.machines, cfg.units, agents)
	summary := []string{fmt.Sprintf("agents=%d machines=%d units=%d", agents, cfg.machines, cfg.units)}
	for i, l := range cfg.limits {
		r, err := runOnce(ctx, cfg, l, fmt.Sprintf("%s/run%d", tmp, i+1))
		if err != nil {
			return fmt.Errorf("run %d (%d/%v): %w", i+1, l.max, l.rate, err)
		}
		p := fmt.Sprintf("run%d_", i+1)
		summary = append(summary, fmt.Sprintf("%smax=%d %srate_ms=%d %sdone_s=%.2f %svalidation_s=%.2f %sagents_wait_s=%.2f %sreported=%d %son_target=%d %son_target_s=%.2f %sfloor_s=%.2f",
			p, l.max, p, l.rate.Milliseconds(), p, r.done.Seconds(), p, r.validation.Seconds(), p, r.agentsWait.Seconds(),
			p, r.reported, p, r.onTarget, p, r.onTargetAt.Seconds(), p, r.floor.Seconds()))
	}
	fmt.Println("migbench: " + strings.Join(summary, " "))
	return nil
}

type result struct {
	done, validation, agentsWait, onTargetAt, floor time.Duration
	reported, onTarget                              int
}

const password = "migbench-secret"

func start(ctx context.Context, cfg config, name, dir string) (*devproc.Process, error) {
	p, err := devproc.Start(ctx, devproc.Options{Bin: cfg.bin, Name: name, DataDir: dir, AdminPassword: password})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func open(p *devproc.Process, modelUUID string) (api.Connection, error) {
	info := &api.Info{Addrs: []string{p.Addr}, CACert: p.File.CACert, Tag: names.NewUserTag("admin"), Password: password}
	if modelUUID != "" {
		info.ModelTag = names.NewModelTag(modelUUID)
	}
	return api.Open(info, api.DialOpts{Timeout: time.Minute})
}

func runOnce(ctx context.Context, cfg config, l limit, dir string) (res result, err error) {
	agents := cfg.machines + cfg.units
	fmt.Printf("\n== target limits: agent-ratelimit-max %d, agent-ratelimit-rate %v ==\n", l.max, l.rate)
	src, err := start(ctx, cfg, "src", dir+"/src")
	if err != nil {
		return res, err
	}
	defer stop(src)
	dst, err := start(ctx, cfg, "dst", dir+"/dst")
	if err != nil {
		return res, err
	}
	defer stop(dst)

	dconn, err := open(dst, "")
	if err != nil {
		return res, err
	}
	defer dconn.Close()
	dctl := jujucontroller.NewClient(dconn)
	if err := dctl.ConfigSet(map[string]any{"agent-ratelimit-max": l.max, "agent-ratelimit-rate": l.rate.String()}); err != nil {
		return res, fmt.Errorf("ConfigSet on the target: %w", err)
	}
	cc, err := dctl.ControllerConfig()
	if err != nil {
		return res, err
	}
	fmt.Printf("target %s: agent-ratelimit-max=%d agent-ratelimit-rate=%v migration-agent-wait-time=%v\n",
		dst.UUID, cc.AgentRateLimitMax(), cc.AgentRateLimitRate(), cc.MigrationMinionWaitMax())

	conn, err := open(src, "")
	if err != nil {
		return res, err
	}
	defer conn.Close()
	mm := modelmanager.NewClient(conn)
	t0 := time.Now()
	info, err := mm.CreateModel("bench", "admin", "localhost", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		return res, fmt.Errorf("CreateModel: %w", err)
	}
	uuid := info.UUID
	if err := populate(cfg, src, uuid); err != nil {
		return res, err
	}
	d, err := waitAgents(ctx, src, uuid, time.Minute, func(d devAgents) bool { return d.Connected == agents && d.Agents == agents })
	if err != nil {
		return res, fmt.Errorf("agents on the source: %w", err)
	}
	fmt.Printf("source %s: model %s populated, %d agents connected (%d connections) in %s\n",
		src.UUID, uuid, d.Connected, d.Connections, time.Since(t0).Round(time.Millisecond))

	spec := jujucontroller.MigrationSpec{
		ModelUUID: uuid, TargetControllerUUID: dst.UUID, TargetControllerAlias: "dst",
		TargetAddrs: dst.File.APIAddresses, TargetCACert: dst.File.CACert,
		TargetUser: "admin", TargetPassword: password,
	}
	start := time.Now()
	if _, err := jujucontroller.NewClient(conn).InitiateMigration(spec); err != nil {
		return res, fmt.Errorf("InitiateMigration: %w", err)
	}
	var validating, validated time.Time
	deadline := start.Add(cfg.timeout)
	for {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("migration not done within %v", cfg.timeout)
		}
		infos, err := mm.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
		if err != nil {
			return res, err
		}
		if e := infos[0].Error; e != nil {
			if params.IsRedirect(e) {
				break
			}
			return res, fmt.Errorf("ModelInfo: %w", e)
		}
		if mig := infos[0].Result.Migration; mig != nil {
			if mig.End != nil {
				return res, fmt.Errorf("migration ended on the source: %s", mig.Status)
			}
			now := time.Now()
			switch {
			case mig.Status == "validating" && validating.IsZero():
				validating = now
			case mig.Status != "validating" && !validating.IsZero() && validated.IsZero():
				validated = now
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.done = time.Since(start)
	if !validating.IsZero() {
		if validated.IsZero() {
			validated = start.Add(res.done)
		}
		res.validation = validated.Sub(validating)
	}
	// What the source logged about the agents' reports.
	if m := regexp.MustCompile(`all agents reported from the target controller.* agents=(\d+) took=(\S+)`).FindStringSubmatch(src.Output()); m != nil {
		res.reported, _ = strconv.Atoi(m[1])
		res.agentsWait, _ = time.ParseDuration(m[2])
	}
	fmt.Printf("migration DONE in %s (VALIDATION ≈ %s as seen by ModelInfo polling); source: %d agents reported from the target in %s\n",
		res.done.Round(time.Millisecond), res.validation.Round(time.Millisecond), res.reported, res.agentsWait)
	// Every token past the burst costs one interval: 2 logins per agent.
	res.floor = time.Duration(max(0, 2*agents-l.max)) * l.rate
	fmt.Printf("rate-limit floor: (2×%d logins − %d burst) × %v = %s\n", agents, l.max, l.rate, res.floor.Round(time.Millisecond))

	d, err = waitAgents(ctx, dst, uuid, time.Minute, func(d devAgents) bool {
		return d.Connected == agents && d.Hosted.Here == agents
	})
	if err != nil {
		return res, fmt.Errorf("agents on the target: %w", err)
	}
	res.onTarget, res.onTargetAt = d.Connected, time.Since(start)
	s, err := agentsOf(src, uuid)
	if err != nil {
		return res, err
	}
	fmt.Printf("target: %d/%d agents connected (%d connections), run by the target, %s after InitiateMigration; source runs %d\n",
		d.Connected, agents, d.Connections, res.onTargetAt.Round(time.Millisecond), s.Hosted.Here+s.Hosted.Elsewhere+s.Hosted.Nowhere)
	return res, nil
}

// populate adds the machines, then units of a few applications placed
// round-robin on them.
func populate(cfg config, src *devproc.Process, uuid string) error {
	mconn, err := open(src, uuid)
	if err != nil {
		return err
	}
	defer mconn.Close()
	machines, err := machinemanager.NewClient(mconn).AddMachines(slices.Repeat([]params.AddMachineParams{{
		Jobs: []model.MachineJob{model.JobHostUnits}, Base: &params.Base{Name: "ubuntu", Channel: "22.04"},
	}}, cfg.machines))
	if err != nil {
		return fmt.Errorf("AddMachines: %w", err)
	}
	for _, m := range machines {
		if m.Error != nil {
			return fmt.Errorf("AddMachines: %w", m.Error)
		}
	}
	apps := application.NewClient(mconn)
	names := []string{"postgresql", "redis", "web", "worker"}
	placed := 0
	for i, name := range names {
		n := cfg.units / len(names)
		if i < cfg.units%len(names) {
			n++
		}
		err := apps.Deploy(application.DeployArgs{
			CharmID: application.CharmID{URL: "ch:amd64/jammy/" + name + "-1"},
			CharmOrigin: apicharm.Origin{
				Source: apicharm.OriginCharmHub, Risk: "stable", Architecture: "amd64",
				Base: corebase.MustParseBaseFromString("ubuntu@22.04"),
			},
			ApplicationName: name,
		})
		if err != nil {
			return fmt.Errorf("deploy %s: %w", name, err)
		}
		if n == 0 {
			continue
		}
		var placement []*instance.Placement
		for j := range n {
			placement = append(placement, &instance.Placement{Scope: instance.MachineScope, Directive: strconv.Itoa((placed + j) % cfg.machines)})
		}
		if _, err := apps.AddUnits(application.AddUnitsParams{ApplicationName: name, NumUnits: n, Placement: placement}); err != nil {
			return fmt.Errorf("add %d units of %s: %w", n, name, err)
		}
		placed += n
	}
	return nil
}

type devAgents = devproc.Agents

func agentsOf(p *devproc.Process, uuid string) (devAgents, error) { return p.Agents(uuid, password) }

func waitAgents(ctx context.Context, p *devproc.Process, uuid string, within time.Duration, ok func(devAgents) bool) (devAgents, error) {
	deadline := time.Now().Add(within)
	for {
		d, err := agentsOf(p, uuid)
		if err == nil && ok(d) {
			return d, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("agents %+v", d)
			}
			return d, err
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func stop(p *devproc.Process) {
	if err := p.Stop(15 * time.Second); err != nil {
		fmt.Printf("warning: controller %s shutdown: %v\n", p.Opts.Name, err)
	}
}
