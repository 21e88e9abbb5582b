package probes

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Check is one condition of readiness. Run returns nil when it holds, or
// an error that says what is wrong. The checks of a run are run in order,
// and one run at a time: a check may use what an earlier one found.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Result is the outcome of one check.
type Result struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Report is what /readyz answers.
type Report struct {
	Ready  bool      `json:"ready"`
	Checks []Result  `json:"checks"`
	At     time.Time `json:"at"`
}

// Defaults.
const (
	// DefaultTimeout bounds one run of the checks.
	DefaultTimeout = 2 * time.Second
	// DefaultMaxAge is how long a report is answered again before the
	// checks run anew.
	DefaultMaxAge = time.Second
)

// Options configure Probes.
type Options struct {
	Checks  []Check
	Timeout time.Duration // DefaultTimeout when 0
	MaxAge  time.Duration // DefaultMaxAge when 0
	Now     func() time.Time
}

// Probes holds a replica's lifecycle state and its readiness checks.
type Probes struct {
	checks  []Check
	timeout time.Duration
	maxAge  time.Duration
	now     func() time.Time

	serving  atomic.Bool
	draining atomic.Bool

	run  sync.Mutex // one run of the checks at a time; callers meanwhile wait for its report
	mu   sync.Mutex
	last *Report
}

// New returns Probes for the checks. The replica is not ready until
// SetServing is called.
func New(opts Options) *Probes {
	p := &Probes{checks: opts.Checks, timeout: opts.Timeout, maxAge: opts.MaxAge, now: opts.Now}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.maxAge <= 0 {
		p.maxAge = DefaultMaxAge
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// SetServing records that the listeners are up and answering.
func (p *Probes) SetServing() {
	p.serving.Store(true)
	p.forget()
}

// StartDrain records that the replica is shutting down: it is not ready
// from now on, whatever its checks say.
func (p *Probes) StartDrain() {
	p.draining.Store(true)
	p.forget()
}

// Draining reports whether StartDrain was called.
func (p *Probes) Draining() bool { return p.draining.Load() }

func (p *Probes) forget() {
	p.mu.Lock()
	p.last = nil
	p.mu.Unlock()
}

// Ready runs the checks (or answers the last report, if younger than the
// maximum age) and reports the replica ready when every one holds.
func (p *Probes) Ready(ctx context.Context) Report {
	if r := p.fresh(); r != nil {
		return *r
	}
	p.run.Lock()
	defer p.run.Unlock()
	// Another caller may have run them while this one waited.
	if r := p.fresh(); r != nil {
		return *r
	}
	r := p.evaluate(ctx)
	p.mu.Lock()
	p.last = &r
	p.mu.Unlock()
	return r
}

func (p *Probes) fresh() *Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last != nil && p.now().Sub(p.last.At) < p.maxAge {
		r := *p.last
		return &r
	}
	return nil
}

func (p *Probes) evaluate(ctx context.Context) Report {
	r := Report{Ready: true, At: p.now()}
	add := func(name string, err error) {
		res := Result{Name: name, OK: err == nil}
		if err != nil {
			res.Error = err.Error()
			r.Ready = false
		}
		r.Checks = append(r.Checks, res)
	}
	switch {
	case p.draining.Load():
		add("listeners", errors.New("draining: this replica is shutting down"))
	case !p.serving.Load():
		add("listeners", errors.New("not serving yet: the replica is starting"))
	default:
		add("listeners", nil)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	for _, c := range p.checks {
		err := c.Run(ctx)
		if err != nil && ctx.Err() != nil {
			err = errors.Join(err, errors.New("readiness checks timed out after "+p.timeout.String()))
		}
		add(c.Name, err)
	}
	return r
}

// Healthz answers 200 while the process serves HTTP: liveness.
func (p *Probes) Healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("ok\n"))
	}
}

// Readyz answers 200 with the report when the replica is ready, 503 with
// it when it is not.
func (p *Probes) Readyz(w http.ResponseWriter, r *http.Request) {
	writeReport(w, r, p.Ready(r.Context()))
}

func writeReport(w http.ResponseWriter, r *http.Request, rep Report) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if !rep.Ready {
		status = http.StatusServiceUnavailable
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		json.NewEncoder(w).Encode(rep)
	}
}

// ReadyzBrief is Readyz without the reasons of failed checks, for a
// listener anyone may reach: which checks failed, not what the database
// or the keys answered.
func (p *Probes) ReadyzBrief(w http.ResponseWriter, r *http.Request) {
	rep := p.Ready(r.Context())
	rep.Checks = slices.Clone(rep.Checks)
	for i := range rep.Checks {
		rep.Checks[i].Error = ""
	}
	writeReport(w, r, rep)
}

// Mount adds GET and HEAD /healthz and /readyz to mux.
func (p *Probes) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", p.Healthz)
	mux.HandleFunc("GET /readyz", p.Readyz)
}

// Collector is jimm_ready: 1 when the replica is ready, else 0, as the
// checks say when the metrics are scraped.
func (p *Probes) Collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jimm_ready", Help: "Whether this replica is ready for traffic (1) or not (0): its database answers with the schema it expects, its keys are loaded, its listeners are up and it is not shutting down.",
	}, func() float64 {
		if p.Ready(context.Background()).Ready {
			return 1
		}
		return 0
	})
}
