// Command devbench measures a development controller with the real Juju Go
// client: Ping round trips (sequential latency and parallel throughput) and
// the memory an idle, logged-in API connection costs the controller.
//
// Run it from the integration module:
//
//	go run ./cmd/devbench [-n 20000] [-parallel 8] [-conns 5000] [-bin path]
//
// It starts its own devcontroller (built from ../cmd/devcontroller unless
// -bin or $JIMM_DEVCONTROLLER_BIN names one) on a temporary data directory,
// prints human-readable figures, and ends with one machine-readable line:
//
//	devbench: ping_p50_us=... ping_p99_us=... ping_rps=... parallel_rps=... idle_conn_kb=... conns=...
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devbench:", err)
		os.Exit(1)
	}
}

type config struct {
	n, warmup, parallel, conns, openParallel int
	settle                                   time.Duration
	bin                                      string
}

func run() error {
	var cfg config
	flag.IntVar(&cfg.n, "n", 20000, "Ping round trips in the sequential run, and per connection in the parallel run")
	flag.IntVar(&cfg.warmup, "warmup", 1000, "Ping round trips before measuring, per connection")
	flag.IntVar(&cfg.parallel, "parallel", 8, "goroutines (each with its own connection) in the parallel Ping run")
	flag.IntVar(&cfg.conns, "conns", 5000, "idle connections opened to measure memory per connection (0 to skip)")
	flag.IntVar(&cfg.openParallel, "open-parallel", 32, "connections opened at once in the memory run")
	flag.DurationVar(&cfg.settle, "settle", 2*time.Second, "wait before each memory reading")
	flag.StringVar(&cfg.bin, "bin", "", "devcontroller binary (default: $"+devproc.BinEnv+", else built from ../cmd/devcontroller)")
	flag.Parse()
	if cfg.n <= 0 || cfg.parallel <= 0 || cfg.openParallel <= 0 || cfg.warmup < 0 || cfg.conns < 0 {
		return errors.New("-n, -parallel and -open-parallel must be positive; -warmup and -conns not negative")
	}

	if soft, hard, err := raiseFileLimit(); err != nil {
		fmt.Printf("warning: cannot raise the open-file limit (%d, hard %d): %v\n", soft, hard, err)
	} else if need := uint64(cfg.conns + cfg.parallel + 256); soft < need {
		fmt.Printf("warning: open-file limit %d may be too low for %d connections\n", soft, cfg.conns)
	}

	tmp, err := os.MkdirTemp("", "devbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	bin := cfg.bin
	if bin == "" {
		fmt.Println("building devcontroller...")
		if bin, err = devproc.Build(ctx, tmp); err != nil {
			return err
		}
	}
	const password = "devbench-secret"
	ctl, err := devproc.Start(ctx, devproc.Options{
		Bin: bin, Name: "bench", DataDir: tmp + "/data", AdminPassword: password,
		Args: []string{"--log-level", "warn"},
		// gctrace lets us report the controller's live Go heap.
		Env: []string{"GODEBUG=gctrace=1"},
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := ctl.Stop(15 * time.Second); err != nil {
			fmt.Printf("warning: controller shutdown: %v\n", err)
		}
	}()
	fmt.Printf("controller %s (%s) at %s, pid %d, binary %s\n", ctl.File.Name, ctl.UUID, ctl.Addr, ctl.Pid(), bin)

	open := func() (api.Connection, error) {
		return api.Open(&api.Info{
			Addrs: []string{ctl.Addr}, CACert: ctl.File.CACert,
			Tag: names.NewUserTag("admin"), Password: password,
		}, api.DialOpts{Timeout: time.Minute})
	}
	main, err := open()
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer main.Close()

	// Sequential pings on one connection.
	if err := pings(main, cfg.warmup, nil); err != nil {
		return err
	}
	lat := make([]time.Duration, cfg.n)
	start := time.Now()
	if err := pings(main, cfg.n, lat); err != nil {
		return err
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	seqRPS := float64(cfg.n) / elapsed.Seconds()
	p50, p90, p99 := pct(lat, 50), pct(lat, 90), pct(lat, 99)
	fmt.Printf("ping, sequential on 1 connection: %d round trips in %s = %.0f round trips/s; latency p50 %.0fµs, p90 %.0fµs, p99 %.0fµs, max %.0fµs\n",
		cfg.n, elapsed.Round(time.Millisecond), seqRPS, us(p50), us(p90), us(p99), us(lat[len(lat)-1]))

	// Parallel pings, one connection per goroutine.
	par := make([]api.Connection, cfg.parallel)
	for i := range par {
		if par[i], err = open(); err != nil {
			return fmt.Errorf("login for the parallel run: %w", err)
		}
		if err := pings(par[i], cfg.warmup, nil); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, cfg.parallel)
	start = time.Now()
	for i, conn := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pings(conn, cfg.n, nil)
		}()
	}
	wg.Wait()
	elapsed = time.Since(start)
	for _, c := range par {
		c.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	total := cfg.n * cfg.parallel
	parRPS := float64(total) / elapsed.Seconds()
	fmt.Printf("ping, %d goroutines on %d connections: %d round trips in %s = %.0f round trips/s\n",
		cfg.parallel, cfg.parallel, total, elapsed.Round(time.Millisecond), parRPS)

	// Memory per idle connection.
	var perConnKB float64
	if cfg.conns > 0 {
		perConnKB, err = idleMemory(cfg, ctl, open)
		if err != nil {
			return err
		}
	}
	fmt.Printf("devbench: ping_p50_us=%.0f ping_p99_us=%.0f ping_rps=%.0f parallel_rps=%.0f idle_conn_kb=%.1f conns=%d\n",
		us(p50), us(p99), seqRPS, parRPS, perConnKB, cfg.conns)
	return nil
}

// pings makes n Pinger.Ping calls, recording each latency in lat when given.
func pings(conn api.Connection, n int, lat []time.Duration) error {
	for i := range n {
		t0 := time.Now()
		if err := conn.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		if lat != nil {
			lat[i] = time.Since(t0)
		}
	}
	return nil
}

func idleMemory(cfg config, ctl *devproc.Process, open func() (api.Connection, error)) (float64, error) {
	time.Sleep(cfg.settle)
	before, err := readStatus(ctl.Pid())
	if err != nil {
		return 0, err
	}
	conns := make([]api.Connection, cfg.conns)
	var (
		next   atomic.Int64
		failed atomic.Pointer[error]
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range cfg.openParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(conns) {
					return
				}
				c, err := open()
				if err != nil {
					err = fmt.Errorf("opening connection %d of %d: %w", i+1, len(conns), err)
					failed.CompareAndSwap(nil, &err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	openTime := time.Since(start)
	defer closeAll(conns)
	if err := failed.Load(); err != nil {
		return 0, *err
	}
	fmt.Printf("opened %d connections (api.Open + login as admin, %d at a time) in %s = %.0f logins/s\n",
		cfg.conns, cfg.openParallel, openTime.Round(time.Millisecond), float64(cfg.conns)/openTime.Seconds())
	time.Sleep(cfg.settle)
	after, err := readStatus(ctl.Pid())
	if err != nil {
		return 0, err
	}
	broken := 0
	for _, c := range conns {
		select {
		case <-c.Broken():
			broken++
		default:
		}
	}
	if broken > 0 {
		return 0, fmt.Errorf("%d of %d idle connections broke", broken, len(conns))
	}
	grown := float64(after.rssKB - before.rssKB)
	perConn := grown / float64(cfg.conns)
	fmt.Printf("idle connections: controller RSS %.1f MB with 1 client, %.1f MB with %d more: +%.1f MB total, %.1f KB per connection (anonymous memory +%.1f MB, %.1f KB per connection; threads %d -> %d)\n",
		mb(before.rssKB), mb(after.rssKB), cfg.conns, grown/1024, perConn,
		float64(after.anonKB-before.anonKB)/1024, float64(after.anonKB-before.anonKB)/float64(cfg.conns), before.threads, after.threads)
	if gc, ok := lastGC(ctl.Output()); ok {
		fmt.Printf("controller Go heap at its last GC (gc %s, %ss after start; GODEBUG=gctrace=1): %s MB live, %s MB goal, %s MB goroutine stacks\n",
			gc[1], gc[2], gc[3], gc[4], gc[5])
	}
	closeAll(conns)
	time.Sleep(cfg.settle)
	if end, err := readStatus(ctl.Pid()); err == nil {
		fmt.Printf("after closing them: controller RSS %.1f MB (the Go runtime returns freed memory to the OS lazily)\n", mb(end.rssKB))
	}
	return perConn, nil
}

func closeAll(conns []api.Connection) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, c := range conns {
		if c == nil {
			continue
		}
		conns[i] = nil
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.Close()
		}()
	}
	wg.Wait()
}

type procStatus struct {
	rssKB, anonKB int64
	threads       int64
}

// readStatus reads VmRSS, RssAnon and Threads from /proc/<pid>/status.
func readStatus(pid int) (procStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, fmt.Errorf("controller memory: %w", err)
	}
	defer f.Close()
	var st procStatus
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			st.rssKB = n
		case "RssAnon":
			st.anonKB = n
		case "Threads":
			st.threads = n
		}
	}
	if st.rssKB == 0 {
		return st, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return st, sc.Err()
}

// gcLine matches a gctrace line: GC number, seconds since start, live heap,
// heap goal and stacks (MB).
var gcLine = regexp.MustCompile(`gc (\d+) @([0-9.]+)s [^\n]* \d+->\d+->(\d+) MB, (\d+) MB goal, (\d+) MB stacks`)

// lastGC returns the submatches of the last gctrace line in output.
func lastGC(output string) ([]string, bool) {
	all := gcLine.FindAllStringSubmatch(output, -1)
	if len(all) == 0 {
		return nil, false
	}
	return all[len(all)-1], true
}

// raiseFileLimit raises the soft open-file limit to the hard one; the
// controller, started after, inherits it.
func raiseFileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return lim.Cur, lim.Max, err
		}
	}
	return lim.Cur, lim.Max, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func mb(kb int64) float64        { return float64(kb) / 1024 }
