package jimmctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// AuditQuery selects audit events; empty fields match everything.
type AuditQuery struct {
	User, Model, Method string
	Since, Until        time.Time
	// Limit is the page size (0: the broker's default, 50).
	Limit int
	// After is the Next cursor of the page before.
	After string
}

// ListAudit returns one page of audit events, newest first. It needs
// broker administrator access or audit_log_viewer on the broker.
func (c *Client) ListAudit(ctx context.Context, q AuditQuery) (restapi.AuditEvents, error) {
	var resp restapi.AuditEvents
	v := url.Values{}
	for k, s := range map[string]string{
		restapi.AuditQueryUser: q.User, restapi.AuditQueryModel: q.Model, restapi.AuditQueryMethod: q.Method,
		restapi.AuditQueryAfter: q.After,
	} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Since.IsZero() {
		v.Set(restapi.AuditQuerySince, q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set(restapi.AuditQueryUntil, q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set(restapi.AuditQueryLimit, strconv.Itoa(q.Limit))
	}
	err := c.do(ctx, "list audit events", http.MethodGet, restapi.PathAudit, v, true, nil, &resp)
	if resp.Events == nil {
		resp.Events = []restapi.AuditEvent{}
	}
	return resp, err
}

// maxAuditPage is the broker's largest page, used by audit list --all.
const maxAuditPage = 1000

func (a *app) auditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the broker's audit log",
		Long: `The broker's audit log records every login (successful or not) and every call
that changes state, made through the broker: who, from where, on which model,
which facade and method, the result and how long it took. It never records
call parameters or secrets. Reading it needs broker administrator access or
audit_log_viewer on controller:jimm.`,
		Args: noArgs,
	}
	cmd.AddCommand(a.auditListCommand())
	return cmd
}

func (a *app) auditListCommand() *cobra.Command {
	var (
		q            AuditQuery
		since, until string
		all          bool
	)
	cmd := &cobra.Command{
		Use:   "list [--user U] [--model UUID] [--method M] [--since T] [--until T] [--limit N] [--after CURSOR] [--all]",
		Short: "List audit events, newest first",
		Long: `List audit events, newest first, one page at a time (--limit, default 50, at
most 1000). When there are more, the tabular format says how to get the next
page (--after the cursor it prints); yaml and json print the cursor as "next".
--all follows the pages to the end.

--since and --until take an RFC 3339 time (2026-11-21T09:00:00Z), a date
(2026-11-21, midnight UTC), or a duration meaning that long ago (90m, 24h).
--method is a call (DestroyModels, ModelSet), a login method (password,
session-token), or a REST call ("POST /v1/controllers").`,
		Example: `  jimmctl audit list --user alice@example.com --since 24h
  jimmctl audit list --model 5c4b1a2e-... --method DestroyModels --format json
  jimmctl audit list --limit 100 --after 1234`,
		Args: noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			now := time.Now()
			var err error
			if q.Since, err = parseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if q.Until, err = parseWhen(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
				return fmt.Errorf("--since (%s) must be before --until (%s)", formatTime(q.Since), formatTime(q.Until))
			}
			if cmd.Flags().Changed("limit") && (q.Limit < 1 || q.Limit > maxAuditPage) {
				return fmt.Errorf("--limit must be from 1 to %d, got %d", maxAuditPage, q.Limit)
			}
			page, err := c.ListAudit(cmd.Context(), q)
			if err != nil {
				return explainAuditAccess(err)
			}
			if all {
				if !cmd.Flags().Changed("limit") {
					q.Limit = maxAuditPage
				}
				for page.Next != "" {
					q.After = page.Next
					more, err := c.ListAudit(cmd.Context(), q)
					if err != nil {
						return explainAuditAccess(err)
					}
					page.Events = append(page.Events, more.Events...)
					page.Next = more.Next
				}
			}
			if a.format.String() != FormatTabular {
				return write(cmd.OutOrStdout(), a.format.String(), page, nil)
			}
			if len(page.Events) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No audit events.")
				return nil
			}
			err = write(cmd.OutOrStdout(), FormatTabular, page, func(w *tabwriter.Writer) { auditTable(w, page.Events) })
			if err == nil && page.Next != "" {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "\nMore events: add --after %s for the next page, or --all.\n", page.Next)
			}
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&q.User, "user", "", "only this identity's events")
	f.StringVar(&q.Model, "model", "", "only events on the model with this UUID")
	f.StringVar(&q.Method, "method", "", "only calls of this method (or logins by this method)")
	f.StringVar(&since, "since", "", "only events at or after this time (RFC 3339, a date, or a duration ago)")
	f.StringVar(&until, "until", "", "only events before this time (RFC 3339, a date, or a duration ago)")
	f.IntVar(&q.Limit, "limit", 50, "events per page, 1 to 1000")
	f.StringVar(&q.After, "after", "", "the cursor the previous page ended with")
	f.BoolVar(&all, "all", false, "list every page")
	return cmd
}

// parseWhen reads a --since or --until value: an RFC 3339 time, a date,
// or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2026-11-21T09:00:00Z), a date (2026-11-21) or a duration ago (24h)", s)
}

// explainAuditAccess says who may read the audit log when the broker
// refused.
func explainAuditAccess(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%w (ask a broker administrator for audit_log_viewer on controller:jimm)", err)
	}
	return err
}

var auditHeader = []string{"ID", "TIME", "IDENTITY", "REMOTE", "MODEL", "FACADE", "METHOD", "RESULT", "DURATION"}

func auditTable(w io.Writer, evs []restapi.AuditEvent) {
	row(w, slices.Clone(auditHeader)...)
	for _, ev := range evs {
		result := ev.Result
		if ev.Error != "" && ev.Result != "ok" {
			result += ": " + oneLine(ev.Error, 60)
		}
		row(w, strconv.FormatInt(ev.ID, 10), formatTime(ev.Time), ev.Identity, ev.Remote, ev.Model, ev.Facade, ev.Method, result,
			(time.Duration(ev.DurationMicros) * time.Microsecond).String())
	}
}

// oneLine is s on one line, cut to at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}
