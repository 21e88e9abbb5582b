package integration

// The audit log under faults, against a real broker on a PostgreSQL
// cluster of the test's own: events made while the database is stopped
// for over a minute are all in the log once it is back (spooled by the
// broker, then replayed); a failed login with a 20 kB user name, made at
// the same time as an admin's changes, takes nothing with it.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/juju/juju/rpc/params"
)

// failedLogin makes one Admin.Login on a new /api connection as user with
// a wrong password, and checks that it is refused.
func (e *brokerEnv) failedLogin(t testing.TB, user string) {
	t.Helper()
	rc := e.dialRaw(t, "/api")
	defer rc.ws.Close()
	resp := rc.call("Admin", 3, "Login", map[string]any{
		"auth-tag": "user-" + user, "credentials": "not-the-password-" + randomHex(4), "nonce": "", "macaroons": nil,
		"bakery-version": 3, "cli-args": "integration", "user-data": "", "client-version": "3.5.4",
	})
	if resp.ErrorCode != params.CodeUnauthorized {
		t.Fatalf("login as %.40s... with a wrong password: error %q (code %q), want %q", user, resp.Error, resp.ErrorCode, params.CodeUnauthorized)
	}
}

// auditCount counts the rows of the broker's audit_events that where
// (SQL, with args) selects.
func auditCount(t testing.TB, pg *sql.DB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := pg.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM audit_events WHERE "+where, args...).Scan(&n); err != nil {
		t.Fatalf("count audit_events where %s: %v", where, err)
	}
	return n
}

func TestFaultAudit(t *testing.T) {
	serverDSN(t) // skips without PostgreSQL
	bins := buildBrokerBins(t)
	// Failed logins are not slowed down: the test makes hundreds from one
	// address.
	e, cluster := newBrokerEnvOnCluster(t, bins, "--login-failure-rate", "-1")
	pg, err := sql.Open("pgx", e.broker().Opts.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	metrics := e.metricsAddr()
	spoolFile := filepath.Join(e.broker().Opts.DataDir, "audit-spool.jsonl")

	t.Run("outage", func(t *testing.T) {
		const outage = 61 * time.Second
		marker := "outage-" + randomHex(4) + "-"
		// One event before, to see the log working.
		e.failedLogin(t, marker+"before")
		eventually(t, 10*time.Second, "the first event in the log", func() error {
			if n := auditCount(t, pg, "identity = $1", marker+"before"); n != 1 {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		})

		stopPostgres(t, cluster)
		stopped := time.Now()
		// Failed logins need no database: five a second for as long as
		// the database is down, each under a name of its own.
		made := 0
		var spooledMidway float64
		for time.Since(stopped) < outage {
			e.failedLogin(t, fmt.Sprintf("%s%04d", marker, made))
			made++
			if made == 100 {
				// The broker keeps them in its spool meanwhile.
				eventually(t, 10*time.Second, "events in the spool", func() error {
					spooledMidway = bmMetric(t, metrics, "jimm_audit_spool_events")
					if spooledMidway < 90 {
						return fmt.Errorf("jimm_audit_spool_events = %v", spooledMidway)
					}
					return nil
				})
				if st, err := os.Stat(spoolFile); err != nil || st.Size() == 0 {
					t.Errorf("spool file %s: %v, %v", spoolFile, st, err)
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		startPostgres(t, cluster)
		down := time.Since(stopped)
		t.Logf("PostgreSQL down for %s; %d failed logins made meanwhile; %v in the spool after 100", down.Round(100*time.Millisecond), made, spooledMidway)

		restarted := time.Now()
		var kept int
		eventually(t, 60*time.Second, "every event made during the outage in the log", func() error {
			kept = auditCount(t, pg, "identity LIKE $1 AND identity <> $2", marker+"%", marker+"before")
			if kept < made {
				return fmt.Errorf("%d of %d", kept, made)
			}
			return nil
		})
		t.Logf("replayed in %s after PostgreSQL was back", time.Since(restarted).Round(100*time.Millisecond))
		t.Logf("audit events kept across a %s outage: %d of %d", down.Round(time.Second), kept, made)
		// Each once, each with its own name, all refused logins.
		if distinct := 0; pg.QueryRowContext(t.Context(), "SELECT COUNT(DISTINCT identity) FROM audit_events WHERE identity LIKE $1 AND identity <> $2",
			marker+"%", marker+"before").Scan(&distinct) != nil || distinct != made || kept != made {
			t.Errorf("%d rows for %d distinct names, want %d of each", kept, distinct, made)
		}
		if n := auditCount(t, pg, "identity LIKE $1 AND (facade <> 'Admin' OR method <> 'password' OR result <> 'refused')", marker+"%"); n != 0 {
			t.Errorf("%d events of the failed logins are not refused password logins", n)
		}
		// Through the product's own reading path too: the first and the
		// last of them.
		for _, user := range []string{fmt.Sprintf("%s%04d", marker, 0), fmt.Sprintf("%s%04d", marker, made-1)} {
			if got := e.auditList(t, "--user", user); len(got.Events) != 1 || got.Events[0].Result != "refused" {
				t.Errorf("jimmctl audit list --user %s: %+v", user, got.Events)
			}
		}
		eventually(t, 10*time.Second, "the spool emptied", func() error {
			if n := bmMetric(t, metrics, "jimm_audit_spool_events"); n != 0 {
				return fmt.Errorf("jimm_audit_spool_events = %v", n)
			}
			if st, err := os.Stat(spoolFile); err != nil || st.Size() != 0 {
				return fmt.Errorf("spool file: %v, %v", st, err)
			}
			return nil
		})
		if n := bmMetric(t, metrics, "jimm_audit_replayed_total"); n < float64(made) {
			t.Errorf("jimm_audit_replayed_total = %v, want at least %d", n, made)
		}
		if n := bmMetric(t, metrics, "jimm_audit_dropped_total"); n != 0 {
			t.Errorf("jimm_audit_dropped_total = %v, want 0", n)
		}
		waitConsistent(t, e, 30*time.Second)
	})

	t.Run("oversized-name", func(t *testing.T) {
		start := time.Now().Add(-time.Second)
		// Random letters: text PostgreSQL cannot compress under its index
		// row limit.
		prefix := "long-" + randomHex(4) + "-"
		var b strings.Builder
		b.WriteString(prefix)
		for b.Len() < 20000 {
			b.WriteByte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rand.IntN(62)])
		}
		long := b.String()
		groups := []string{"audit-a-" + randomHex(3), "audit-b-" + randomHex(3), "audit-c-" + randomHex(3)}
		// At once, so that they share the broker's batches.
		var wg sync.WaitGroup
		results := make([]string, len(groups))
		for i, g := range groups {
			wg.Go(func() {
				res, err := e.ctl.Run(context.Background(), "auth", "group", "add", g)
				if err != nil || res.ExitCode != 0 {
					results[i] = fmt.Sprintf("jimmctl auth group add %s: %v %s", g, err, res)
				}
			})
		}
		e.failedLogin(t, long)
		wg.Wait()
		for _, r := range results {
			if r != "" {
				t.Fatal(r)
			}
		}

		eventually(t, 15*time.Second, "the 3 group creations and the long login in the log", func() error {
			adds := auditCount(t, pg, "method = 'POST /v1/groups' AND result = 'ok' AND time >= $1", start.UTC())
			longs := auditCount(t, pg, "identity LIKE $1", prefix+"%")
			if adds != 3 || longs != 1 {
				return fmt.Errorf("%d group creations, %d long logins", adds, longs)
			}
			return nil
		})
		var identity string
		if err := pg.QueryRowContext(t.Context(), "SELECT identity FROM audit_events WHERE identity LIKE $1", prefix+"%").Scan(&identity); err != nil {
			t.Fatal(err)
		}
		if len(identity) > 255 || !strings.HasSuffix(identity, "…[truncated]") || !strings.HasPrefix(long, strings.TrimSuffix(identity, "…[truncated]")) || !utf8.ValidString(identity) {
			t.Errorf("the long name is kept as %d bytes %q, want it cut to at most 255 and marked", len(identity), identity[:min(len(identity), 60)])
		}
		// jimmctl shows them too.
		all := e.auditList(t, "--since", start.UTC().Format(time.RFC3339Nano), "--method", "POST /v1/groups")
		if len(all.Events) != 3 {
			t.Errorf("jimmctl audit list --method 'POST /v1/groups': %d events, want 3", len(all.Events))
		}
		t.Logf("audit events kept with a %d-byte user name among them: %d of 4 (the name kept as %d bytes)", len(long), len(all.Events)+1, len(identity))
		if n := bmMetric(t, metrics, "jimm_audit_dropped_total"); n != 0 {
			t.Errorf("jimm_audit_dropped_total = %v, want 0", n)
		}
		waitConsistent(t, e, 30*time.Second)
	})
}
