package load

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Controller is what a refresh asks of a controller: its model summaries,
// as its administrator (controllers.Client is one).
type Controller interface {
	User() string
	ListModelSummaries(ctx context.Context, user string, all bool) ([]params.ModelSummaryResult, error)
}

// Deps are the parts a Refresher works with.
type Deps struct {
	DB *db.DB
	// Controllers lists the registered controllers.
	Controllers func(ctx context.Context) ([]db.Controller, error)
	// Controller returns a logged-in connection to a controller.
	Controller func(ctx context.Context, name string) (Controller, error)
	// Up reports whether a controller is up (health).
	Up        func(name string) bool
	ReplicaID string
	// Interval is the time between refreshes (DefaultInterval when 0).
	Interval time.Duration
	Logger   *slog.Logger
	Clock    clock.Clock
}

// DefaultInterval is the time between two refreshes of every model's size.
const DefaultInterval = 30 * time.Second

// Bounds of one refresh.
const (
	callTimeout = 20 * time.Second
	parallel    = 4
	leaseName   = "load-refresh"
)

// Refresher records the size of every model.
type Refresher struct {
	d   Deps
	log *slog.Logger
	clk clock.Clock
	mu  sync.Mutex // one refresh at a time in this replica
}

// New builds a Refresher.
func New(d Deps) *Refresher {
	if d.Interval <= 0 {
		d.Interval = DefaultInterval
	}
	r := &Refresher{d: d, log: d.Logger, clk: clock.Or(d.Clock)}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

// Run refreshes every interval until ctx ends, on whichever replica holds
// the refresh lease for that interval.
func (r *Refresher) Run(ctx context.Context) {
	for {
		now := r.clk.Now()
		ok, err := r.d.DB.TakeLease(ctx, leaseName, r.d.ReplicaID, now, now.Add(r.d.Interval*9/10))
		if err != nil && ctx.Err() == nil {
			r.log.Warn("cannot take the model size refresh lease", "err", err)
		}
		if ok {
			if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("model sizes not refreshed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.clk.After(r.d.Interval):
		}
	}
}

// Refresh reads every up controller's model summaries now and records the
// sizes that changed. A controller that cannot be read keeps its last
// figures; the error names it, and the others are refreshed.
func (r *Refresher) Refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctls, err := r.d.Controllers(ctx)
	if err != nil {
		return err
	}
	models, err := r.d.DB.Models(ctx)
	if err != nil {
		return err
	}
	known := make(map[string]*db.Model, len(models))
	for i := range models {
		known[models[i].UUID] = &models[i]
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, c := range ctls {
		if !r.d.Up(c.Name) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(name string) {
			defer func() { <-sem; wg.Done() }()
			if err := r.refreshController(ctx, name, known); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(c.Name)
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("refresh model sizes: %v", errs)
	}
	return nil
}

func (r *Refresher) refreshController(ctx context.Context, name string, known map[string]*db.Model) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	c, err := r.d.Controller(ctx, name)
	if err != nil {
		return fmt.Errorf("controller %q: %w", name, err)
	}
	sums, err := c.ListModelSummaries(ctx, c.User(), true)
	if err != nil {
		return fmt.Errorf("model summaries of controller %q: %w", name, err)
	}
	for _, s := range sums {
		if s.Result == nil {
			continue
		}
		m, ok := known[s.Result.UUID]
		if !ok || m.Controller.Name != name {
			continue // not the broker's, or routed elsewhere (a migration's other end)
		}
		machines, units := Sizes(s.Result)
		if machines == m.MachineCount && units == m.UnitCount {
			continue
		}
		if err := r.d.DB.SetModelCounts(ctx, m.UUID, machines, units); err != nil {
			return err
		}
	}
	return nil
}

// Sizes reads a model summary's machine and unit counts.
func Sizes(s *params.ModelSummary) (machines, units int) {
	for _, c := range s.Counts {
		switch c.Entity {
		case params.Machines:
			machines = int(c.Count)
		case params.Units:
			units = int(c.Count)
		}
	}
	return machines, units
}
