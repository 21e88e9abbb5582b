// Package benchenv is what the benchmark commands share: a database of
// their own on a PostgreSQL server, jimmd started from a binary, a
// development controller registered with it, and reading the broker's
// memory and metrics.
package benchenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/integration/internal/devproc"
)

// Memory is the broker's Memory at one moment, after a garbage collection.
type Memory struct {
	RSSKB             int
	HeapInuse, Stacks float64 // bytes
	HeapLive          float64 // bytes of live objects (heap_alloc after a collection)
}

// Measure collects garbage in the broker, then reads its Memory.
func Measure(pid int, metricsAddr string) (Memory, error) {
	resp, err := http.Get("http://" + metricsAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return Memory{}, fmt.Errorf("collect garbage in the broker: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	m, err := Scrape(metricsAddr)
	if err != nil {
		return Memory{}, err
	}
	rss, err := RSSKB(pid)
	if err != nil {
		return Memory{}, err
	}
	return Memory{RSSKB: rss, HeapInuse: m["go_memstats_heap_inuse_bytes"], Stacks: m["go_memstats_stack_inuse_bytes"], HeapLive: m["go_memstats_heap_alloc_bytes"]}, nil
}

// SaveHeapProfile saves the broker's heap profile, after a garbage
// collection, to path.
func SaveHeapProfile(metricsAddr, path string) error {
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

// PerConn is the Go heap and Stacks retained per connection since before.
func (m Memory) PerConn(before Memory, n int) float64 {
	return (m.HeapInuse + m.Stacks - before.HeapInuse - before.Stacks) / float64(n) / 1024
}

// Report prints m against before for n connections (ok false notes that
// some may have detached already).
func (m Memory) Report(what string, before Memory, n int, ok bool) {
	note := ""
	if !ok {
		note = " (some may have detached already: opening took longer than -detach-after)"
	}
	fmt.Printf("%s: %.1f KB per connection retained (Go heap %.1f KB + Stacks %.1f KB); RSS %.1f MB -> %.1f MB, %.1f KB per connection%s\n",
		what, m.PerConn(before, n), (m.HeapInuse-before.HeapInuse)/float64(n)/1024, (m.Stacks-before.Stacks)/float64(n)/1024,
		float64(before.RSSKB)/1024, float64(m.RSSKB)/1024, float64(m.RSSKB-before.RSSKB)/float64(n), note)
}

// Scrape reads the broker's unlabelled gauges from its metrics endpoint.
func Scrape(addr string) (map[string]float64, error) {
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

// Pct is the p-th percentile of sorted durations.
func Pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// US and MS give a duration in microseconds and milliseconds.
func US(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func MS(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// RSSKB is process pid's resident set, in KB.
func RSSKB(pid int) (int, error) {
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

// RaiseFDLimit lifts this process's (and so its children's) open-file
// limit as far as allowed: 10,000 proxied connections are 20,000 sockets in
// the broker. It returns the limit in force.
func RaiseFDLimit() int {
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

// FreePort is a TCP port free on 127.0.0.1 now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CreateDatabase creates a database of its own on the PostgreSQL server
// DSN server and returns its name, its DSN and how to drop it.
func CreateDatabase(ctx context.Context, server string) (name, dsn string, drop func(), err error) {
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

// Jimmd is a running jimmd.
type Jimmd struct {
	Cmd  *exec.Cmd
	done chan struct{}
}

var jimmdLine = regexp.MustCompile(`^jimmd \S+ listening on `)

// StartJimmd starts bin serve with env added to this process's, and waits
// until it listens.
func StartJimmd(ctx context.Context, bin, dir string, env []string) (*Jimmd, error) {
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
	j := &Jimmd{Cmd: cmd, done: make(chan struct{})}
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
		j.Stop()
		return nil, fmt.Errorf("jimmd did not start within 60s")
	}
	return j, nil
}

// Stop stops jimmd with SIGTERM, killing it after 10 s.
func (j *Jimmd) Stop() {
	j.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-j.done:
	case <-time.After(10 * time.Second):
		j.Cmd.Process.Kill()
		<-j.done
	}
}

// AddController registers a controller from its controller.yaml through
// the broker's REST API, as jimmctl add-controller does.
func AddController(ctx context.Context, brokerAddr string, ca []byte, password, file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	body, _ := json.Marshal(doc)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+brokerAddr+"/v1/controllers", bytes.NewReader(body))
	req.SetBasicAuth("admin", password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("add controller: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("add controller: %s: %s", resp.Status, msg)
	}
	return nil
}

// Build builds jimmd and devcontroller into dir from the jimm module,
// unless jimmdBin or ctlBin names one already; it returns their paths.
func Build(ctx context.Context, dir, jimmdBin, ctlBin string) (string, string, error) {
	root, err := devproc.RepoRoot()
	if err != nil {
		return "", "", err
	}
	if jimmdBin == "" {
		jimmdBin = filepath.Join(dir, "jimmd")
		build := exec.CommandContext(ctx, "go", "build", "-o", jimmdBin, "./cmd/jimmd")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("build jimmd: %v\n%s", err, out)
		}
	}
	if ctlBin == "" {
		if ctlBin, err = devproc.Build(ctx, dir); err != nil {
			return "", "", err
		}
	}
	return jimmdBin, ctlBin, nil
}
