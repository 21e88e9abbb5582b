// Command brokerbench measures the broker against a development controller
// in one run:
//
//   - Ping round trips through the broker's model proxy and straight to the
//     controller, with the real Juju client, interleaved in blocks so both
//     see the same machine: p50, p99 and the ratios;
//   - the broker's benchenv.Memory per idle proxied model connection, with -conns
//     (default 10,000) open;
//   - the broker's benchenv.Memory per open AllWatcher (-watchers, default 1,000,
//     one per model connection, each with a Next waiting, as the Juju
//     dashboard holds one), beside an attached idle connection's, and
//     what it returns once they are stopped and closed;
//   - ListModelSummaries for a user with access to -access (1,000) of
//     -models (100,000) models in PostgreSQL: p50 and p99.
//
// It needs a PostgreSQL server: -dsn or JIMM_TEST_DSN (bash .ci/postgres.sh
// prints one). It creates and drops a database of its own.
//
//	cd integration && go run ./cmd/brokerbench
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/benchenv"
	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

var (
	detachAfter time.Duration
	heapProfile string
	pinProxies  bool
)

// proxyCPU is the CPU the proxies (the broker, HAProxy) run on with
// -pin-proxies; this process and the controller run on CPU 0.
const proxyCPU = 1

func main() {
	var (
		dsn      = flag.String("dsn", os.Getenv("JIMM_TEST_DSN"), "PostgreSQL server DSN (a database is created on it)")
		pings    = flag.Int("pings", 20000, "ping round trips per path")
		conns    = flag.Int("conns", 10000, "idle proxied connections to open")
		models   = flag.Int("models", 100000, "models in the routing table")
		access   = flag.Int("access", 1000, "models the listing user has access to")
		listRuns = flag.Int("list-runs", 50, "ListModelSummaries calls to time")
		nWatch   = flag.Int("watchers", 1000, "AllWatchers to hold open, one per model connection (0: skip)")
		jimmdBin = flag.String("jimmd", "", "jimmd binary (default: build it)")
		ctlBin   = flag.String("devcontroller", "", "devcontroller binary (default: build it)")
	)
	flag.DurationVar(&detachAfter, "detach-after", 30*time.Second, "the broker's --proxy-detach-after")
	flag.StringVar(&heapProfile, "heap-profile", "", "save the broker's heap profiles to this file and beside it: the idle connections detached (F) and attached (F.attached); the watchers stage's before it (F.watchers-before) and once they closed (F.watchers-closed); with -relay-held, the held connections idle (F.held-idle) and after their large FullStatus (F.held-after)")
	flag.BoolVar(&pinProxies, "pin-proxies", false, "run the proxies (the broker, HAProxy) on CPU 1 alone and this process and the controller on CPU 0, as when the broker has a machine of its own (needs 2 CPUs); by default all share every CPU")
	flag.Parse()
	if err := run(*dsn, *pings, *conns, *models, *access, *listRuns, *nWatch, *jimmdBin, *ctlBin); err != nil {
		fmt.Fprintln(os.Stderr, "brokerbench:", err)
		os.Exit(1)
	}
}

func run(dsn string, nPings, nConns, nModels, nAccess, listRuns, nWatchers int, jimmdBin, ctlBin string) error {
	if dsn == "" {
		return fmt.Errorf("no PostgreSQL: pass -dsn or set JIMM_TEST_DSN (bash .ci/postgres.sh prints one)")
	}
	ctx := context.Background()
	fdLimit := benchenv.RaiseFDLimit()
	if nConns+2000 > fdLimit {
		capped := fdLimit - 2000
		fmt.Printf("note: %d idle connections need %d sockets in the broker, over this machine's open-file limit of %d, which cannot be raised here; measuring with %d\n",
			nConns, nConns, fdLimit, capped)
		nConns = capped
	}
	work, err := os.MkdirTemp("", "brokerbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if jimmdBin, ctlBin, err = benchenv.Build(ctx, work, jimmdBin, ctlBin); err != nil {
		return err
	}
	dbName, brokerDSN, dropDB, err := benchenv.CreateDatabase(ctx, dsn)
	if err != nil {
		return err
	}
	defer dropDB()

	// The broker first, on a port chosen now, so the controller can be told
	// where its JWKS is.
	port, err := benchenv.FreePort()
	if err != nil {
		return err
	}
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", port)
	mport, err := benchenv.FreePort()
	if err != nil {
		return err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mport)
	brokerDir := filepath.Join(work, "broker")
	if pinProxies {
		// This process first: the controller, started from it, inherits
		// CPU 0, and so does the broker until it is moved, which makes
		// its runtime size itself for one CPU.
		if err := benchenv.PinCPU(0, 0); err != nil {
			return err
		}
	}
	key := make([]byte, 32)
	rand.Read(key)
	const adminPassword = "bench-admin-password"
	broker, err := benchenv.StartJimmd(ctx, jimmdBin, brokerDir, []string{
		"JIMM_LISTEN=" + brokerAddr, "JIMM_DSN=" + brokerDSN, "JIMM_DATA_DIR=" + brokerDir,
		"JIMM_ADMIN_PASSWORD=" + adminPassword, "JIMM_SECRETS_KEY=" + hex.EncodeToString(key),
		"JIMM_METRICS_LISTEN=" + metricsAddr, "JIMM_LOG_LEVEL=warn", "JIMM_PROXY_DETACH_AFTER=" + detachAfter.String(),
		// Every connection comes from this one address and user, up to the
		// open-file limit: the per-address and per-identity caps and the
		// descriptor reserve are off.
		"JIMM_MAX_CONNS_PER_ADDRESS=-1", "JIMM_FD_RESERVE=-1", "JIMM_MAX_CONNS_PER_IDENTITY=-1",
	})
	if err != nil {
		return err
	}
	defer broker.Stop()
	if pinProxies {
		if err := benchenv.PinCPU(broker.Cmd.Process.Pid, proxyCPU); err != nil {
			return err
		}
		fmt.Printf("layout: the proxies on CPU %d alone; this process and the controller on CPU 0\n", proxyCPU)
	} else {
		fmt.Printf("layout: every process shares all %d CPUs (-pin-proxies gives the proxies one of their own)\n", runtime.NumCPU())
	}
	brokerCA, err := os.ReadFile(filepath.Join(brokerDir, "tls", "ca.crt"))
	if err != nil {
		return err
	}
	ctl, err := devproc.Start(ctx, devproc.Options{
		Bin: ctlBin, Name: "bench-ctl", DataDir: filepath.Join(work, "ctl"), AdminPassword: "ctl-admin-password",
		Args: []string{"--log-level", "warn", "--trust-jwks-url", "https://" + brokerAddr + "/.well-known/jwks.json",
			"--trust-jwks-ca", filepath.Join(brokerDir, "tls", "ca.crt")},
	})
	if err != nil {
		return err
	}
	defer ctl.Stop(10 * time.Second)
	if err := benchenv.AddController(ctx, brokerAddr, brokerCA, adminPassword, ctl.FilePath); err != nil {
		return err
	}
	fmt.Printf("broker %s (db %s), controller %s at %s\n", brokerAddr, dbName, ctl.File.Name, ctl.Addr)

	viaBroker := &api.Info{Addrs: []string{brokerAddr}, CACert: string(brokerCA), Tag: names.NewUserTag("admin"), Password: adminPassword}
	adminConn, err := api.Open(viaBroker, api.DialOpts{})
	if err != nil {
		return fmt.Errorf("log in to the broker: %w", err)
	}
	defer adminConn.Close()
	mi, err := modelmanager.NewClient(adminConn).CreateModel("bench", "admin", "", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		return fmt.Errorf("create model: %w", err)
	}
	modelTag := names.NewModelTag(mi.UUID)
	if listingsOnly {
		return listings(ctx, brokerDSN, brokerAddr, brokerCA, viaBroker)
	}
	if relayOnly {
		return relay(ctx, work, brokerAddr, brokerCA, adminPassword, broker.Cmd.Process.Pid, metricsAddr, ctl, "ctl-admin-password", adminConn)
	}
	if idleOnly {
		idleInfo := *viaBroker
		idleInfo.ModelTag = modelTag
		return idle(&idleInfo, broker.Cmd.Process.Pid, metricsAddr, nConns, fdLimit)
	}

	// 1. Ping: broker vs direct.
	proxied := *viaBroker
	proxied.ModelTag = modelTag
	direct := &api.Info{Addrs: []string{ctl.Addr}, CACert: ctl.File.CACert, Tag: names.NewUserTag("admin"), Password: "ctl-admin-password", ModelTag: modelTag}
	pc, err := api.Open(&proxied, api.DialOpts{})
	if err != nil {
		return fmt.Errorf("open model through the broker: %w", err)
	}
	dc, err := api.Open(direct, api.DialOpts{})
	if err != nil {
		return fmt.Errorf("open model on the controller: %w", err)
	}
	viaB, viaD, err := pingBoth(pc, dc, nPings)
	pc.Close()
	dc.Close()
	if err != nil {
		return err
	}
	b50, b99, d50, d99 := benchenv.Pct(viaB, 50), benchenv.Pct(viaB, 99), benchenv.Pct(viaD, 50), benchenv.Pct(viaD, 99)
	fmt.Printf("ping, %d round trips each, interleaved in blocks of 500 on one connection per path:\n", nPings)
	fmt.Printf("  direct to controller  p50 %6.1fµs  p99 %6.1fµs\n", benchenv.US(d50), benchenv.US(d99))
	fmt.Printf("  through the broker    p50 %6.1fµs  p99 %6.1fµs\n", benchenv.US(b50), benchenv.US(b99))
	fmt.Printf("  ratio                 p50 %6.2fx    p99 %6.2fx\n", float64(b50)/float64(d50), float64(b99)/float64(d99))

	// 2. Idle proxied connections: measured while still attached to the
	// controller, then once the broker has detached and parked them. Each
	// measure follows a garbage collection in the broker (its pprof heap
	// endpoint with gc=1), so that it counts what connections retain.
	//
	// An attached connection is two sockets in the broker, a parked one
	// is one. Where the open-file limit cannot hold two for each, they are
	// opened in batches, each once the last has parked.
	batch := nConns
	if 2*nConns+1000 > fdLimit {
		batch = fdLimit - 1000 - nConns
		fmt.Printf("note: the open-file limit (%d) holds %d attached connections beside %d parked ones: opening them in batches of %d\n",
			fdLimit, batch, nConns-batch, batch)
	}
	before, err := benchenv.Measure(broker.Cmd.Process.Pid, metricsAddr)
	if err != nil {
		return err
	}
	var open []api.Connection
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	start := time.Now()
	more, err := openMany(&proxied, batch)
	open = append(open, more...)
	if err != nil {
		return err
	}
	opened := time.Since(start)
	attached, err := benchenv.Measure(broker.Cmd.Process.Pid, metricsAddr)
	if err != nil {
		return err
	}
	fmt.Printf("idle proxied connections: opened %d in %s (%.0f/s)\n", batch, opened.Round(time.Millisecond), float64(batch)/opened.Seconds())
	attached.Report("  attached to the controller", before, batch, opened < detachAfter)
	for {
		if err := awaitParked(metricsAddr, len(open)); err != nil {
			return err
		}
		if len(open) == nConns {
			break
		}
		more, err := openMany(&proxied, min(batch, nConns-len(open)))
		open = append(open, more...)
		if err != nil {
			return err
		}
	}
	detached, err := benchenv.Measure(broker.Cmd.Process.Pid, metricsAddr)
	if err != nil {
		return err
	}
	detached.Report(fmt.Sprintf("  detached and parked (idle > %s)", detachAfter), before, nConns, true)
	if err := saveHeap(metricsAddr, ""); err != nil {
		return err
	}
	for _, c := range open {
		c.Close()
	}
	open = nil

	// 3. Open AllWatchers.
	if nWatchers > 0 {
		if err := watchers(broker.Cmd.Process.Pid, metricsAddr, &proxied, nWatchers, attached.PerConn(before, batch)); err != nil {
			return err
		}
	}

	// 4. ListModelSummaries for a user with access to nAccess of nModels.
	if err := seedModels(ctx, brokerDSN, nModels, nAccess); err != nil {
		return err
	}
	// The admin lists bench-user's models: the same query as bench-user
	// listing its own (the broker looks up bench-user's relations and
	// groups either way).
	uc, err := api.Open(viaBroker, api.DialOpts{})
	if err != nil {
		return fmt.Errorf("log in as the admin: %w", err)
	}
	defer uc.Close()
	mm := modelmanager.NewClient(uc)
	var lat []time.Duration
	for i := range listRuns + 3 {
		t0 := time.Now()
		sums, err := mm.ListModelSummaries("bench-user", false)
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("list model summaries: %w", err)
		}
		if len(sums) != nAccess {
			return fmt.Errorf("list model summaries: %d models, want %d", len(sums), nAccess)
		}
		if i >= 3 {
			lat = append(lat, d)
		}
	}
	slices.Sort(lat)
	l50, l99 := benchenv.Pct(lat, 50), benchenv.Pct(lat, 99)
	fmt.Printf("ListModelSummaries, user with access to %d of %d models, %d calls: p50 %.1fms  p99 %.1fms\n",
		nAccess, nModels, listRuns, benchenv.MS(l50), benchenv.MS(l99))
	fmt.Printf("brokerbench: ping_direct_p50_us=%.1f ping_direct_p99_us=%.1f ping_broker_p50_us=%.1f ping_broker_p99_us=%.1f ratio_p50=%.2f ratio_p99=%.2f conn_attached_kb=%.1f conn_detached_kb=%.1f conns=%d list_summaries_p50_ms=%.1f list_summaries_p99_ms=%.1f models=%d access=%d\n",
		benchenv.US(d50), benchenv.US(d99), benchenv.US(b50), benchenv.US(b99), float64(b50)/float64(d50), float64(b99)/float64(d99),
		attached.PerConn(before, nConns), detached.PerConn(before, nConns), nConns, benchenv.MS(l50), benchenv.MS(l99), nModels, nAccess)
	return listings(ctx, brokerDSN, brokerAddr, brokerCA, viaBroker)
}

// saveHeap saves the broker's heap profile to -heap-profile's file with
// suffix added, when -heap-profile is set.
func saveHeap(metricsAddr, suffix string) error {
	if heapProfile == "" {
		return nil
	}
	return benchenv.SaveHeapProfile(metricsAddr, heapProfile+suffix)
}

// awaitMetrics scrapes the broker's metrics until done accepts them, for
// at most within, and returns the last scrape and whether done accepted
// it.
func awaitMetrics(metricsAddr string, within time.Duration, done func(m map[string]float64) bool) (map[string]float64, bool, error) {
	deadline := time.Now().Add(within)
	for {
		m, err := benchenv.Scrape(metricsAddr)
		if err != nil || done(m) {
			return m, err == nil, err
		}
		if time.Now().After(deadline) {
			return m, false, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// awaitParked waits until the broker holds no controller connection for
// the idle connections and has parked n of them.
func awaitParked(metricsAddr string, n int) error {
	within := detachAfter + time.Minute
	m, ok, err := awaitMetrics(metricsAddr, within, func(m map[string]float64) bool {
		return m["jimm_proxy_controller_connections"] <= 1 && m["jimm_proxy_parked_connections"] >= float64(n)
	})
	if err != nil || ok {
		return err
	}
	return fmt.Errorf("%s after the connections went idle, the broker still holds %.0f controller connections and has parked %.0f of %d",
		within, m["jimm_proxy_controller_connections"], m["jimm_proxy_parked_connections"], n)
}

// pingBoth times n pings on each connection, alternating blocks so that both
// paths see the same machine conditions.
func pingBoth(viaBroker, direct api.Connection, n int) ([]time.Duration, []time.Duration, error) {
	const block = 500
	var b, d []time.Duration
	for range 1000 { // warm up both
		viaBroker.APICall("Pinger", 1, "", "Ping", nil, nil)
		direct.APICall("Pinger", 1, "", "Ping", nil, nil)
	}
	for done := 0; done < n; done += block {
		for _, side := range []struct {
			c   api.Connection
			out *[]time.Duration
		}{{viaBroker, &b}, {direct, &d}} {
			for range block {
				t0 := time.Now()
				if err := side.c.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
					return nil, nil, fmt.Errorf("ping: %w", err)
				}
				*side.out = append(*side.out, time.Since(t0))
			}
		}
	}
	slices.Sort(b)
	slices.Sort(d)
	return b, d, nil
}

// openMany opens n connections with bounded parallelism.
func openMany(info *api.Info, n int) ([]api.Connection, error) {
	out := make([]api.Connection, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, 32)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := api.Open(info, api.DialOpts{})
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("open connection %d: %w", i, err)
				}
				mu.Unlock()
				return
			}
			out[i] = c
		})
	}
	wg.Wait()
	if firstErr != nil {
		return slices.DeleteFunc(out, func(c api.Connection) bool { return c == nil }), firstErr
	}
	return out, nil
}

// seedModels adds nModels models (owned by other users, each with its
// owner's relation) and gives "bench-user" reader access to nAccess of them.
func seedModels(ctx context.Context, dsn string, nModels, nAccess int) error {
	d, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer d.Close()
	var ctlID int
	if err := d.QueryRowContext(ctx, "SELECT id FROM controllers LIMIT 1").Scan(&ctlID); err != nil {
		return fmt.Errorf("find controller: %w", err)
	}
	start := time.Now()
	const batch = 1000
	for i := 0; i < nModels; i += batch {
		var mq, rq strings.Builder
		mq.WriteString("INSERT INTO models (created_at, updated_at, uuid, name, owner, controller_id, cloud, region, type, life) VALUES ")
		rq.WriteString("INSERT INTO relations (created_at, subject, relation, object_kind, object_id) VALUES ")
		for j := i; j < min(i+batch, nModels); j++ {
			if j > i {
				mq.WriteString(",")
				rq.WriteString(",")
			}
			uuid := fmt.Sprintf("00000000-0000-4000-8000-%012d", j)
			owner := fmt.Sprintf("owner-%d", j%5000)
			fmt.Fprintf(&mq, "(now(), now(), '%s', 'm-%d', '%s', %d, 'localhost', 'default', 'iaas', 'alive')", uuid, j, owner, ctlID)
			fmt.Fprintf(&rq, "(now(), 'user:%s', 'administrator', 'model', '%s')", owner, uuid)
			if j%(nModels/nAccess) == 0 {
				fmt.Fprintf(&rq, ",(now(), 'user:bench-user', 'reader', 'model', '%s')", uuid)
			}
		}
		if _, err := d.ExecContext(ctx, mq.String()); err != nil {
			return fmt.Errorf("seed models: %w", err)
		}
		if _, err := d.ExecContext(ctx, rq.String()); err != nil {
			return fmt.Errorf("seed relations: %w", err)
		}
	}
	if _, err := d.ExecContext(ctx, "ANALYZE"); err != nil {
		return err
	}
	fmt.Printf("seeded %d models and %d relations in %s\n", nModels, nModels+nAccess, time.Since(start).Round(time.Millisecond))
	return nil
}
