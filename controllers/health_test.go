package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// changes records OnChange calls.
type changes struct {
	mu sync.Mutex
	by map[string][]bool
}

func (c *changes) record(name string, up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = map[string][]bool{}
	}
	c.by[name] = append(c.by[name], up)
}

func (c *changes) of(name string) []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.by[name])
}

// runHealth runs h until the test ends.
func runHealth(t *testing.T, h *Health) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("health run: %v", err)
		}
	})
}

func TestHealthDownAndUp(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	b := startController(t, "ctl-b")
	pool := newTestPool(t, newResolver(a, b))
	reg := prometheus.NewPedanticRegistry()
	metrics, err := NewHealthMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var ch changes
	h, err := NewHealth(HealthConfig{Interval: 200 * time.Millisecond, Timeout: 500 * time.Millisecond,
		Pool: pool, Logger: testLogger(), OnChange: ch.record, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	h.Track("ctl-a")
	runHealth(t, h)
	h.Track("ctl-b") // tracked while running
	h.Track("ctl-b") // twice is once

	up := func(name string) float64 { return toFloat64(metrics.Up.WithLabelValues(name)) }
	eventually(t, time.Second, "both up", func() bool { return h.Up("ctl-a") && h.Up("ctl-b") })
	if up("ctl-a") != 1 || up("ctl-b") != 1 {
		t.Fatalf("gauge: a=%v b=%v, want 1 1", up("ctl-a"), up("ctl-b"))
	}
	st, ok := h.Status("ctl-a")
	if !ok || !st.Up || st.LastError != "" || st.Since.IsZero() || st.LastPing <= 0 || st.LastPing > time.Second {
		t.Fatalf("status of a: %+v, %v", st, ok)
	}
	upSince := st.Since

	// b must stay up the whole time; watch it on the side.
	stopWatch := make(chan struct{})
	watchDone := make(chan string, 1)
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond):
				if !h.Up("ctl-b") {
					watchDone <- "ctl-b went down while ctl-a was stopped"
					return
				}
			}
		}
	}()

	stopped := time.Now()
	a.stop()
	took := eventually(t, time.Second, "ctl-a down", func() bool { return !h.Up("ctl-a") })
	t.Logf("ctl-a seen down %s after it stopped", took)
	st, ok = h.Status("ctl-a")
	if !ok || st.Up || st.LastError == "" || !st.Since.After(upSince) || st.Since.Before(stopped) {
		t.Fatalf("status of a while down: %+v", st)
	}
	if !strings.Contains(st.LastError, `"ctl-a"`) {
		t.Fatalf("last error %q does not name the controller", st.LastError)
	}
	if up("ctl-a") != 0 {
		t.Fatalf("gauge of a %v while down, want 0", up("ctl-a"))
	}
	// It stays down, and OnChange is not called again.
	time.Sleep(500 * time.Millisecond)
	if h.Up("ctl-a") {
		t.Fatal("ctl-a up while stopped")
	}

	a.restart()
	took = eventually(t, time.Second, "ctl-a up again", func() bool { return h.Up("ctl-a") })
	t.Logf("ctl-a seen up %s after it restarted", took)
	if up("ctl-a") != 1 {
		t.Fatalf("gauge of a %v after restart, want 1", up("ctl-a"))
	}
	time.Sleep(300 * time.Millisecond) // a few more checks: no more transitions

	close(stopWatch)
	if msg, bad := <-watchDone; bad {
		t.Fatal(msg)
	}
	if got := ch.of("ctl-a"); !slices.Equal(got, []bool{true, false, true}) {
		t.Fatalf("OnChange for ctl-a: %v, want [true false true]", got)
	}
	if got := ch.of("ctl-b"); !slices.Equal(got, []bool{true}) {
		t.Fatalf("OnChange for ctl-b: %v, want [true]", got)
	}
	if n := collectAndCount(metrics.PingDuration); n != 2 {
		t.Fatalf("%d ping duration series, want 2", n)
	}
	// What a scrape of the registry shows.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var scraped []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var v float64
			switch {
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				v = float64(m.GetHistogram().GetSampleCount())
				if v > 0 {
					v = 1 // some samples
				}
			}
			scraped = append(scraped, fmt.Sprintf("%s{%s=%s} %v", f.GetName(), m.GetLabel()[0].GetName(), m.GetLabel()[0].GetValue(), v))
		}
	}
	slices.Sort(scraped)
	want := []string{
		"jimm_controller_ping_duration_seconds{controller=ctl-a} 1",
		"jimm_controller_ping_duration_seconds{controller=ctl-b} 1",
		"jimm_controller_up{controller=ctl-a} 1",
		"jimm_controller_up{controller=ctl-b} 1",
	}
	if !slices.Equal(scraped, want) {
		t.Fatalf("scrape:\n%s\nwant:\n%s", strings.Join(scraped, "\n"), strings.Join(want, "\n"))
	}

	h.Untrack("ctl-a")
	if _, ok := h.Status("ctl-a"); ok || h.Up("ctl-a") {
		t.Fatal("status of an untracked controller")
	}
	if n := collectAndCount(metrics.Up); n != 1 {
		t.Fatalf("%d up series after Untrack, want 1", n)
	}
	if n := collectAndCount(metrics.PingDuration); n != 1 {
		t.Fatalf("%d ping duration series after Untrack, want 1", n)
	}
	time.Sleep(300 * time.Millisecond) // no checker resurrects it
	if n := collectAndCount(metrics.Up); n != 1 || len(ch.of("ctl-a")) != 3 {
		t.Fatalf("after Untrack: %d series, changes %v", n, ch.of("ctl-a"))
	}
}

// TestHealthUnresponsiveController checks a controller that accepts
// connections and never answers, alongside one that works: the silent one
// is down within Timeout, the other stays up.
func TestHealthUnresponsiveController(t *testing.T) {
	t.Parallel()
	b := startController(t, "ctl-b")
	r := newResolver(b)
	silent := silentListener(t)
	r.ctls["ctl-silent"] = b
	r.creds["ctl-silent"] = adminCreds()
	pool := NewPool(func(ctx context.Context, name string) (Endpoint, Credentials, error) {
		e, c, err := r.resolve(ctx, name)
		if name == "ctl-silent" {
			e.Name, e.Addresses = name, []string{silent}
		}
		return e, c, err
	}, jujuapiConnOptions(), testLogger())
	t.Cleanup(pool.Close)
	h, err := NewHealth(HealthConfig{Interval: 200 * time.Millisecond, Timeout: 300 * time.Millisecond, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	h.Track("ctl-b")
	h.Track("ctl-silent")
	runHealth(t, h)
	eventually(t, time.Second, "checked", func() bool {
		_, ok1 := h.Status("ctl-b")
		_, ok2 := h.Status("ctl-silent")
		return ok1 && ok2
	})
	st, _ := h.Status("ctl-silent")
	if st.Up || !strings.Contains(st.LastError, "deadline exceeded") {
		t.Fatalf("silent controller: %+v", st)
	}
	for range 5 {
		if !h.Up("ctl-b") {
			t.Fatal("ctl-b down: the silent controller delays it")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNewHealthConfig(t *testing.T) {
	t.Parallel()
	pool := NewPool(newResolver().resolve, jujuapiConnOptions(), nil)
	t.Cleanup(pool.Close)
	tests := []struct {
		cfg          HealthConfig
		wantErr      string
		wantInterval time.Duration
		wantTimeout  time.Duration
	}{
		{cfg: HealthConfig{Pool: pool}, wantInterval: 2 * time.Second, wantTimeout: 2 * time.Second},
		{cfg: HealthConfig{Pool: pool, Interval: 5 * time.Second, Timeout: time.Second}, wantInterval: 5 * time.Second, wantTimeout: time.Second},
		{cfg: HealthConfig{Pool: pool, Interval: 6 * time.Second}, wantErr: "at most 5s"},
		{cfg: HealthConfig{Pool: pool, Interval: -time.Second}, wantErr: "must be positive"},
		{cfg: HealthConfig{Pool: pool, Timeout: -time.Second}, wantErr: "negative ping timeout"},
		{cfg: HealthConfig{}, wantErr: "pool is required"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			h, err := NewHealth(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.cfg.Interval != tt.wantInterval || h.cfg.Timeout != tt.wantTimeout {
				t.Fatalf("interval %s timeout %s", h.cfg.Interval, h.cfg.Timeout)
			}
		})
	}
}

func TestHealthRunTwice(t *testing.T) {
	t.Parallel()
	pool := NewPool(newResolver().resolve, jujuapiConnOptions(), nil)
	t.Cleanup(pool.Close)
	h, err := NewHealth(HealthConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	runHealth(t, h)
	eventually(t, time.Second, "running", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.running
	})
	if err := h.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Run: %v", err)
	}
}

func TestNewHealthMetricsRegistersOnce(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := NewHealthMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewHealthMetrics(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
	if _, err := NewHealthMetrics(nil); err != nil {
		t.Fatal(err)
	}
}

// TestHealthFrozenConnection checks a controller whose established
// connection stops answering without closing (a network partition): the
// ping times out, the pool's client is discarded, and once the network
// heals the controller is up again on a new connection.
func TestHealthFrozenConnection(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	proxy := newFreezableProxy(t, a.addr())
	r := newResolver(a)
	pool := NewPool(func(ctx context.Context, name string) (Endpoint, Credentials, error) {
		e, c, err := r.resolve(ctx, name)
		e.Addresses = []string{proxy.addr}
		return e, c, err
	}, jujuapiConnOptions(), testLogger())
	t.Cleanup(pool.Close)
	var ch changes
	h, err := NewHealth(HealthConfig{Interval: 200 * time.Millisecond, Timeout: 300 * time.Millisecond, Pool: pool, OnChange: ch.record})
	if err != nil {
		t.Fatal(err)
	}
	h.Track("ctl-a")
	runHealth(t, h)
	eventually(t, time.Second, "up", func() bool { return h.Up("ctl-a") })
	c1, err := pool.Get(t.Context(), "ctl-a")
	if err != nil {
		t.Fatal(err)
	}

	proxy.freeze(true)
	took := eventually(t, 2*time.Second, "down", func() bool { return !h.Up("ctl-a") })
	t.Logf("frozen connection seen down after %s", took)
	select {
	case <-c1.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the frozen client was not discarded")
	}

	proxy.freeze(false)
	took = eventually(t, 2*time.Second, "up again", func() bool { return h.Up("ctl-a") })
	t.Logf("healed connection seen up after %s", took)
	c2, err := pool.Get(t.Context(), "ctl-a")
	if err != nil || c2 == c1 {
		t.Fatalf("after healing: same client %v, %v", c2 == c1, err)
	}
	if got := ch.of("ctl-a"); !slices.Equal(got, []bool{true, false, true}) {
		t.Fatalf("OnChange: %v, want [true false true]", got)
	}
}

// TestHealthTrackChecksAtOnce: a controller tracked while Health runs
// (another replica registered it) is checked at once, not after an
// interval, so that placement can use it at once; tracked again after
// Untrack, it is checked at once again.
func TestHealthTrackChecksAtOnce(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	h, err := NewHealth(HealthConfig{Interval: MaxHealthInterval, Pool: newTestPool(t, newResolver(a)), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	runHealth(t, h)
	for _, when := range []string{"tracked", "tracked again"} {
		h.Track("ctl-a")
		took := eventually(t, MaxHealthInterval/2, "ctl-a "+when+" is up", func() bool { return h.Up("ctl-a") })
		t.Logf("ctl-a %s: up after %s (interval %s)", when, took, MaxHealthInterval)
		h.Untrack("ctl-a")
		if _, ok := h.Status("ctl-a"); ok {
			t.Fatal("Status of an untracked controller")
		}
	}
}
