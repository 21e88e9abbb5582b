// Command brokerbench measures the broker against a development controller
// in one run:
//
//   - Ping round trips through the broker's model proxy and straight to the
//     controller, with the real Juju client, interleaved in blocks so both
//     see the same machine: p50, p99 and the ratios;
//   - the broker's memory per idle proxied model connection, with -conns
//     (default 10,000) open;
//   - the broker's memory per open AllWatcher (-watchers, default 1,000,
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
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

var (
	detachAfter time.Duration
	heapProfile string
)

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
	flag.StringVar(&heapProfile, "heap-profile", "", "save the broker's heap profile, with the idle connections detached, to this file")
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
	fdLimit := raiseFDLimit()
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
	if jimmdBin == "" || ctlBin == "" {
		root, err := devproc.RepoRoot()
		if err != nil {
			return err
		}
		if jimmdBin == "" {
			jimmdBin = filepath.Join(work, "jimmd")
			build := exec.Command("go", "build", "-o", jimmdBin, "./cmd/jimmd")
			build.Dir = root
			if out, err := build.CombinedOutput(); err != nil {
				return fmt.Errorf("build jimmd: %v\n%s", err, out)
			}
		}
		if ctlBin == "" {
			if ctlBin, err = devproc.Build(ctx, work); err != nil {
				return err
			}
		}
	}
	dbName, brokerDSN, dropDB, err := createDatabase(ctx, dsn)
	if err != nil {
		return err
	}
	defer dropDB()

	// The broker first, on a port chosen now, so the controller can be told
	// where its JWKS is.
	port, err := freePort()
	if err != nil {
		return err
	}
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", port)
	mport, err := freePort()
	if err != nil {
		return err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mport)
	brokerDir := filepath.Join(work, "broker")
	key := make([]byte, 32)
	rand.Read(key)
	const adminPassword = "bench-admin-password"
	broker, err := startJimmd(ctx, jimmdBin, brokerDir, []string{
		"JIMM_LISTEN=" + brokerAddr, "JIMM_DSN=" + brokerDSN, "JIMM_DATA_DIR=" + brokerDir,
		"JIMM_ADMIN_PASSWORD=" + adminPassword, "JIMM_SECRETS_KEY=" + hex.EncodeToString(key),
		"JIMM_METRICS_LISTEN=" + metricsAddr, "JIMM_LOG_LEVEL=warn", "JIMM_PROXY_DETACH_AFTER=" + detachAfter.String(),
	})
	if err != nil {
		return err
	}
	defer broker.stop()
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
	if err := addController(ctx, brokerAddr, brokerCA, adminPassword, ctl.FilePath); err != nil {
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
	b50, b99, d50, d99 := pct(viaB, 50), pct(viaB, 99), pct(viaD, 50), pct(viaD, 99)
	fmt.Printf("ping, %d round trips each, interleaved in blocks of 500 on one connection per path:\n", nPings)
	fmt.Printf("  direct to controller  p50 %6.1fµs  p99 %6.1fµs\n", us(d50), us(d99))
	fmt.Printf("  through the broker    p50 %6.1fµs  p99 %6.1fµs\n", us(b50), us(b99))
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
	before, err := measure(broker.cmd.Process.Pid, metricsAddr)
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
	attached, err := measure(broker.cmd.Process.Pid, metricsAddr)
	if err != nil {
		return err
	}
	fmt.Printf("idle proxied connections: opened %d in %s (%.0f/s)\n", batch, opened.Round(time.Millisecond), float64(batch)/opened.Seconds())
	attached.report("  attached to the controller", before, batch, opened < detachAfter)
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
	detached, err := measure(broker.cmd.Process.Pid, metricsAddr)
	if err != nil {
		return err
	}
	detached.report(fmt.Sprintf("  detached and parked (idle > %s)", detachAfter), before, nConns, true)
	if heapProfile != "" {
		if err := saveHeapProfile(metricsAddr, heapProfile); err != nil {
			return err
		}
	}
	for _, c := range open {
		c.Close()
	}
	open = nil

	// 3. Open AllWatchers.
	if nWatchers > 0 {
		if err := watchers(broker.cmd.Process.Pid, metricsAddr, &proxied, nWatchers, attached.perConn(before, batch)); err != nil {
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
	l50, l99 := pct(lat, 50), pct(lat, 99)
	fmt.Printf("ListModelSummaries, user with access to %d of %d models, %d calls: p50 %.1fms  p99 %.1fms\n",
		nAccess, nModels, listRuns, ms(l50), ms(l99))
	fmt.Printf("brokerbench: ping_direct_p50_us=%.1f ping_direct_p99_us=%.1f ping_broker_p50_us=%.1f ping_broker_p99_us=%.1f ratio_p50=%.2f ratio_p99=%.2f conn_attached_kb=%.1f conn_detached_kb=%.1f conns=%d list_summaries_p50_ms=%.1f list_summaries_p99_ms=%.1f models=%d access=%d\n",
		us(d50), us(d99), us(b50), us(b99), float64(b50)/float64(d50), float64(b99)/float64(d99),
		attached.perConn(before, nConns), detached.perConn(before, nConns), nConns, ms(l50), ms(l99), nModels, nAccess)
	return nil
}

// memory is the broker's memory at one moment, after a garbage collection.
type memory struct {
	rssKB             int
	heapInuse, stacks float64 // bytes
	heapLive          float64 // bytes of live objects (heap_alloc after a collection)
}

// measure collects garbage in the broker, then reads its memory.
func measure(pid int, metricsAddr string) (memory, error) {
	resp, err := http.Get("http://" + metricsAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return memory{}, fmt.Errorf("collect garbage in the broker: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	m, err := scrape(metricsAddr)
	if err != nil {
		return memory{}, err
	}
	rss, err := rssKB(pid)
	if err != nil {
		return memory{}, err
	}
	return memory{rssKB: rss, heapInuse: m["go_memstats_heap_inuse_bytes"], stacks: m["go_memstats_stack_inuse_bytes"], heapLive: m["go_memstats_heap_alloc_bytes"]}, nil
}

func saveHeapProfile(metricsAddr, path string) error {
	resp, err := http.Get("http://" + metricsAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// awaitParked waits until the broker holds no controller connection for
// the idle connections and has parked n of them.
func awaitParked(metricsAddr string, n int) error {
	deadline := time.Now().Add(detachAfter + time.Minute)
	for {
		m, err := scrape(metricsAddr)
		if err != nil {
			return err
		}
		if m["jimm_proxy_controller_connections"] <= 1 && m["jimm_proxy_parked_connections"] >= float64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s after the connections went idle, the broker still holds %.0f controller connections and has parked %.0f of %d",
				detachAfter+time.Minute, m["jimm_proxy_controller_connections"], m["jimm_proxy_parked_connections"], n)
		}
		time.Sleep(time.Second)
	}
}

// perConn is the Go heap and stacks retained per connection since before.
func (m memory) perConn(before memory, n int) float64 {
	return (m.heapInuse + m.stacks - before.heapInuse - before.stacks) / float64(n) / 1024
}

func (m memory) report(what string, before memory, n int, ok bool) {
	note := ""
	if !ok {
		note = " (some may have detached already: opening took longer than -detach-after)"
	}
	fmt.Printf("%s: %.1f KB per connection retained (Go heap %.1f KB + stacks %.1f KB); RSS %.1f MB -> %.1f MB, %.1f KB per connection%s\n",
		what, m.perConn(before, n), (m.heapInuse-before.heapInuse)/float64(n)/1024, (m.stacks-before.stacks)/float64(n)/1024,
		float64(before.rssKB)/1024, float64(m.rssKB)/1024, float64(m.rssKB-before.rssKB)/float64(n), note)
}

// scrape reads the broker's unlabelled gauges from its metrics endpoint.
func scrape(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("read broker metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out, sc.Err()
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

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func rssKB(pid int) (int, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.Fields(v)[0])
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// raiseFDLimit lifts this process's (and so its children's) open-file
// limit as far as allowed: 10,000 proxied connections are 20,000 sockets in
// the broker. It returns the limit in force.
func raiseFDLimit() int {
	want := syscall.Rlimit{Cur: 200000, Max: 200000}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
		var lim syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
			lim.Cur = lim.Max
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return int(lim.Cur)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func createDatabase(ctx context.Context, server string) (name, dsn string, drop func(), err error) {
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return "", "", nil, err
	}
	b := make([]byte, 4)
	rand.Read(b)
	name = "jimm_bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", "", nil, err
	}
	u.Path = "/" + name
	return name, u.String(), func() {
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}, nil
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

type jimmd struct {
	cmd  *exec.Cmd
	done chan struct{}
}

var jimmdLine = regexp.MustCompile(`^jimmd \S+ listening on `)

func startJimmd(ctx context.Context, bin, dir string, env []string) (*jimmd, error) {
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	j := &jimmd{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(j.done) }()
	lines := bufio.NewScanner(out)
	ready := make(chan bool, 1)
	go func() {
		for lines.Scan() {
			if jimmdLine.MatchString(lines.Text()) {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			return nil, fmt.Errorf("jimmd exited before listening")
		}
	case <-time.After(60 * time.Second):
		j.stop()
		return nil, fmt.Errorf("jimmd did not start within 60s")
	}
	return j, nil
}

func (j *jimmd) stop() {
	j.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-j.done:
	case <-time.After(10 * time.Second):
		j.cmd.Process.Kill()
		<-j.done
	}
}
