package jimmctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// migrationPollInterval is how often migrate --wait asks the broker how a
// migration is going. Tests shorten it.
var migrationPollInterval = 200 * time.Millisecond

// DefaultMigrationTimeout bounds migrate --wait when --timeout is not given.
const DefaultMigrationTimeout = 30 * time.Minute

// phaseWidth fits the longest migration phase, PROCESSRELATIONS.
const phaseWidth = len("PROCESSRELATIONS")

func (a *app) migrateCommand() *cobra.Command {
	var wait, force bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "migrate <controller> <model-uuid>... [--wait] [--timeout 30m] [--force]",
		Short: "Move models to another controller",
		Long: `Ask the broker to move a model to the given controller. The broker starts the
migration and answers at once; the migration goes on without jimmctl. Follow
it with "jimmctl show-migration <id>", or pass --wait to follow it here.

Migrations go through Juju's phases: INITIATING (until the source controller
accepts), QUIESCE, IMPORT, PROCESSRELATIONS, VALIDATION, SUCCESS, LOGTRANSFER,
REAP, DONE; a failed one goes through ABORT and ABORTDONE instead.

With --wait, jimmctl prints each phase as the migration reaches it, and exits
0 when the migration succeeds, non-zero when it fails or when --timeout
passes first (the migration itself goes on then). In yaml and json formats it
prints only the final migration.

With several models, jimmctl asks the broker for each migration in turn and
reports each one's start or refusal; with --wait it follows them all together
(each phase line names its model) and ends with a summary table. It exits
non-zero when any migration was refused or failed (or, with --wait, has not
ended within --timeout). In yaml and json formats it prints only the list of
outcomes.

Before starting a migration the broker estimates how long the model's agents
will take to reconnect to the target (see "jimmctl plan-migration"); jimmctl
prints that estimate with the migration. The broker refuses a migration whose
estimate does not fit the target's migration-agent-wait-time, saying what to
change; --force starts it anyway.`,
		Example: `  jimmctl migrate ctl-b 5c4b1a2e-... --wait
  jimmctl migrate ctl-b 5c4b1a2e-... --wait --timeout 1h --format json
  jimmctl migrate ctl-b 5c4b1a2e-... 9d0e3f4a-... 1a2b3c4d-... --wait
  jimmctl migrate ctl-b 5c4b1a2e-... --force`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return argsBetween(2, "<controller>", "<model-uuid>")(cmd, args)
			}
			return nil
		},
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			if cmd.Flags().Changed("timeout") {
				if !wait {
					return errors.New("--timeout applies only with --wait")
				}
				if timeout <= 0 {
					return fmt.Errorf("--timeout must be positive, got %s", timeout)
				}
			}
			if len(args) > 2 {
				return a.migrateMany(cmd, c, args[0], args[1:], wait, timeout, force)
			}
			target, uuid := args[0], args[1]
			m, err := c.Migrate(cmd.Context(), restapi.MigrateRequest{ModelUUID: uuid, Controller: target, Force: force})
			if err != nil {
				if ErrorCode(err) == restapi.CodeMigrating {
					err = fmt.Errorf("%w (see the model's latest migration with `jimmctl show-migration %s`)", err, uuid)
				}
				if hint := forceHint(err, force); hint != "" {
					err = fmt.Errorf("%w (%s)", err, hint)
				}
				return err
			}
			if wait {
				return a.waitMigration(cmd, c, m, timeout)
			}
			if a.format.String() != FormatTabular {
				return write(cmd.OutOrStdout(), a.format.String(), m, nil)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(),
				"started migration %d of model %s from %s to %s: phase %s%s\nfollow it with `jimmctl show-migration %d`\n",
				m.ID, migrationModel(m), orDash(m.Source), orDash(m.Target), orDash(m.Phase), planNote(m.Plan), m.ID)
			return err
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the migrations until they end, printing each phase")
	cmd.Flags().BoolVar(&force, "force", false, "start the migration even when the broker's plan says its agents would not reconnect within the target's migration-agent-wait-time")
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultMigrationTimeout, "with --wait, give up waiting after this long (the migration goes on)")
	return cmd
}

// waitMigration polls the broker until migration m ends or the timeout
// passes. In tabular format it prints each phase as it is reached; in the
// others only the last state of the migration.
func (a *app) waitMigration(cmd *cobra.Command, c *Client, m restapi.Migration, timeout time.Duration) error {
	format := a.format.String()
	tabular := format == FormatTabular
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	parent := cmd.Context()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()

	last := ""
	show := func(m restapi.Migration) {
		if tabular && m.Phase != "" && m.Phase != last {
			printPhase(out, m)
			last = m.Phase
		}
	}
	if tabular && m.Plan != nil {
		fmt.Fprintf(out, "migration %d of model %s from %s to %s, %s\n",
			m.ID, migrationModel(m), orDash(m.Source), orDash(m.Target), planEstimate(m.Plan))
	}
	show(m)

	ticker := time.NewTicker(migrationPollInterval)
	defer ticker.Stop()
	warned := false
	for m.Result == "" || m.Result == restapi.MigrationRunning {
		select {
		case <-ctx.Done():
			if !tabular {
				_ = write(out, format, m, nil)
			}
			if parent.Err() != nil {
				return fmt.Errorf("stopped waiting for migration %d of model %s in phase %s: %w (it goes on on the broker: follow it with `jimmctl show-migration %d`)",
					m.ID, migrationModel(m), orDash(m.Phase), parent.Err(), m.ID)
			}
			return fmt.Errorf("timed out after %s waiting for migration %d of model %s, in phase %s (it goes on on the broker: follow it with `jimmctl show-migration %d`)",
				timeout, m.ID, migrationModel(m), orDash(m.Phase), m.ID)
		case <-ticker.C:
		}
		got, ok, err := pollMigration(ctx, c, m.ID, stderr, &warned)
		if err != nil {
			return err
		}
		if ok {
			m = got
			show(m)
		}
	}

	switch m.Result {
	case restapi.MigrationSucceeded:
		if !tabular {
			return write(out, format, m, nil)
		}
		_, err := fmt.Fprintf(out, "migration %d succeeded: model %s now lives on %s\n", m.ID, migrationModel(m), orDash(m.Target))
		return err
	case restapi.MigrationFailed:
		if !tabular {
			if err := write(out, format, m, nil); err != nil {
				return err
			}
		}
		msg := fmt.Sprintf("migration %d of model %s failed in phase %s", m.ID, migrationModel(m), orDash(m.Phase))
		if m.Message != "" {
			msg += ": " + m.Message
		}
		return errors.New(msg)
	default:
		if !tabular {
			_ = write(out, format, m, nil)
		}
		return fmt.Errorf("migration %d of model %s: the broker reports an unknown result %q in phase %s",
			m.ID, migrationModel(m), m.Result, orDash(m.Phase))
	}
}

// pollMigration asks the broker how migration id is doing. ok is false
// when the poll is to be tried again: ctx ended (the caller says why), or
// a transient failure, which is warned about once in a row (warned keeps
// count). Any other failure is returned.
func pollMigration(ctx context.Context, c *Client, id int64, stderr io.Writer, warned *bool) (m restapi.Migration, ok bool, err error) {
	m, err = c.GetMigration(ctx, strconv.FormatInt(id, 10))
	switch {
	case err == nil:
		*warned = false
		return m, true, nil
	case ctx.Err() != nil:
		return m, false, nil
	case !transient(err):
		return m, false, fmt.Errorf("follow migration %d: %w", id, err)
	}
	if !*warned {
		fmt.Fprintf(stderr, "WARNING %v; still trying\n", err)
		*warned = true
	}
	return m, false, nil
}

// transient says whether a failed poll is worth retrying: no answer, or a
// server-side failure. A refusal (4xx) is not.
func transient(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode >= 500 || ae.StatusCode == http.StatusTooManyRequests
	}
	return true
}

// printPhase prints one line for a phase reached: when, which, and the
// broker's message.
func printPhase(w io.Writer, m restapi.Migration) {
	at := m.PhaseChangedAt
	if at.IsZero() {
		at = time.Now()
	}
	line := fmt.Sprintf("%s %-*s %s", at.Local().Format(time.TimeOnly), phaseWidth, m.Phase, m.Message)
	fmt.Fprintln(w, strings.TrimRight(line, " "))
}

// planNote is a migration's plan as migrate's start line ends with it:
// " (estimate: 47.7s for 223 agents)", or "" without a plan.
func planNote(p *restapi.MigrationPlan) string {
	if p == nil {
		return ""
	}
	return " (" + planEstimate(p) + ")"
}

// forceHint says that --force overrides a refusal of migrate by the
// broker's plan check, when err is one, force was not given and the
// broker's message does not already say so; else it returns "". The
// broker refuses with code conflict for other prechecks too, which --force
// does not override: a plan refusal is told by its advice, which always
// names migration-agent-wait-time.
func forceHint(err error, force bool) string {
	var ae *APIError
	if force || !errors.As(err, &ae) || ae.Err.Code != restapi.CodeConflict {
		return ""
	}
	msg := strings.ToLower(ae.Err.Message)
	if !strings.Contains(msg, "migration-agent-wait-time") || strings.Contains(msg, "force") {
		return ""
	}
	return "pass --force to start the migration anyway"
}

// migrationModel names a migration's model: its name, else its UUID.
func migrationModel(m restapi.Migration) string {
	if m.ModelName != "" {
		return m.ModelName
	}
	return m.ModelUUID
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) listMigrationsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "migrations",
		Aliases: []string{"list-migrations"},
		Short:   "List model migrations, newest first",
		Args:    noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			ms, err := c.ListMigrations(cmd.Context())
			if err != nil {
				return err
			}
			return writeList(cmd, a.format.String(), ms, "No migrations.", func(w *tabwriter.Writer) {
				migrationTable(w, ms)
			})
		}),
	}
}

func (a *app) showMigrationCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show-migration <id | model-uuid>",
		Short: "Show a migration, or the latest migration of a model",
		Args:  argsBetween(1, "<id | model-uuid>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			m, err := c.GetMigration(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), m, func(w *tabwriter.Writer) {
				migrationDetail(w, m)
			})
		}),
	}
}

func (a *app) updateMigratedModelCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "update-migrated-model <controller> <model-uuid>",
		Short: "Tell the broker a model now lives on another controller",
		Long: `Tell the broker that a model now lives on the given controller, after it was
migrated there without the broker (e.g. with juju migrate against the
controllers themselves). The broker then routes the model's connections to
that controller. Migrations started with "jimmctl migrate" need no such
update.`,
		Args: argsBetween(2, "<controller>", "<model-uuid>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			controller, uuid := args[0], args[1]
			m, err := c.UpdateMigratedModel(cmd.Context(), controller, uuid)
			if err != nil {
				return err
			}
			if m.Controller != "" && m.Controller != controller {
				return fmt.Errorf("update model %q as migrated to controller %q: the broker answered that it routes to %q",
					uuid, controller, m.Controller)
			}
			if a.format.String() != FormatTabular {
				return write(cmd.OutOrStdout(), a.format.String(), m, nil)
			}
			if m.UUID == "" {
				m.UUID = uuid
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "model %s (%s) now routes to %s\n", orDash(m.Name), m.UUID, controller)
			return err
		}),
	}
}

var migrationHeader = []string{"ID", "MODEL", "SOURCE", "TARGET", "PHASE", "RESULT", "STARTED", "ENDED"}

func migrationTable(w io.Writer, ms []restapi.Migration) {
	row(w, slices.Clone(migrationHeader)...)
	for _, m := range ms {
		ended := ""
		if m.EndedAt != nil {
			ended = formatTime(*m.EndedAt)
		}
		row(w, strconv.FormatInt(m.ID, 10), migrationModel(m), m.Source, m.Target, m.Phase, m.Result,
			formatTime(m.StartedAt), ended)
	}
}

// migrationDetail shows one migration, one "key: value" a line.
func migrationDetail(w io.Writer, m restapi.Migration) {
	ended := ""
	if m.EndedAt != nil {
		ended = formatTime(*m.EndedAt)
	}
	for _, kv := range [][2]string{
		{"id", strconv.FormatInt(m.ID, 10)},
		{"model-uuid", m.ModelUUID},
		{"model-name", m.ModelName},
		{"owner", m.Owner},
		{"source", m.Source},
		{"target", m.Target},
		{"controller-migration-id", m.ControllerID},
		{"phase", m.Phase},
		{"message", m.Message},
		{"result", m.Result},
		{"started-at", formatTime(m.StartedAt)},
		{"phase-changed-at", formatTime(m.PhaseChangedAt)},
		{"ended-at", ended},
	} {
		row(w, kv[0]+":", kv[1])
	}
	if m.Plan != nil {
		row(w, "plan:", planEstimate(m.Plan))
	}
}
