package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/machinemanager"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/api/common"
	apicharm "github.com/juju/juju/api/common/charm"
	jujucontroller "github.com/juju/juju/api/controller/controller"
	corebase "github.com/juju/juju/core/base"
	"github.com/juju/juju/core/instance"
	"github.com/juju/juju/core/model"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

type result struct {
	// done is InitiateMigration to the first redirect; zero when aborted.
	done time.Duration
	// validation is VALIDATION from the phase changes in the model's log;
	// polledValidation the same as ModelInfo polling saw it.
	validation, polledValidation time.Duration
	// aborted is the migration's status when it ended on the source.
	aborted                       string
	agentsWait, onTargetAt, floor time.Duration
	reported, onTarget            int
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

// runOnce migrates a model of size s between two fresh controllers, the
// target set to l and cfg.wait, and asks est for the broker's estimate.
func runOnce(ctx context.Context, cfg config, est *estimator, s size, l limit, dir string) (out row, err error) {
	out.size, out.limit = s, l
	res := &out.res
	agents := s.agents()
	fmt.Printf("\n== model %d machines, %d units = %d agents (2 API connections each); target agent-ratelimit-max %d, agent-ratelimit-rate %v ==\n",
		s.machines, s.units, agents, l.max, l.rate)
	src, err := start(ctx, cfg, "src", dir+"/src")
	if err != nil {
		return out, err
	}
	defer stop(src)
	dst, err := start(ctx, cfg, "dst", dir+"/dst")
	if err != nil {
		return out, err
	}
	defer stop(dst)

	dconn, err := open(dst, "")
	if err != nil {
		return out, err
	}
	defer dconn.Close()
	dctl := jujucontroller.NewClient(dconn)
	err = dctl.ConfigSet(map[string]any{
		"agent-ratelimit-max": l.max, "agent-ratelimit-rate": l.rate.String(), "migration-agent-wait-time": cfg.wait.String(),
	})
	if err != nil {
		return out, fmt.Errorf("ConfigSet on the target: %w", err)
	}
	cc, err := dctl.ControllerConfig()
	if err != nil {
		return out, fmt.Errorf("ControllerConfig of the target: %w", err)
	}
	fmt.Printf("target %s: agent-ratelimit-max=%d agent-ratelimit-rate=%v migration-agent-wait-time=%v\n",
		dst.UUID, cc.AgentRateLimitMax(), cc.AgentRateLimitRate(), cc.MigrationMinionWaitMax())
	if out.est, err = est.estimate(ctx, agents, cc); err != nil {
		return out, err
	}
	fits := "fits"
	if !out.est.Fits {
		fits = "does not fit: " + out.est.Advice
	}
	fmt.Printf("broker's estimate: %s (%s)\n", out.est.Estimate.Round(time.Millisecond), fits)

	conn, err := open(src, "")
	if err != nil {
		return out, err
	}
	defer conn.Close()
	// VALIDATION's bound is the source's migration-agent-wait-time: Juju's
	// migration master, which runs on the source, reads it from its own
	// controller (MigrationMaster.MinionReportTimeout), as the development
	// controller does. It is set on both, so that either one's config
	// tells it.
	if err := jujucontroller.NewClient(conn).ConfigSet(map[string]any{"migration-agent-wait-time": cfg.wait.String()}); err != nil {
		return out, fmt.Errorf("ConfigSet on the source: %w", err)
	}
	mm := modelmanager.NewClient(conn)
	t0 := time.Now()
	info, err := mm.CreateModel("bench", "admin", "localhost", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		return out, fmt.Errorf("CreateModel: %w", err)
	}
	uuid := info.UUID
	if err := populate(s, src, uuid); err != nil {
		return out, err
	}
	d, err := waitAgents(ctx, src, uuid, time.Minute, func(d devAgents) bool { return d.Connected == agents && d.Agents == agents })
	if err != nil {
		return out, fmt.Errorf("agents on the source: %w", err)
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
		return out, fmt.Errorf("InitiateMigration: %w", err)
	}
	var validating, validated time.Time
	deadline := start.Add(cfg.timeout)
poll:
	for {
		if time.Now().After(deadline) {
			return out, fmt.Errorf("migration not done within %v", cfg.timeout)
		}
		infos, err := mm.ModelInfo([]names.ModelTag{names.NewModelTag(uuid)})
		if err != nil {
			return out, err
		}
		if e := infos[0].Error; e != nil {
			if params.IsRedirect(e) {
				res.done = time.Since(start)
				break
			}
			return out, fmt.Errorf("ModelInfo: %w", e)
		}
		if mig := infos[0].Result.Migration; mig != nil {
			now := time.Now()
			switch {
			case mig.End != nil:
				res.aborted = mig.Status
				break poll
			case mig.Status == "validating" && validating.IsZero():
				validating = now
			case mig.Status != "validating" && !validating.IsZero() && validated.IsZero():
				validated = now
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !validating.IsZero() {
		if validated.IsZero() {
			validated = time.Now()
		}
		res.polledValidation = validated.Sub(validating)
	}
	// What the source logged about the agents' reports.
	if m := regexp.MustCompile(`all agents reported from the target controller.* agents=(\d+) took=(\S+)`).FindStringSubmatch(src.Output()); m != nil {
		res.reported, _ = strconv.Atoi(m[1])
		res.agentsWait, _ = time.ParseDuration(m[2])
	}
	// Every token past the burst costs one interval: 2 logins per agent.
	res.floor = time.Duration(max(0, 2*agents-l.max)) * l.rate
	// The phase changes are in the model's log: on the target once the
	// model moved (with the rest of its log), on the source after an abort.
	logOf, end := dst, "SUCCESS"
	if res.aborted != "" {
		logOf, end = src, "ABORT"
	}
	phases, err := phaseTimes(ctx, logOf, uuid)
	if err != nil {
		return out, err
	}
	if from, to := phases["VALIDATION"], phases[end]; !from.IsZero() && !to.IsZero() {
		res.validation = to.Sub(from)
	}
	if res.aborted != "" {
		fmt.Printf("migration ABORTED: %s (VALIDATION %s, %s as seen by ModelInfo polling)\n",
			res.aborted, res.validation.Round(time.Millisecond), res.polledValidation.Round(time.Millisecond))
		return out, nil
	}
	if res.validation == 0 {
		return out, fmt.Errorf("the target's log of model %s has no phase changes to VALIDATION and SUCCESS (%v)", uuid, phases)
	}
	fmt.Printf("migration DONE in %s; VALIDATION %s from the model's log (%s as seen by ModelInfo polling); source: %d agents reported from the target in %s\n",
		res.done.Round(time.Millisecond), res.validation.Round(time.Millisecond), res.polledValidation.Round(time.Millisecond), res.reported, res.agentsWait)
	fmt.Printf("rate-limit floor: (2×%d logins − %d burst) × %v = %s; estimate error %+.1f%%\n",
		agents, l.max, l.rate, res.floor.Round(time.Millisecond), 100*(out.est.Estimate.Seconds()/res.validation.Seconds()-1))

	d, err = waitAgents(ctx, dst, uuid, time.Minute, func(d devAgents) bool {
		return d.Connected == agents && d.Hosted.Here == agents
	})
	if err != nil {
		return out, fmt.Errorf("agents on the target: %w", err)
	}
	res.onTarget, res.onTargetAt = d.Connected, time.Since(start)
	sa, err := agentsOf(src, uuid)
	if err != nil {
		return out, err
	}
	fmt.Printf("target: %d/%d agents connected (%d connections), run by the target, %s after InitiateMigration; source runs %d\n",
		d.Connected, agents, d.Connections, res.onTargetAt.Round(time.Millisecond), sa.Hosted.Here+sa.Hosted.Elsewhere+sa.Hosted.Nowhere)
	return out, nil
}

// phasePrefix starts the model log record of each phase change.
const phasePrefix = "setting migration phase to "

// phaseTimes reads when the model's migration entered each phase from the
// model's log on p (debug-log, the records labelled "migration"); the
// first change to a phase counts.
func phaseTimes(ctx context.Context, p *devproc.Process, uuid string) (map[string]time.Time, error) {
	conn, err := open(p, uuid)
	if err != nil {
		return nil, fmt.Errorf("model %s on controller %s: %w", uuid, p.Opts.Name, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msgs, err := common.StreamDebugLog(ctx, conn, common.DebugLogParams{Replay: true, NoTail: true, IncludeLabel: []string{"migration"}})
	if err != nil {
		return nil, fmt.Errorf("debug-log of model %s on controller %s: %w", uuid, p.Opts.Name, err)
	}
	out := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("debug-log of model %s on controller %s: %w", uuid, p.Opts.Name, ctx.Err())
		case m, ok := <-msgs:
			if !ok {
				return out, nil
			}
			if phase, ok := strings.CutPrefix(m.Message, phasePrefix); ok {
				if _, seen := out[phase]; !seen {
					out[phase] = m.Timestamp
				}
			}
		}
	}
}

// populate adds the machines, then units of a few applications placed
// round-robin on them.
func populate(s size, src *devproc.Process, uuid string) error {
	mconn, err := open(src, uuid)
	if err != nil {
		return err
	}
	defer mconn.Close()
	machines, err := machinemanager.NewClient(mconn).AddMachines(slices.Repeat([]params.AddMachineParams{{
		Jobs: []model.MachineJob{model.JobHostUnits}, Base: &params.Base{Name: "ubuntu", Channel: "22.04"},
	}}, s.machines))
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
		n := s.units / len(names)
		if i < s.units%len(names) {
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
			placement = append(placement, &instance.Placement{Scope: instance.MachineScope, Directive: strconv.Itoa((placed + j) % s.machines)})
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
