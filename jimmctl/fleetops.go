package jimmctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// Fleet operations: plan-migration, evacuate, rebalance, fleet-jobs and
// fleet-job. The broker plans and runs them; jimmctl asks, shows the plan
// and follows the job.

// defaultFleetPollInterval is how often --wait asks the broker how a fleet
// job is going.
const defaultFleetPollInterval = time.Second

// byMeasures are rebalance's valid --by values.
var byMeasures = []string{restapi.ByModels, restapi.ByMachines, restapi.ByUnits, restapi.ByAgents}

func (a *app) planMigrationCommand() *cobra.Command {
	var apply bool
	cmd := &cobra.Command{
		Use:   "plan-migration <controller> <model-uuid> [--apply]",
		Short: "Estimate how long a model's agents would take to reconnect to a controller",
		Long: `Estimate how long moving a model to the given controller would keep its agents
reconnecting (the larger part of a migration's VALIDATION phase), against the
agent login settings: the target's agent-ratelimit-max (the burst of logins
admitted at once) and agent-ratelimit-rate (one more login admitted every this
long), and the source's migration-agent-wait-time (how long the source's
migration master waits for every agent before the migration fails). Each
agent logs in twice.

When the estimate does not fit the wait time, the broker says what to change
and proposes settings under which it fits; --apply sets those on the target
first (the rate on the target, a wait time on the source) and shows the plan
against them. Nothing is migrated.

The plan, the advice and the advised settings are printed on stdout. The exit
status is 0 when the plan fits (with --apply: once applied), 1 when it does not,
with what to do next on stderr; "jimmctl migrate" refuses such a move unless
given --force.`,
		Example: `  jimmctl plan-migration ctl-b 5c4b1a2e-...
  jimmctl plan-migration ctl-b 5c4b1a2e-... --apply
  jimmctl plan-migration ctl-b 5c4b1a2e-... --format json`,
		Args: argsBetween(2, "<controller>", "<model-uuid>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			target, uuid := args[0], args[1]
			p, err := c.PlanMigration(cmd.Context(), restapi.PlanMigrationRequest{ModelUUID: uuid, Controller: target, Apply: apply})
			if err != nil {
				return err
			}
			if err := write(cmd.OutOrStdout(), a.format.String(), p, func(w *tabwriter.Writer) { planDetail(w, p, apply) }); err != nil {
				return err
			}
			if p.Fits {
				return nil
			}
			what := fmt.Sprintf("moving model %s to controller %s does not fit the migration-agent-wait-time of %s", planModel(p), target, p.Source)
			if p.Applied {
				return fmt.Errorf("%s even with the advised settings, which are now set on %s: see the advice above", what, target)
			}
			return fmt.Errorf("%s: set the advised settings with `jimmctl plan-migration %s %s --apply` (or with `jimmctl controller-config %s`), or migrate anyway with `jimmctl migrate %s %s --force`",
				what, target, uuid, target, target, uuid)
		}),
	}
	cmd.Flags().BoolVar(&apply, "apply", false, "when the plan does not fit, set the advised settings on the target first")
	return cmd
}

// planModel names a plan's model: owner/name, else its UUID.
func planModel(p restapi.MigrationPlan) string {
	if p.Model != "" {
		return p.Model
	}
	return p.ModelUUID
}

// planDetail shows a migration plan, one "key: value" a line; a setting
// the broker advises to change shows the advised value next to it.
func planDetail(w io.Writer, p restapi.MigrationPlan, apply bool) {
	setting := func(cur, advised string) string {
		if p.Advised == nil || advised == "" || advised == cur {
			return cur
		}
		return orDash(cur) + " → advised " + advised
	}
	var adv restapi.AgentLimits
	if p.Advised != nil {
		adv = *p.Advised
	}
	advMax := ""
	if p.Advised != nil {
		advMax = strconv.Itoa(adv.RateLimitMax)
	}
	model := planModel(p)
	if p.Model != "" && p.ModelUUID != "" {
		model += " (" + p.ModelUUID + ")"
	}
	fits := "yes"
	if !p.Fits {
		fits = "no"
	}
	rows := [][2]string{
		{"model", model},
		{"source", p.Source},
		{"target", p.Target},
		{"machines", strconv.Itoa(p.Machines)},
		{"units", strconv.Itoa(p.Units)},
		{"agents", strconv.Itoa(p.Agents)},
		{"logins", strconv.Itoa(p.Logins)},
		{"agent-ratelimit-max (target)", setting(strconv.Itoa(p.Limits.RateLimitMax), advMax)},
		{"agent-ratelimit-rate (target)", setting(p.Limits.RateLimitRate, adv.RateLimitRate)},
		{"migration-agent-wait-time (source)", setting(p.Limits.AgentWaitTime, adv.AgentWaitTime)},
		{"estimate", humanSeconds(p.EstimateSeconds)},
		{"fits", fits},
	}
	if p.Advice != "" {
		rows = append(rows, [2]string{"advice", p.Advice})
	}
	switch {
	case p.Applied:
		rows = append(rows, [2]string{"applied", "yes: the advised settings are now set on " + p.Target + "; the figures above are against them"})
	case apply && p.Fits:
		rows = append(rows, [2]string{"applied", "no: nothing to change"})
	case apply:
		rows = append(rows, [2]string{"applied", "no"})
	}
	for _, kv := range rows {
		row(w, kv[0]+":", kv[1])
	}
}

// humanSeconds formats an estimate in seconds as a duration, to the tenth
// of a second under a minute and to the second above.
func humanSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// planEstimate is a migration plan in a few words, for migrate's lines:
// "estimate: 47.7s for 223 agents", and why it was forced when it does
// not fit.
func planEstimate(p *restapi.MigrationPlan) string {
	s := fmt.Sprintf("estimate: %s for %d agents", humanSeconds(p.EstimateSeconds), p.Agents)
	if !p.Fits {
		s += fmt.Sprintf(", over what migration-agent-wait-time %s allows: forced", orDash(p.Limits.AgentWaitTime))
	}
	return s
}

// checkParallel refuses a --parallel given below 1.
func checkParallel(cmd *cobra.Command, parallel int) error {
	if cmd.Flags().Changed("parallel") && parallel < 1 {
		return fmt.Errorf("--parallel must be at least 1, got %d", parallel)
	}
	return nil
}

func (a *app) evacuateCommand() *cobra.Command {
	var to []string
	var parallel int
	var dryRun, wait, force bool
	cmd := &cobra.Command{
		Use:   "evacuate <controller> [--to c1,c2] [--parallel N] [--dry-run] [--wait] [--force]",
		Short: "Move every model off a controller",
		Long: `Empty a controller: the broker deprecates it (it takes no new models), plans a
migration of each of its models to another controller, picked by live load
(models, machines, units, agents) among those given with --to (default: every
eligible controller) and checked against each target's agent login settings,
then runs the migrations --parallel at a time (default 1). The evacuation is a
fleet job on the broker: it goes on without jimmctl, and another broker replica
carries it on if this one stops.

--dry-run prints the plan and changes nothing: each move (model, source →
target, agents, estimate), the models no controller can take and why, and each
controller's load before and after. Without it, jimmctl prints the job's id
and plan; --wait then follows it, printing a line each time a move changes
state and a progress line, and a summary at the end. Without --force the broker
does not migrate a model whose plan does not fit its target's
migration-agent-wait-time (see plan-migration); --force migrates it anyway.

The exit status is 1 when any move failed or any model is left unplaced (with
--dry-run: would be), else 0. In yaml and json formats only the job is printed
(with --wait, once it has ended).`,
		Example: `  jimmctl evacuate ctl-a --dry-run
  jimmctl evacuate ctl-a --to ctl-b,ctl-c --parallel 2 --wait
  jimmctl fleet-job 7 --wait`,
		Args: argsBetween(1, "<controller>"),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if err := checkParallel(cmd, parallel); err != nil {
				return err
			}
			if dryRun && wait {
				return errors.New("--wait does not apply to --dry-run: a dry run starts nothing")
			}
			for _, t := range to {
				if strings.TrimSpace(t) == "" {
					return errors.New("--to has an empty controller name")
				}
				if len(args) == 1 && t == args[0] {
					return fmt.Errorf("--to names %s, the controller being evacuated", t)
				}
			}
			return nil
		},
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			req := restapi.EvacuateRequest{Controller: args[0], To: to, Parallel: parallel, DryRun: dryRun, Force: force}
			job, err := c.Evacuate(cmd.Context(), req)
			if err != nil {
				return err
			}
			if job.Controller == "" {
				job.Controller = req.Controller
			}
			if job.Kind == "" {
				job.Kind = restapi.JobEvacuate
			}
			return a.reportJob(cmd, c, job, dryRun, wait, "run again without --dry-run to start")
		}),
	}
	cmd.Flags().StringSliceVar(&to, "to", nil, "move models only to these controllers (comma-separated; default: every eligible controller)")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "how many migrations run at once (default: the broker's, 1)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan, change nothing")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the evacuation until every move has ended")
	cmd.Flags().BoolVar(&force, "force", false, "also move models whose plan does not fit the source's migration-agent-wait-time")
	return cmd
}

func (a *app) rebalanceCommand() *cobra.Command {
	var by string
	var maxMoves, parallel int
	var dryRun, yes, wait, force bool
	cmd := &cobra.Command{
		Use:   "rebalance [--by models|machines|units|agents] [--max-moves N] [--parallel N] [--dry-run|--yes] [--wait] [--force]",
		Short: "Move models from the busiest controllers to the least busy",
		Long: `Plan migrations that bring every controller's load near the fleet's mean, by
the measure --by names (default models), at most --max-moves of them, each
checked against its target's agent login settings (--force: moved even when
its plan does not fit the source's migration-agent-wait-time).

Without --yes this is a dry run: jimmctl prints the plan (the moves, each
controller's load before and after, and the busiest controller's load over the
mean before and after) and changes nothing. With --yes the broker starts the
moves, --parallel at a time (default 1), as a fleet job that goes on without
jimmctl; --wait follows it as "jimmctl evacuate --wait" does.

The exit status is 1 when any move failed (or a model of the plan could not be
placed), else 0. In yaml and json formats only the job is printed (with
--wait, once it has ended).`,
		Example: `  jimmctl rebalance --by agents
  jimmctl rebalance --by agents --max-moves 5 --yes --parallel 2 --wait`,
		Args: noArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(byMeasures, by) {
				return fmt.Errorf("unknown --by %q: valid measures are %s", by, strings.Join(byMeasures, ", "))
			}
			if cmd.Flags().Changed("max-moves") && maxMoves < 1 {
				return fmt.Errorf("--max-moves must be at least 1, got %d", maxMoves)
			}
			if err := checkParallel(cmd, parallel); err != nil {
				return err
			}
			if dryRun && yes {
				return errors.New("--dry-run and --yes exclude each other: without --yes, rebalance only plans")
			}
			if wait && !yes {
				return errors.New("--wait applies only with --yes: without it, rebalance only plans")
			}
			return nil
		},
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			req := restapi.RebalanceRequest{By: by, MaxMoves: maxMoves, Parallel: parallel, DryRun: !yes, Force: force}
			job, err := c.Rebalance(cmd.Context(), req)
			if err != nil {
				return err
			}
			if job.By == "" {
				job.By = by
			}
			if job.Kind == "" {
				job.Kind = restapi.JobRebalance
			}
			return a.reportJob(cmd, c, job, !yes, wait, "run again with --yes to start")
		}),
	}
	cmd.Flags().StringVar(&by, "by", restapi.ByModels, "the load to balance: "+strings.Join(byMeasures, ", "))
	cmd.Flags().IntVar(&maxMoves, "max-moves", 0, "plan at most this many migrations (default: the broker's bound)")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "how many migrations run at once (default: the broker's, 1)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan, change nothing (the default without --yes)")
	cmd.Flags().BoolVar(&yes, "yes", false, "start the planned moves")
	cmd.Flags().BoolVar(&wait, "wait", false, "with --yes, follow the rebalance until every move has ended")
	cmd.Flags().BoolVar(&force, "force", false, "also move models whose plan does not fit the source's migration-agent-wait-time")
	return cmd
}

func (a *app) listFleetJobsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "fleet-jobs",
		Aliases: []string{"list-fleet-jobs"},
		Short:   "List evacuations and rebalances, newest first",
		Args:    noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			jobs, err := c.ListFleetJobs(cmd.Context())
			if err != nil {
				return err
			}
			return writeList(cmd, a.format.String(), jobs, "No fleet jobs.", func(w *tabwriter.Writer) { fleetJobTable(w, jobs) })
		}),
	}
}

func (a *app) showFleetJobCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "fleet-job <id> [--wait]",
		Short: "Show an evacuation or a rebalance, or follow it",
		Long: `Show a fleet job (an evacuation or a rebalance): its moves and their state,
the models it could not place, and the load it planned. With --wait, follow it
until every move has ended, as "jimmctl evacuate --wait" does, and exit 1 when
any move failed or any model was left unplaced.`,
		Args: argsBetween(1, "<id>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("fleet-job: want a job id (a positive number, as listed by `jimmctl fleet-jobs`), got %q", args[0])
			}
			job, err := c.GetFleetJob(cmd.Context(), id)
			if err != nil {
				return err
			}
			format := a.format.String()
			tabular := format == FormatTabular
			out := cmd.OutOrStdout()
			if !wait {
				return write(out, format, job, func(w *tabwriter.Writer) { jobDetail(w, job) })
			}
			if tabular {
				if err := write(out, format, job, func(w *tabwriter.Writer) { jobDetail(w, job) }); err != nil {
					return err
				}
			}
			return a.followAndSummarize(cmd, c, job)
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the job until every move has ended")
	return cmd
}

// reportJob shows a job evacuate or rebalance just got: the plan of a dry
// run, ending with how to start it (startHint), or the job started and,
// with wait, its progress until it ends.
func (a *app) reportJob(cmd *cobra.Command, c *Client, job restapi.FleetJob, dryRun, wait bool, startHint string) error {
	format := a.format.String()
	tabular := format == FormatTabular
	out := cmd.OutOrStdout()
	if dryRun || job.State == restapi.JobPlanned {
		if err := write(out, format, job, func(w *tabwriter.Writer) { jobDetail(w, job) }); err != nil {
			return err
		}
		if tabular {
			fmt.Fprintln(out)
			switch n := len(job.Moves); n {
			case 0:
				fmt.Fprintln(out, "nothing to move")
			default:
				fmt.Fprintf(out, "%s these %d moves\n", startHint, n)
			}
		}
		return jobError(job)
	}
	if !wait || tabular {
		if err := write(out, format, job, func(w *tabwriter.Writer) { jobDetail(w, job) }); err != nil {
			return err
		}
	}
	if !wait {
		if tabular && job.State != restapi.JobDone {
			fmt.Fprintf(out, "\nfollow it with `jimmctl fleet-job %d --wait`\n", job.ID)
		}
		return jobError(job)
	}
	return a.followAndSummarize(cmd, c, job)
}

// followAndSummarize follows job until it is done, then prints its
// summary (tabular) or the job (yaml, json), and returns the job's error.
func (a *app) followAndSummarize(cmd *cobra.Command, c *Client, job restapi.FleetJob) error {
	format := a.format.String()
	tabular := format == FormatTabular
	out := cmd.OutOrStdout()
	f := jobFollower{c: c, interval: a.fleetPoll, now: a.now, stderr: cmd.ErrOrStderr()}
	if tabular {
		f.out = out
	}
	job, err := f.follow(cmd.Context(), job)
	if err != nil {
		if !tabular {
			_ = write(out, format, job, nil)
		}
		return err
	}
	if tabular {
		fmt.Fprintln(out)
		jobSummary(out, job)
	} else if err := write(out, format, job, nil); err != nil {
		return err
	}
	return jobError(job)
}

// jobFollower polls a fleet job until it is done.
type jobFollower struct {
	c        *Client
	interval time.Duration
	now      func() time.Time
	// out gets a line per move that changes state and a progress line
	// after each poll that saw a change; nil prints nothing.
	out    io.Writer
	stderr io.Writer
}

// follow polls job every f.interval until its state is done, and returns
// the job as last seen. A poll that gets no answer or a server-side error
// is tried again (warned about once in a row); any other failure, or ctx
// ending, stops following and says how to pick it up again.
func (f *jobFollower) follow(ctx context.Context, job restapi.FleetJob) (restapi.FleetJob, error) {
	seen := make(map[string]string, len(job.Moves))
	for _, m := range job.Moves {
		seen[m.ModelUUID] = m.State
	}
	again := fmt.Sprintf("it goes on on the broker: follow it with `jimmctl fleet-job %d --wait`", job.ID)
	interval := f.interval
	if interval <= 0 {
		interval = defaultFleetPollInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	warned, printed := false, false
	say := func(line string) {
		if !printed {
			fmt.Fprintln(f.out) // apart from the job printed above
			printed = true
		}
		fmt.Fprintln(f.out, f.now().Local().Format(time.TimeOnly)+" "+line)
	}
	for job.State != restapi.JobDone {
		select {
		case <-ctx.Done():
			return job, fmt.Errorf("stopped following fleet job %d: %w (%s)", job.ID, ctx.Err(), again)
		case <-ticker.C:
		}
		got, err := f.c.GetFleetJob(ctx, job.ID)
		switch {
		case err == nil:
			warned = false
		case ctx.Err() != nil:
			continue // said at the top of the loop
		case !transient(err):
			return job, fmt.Errorf("follow fleet job %d: %w (%s)", job.ID, err, again)
		default:
			if !warned {
				fmt.Fprintf(f.stderr, "WARNING %v; still trying\n", err)
				warned = true
			}
			continue
		}
		job = got
		if f.out == nil {
			continue
		}
		widths := moveWidths(job.Moves)
		changed := false
		for _, m := range job.Moves {
			if seen[m.ModelUUID] == m.State {
				continue
			}
			seen[m.ModelUUID] = m.State
			changed = true
			say(moveLine(m, widths))
		}
		if changed {
			say(progress(job))
		}
	}
	return job, nil
}

// moveWidths are the widths of a move line's model, source and target.
func moveWidths(ms []restapi.Move) [3]int {
	var w [3]int
	for _, m := range ms {
		w[0] = max(w[0], len(moveModel(m)))
		w[1] = max(w[1], len(m.Source))
		w[2] = max(w[2], len(m.Target))
	}
	return w
}

// moveLine is one move's state: model, source → target, state, its
// migration and error.
func moveLine(m restapi.Move, w [3]int) string {
	s := fmt.Sprintf("%-*s %-*s → %-*s %s", w[0], moveModel(m), w[1], m.Source, w[2], m.Target, m.State)
	if m.MigrationID != 0 {
		s += fmt.Sprintf("%*s migration %d", max(0, len(restapi.MoveSucceeded)-len(m.State)), "", m.MigrationID)
	}
	if m.Error != "" {
		s += ": " + m.Error
	}
	return s
}

func moveModel(m restapi.Move) string {
	if m.Model != "" {
		return m.Model
	}
	return m.ModelUUID
}

// moveCounts counts a job's moves by state.
type moveCounts struct{ succeeded, running, failed, pending int }

func countMoves(ms []restapi.Move) moveCounts {
	var n moveCounts
	for _, m := range ms {
		switch m.State {
		case restapi.MoveSucceeded:
			n.succeeded++
		case restapi.MoveRunning:
			n.running++
		case restapi.MoveFailed:
			n.failed++
		default:
			n.pending++
		}
	}
	return n
}

// progress is "3/8 moved, 1 running, 0 failed".
func progress(job restapi.FleetJob) string {
	n := countMoves(job.Moves)
	return fmt.Sprintf("%d/%d moved, %d running, %d failed", n.succeeded, len(job.Moves), n.running, n.failed)
}

// jobName says what a job does: "evacuation of ctl-a", "rebalance by
// agents".
func jobName(job restapi.FleetJob) string {
	switch job.Kind {
	case restapi.JobEvacuate:
		return "evacuation of " + orDash(job.Controller)
	case restapi.JobRebalance:
		by := job.By
		if by == "" {
			by = restapi.ByModels
		}
		return "rebalance by " + by
	}
	return orDash(job.Kind) + " " + job.Controller + job.By
}

// jobError is the error a job ends a command with: moves that failed,
// models left unplaced, and moves a finished job never ran.
func jobError(job restapi.FleetJob) error {
	n := countMoves(job.Moves)
	var bad []string
	if n.failed > 0 {
		bad = append(bad, fmt.Sprintf("%d of %d moves failed", n.failed, len(job.Moves)))
	}
	if job.State == restapi.JobDone && n.pending > 0 {
		bad = append(bad, fmt.Sprintf("%d of %d moves never ran", n.pending, len(job.Moves)))
	}
	if u := len(job.Unplaced); u > 0 {
		names := make([]string, u)
		for i, m := range job.Unplaced {
			names[i] = unplacedModel(m)
		}
		verb := "are"
		if job.State == restapi.JobPlanned || job.ID == 0 {
			verb = "would be"
		}
		bad = append(bad, fmt.Sprintf("%d model(s) %s left unplaced (%s)", u, verb, strings.Join(names, ", ")))
	}
	if len(bad) == 0 {
		return nil
	}
	what := jobName(job)
	if job.ID != 0 {
		what += fmt.Sprintf(" (fleet job %d)", job.ID)
	} else {
		what = "the plan of the " + what
	}
	return fmt.Errorf("%s: %s", what, strings.Join(bad, "; "))
}

func unplacedModel(u restapi.Unplaced) string {
	if u.Model != "" {
		return u.Model
	}
	return u.ModelUUID
}

// jobDetail shows a fleet job: a heading line, its moves, the models it
// could not place, each controller's load before and after, and for a
// rebalance the busiest controller's load over the mean.
func jobDetail(w *tabwriter.Writer, job restapi.FleetJob) {
	planned := job.ID == 0 || job.State == restapi.JobPlanned
	head := jobName(job) + ": "
	if planned {
		head += "plan only, nothing started"
	} else {
		head += fmt.Sprintf("fleet job %d, %s", job.ID, orDash(job.State))
		if !job.CreatedAt.IsZero() {
			head += ", created " + formatTime(job.CreatedAt)
		}
		if job.EndedAt != nil {
			head += ", ended " + formatTime(*job.EndedAt)
		}
	}
	if job.Parallel > 0 {
		head += fmt.Sprintf(", %d at a time", job.Parallel)
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w)

	if len(job.Moves) == 0 {
		fmt.Fprintln(w, "no moves")
	} else {
		if planned {
			row(w, "MODEL", "UUID", "SOURCE", "TARGET", "AGENTS", "ESTIMATE")
		} else {
			row(w, "MODEL", "UUID", "SOURCE", "TARGET", "AGENTS", "ESTIMATE", "STATE", "MIGRATION", "ERROR")
		}
		for _, m := range job.Moves {
			cols := []string{moveModel(m), m.ModelUUID, m.Source, m.Target, strconv.Itoa(m.Agents), humanSeconds(m.EstimateSeconds)}
			if !planned {
				mig := ""
				if m.MigrationID != 0 {
					mig = strconv.FormatInt(m.MigrationID, 10)
				}
				cols = append(cols, m.State, mig, m.Error)
			}
			row(w, cols...)
		}
	}
	if len(job.Unplaced) > 0 {
		fmt.Fprintln(w)
		row(w, "UNPLACED", "UUID", "REASON")
		for _, u := range job.Unplaced {
			row(w, unplacedModel(u), u.ModelUUID, u.Reason)
		}
	}
	if len(job.Before) > 0 || len(job.After) > 0 {
		fmt.Fprintln(w)
		loadTable(w, job.Before, job.After)
	}
	if job.RatioBefore > 0 || job.RatioAfter > 0 {
		by := job.By
		if by == "" {
			by = restapi.ByModels
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "balance by %s: max/mean %.2f → %.2f\n", by, job.RatioBefore, job.RatioAfter)
	}
}

// loadTable shows each controller's load as "before → after".
func loadTable(w io.Writer, before, after map[string]restapi.Load) {
	var names []string
	for n := range before {
		names = append(names, n)
	}
	for n := range after {
		if _, ok := before[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	row(w, "CONTROLLER", "MODELS", "MACHINES", "UNITS", "AGENTS")
	for _, n := range names {
		b, hasB := before[n]
		a, hasA := after[n]
		cell := func(get func(restapi.Load) int) string {
			switch {
			case hasB && hasA:
				return fmt.Sprintf("%d → %d", get(b), get(a))
			case hasB:
				return strconv.Itoa(get(b))
			}
			return "→ " + strconv.Itoa(get(a))
		}
		row(w, n,
			cell(func(l restapi.Load) int { return l.Models }),
			cell(func(l restapi.Load) int { return l.Machines }),
			cell(func(l restapi.Load) int { return l.Units }),
			cell(func(l restapi.Load) int { return l.Agents }))
	}
}

// jobSummary says how a finished job went: how many moved, and each
// failure and unplaced model with why.
func jobSummary(w io.Writer, job restapi.FleetJob) {
	n := countMoves(job.Moves)
	line := fmt.Sprintf("%s (fleet job %d) %s: %d of %d models moved, %d failed",
		jobName(job), job.ID, orDash(job.State), n.succeeded, len(job.Moves), n.failed)
	if n.pending > 0 || n.running > 0 {
		line += fmt.Sprintf(", %d not ended", n.pending+n.running)
	}
	line += fmt.Sprintf(", %d unplaced", len(job.Unplaced))
	fmt.Fprintln(w, line)
	if n.failed > 0 {
		fmt.Fprintln(w, "failed:")
		for _, m := range job.Moves {
			if m.State != restapi.MoveFailed {
				continue
			}
			s := fmt.Sprintf("  %s %s → %s", moveModel(m), m.Source, m.Target)
			if m.MigrationID != 0 {
				s += fmt.Sprintf(" (migration %d)", m.MigrationID)
			}
			fmt.Fprintln(w, s+": "+orDash(m.Error))
		}
	}
	if len(job.Unplaced) > 0 {
		fmt.Fprintln(w, "unplaced:")
		for _, u := range job.Unplaced {
			fmt.Fprintf(w, "  %s (%s): %s\n", unplacedModel(u), u.ModelUUID, orDash(u.Reason))
		}
	}
}

var fleetJobHeader = []string{"ID", "KIND", "CONTROLLER/BY", "STATE", "MOVES", "FAILED", "CREATED"}

// fleetJobTable lists fleet jobs; MOVES is ended/total.
func fleetJobTable(w io.Writer, jobs []restapi.FleetJob) {
	row(w, slices.Clone(fleetJobHeader)...)
	for _, j := range jobs {
		n := countMoves(j.Moves)
		what := j.Controller
		if j.Kind == restapi.JobRebalance {
			what = j.By
			if what == "" {
				what = restapi.ByModels
			}
		}
		row(w, strconv.FormatInt(j.ID, 10), j.Kind, what, j.State,
			fmt.Sprintf("%d/%d", n.succeeded+n.failed, len(j.Moves)), strconv.Itoa(n.failed), formatTime(j.CreatedAt))
	}
}
