package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/devcontroller"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const adminPassword = "test-admin-password"

// testLogger discards logs unless JIMM_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("JIMM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testController is an in-process development controller that a test can
// stop and start again on the same address with the same state.
type testController struct {
	t   *testing.T
	cfg devcontroller.Config

	mu     sync.Mutex
	ctl    *devcontroller.Controller
	cancel context.CancelFunc
	done   chan error
}

// startController runs a development controller on a free port until the
// test ends.
func startController(t *testing.T, name string, regions ...string) *testController {
	t.Helper()
	if len(regions) == 0 {
		regions = []string{"r1", "r2"}
	}
	tc := &testController{t: t, cfg: devcontroller.Config{
		Name: name, Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		Cloud: "localhost", CloudType: "lxd", Regions: regions,
		AdminPassword: adminPassword, ModelDestroyDelay: time.Minute, Logger: testLogger(),
	}}
	tc.start()
	// After the first start, restarts reuse the address.
	tc.cfg.Listen = tc.ctl.Addr()
	t.Cleanup(tc.stop)
	return tc
}

func (tc *testController) start() {
	tc.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		c   *devcontroller.Controller
		err error
	)
	// The old listener's port is normally free at once; allow a moment.
	for range 50 {
		c, err = devcontroller.New(ctx, tc.cfg)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		cancel()
		tc.t.Fatalf("start controller %s: %v", tc.cfg.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()
	tc.mu.Lock()
	tc.ctl, tc.cancel, tc.done = c, cancel, done
	tc.mu.Unlock()
}

// stop stops the controller and waits until it has closed its listener,
// connections and state. Stopping a stopped controller does nothing.
func (tc *testController) stop() {
	tc.mu.Lock()
	cancel, done := tc.cancel, tc.done
	tc.cancel, tc.done = nil, nil
	tc.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	if err := <-done; err != nil {
		tc.t.Errorf("controller %s: serve: %v", tc.cfg.Name, err)
	}
}

// restart starts the controller again on the same address and data dir.
func (tc *testController) restart() {
	tc.t.Helper()
	tc.stop()
	tc.start()
}

func (tc *testController) name() string  { return tc.cfg.Name }
func (tc *testController) cloud() string { return tc.cfg.Cloud }

func (tc *testController) uuid() string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.ctl.UUID()
}

func (tc *testController) addr() string { return tc.cfg.Listen }

func (tc *testController) endpoint() Endpoint {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return Endpoint{Name: tc.cfg.Name, UUID: tc.ctl.UUID(), Addresses: []string{tc.ctl.Addr()}, CACert: string(tc.ctl.CACertPEM())}
}

func adminCreds() Credentials { return Credentials{User: "admin", Password: adminPassword} }

// connect logs in as admin; the client is closed when the test ends.
func mustConnect(t *testing.T, tc *testController) *Client {
	t.Helper()
	c, err := Connect(t.Context(), tc.endpoint(), adminCreds(), jujuapi.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// deadAddr returns an address on which nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// eventually polls cond every 10ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// silentListener returns an address that accepts TCP connections and never
// sends a byte.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func slogToBuilder(b *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, nil))
}

func jujuapiConnOptions() jujuapi.ConnOptions { return jujuapi.ConnOptions{} }

// toFloat64 and collectAndCount do what prometheus/testutil's functions of
// the same names do. testutil itself needs github.com/kylelemons/godebug,
// which go.mod does not list.
func toFloat64(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	var ms []prometheus.Metric
	for m := range ch {
		ms = append(ms, m)
	}
	if len(ms) != 1 {
		panic(fmt.Sprintf("collected %d metrics, want 1", len(ms)))
	}
	var pb dto.Metric
	if err := ms[0].Write(&pb); err != nil {
		panic(err)
	}
	switch {
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	case pb.Counter != nil:
		return pb.Counter.GetValue()
	case pb.Untyped != nil:
		return pb.Untyped.GetValue()
	}
	panic("not a gauge, counter or untyped metric")
}

func collectAndCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

// freezableProxy forwards TCP connections to a target; frozen, it stops
// forwarding bytes (in both directions, on every connection) without
// closing anything, as a network partition does.
type freezableProxy struct {
	addr string

	mu     sync.Mutex
	frozen bool
	thawed *sync.Cond
}

func newFreezableProxy(t *testing.T, target string) *freezableProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezableProxy{addr: l.Addr().String()}
	p.thawed = sync.NewCond(&p.mu)
	var (
		cmu   sync.Mutex
		conns []net.Conn
	)
	track := func(c net.Conn) {
		cmu.Lock()
		conns = append(conns, c)
		cmu.Unlock()
	}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			track(in)
			track(out)
			go p.pipe(out, in)
			go p.pipe(in, out)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		p.freeze(false)
		cmu.Lock()
		defer cmu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return p
}

func (p *freezableProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.frozen {
				p.thawed.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *freezableProxy) freeze(on bool) {
	p.mu.Lock()
	p.frozen = on
	p.mu.Unlock()
	p.thawed.Broadcast()
}

func TestMain(m *testing.M) {
	// The development controller's certificate code logs through the
	// default logger, not Config.Logger.
	slog.SetDefault(testLogger())
	os.Exit(m.Run())
}
