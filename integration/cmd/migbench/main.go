// Command migbench measures model migrations between two development
// controllers with the real Juju Go client, agents included: every machine
// and unit of the model has an agent holding two API connections, and in
// VALIDATION all of them move to the target through its agent login rate
// limit (agent-ratelimit-max, agent-ratelimit-rate). It sets them against
// the broker's estimate of that time (broker/migration.Estimate).
//
// Run it from the integration module:
//
//	go run ./cmd/migbench [-sizes 56x167,10x30] [-limits 10/250ms,10/105ms,1/103ms,100/50ms,0/250ms] [-wait 15m] [-bin path]
//
// For each model size (machines x units) and each max/rate pair it starts
// two fresh devcontrollers (built from ../cmd/devcontroller unless -bin or
// $JIMM_DEVCONTROLLER_BIN names one), sets the target's agent-ratelimit-max
// and agent-ratelimit-rate and both controllers' migration-agent-wait-time
// (the source's bounds VALIDATION: Juju's migration master runs there)
// with Controller.ConfigSet, creates a model with the given machines and units
// on the source (units spread over the machines by placement), waits for
// every agent to connect, migrates the model with
// Controller.InitiateMigration, follows it with ModelManager.ModelInfo
// until the source redirects (DONE), and waits for the target to report
// every agent connected to it (GET /dev/agents).
//
// Measures:
//   - DONE: from InitiateMigration's return to the first redirect answer
//     of ModelInfo, polled every 20ms.
//   - VALIDATION: between the phase changes to VALIDATION and to SUCCESS
//     (ABORT if it failed) as the migration recorded them in the model's
//     log ("setting migration phase to ..."; Juju's migration master logs
//     the same), read with debug-log from the target after the migration
//     (the log goes with the model) or from the source after an abort.
//     These timestamps are the source controller's own, so they are the
//     most precise a client can see: ModelInfo only shows the status
//     message, and polling it (also printed) adds up to a polling period
//     and a round trip at each end.
//   - estimate: migration.Estimate(agents, migration.LimitsFromConfig(the
//     target's controller config as Controller.ControllerConfig answers
//     it)), computed by estimator.go, which migbench builds from the jimm
//     module; error is estimate / VALIDATION − 1.
//
// It prints human-readable lines, one machine-readable line
//
//	migbench: run1_machines=... run1_units=... run1_agents=... run1_max=... run1_rate_ms=... run1_wait_s=... run1_done_s=... run1_validation_s=... run1_estimate_s=... run1_error_pct=... ...
//
// and a markdown table of the runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

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

// size is a model's machines and units.
type size struct {
	machines, units int
}

func (s size) agents() int { return s.machines + s.units }

type config struct {
	sizes   []size
	limits  []limit
	wait    time.Duration // migration-agent-wait-time on the target
	bin     string
	timeout time.Duration
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

func parseSizes(s string) ([]size, error) {
	var out []size
	for _, part := range strings.Split(s, ",") {
		m, u, ok := strings.Cut(strings.TrimSpace(part), "x")
		machines, err1 := strconv.Atoi(m)
		units, err2 := strconv.Atoi(u)
		if !ok || err1 != nil || err2 != nil || machines < 1 || units < 0 {
			return nil, fmt.Errorf("-sizes: %q is not machines x units (at least one machine), e.g. 56x167", part)
		}
		out = append(out, size{machines, units})
	}
	return out, nil
}

// row is one run: a model size against one target setting.
type row struct {
	size  size
	limit limit
	res   result
	est   estimate
}

// estimateError is estimate / VALIDATION − 1, or false when VALIDATION was
// not measured or was cut short by an abort.
func (r row) estimateError() (float64, bool) {
	if r.res.validation <= 0 || r.res.aborted != "" {
		return 0, false
	}
	return r.est.Estimate.Seconds()/r.res.validation.Seconds() - 1, true
}

func run() error {
	var cfg config
	var sizes, limits string
	flag.StringVar(&sizes, "sizes", "56x167,10x30", "comma-separated model sizes, machines x units (units spread over the machines)")
	flag.StringVar(&limits, "limits", "10/250ms,10/105ms,1/103ms,100/50ms,0/250ms", "comma-separated agent-ratelimit-max/agent-ratelimit-rate pairs of the target (max 0: no limit); every size runs with every pair")
	flag.DurationVar(&cfg.wait, "wait", 15*time.Minute, "migration-agent-wait-time of both controllers (the source's bounds VALIDATION)")
	flag.DurationVar(&cfg.timeout, "timeout", 0, "bound on each migration (default: -wait + 5m)")
	flag.StringVar(&cfg.bin, "bin", "", "devcontroller binary (default: $"+devproc.BinEnv+", else built from ../cmd/devcontroller)")
	flag.Parse()
	var err error
	if cfg.sizes, err = parseSizes(sizes); err != nil {
		return err
	}
	if cfg.limits, err = parseLimits(limits); err != nil {
		return err
	}
	if cfg.wait <= 0 {
		return errors.New("-wait must be positive")
	}
	if cfg.timeout <= 0 {
		cfg.timeout = cfg.wait + 5*time.Minute
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
	fmt.Println("building the broker's estimator...")
	est, err := buildEstimator(ctx, tmp)
	if err != nil {
		return err
	}
	var rows []row
	for _, s := range cfg.sizes {
		for _, l := range cfg.limits {
			i := len(rows) + 1
			r, err := runOnce(ctx, cfg, est, s, l, fmt.Sprintf("%s/run%d", tmp, i))
			if err != nil {
				return fmt.Errorf("run %d (%dx%d at %d/%v): %w", i, s.machines, s.units, l.max, l.rate, err)
			}
			rows = append(rows, r)
		}
	}
	fmt.Println("migbench: " + summary(rows, cfg.wait))
	fmt.Println()
	fmt.Print(table(rows, cfg.wait))
	return nil
}

// summary is the machine-readable line.
func summary(rows []row, wait time.Duration) string {
	var out []string
	for i, r := range rows {
		p := fmt.Sprintf("run%d_", i+1)
		kv := func(k string, v any) { out = append(out, fmt.Sprintf("%s%s=%v", p, k, v)) }
		s := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) }
		kv("machines", r.size.machines)
		kv("units", r.size.units)
		kv("agents", r.size.agents())
		kv("max", r.limit.max)
		kv("rate_ms", r.limit.rate.Milliseconds())
		kv("wait_s", s(wait))
		if r.res.aborted != "" {
			kv("aborted", strconv.Quote(r.res.aborted))
		} else {
			kv("done_s", s(r.res.done))
		}
		kv("validation_s", s(r.res.validation))
		kv("validation_polled_s", s(r.res.polledValidation))
		kv("estimate_s", s(r.est.Estimate))
		if e, ok := r.estimateError(); ok {
			kv("error_pct", strconv.FormatFloat(100*e, 'f', 1, 64))
		}
		kv("fits", r.est.Fits)
		kv("agents_wait_s", s(r.res.agentsWait))
		kv("reported", r.res.reported)
		kv("on_target", r.res.onTarget)
		kv("on_target_s", s(r.res.onTargetAt))
		kv("floor_s", s(r.res.floor))
	}
	return strings.Join(out, " ")
}

// table is the markdown table of the runs, with what its columns measure.
func table(rows []row, wait time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "migration-agent-wait-time %v. DONE: InitiateMigration to the source's first redirect (ModelInfo polled every 20ms). "+
		"VALIDATION: the migration's phase changes VALIDATION → SUCCESS (ABORT when aborted) as recorded in the model's log (debug-log). "+
		"estimate: broker/migration.Estimate for the target's controller config; error: estimate / VALIDATION − 1.\n\n", wait)
	b.WriteString("| machines | units | agents | agent-ratelimit-max | agent-ratelimit-rate | DONE (s) | VALIDATION (s) | estimate (s) | error |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		done := fmt.Sprintf("%.1f", r.res.done.Seconds())
		if r.res.aborted != "" {
			done = "aborted"
		}
		errPct := "–"
		if e, ok := r.estimateError(); ok {
			errPct = fmt.Sprintf("%+.1f%%", 100*e)
		}
		maxCol := strconv.Itoa(r.limit.max)
		if r.limit.max == 0 {
			maxCol = "0 (no limit)"
		}
		fmt.Fprintf(&b, "| %d | %d | %d | %s | %v | %s | %.2f | %.2f | %s |\n",
			r.size.machines, r.size.units, r.size.agents(), maxCol, r.limit.rate, done,
			r.res.validation.Seconds(), r.est.Estimate.Seconds(), errPct)
	}
	return b.String()
}
