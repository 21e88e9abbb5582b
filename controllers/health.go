package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/prometheus/client_golang/prometheus"
)

// Health check defaults and limits.
const (
	DefaultHealthInterval = 2 * time.Second
	MaxHealthInterval     = 5 * time.Second
	DefaultPingTimeout    = 2 * time.Second
)

// HealthConfig configures a Health.
type HealthConfig struct {
	// Interval is the time between two pings of one controller. Default
	// DefaultHealthInterval; at most MaxHealthInterval.
	Interval time.Duration
	// Timeout bounds each check: getting the pool's client (connecting if
	// need be) and the ping. Default DefaultPingTimeout.
	Timeout time.Duration
	// Pool provides the connections pinged. Required.
	Pool *Pool
	// Logger receives transitions. Default: discard.
	Logger *slog.Logger
	// OnChange, if set, is called on each transition, including the first
	// check's result. Calls for one controller are made one at a time, from
	// its checker goroutine (so a slow OnChange delays that controller's
	// next ping); one may still arrive while Untrack is returning.
	OnChange func(name string, up bool)
	// Metrics, if set, receives each check's result.
	Metrics *HealthMetrics
}

// Status is what Health knows of one controller.
type Status struct {
	// Up tells whether the last check succeeded.
	Up bool
	// Since is when the controller went up or down (the first check, for
	// the state it started in).
	Since time.Time
	// LastCheck is when the last check completed.
	LastCheck time.Time
	// LastPing is the round trip of the last successful ping, or how long
	// the last failed check took.
	LastPing time.Duration
	// LastError is why the last check failed; "" when up.
	LastError string
}

// Health pings every tracked controller every Interval, each on its own
// goroutine so that a controller that does not answer delays no other. A
// controller is down after one failed check (cannot connect, cannot log
// in, ping fails or times out) and up after one successful check. After a
// failed ping the pool's client is discarded, so the next check connects
// anew.
type Health struct {
	cfg HealthConfig
	log *slog.Logger

	mu      sync.Mutex
	tracked map[string]*tracker
	runCtx  context.Context // nil unless Run is running and not stopping
	running bool            // from Run's start until it returns
	wg      sync.WaitGroup
}

type tracker struct {
	name    string
	cancel  context.CancelFunc // stops its checker; nil when none runs
	checked bool
	status  Status
}

// NewHealth returns a Health; call Track for each controller and Run.
func NewHealth(cfg HealthConfig) (*Health, error) {
	if cfg.Pool == nil {
		return nil, errors.New("health: a pool is required")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultHealthInterval
	}
	if cfg.Interval < 0 || cfg.Interval > MaxHealthInterval {
		return nil, fmt.Errorf("health: interval %s out of range: it must be positive and at most %s, so that a controller that dies is seen down quickly", cfg.Interval, MaxHealthInterval)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultPingTimeout
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("health: negative ping timeout %s", cfg.Timeout)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Health{cfg: cfg, log: log, tracked: map[string]*tracker{}}, nil
}

// Track starts checking the named controller (at once if Run is running,
// else when it starts). Tracking a controller already tracked does nothing.
func (h *Health) Track(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.tracked[name]; ok {
		return
	}
	t := &tracker{name: name}
	h.tracked[name] = t
	if h.runCtx != nil {
		h.startLocked(t)
	}
}

// Untrack stops checking the named controller and forgets its status and
// metrics.
func (h *Health) Untrack(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.tracked[name]
	if !ok {
		return
	}
	delete(h.tracked, name)
	if t.cancel != nil {
		t.cancel()
	}
	if m := h.cfg.Metrics; m != nil {
		m.Up.DeleteLabelValues(name)
		m.PingDuration.DeleteLabelValues(name)
	}
}

// Run checks the tracked controllers until ctx ends, then waits for the
// checks in flight and returns nil. Statuses are kept (and go stale) after
// Run returns. Run fails if it is already running.
func (h *Health) Run(ctx context.Context) error {
	h.mu.Lock()
	if h.running {
		h.mu.Unlock()
		return errors.New("health: already running")
	}
	h.running, h.runCtx = true, ctx
	for _, t := range h.tracked {
		h.startLocked(t)
	}
	h.mu.Unlock()

	<-ctx.Done()

	h.mu.Lock()
	h.runCtx = nil
	for _, t := range h.tracked {
		t.cancel = nil // ended with ctx
	}
	h.mu.Unlock()
	h.wg.Wait()
	h.mu.Lock()
	h.running = false
	h.mu.Unlock()
	return nil
}

// startLocked starts t's checker. The caller holds h.mu.
func (h *Health) startLocked(t *tracker) {
	ctx, cancel := context.WithCancel(h.runCtx)
	t.cancel = cancel
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer cancel()
		h.loop(ctx, t)
	}()
}

// loop checks at once, then every Interval. A check that outlasts the
// interval delays the next one rather than overlapping it.
func (h *Health) loop(ctx context.Context, t *tracker) {
	ticker := time.NewTicker(h.cfg.Interval)
	defer ticker.Stop()
	for {
		h.check(ctx, t)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// check pings one controller once and records the result.
func (h *Health) check(ctx context.Context, t *tracker) {
	pctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	start := time.Now()
	var rtt time.Duration
	c, err := h.cfg.Pool.Get(pctx, t.name)
	if err == nil {
		pingStart := time.Now()
		err = c.Ping(pctx)
		rtt = time.Since(pingStart)
		if err != nil && jujuapi.ErrorCode(err) == "" {
			// No answer, or the connection broke: make the next check
			// connect again rather than wait on this connection.
			h.cfg.Pool.Discard(t.name, c)
		}
	}
	if ctx.Err() != nil {
		return // untracked or stopping: the result means nothing
	}
	if err != nil {
		rtt = time.Since(start)
	}
	h.record(t, err, rtt)
}

// record stores a check's result and reports a transition.
func (h *Health) record(t *tracker, err error, rtt time.Duration) {
	up := err == nil
	now := time.Now()
	h.mu.Lock()
	if h.tracked[t.name] != t {
		h.mu.Unlock()
		return // untracked meanwhile
	}
	changed := !t.checked || t.status.Up != up
	first := !t.checked
	t.checked = true
	if changed {
		t.status.Since = now
	}
	t.status.Up, t.status.LastCheck, t.status.LastPing, t.status.LastError = up, now, rtt, ""
	if err != nil {
		t.status.LastError = err.Error()
	}
	if m := h.cfg.Metrics; m != nil {
		if up {
			m.Up.WithLabelValues(t.name).Set(1)
			m.PingDuration.WithLabelValues(t.name).Observe(rtt.Seconds())
		} else {
			m.Up.WithLabelValues(t.name).Set(0)
		}
	}
	h.mu.Unlock()

	if !changed {
		return
	}
	switch {
	case up && first:
		h.log.Info("controller up", "controller", t.name, "ping", rtt)
	case up:
		h.log.Info("controller up again", "controller", t.name, "ping", rtt)
	default:
		h.log.Warn("controller down", "controller", t.name, "err", err)
	}
	if h.cfg.OnChange != nil {
		h.cfg.OnChange(t.name, up)
	}
}

// Status returns the named controller's status; ok is false when it is not
// tracked or not checked yet.
func (h *Health) Status(name string) (s Status, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, tracked := h.tracked[name]
	if !tracked || !t.checked {
		return Status{}, false
	}
	return t.status, true
}

// Up reports whether the named controller is tracked and its last check
// succeeded.
func (h *Health) Up(name string) bool {
	s, ok := h.Status(name)
	return ok && s.Up
}

// HealthMetrics are the Prometheus collectors Health updates.
type HealthMetrics struct {
	// Up is jimm_controller_up{controller}: 1 when the last check
	// succeeded, 0 when it failed.
	Up *prometheus.GaugeVec
	// PingDuration is jimm_controller_ping_duration_seconds{controller}:
	// the round trip of successful pings.
	PingDuration *prometheus.HistogramVec
}

// NewHealthMetrics creates the health collectors and registers them with
// reg (unless reg is nil).
func NewHealthMetrics(reg prometheus.Registerer) (*HealthMetrics, error) {
	m := &HealthMetrics{
		Up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jimm_controller_up",
			Help: "Whether the controller answered its last health check (1) or not (0).",
		}, []string{"controller"}),
		PingDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jimm_controller_ping_duration_seconds",
			Help:    "Round trip of successful health-check pings to the controller.",
			Buckets: prometheus.ExponentialBucketsRange(1e-5, 10, 16),
		}, []string{"controller"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Up, m.PingDuration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register controller health metrics: %w", err)
			}
		}
	}
	return m, nil
}
