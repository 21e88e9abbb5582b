package jimmctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// Results of a migration in migrate with several models that are not the
// broker's (restapi.Migration*).
const (
	// migrationRefused: the broker did not start the migration.
	migrationRefused = "refused"
	// migrationUnknown: jimmctl cannot tell whether the broker started
	// the migration (no answer), or stopped following it.
	migrationUnknown = "unknown"
)

// migrationRun is one model's part in a migrate of several models: the
// migration the broker started, or its refusal.
type migrationRun struct {
	ModelUUID string `json:"model-uuid" yaml:"model-uuid"`
	Target    string `json:"target" yaml:"target"`
	// Result is the migration's (running, succeeded, failed), refused when
	// the broker did not start it, or unknown.
	Result string `json:"result" yaml:"result"`
	// Error is the broker's refusal, or why jimmctl could not tell or
	// stopped following the migration.
	Error     string             `json:"error,omitempty" yaml:"error,omitempty"`
	Migration *restapi.Migration `json:"migration,omitempty" yaml:"migration,omitempty"`
}

// following says whether migrate --wait still follows the migration.
func (r *migrationRun) following() bool {
	return r.Migration != nil && r.Error == "" && (r.Result == "" || r.Result == restapi.MigrationRunning)
}

// model names the run's model: the migration's model name, else the UUID.
func (r *migrationRun) model() string {
	if r.Migration != nil {
		return migrationModel(*r.Migration)
	}
	return r.ModelUUID
}

// migrateMany moves several models to target: one request to the broker
// per model (its POST /v1/migrations takes one, and refuses or starts each
// on its own), reporting each start or refusal, then with wait following
// every started migration until all have ended or timeout passes.
func (a *app) migrateMany(cmd *cobra.Command, c *Client, target string, uuids []string, wait bool, timeout time.Duration, force bool) error {
	seen := map[string]bool{}
	for _, u := range uuids {
		if strings.TrimSpace(u) == "" {
			return errors.New("empty model UUID")
		}
		if seen[u] {
			return fmt.Errorf("model %s is given more than once", u)
		}
		seen[u] = true
	}
	format := a.format.String()
	tabular := format == FormatTabular
	out := cmd.OutOrStdout()

	runs := make([]*migrationRun, len(uuids))
	for i, uuid := range uuids {
		r := &migrationRun{ModelUUID: uuid, Target: target}
		runs[i] = r
		m, err := c.Migrate(cmd.Context(), restapi.MigrateRequest{ModelUUID: uuid, Controller: target, Force: force})
		if err != nil {
			if cmd.Context().Err() != nil {
				return err
			}
			r.Result, r.Error = migrationRefused, err.Error()
			var ae *APIError
			if errors.As(err, &ae) {
				r.Error = ae.Err.Message
				if ae.Err.Code == restapi.CodeMigrating {
					r.Error += fmt.Sprintf(" (see the model's latest migration with `jimmctl show-migration %s`)", uuid)
				}
				if hint := forceHint(err, force); hint != "" {
					r.Error += " (" + hint + ")"
				}
			} else {
				// No answer: the broker may have started it.
				r.Result = migrationUnknown
			}
			if tabular {
				verb := "refused"
				if r.Result == migrationUnknown {
					verb = "could not start"
				}
				fmt.Fprintf(out, "%s migration of model %s to %s: %s\n", verb, uuid, target, r.Error)
			}
			continue
		}
		r.Result, r.Migration = m.Result, &m
		if tabular {
			fmt.Fprintf(out, "started migration %d of model %s from %s to %s: phase %s%s\n",
				m.ID, migrationModel(m), orDash(m.Source), orDash(m.Target), orDash(m.Phase), planNote(m.Plan))
		}
	}

	var waitErr error
	if wait {
		waitErr = followMigrations(cmd, c, runs, timeout, tabular)
	}
	switch {
	case !tabular:
		if err := write(out, format, runs, nil); err != nil {
			return err
		}
	case wait:
		fmt.Fprintln(out)
		if err := write(out, format, runs, func(w *tabwriter.Writer) { migrationRunTable(w, runs) }); err != nil {
			return err
		}
	default:
		ids := []string{}
		for _, r := range runs {
			if r.Migration != nil {
				ids = append(ids, strconv.FormatInt(r.Migration.ID, 10))
			}
		}
		if len(ids) > 0 {
			fmt.Fprintf(out, "follow them with `jimmctl migrations`, or one with `jimmctl show-migration <id>` (%s)\n", strings.Join(ids, ", "))
		}
	}
	return migrateManyError(runs, wait, waitErr)
}

// followMigrations polls every running migration of runs until none is
// running or timeout passes, printing each phase reached in tabular
// format. It returns why it stopped early, if it did.
func followMigrations(cmd *cobra.Command, c *Client, runs []*migrationRun, timeout time.Duration, tabular bool) error {
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	parent := cmd.Context()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()

	width := 0
	for _, r := range runs {
		if r.Migration != nil {
			width = max(width, len(r.model()))
		}
	}
	last := map[int64]string{}
	show := func(m restapi.Migration) {
		if tabular && m.Phase != "" && m.Phase != last[m.ID] {
			printModelPhase(out, width, m)
			last[m.ID] = m.Phase
		}
	}
	for _, r := range runs {
		if r.Migration != nil {
			show(*r.Migration)
		}
	}
	running := func() int {
		n := 0
		for _, r := range runs {
			if r.following() {
				n++
			}
		}
		return n
	}

	ticker := time.NewTicker(migrationPollInterval)
	defer ticker.Stop()
	warned := map[int64]bool{}
	for running() > 0 {
		select {
		case <-ctx.Done():
			n := running()
			if parent.Err() != nil {
				return fmt.Errorf("stopped waiting for %d migration(s) still running: %w (they go on on the broker: follow them with `jimmctl migrations`)",
					n, parent.Err())
			}
			return fmt.Errorf("timed out after %s waiting for %d migration(s) still running (they go on on the broker: follow them with `jimmctl migrations`)",
				timeout, n)
		case <-ticker.C:
		}
		for _, r := range runs {
			if !r.following() || ctx.Err() != nil {
				continue
			}
			w := warned[r.Migration.ID]
			got, ok, err := pollMigration(ctx, c, r.Migration.ID, stderr, &w)
			warned[r.Migration.ID] = w
			switch {
			case err != nil:
				r.Error, r.Result = err.Error(), migrationUnknown
			case ok:
				*r.Migration = got
				r.Result = got.Result
				show(got)
			}
		}
	}
	return nil
}

// printModelPhase prints one line for a phase a migration reached: when,
// which model, which phase, and the broker's message.
func printModelPhase(w io.Writer, width int, m restapi.Migration) {
	at := m.PhaseChangedAt
	if at.IsZero() {
		at = time.Now()
	}
	line := fmt.Sprintf("%s %-*s %-*s %s", at.Local().Format(time.TimeOnly), width, migrationModel(m), phaseWidth, m.Phase, m.Message)
	fmt.Fprintln(w, strings.TrimRight(line, " "))
}

var migrationRunHeader = []string{"MODEL", "MIGRATION", "SOURCE", "TARGET", "RESULT", "PHASE", "MESSAGE"}

// migrationRunTable is the summary of migrate with several models, one
// row per model in the order given.
func migrationRunTable(w io.Writer, runs []*migrationRun) {
	row(w, migrationRunHeader...)
	for _, r := range runs {
		if r.Migration == nil {
			row(w, r.ModelUUID, "", "", r.Target, r.Result, "", r.Error)
			continue
		}
		m := r.Migration
		msg := m.Message
		if r.Error != "" {
			msg = r.Error
		}
		row(w, migrationModel(*m), strconv.FormatInt(m.ID, 10), m.Source, m.Target, r.Result, m.Phase, msg)
	}
}

// migrateManyError is migrate's error when any migration of several was
// refused, failed or (with wait) did not end: it names each.
func migrateManyError(runs []*migrationRun, wait bool, waitErr error) error {
	var bad []string
	for _, r := range runs {
		switch {
		case r.Result == restapi.MigrationSucceeded:
		case r.Result == restapi.MigrationRunning && !wait:
		case r.Result == restapi.MigrationRunning:
			bad = append(bad, fmt.Sprintf("model %s still running in phase %s", r.model(), orDash(r.Migration.Phase)))
		case r.Result == restapi.MigrationFailed:
			bad = append(bad, fmt.Sprintf("model %s failed in phase %s", r.model(), orDash(r.Migration.Phase)))
		case r.Result == migrationRefused:
			bad = append(bad, fmt.Sprintf("model %s refused", r.model()))
		default:
			bad = append(bad, fmt.Sprintf("model %s %s", r.model(), orDash(r.Result)))
		}
	}
	switch {
	case waitErr != nil:
		return fmt.Errorf("%w; %d of %d migrations did not succeed: %s", waitErr, len(bad), len(runs), strings.Join(bad, ", "))
	case len(bad) == 0:
		return nil
	case !wait:
		return fmt.Errorf("%d of %d migrations could not start: %s", len(bad), len(runs), strings.Join(bad, ", "))
	}
	return fmt.Errorf("%d of %d migrations did not succeed: %s", len(bad), len(runs), strings.Join(bad, ", "))
}
