package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Conn is a live model connection, as the table sees it.
type Conn interface {
	// ModelUUID is the model the connection is to.
	ModelUUID() string
	// RouteChanged tells the connection that its model is now on the
	// controller whose id is ctlID: it moves there if it is elsewhere.
	// The table calls it on a goroutine of its own.
	RouteChanged(ctlID uint)
	// AccessChanged asks the connection to check its caller's access
	// again, after a change to relations (it closes if its access
	// changed). The table calls the connections one at a time.
	AccessChanged(ctx context.Context)
}

// Deps are the parts a Table works with.
type Deps struct {
	DB        *db.DB
	Pool      *controllers.Pool
	Relations *authz.Relations // told at once when a model's relations go
	// Metrics registers the table's own metrics (nil: not registered).
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	Clock   clock.Clock // nil: the system clock
	// DBWait bounds how long a lookup waits for an unavailable database
	// before answering "try again" (0: DBWait).
	DBWait time.Duration
}

// DBWait is how long, by default, a route lookup waits for an unavailable
// database to come back before it answers "database unavailable; try
// again". It never answers "not found" for a database it cannot read.
const DBWait = 15 * time.Second

// CutoverMaxWait bounds how long a new connection waits for a model's
// cutover.
const CutoverMaxWait = 10 * time.Second

// Table is the routing table. Its three locks (mu, cutoverMu, connsMu)
// each guard their own map and are never held together, nor while calling
// out (to the database, or to a Conn).
type Table struct {
	db     *db.DB
	pool   *controllers.Pool
	rel    *authz.Relations
	log    *slog.Logger
	clock  clock.Clock
	dbWait time.Duration

	routeFlips  prometheus.Counter
	redirects   prometheus.Counter
	cutoverWait prometheus.Histogram

	mu    sync.RWMutex
	cache map[string]*db.Model // with Controller loaded

	cutoverMu sync.Mutex
	cutovers  map[string]chan struct{} // model uuid → closed when its cutover ends

	connsMu sync.Mutex
	conns   map[string]map[Conn]struct{} // model uuid → live connections

	checks  singleflight.Group // one route check per model at a time
	recheck chan struct{}      // signalled when access changed

	runCtx context.Context // set by Run: what route changes run under

	observersMu sync.Mutex
	observers   []func(uuid string)
}

// New builds a routing table.
func New(deps Deps) (*Table, error) {
	t := &Table{
		db: deps.DB, pool: deps.Pool, rel: deps.Relations, log: deps.Logger, clock: clock.Or(deps.Clock),
		dbWait: deps.DBWait,
		cache:  map[string]*db.Model{}, cutovers: map[string]chan struct{}{}, conns: map[string]map[Conn]struct{}{},
		recheck: make(chan struct{}, 1), runCtx: context.Background(),
		routeFlips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_route_flips_total", Help: "Models whose route moved to another controller (migrations, update-migrated-model, followed redirects).",
		}),
		redirects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_redirects_followed_total", Help: "Controller redirects the broker followed for a client, healing the route.",
		}),
		cutoverWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jimm_cutover_wait_seconds", Help: "Time new model connections waited for a migration's cutover.",
			Buckets: prometheus.ExponentialBucketsRange(10e-6, 10, 16),
		}),
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	if t.dbWait <= 0 {
		t.dbWait = DBWait
	}
	if deps.Metrics != nil {
		for _, c := range []prometheus.Collector{t.routeFlips, t.redirects, t.cutoverWait} {
			if err := deps.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register routing metrics: %w", err)
			}
		}
	}
	return t, nil
}

// Run follows route changes and cutovers announced by every replica (this
// one included) until ctx ends, and keeps live connections to what their
// callers may do. It returns once it listens.
func (t *Table) Run(ctx context.Context) error {
	t.runCtx = ctx
	err := t.db.Listen(ctx, db.RoutesChannel, func(uuid string) {
		if uuid == "" {
			t.clear()
			t.rerouteAll()
		} else {
			t.Forget(uuid)
			t.EndCutover(uuid)
			t.reroute(uuid)
		}
		t.observersMu.Lock()
		observers := t.observers
		t.observersMu.Unlock()
		for _, fn := range observers {
			fn(uuid)
		}
	})
	if err == nil {
		err = t.db.Listen(ctx, db.CutoverChannel, t.startCutover)
	}
	if err != nil {
		return err
	}
	go t.recheckAccess(ctx)
	return nil
}

// OnChange registers fn to hear of every change to a model's route, from
// this replica or another: its creation, life, controller or removal. It
// is called with the model's UUID once the table has forgotten the old
// route (so Route reads the new one), or with "" when anything may have
// changed. fn runs on the table's listener: it must not block.
func (t *Table) OnChange(fn func(uuid string)) {
	t.observersMu.Lock()
	defer t.observersMu.Unlock()
	t.observers = append(slices.Clip(t.observers), fn)
}

// Route returns the route of a model, with its controller, or a "not
// found" error. While the database is unavailable it waits (at most
// DBWait, and not beyond ctx) and then answers "try again": "not found"
// only ever means that the database says so.
func (t *Table) Route(ctx context.Context, uuid string) (*db.Model, error) {
	t.mu.RLock()
	m := t.cache[uuid]
	t.mu.RUnlock()
	if m != nil {
		return m, nil
	}
	err := t.waitDB(ctx, "look up the route of model "+uuid, func(ctx context.Context) (err error) {
		m, err = t.db.ModelByUUID(ctx, uuid)
		return err
	})
	if errors.Is(err, db.ErrNotFound) {
		return nil, jujuapi.NotFoundf("model %q", uuid)
	}
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.cache[uuid] = m
	t.mu.Unlock()
	return m, nil
}

// Forget drops a cached route.
func (t *Table) Forget(uuid string) {
	t.mu.Lock()
	delete(t.cache, uuid)
	t.mu.Unlock()
}

// clear drops every cached route.
func (t *Table) clear() {
	t.mu.Lock()
	clear(t.cache)
	t.mu.Unlock()
}

// ControllerRemoved drops every cached route to the controller whose id
// is id, and tells every replica that routes changed.
func (t *Table) ControllerRemoved(ctx context.Context, id uint) {
	t.mu.Lock()
	for uuid, m := range t.cache {
		if m.ControllerID == id {
			delete(t.cache, uuid)
		}
	}
	t.mu.Unlock()
	if err := t.db.Notify(ctx, db.RoutesChannel, ""); err != nil {
		t.log.Warn("cannot tell other replicas that routes changed", "err", err)
	}
}

// Controller returns the shared admin connection to a model's controller,
// or an error that says the controller is unavailable.
func (t *Table) Controller(ctx context.Context, m *db.Model) (*controllers.Client, error) {
	c, err := t.pool.Get(ctx, m.Controller.Name)
	if err != nil {
		t.log.Warn("controller unavailable", "controller", m.Controller.Name, "model", m.UUID, "err", err)
		return nil, jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q is unavailable; try again later", m.Name)
	}
	return c, nil
}

// ModelDying records that a model is being destroyed, and tells every
// replica.
func (t *Table) ModelDying(ctx context.Context, uuid string) error {
	if err := t.db.SetModelLife(ctx, uuid, db.LifeDying); err != nil {
		return err
	}
	t.Forget(uuid)
	return nil
}

// RemoveModel removes a model that its controller no longer has from the
// routing table, with every relation to it.
func (t *Table) RemoveModel(ctx context.Context, uuid string) {
	_, err := t.db.RemoveModel(ctx, uuid)
	switch {
	case err == nil:
	case !errors.Is(err, db.ErrNotFound):
		t.log.Error("cannot remove a destroyed model from the routing table", "model", uuid, "err", err)
	}
	if t.rel != nil {
		t.rel.Changed()
	}
	t.Forget(uuid)
}

// waitDB runs fn, the database call that does what, again while it fails
// because the database is unavailable, with back-off, for at most the
// table's DBWait and not beyond ctx. Then it answers "database
// unavailable; try again" (dbfault.Unavailable). Any other outcome of fn is
// returned as it is. The waits are real time, whatever the table's clock:
// the database's outage is.
func (t *Table) waitDB(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	start := time.Now()
	backoff := 50 * time.Millisecond
	var lastUnavailable error
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		switch {
		case err == nil:
			if lastUnavailable != nil {
				t.log.Info("the database is back", "while", what, "waited", time.Since(start).Round(time.Millisecond))
			}
			return nil
		case errors.Is(err, db.ErrUnavailable):
			lastUnavailable = err
		case lastUnavailable != nil && ctx.Err() != nil:
			// The caller gave up while the database was away.
		default:
			return err
		}
		left := t.dbWait - time.Since(start)
		if ctx.Err() != nil || left <= 0 {
			t.log.Warn("the database is unavailable; answering try again", "while", what, "attempts", attempt,
				"waited", time.Since(start).Round(time.Millisecond), "err", db.Detail(lastUnavailable))
			return dbfault.Unavailable(lastUnavailable)
		}
		timer := time.NewTimer(min(backoff, left))
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}
