package main

// Administrator listings: ListModelSummaries and ListModels as the broker's
// administrator (who sees every model) at 1,000, 10,000 and 100,000
// models, and ListModelSummaries for a user with access to 1% of them.
//
// Each call is timed twice over:
//   - on a raw WebSocket connection, from sending the request to holding
//     the whole response frame: what the broker costs, with TLS and the
//     transfer, and nothing of any client's decoding;
//   - with the Juju Go client (what `juju models` calls), which decodes
//     the result into its own types: what a user waits for.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gorilla/websocket"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelmanager"

	"github.com/jimmbroker/jimm/integration/internal/benchenv"
)

var (
	listingsOnly bool
	listingRuns  int
)

func init() {
	flag.BoolVar(&listingsOnly, "listings-only", false, "measure the administrator listings at 1k, 10k and 100k models only")
	flag.IntVar(&listingRuns, "listing-runs", 20, "timed calls per listing and size")
}

// listingSizes are the routing table sizes the listings are measured at.
var listingSizes = []int{1000, 10000, 100000}

// listingRow is one size's figures.
type listingRow struct {
	models                       int
	sums, list, user, jujuClient []time.Duration
	userAccess                   int
	sumsBytes                    int
}

// listings measures the administrator listings at each of listingSizes,
// reseeding the routing table (seedModels) for each; admin is the
// administrator's login through the broker.
func listings(ctx context.Context, dsn, brokerAddr string, brokerCA []byte, admin *api.Info) error {
	raw, err := dialRaw(ctx, brokerAddr, brokerCA, admin.Password)
	if err != nil {
		return err
	}
	defer raw.Close()
	jc, err := api.Open(admin, api.DialOpts{})
	if err != nil {
		return fmt.Errorf("log in as the admin with the Juju client: %w", err)
	}
	defer jc.Close()
	mm := modelmanager.NewClient(jc)
	// The models the broker has besides those seeded (the bench's own).
	if err := unseedModels(ctx, dsn); err != nil {
		return err
	}
	others, err := countModels(ctx, dsn)
	if err != nil {
		return err
	}
	var rows []listingRow
	for _, n := range listingSizes {
		access := n / 100
		if err := seedModels(ctx, dsn, n, access); err != nil {
			return err
		}
		row := listingRow{models: n, userAccess: access}
		adminSums := `{"type":"ModelManager","version":9,"request":"ListModelSummaries","params":{"user-tag":"user-admin"}}`
		adminList := `{"type":"ModelManager","version":9,"request":"ListModels","params":{"tag":"user-admin"}}`
		userSums := `{"type":"ModelManager","version":9,"request":"ListModelSummaries","params":{"user-tag":"user-bench-user"}}`
		for _, c := range []struct {
			req, list string
			want      int
			out       *[]time.Duration
		}{
			{adminSums, "results", n + others, &row.sums},
			{adminList, "user-models", n + others, &row.list},
			{userSums, "results", access, &row.user},
		} {
			size, err := raw.check(c.req, c.list, c.want)
			if err != nil {
				return fmt.Errorf("%d models: %w", n, err)
			}
			if c.out == &row.sums {
				row.sumsBytes = size
			}
			if *c.out, err = raw.time(c.req, listingRuns); err != nil {
				return fmt.Errorf("%d models: %w", n, err)
			}
		}
		for i := range listingRuns/2 + 1 {
			t0 := time.Now()
			sums, err := mm.ListModelSummaries("admin", false)
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("%d models: list model summaries with the Juju client: %w", n, err)
			}
			if len(sums) != n+others {
				return fmt.Errorf("%d models: the Juju client lists %d model summaries, want %d", n, len(sums), n+others)
			}
			if i > 0 {
				row.jujuClient = append(row.jujuClient, d)
			}
		}
		slices.Sort(row.jujuClient)
		rows = append(rows, row)
		fmt.Printf("  %d models: admin ListModelSummaries p50 %.1fms\n", n, benchenv.MS(benchenv.Pct(row.sums, 50)))
		if err := unseedModels(ctx, dsn); err != nil {
			return err
		}
	}
	fmt.Printf("administrator listings (%d calls each; raw: request sent to whole response frame received; Juju client: decoded, %d calls):\n", listingRuns, listingRuns/2)
	fmt.Printf("  %8s  %10s  %-24s  %-24s  %-26s  %-20s\n", "models", "response", "admin summaries p50/p99", "admin ListModels p50/p99", "user (1%) summaries p50/p99", "Juju client summaries p50")
	for _, r := range rows {
		fmt.Printf("  %8d  %8.1fMB  %9.1f / %7.1f ms    %9.1f / %7.1f ms    %6d: %7.1f / %7.1f ms    %9.1f ms\n", r.models, float64(r.sumsBytes)/1e6,
			benchenv.MS(benchenv.Pct(r.sums, 50)), benchenv.MS(benchenv.Pct(r.sums, 99)),
			benchenv.MS(benchenv.Pct(r.list, 50)), benchenv.MS(benchenv.Pct(r.list, 99)),
			r.userAccess, benchenv.MS(benchenv.Pct(r.user, 50)), benchenv.MS(benchenv.Pct(r.user, 99)),
			benchenv.MS(benchenv.Pct(r.jujuClient, 50)))
	}
	fmt.Print("brokerbench-listings:")
	for _, r := range rows {
		k := fmt.Sprintf("%dk", r.models/1000)
		fmt.Printf(" admin_summaries_%s_p50_ms=%.1f admin_summaries_%s_p99_ms=%.1f admin_models_%s_p50_ms=%.1f admin_models_%s_p99_ms=%.1f user_%d_of_%s_p50_ms=%.1f juju_client_summaries_%s_p50_ms=%.1f",
			k, benchenv.MS(benchenv.Pct(r.sums, 50)), k, benchenv.MS(benchenv.Pct(r.sums, 99)),
			k, benchenv.MS(benchenv.Pct(r.list, 50)), k, benchenv.MS(benchenv.Pct(r.list, 99)),
			r.userAccess, k, benchenv.MS(benchenv.Pct(r.user, 50)), k, benchenv.MS(benchenv.Pct(r.jujuClient, 50)))
	}
	fmt.Println()
	return nil
}

// unseedModels removes what seedModels added.
func unseedModels(ctx context.Context, dsn string) error {
	d, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer d.Close()
	const seeded = "00000000-0000-4000-8000-%"
	if _, err := d.ExecContext(ctx, "DELETE FROM relations WHERE object_kind = 'model' AND object_id LIKE $1", seeded); err != nil {
		return fmt.Errorf("remove seeded relations: %w", err)
	}
	if _, err := d.ExecContext(ctx, "DELETE FROM models WHERE uuid LIKE $1", seeded); err != nil {
		return fmt.Errorf("remove seeded models: %w", err)
	}
	return nil
}

// countModels counts the broker's models.
func countModels(ctx context.Context, dsn string) (int, error) {
	d, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	var n int
	if err := d.QueryRowContext(ctx, "SELECT count(*) FROM models").Scan(&n); err != nil {
		return 0, fmt.Errorf("count models: %w", err)
	}
	return n, nil
}

// rawConn is an /api connection that sends request frames and reads
// response frames whole, decoding nothing it times.
type rawConn struct {
	*websocket.Conn
	buf  []byte
	next int
}

func dialRaw(ctx context.Context, brokerAddr string, ca []byte, password string) (*rawConn, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"}, HandshakeTimeout: 30 * time.Second}
	ws, _, err := d.DialContext(ctx, "wss://"+brokerAddr+"/api", nil)
	if err != nil {
		return nil, fmt.Errorf("dial the broker's /api: %w", err)
	}
	c := &rawConn{Conn: ws}
	login, _ := json.Marshal(map[string]any{"auth-tag": "user-admin", "credentials": password})
	resp, err := c.call(`{"type":"Admin","version":3,"request":"Login","params":` + string(login) + `}`)
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("log in on /api: %w", err)
	}
	var m struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(resp, &m); err != nil || m.Error != "" {
		ws.Close()
		return nil, fmt.Errorf("log in on /api: %v %s", err, m.Error)
	}
	return c, nil
}

// call sends req (a request frame without its request-id) and returns the
// response frame, whose bytes are valid until the next call.
func (c *rawConn) call(req string) ([]byte, error) {
	c.next++
	frame := fmt.Sprintf(`{"request-id":%d,%s`, c.next, req[1:])
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		return nil, err
	}
	_, r, err := c.NextReader()
	if err != nil {
		return nil, err
	}
	c.buf = c.buf[:0]
	for {
		if len(c.buf) == cap(c.buf) {
			c.buf = slices.Grow(c.buf, max(cap(c.buf), 1<<20))
		}
		n, err := r.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if err == io.EOF {
			return c.buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// check makes the call req once, and checks that its response lists want
// items under list; it returns the response's size.
func (c *rawConn) check(req, list string, want int) (int, error) {
	resp, err := c.call(req)
	if err != nil {
		return 0, err
	}
	var m struct {
		Error    string                       `json:"error"`
		Response map[string][]json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(resp, &m); err != nil {
		return 0, fmt.Errorf("decode the response to %s: %w", req, err)
	}
	if m.Error != "" || len(m.Response[list]) != want {
		return 0, fmt.Errorf("%s: %d %s (error %q), want %d", req, len(m.Response[list]), list, m.Error, want)
	}
	return len(resp), nil
}

// time makes the call req runs times, after two calls to warm up, and
// returns the sorted latencies.
func (c *rawConn) time(req string, runs int) ([]time.Duration, error) {
	var out []time.Duration
	for i := range runs + 2 {
		t0 := time.Now()
		if _, err := c.call(req); err != nil {
			return nil, err
		}
		if i >= 2 {
			out = append(out, time.Since(t0))
		}
	}
	slices.Sort(out)
	return out, nil
}
