package summaries

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Deps are the parts a Hub works with.
type Deps struct {
	DB       *db.DB
	Routes   *routing.Table
	Identity *identity.Service
	// ControllerName is what each summary names as its model's
	// controller: the broker's name, never a controller's.
	ControllerName string
	// Metrics registers the hub's gauges (nil: not registered).
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

// Hub fans model and access changes out to the open watchers.
type Hub struct {
	db       *db.DB
	routes   *routing.Table
	identity *identity.Service
	name     string
	log      *slog.Logger

	mu       sync.Mutex
	watchers map[*Watcher]struct{}
	waiting  atomic.Int64 // Nexts waiting for a change
}

// New builds a hub. Tell it of changes with ModelChanged and
// AccessChanged (the routing table's and the relations' observers).
func New(deps Deps) (*Hub, error) {
	h := &Hub{db: deps.DB, routes: deps.Routes, identity: deps.Identity, name: deps.ControllerName, log: deps.Logger,
		watchers: map[*Watcher]struct{}{}}
	if h.log == nil {
		h.log = slog.Default()
	}
	if deps.Metrics != nil {
		for _, c := range []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "jimm_model_summary_watchers", Help: "Open model summary watchers (the dashboard's live model list).",
			}, func() float64 { return float64(h.Watchers()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "jimm_model_summary_watchers_waiting", Help: "Model summary watchers' Next calls waiting for a change.",
			}, func() float64 { return float64(h.Waiting()) }),
		} {
			if err := deps.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register model summary watcher metrics: %w", err)
			}
		}
	}
	return h, nil
}

// Waiting is the number of Next calls waiting for a change.
func (h *Hub) Waiting() int { return int(h.waiting.Load()) }

// ErrStopped is what Next answers on a watcher that was stopped, with
// Juju's message and code.
var ErrStopped = &jujuapi.Error{Message: "watcher has been stopped", Code: "stopped"}

// Watch opens a watcher of the models id may see: with all, every model
// (broker administrators only, as Juju's WatchAllModelSummaries).
func (h *Hub) Watch(id *identity.Identity, all bool) (*Watcher, error) {
	if all && !id.Admin {
		return nil, jujuapi.ErrPerm
	}
	w := &Watcher{hub: h, id: id, all: all, pending: map[string]struct{}{}, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	return w, nil
}

// Watchers is the number of open watchers.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watchers)
}

// ModelChanged marks model uuid changed on every watcher ("": anything may
// have changed). It does not block.
func (h *Hub) ModelChanged(uuid string) {
	h.each(func(w *Watcher) { w.changed(uuid) })
}

// AccessChanged makes every watcher check again which models its caller
// sees. It does not block.
func (h *Hub) AccessChanged() {
	h.each(func(w *Watcher) { w.accessChanged() })
}

func (h *Hub) each(fn func(w *Watcher)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		fn(w)
	}
}

func (h *Hub) remove(w *Watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
}

// abstracts renders models as the summary watcher shows them, with their
// administrators.
func (h *Hub) abstracts(ctx context.Context, models []*db.Model) ([]params.ModelAbstract, error) {
	uuids := make([]string, len(models))
	for i, m := range models {
		uuids[i] = m.UUID
	}
	admins, err := h.db.ModelAdmins(ctx, uuids)
	if err != nil {
		return nil, err
	}
	out := make([]params.ModelAbstract, len(models))
	for i, m := range models {
		out[i] = h.abstract(m, admins[m.UUID])
	}
	return out, nil
}

// abstract is one model's summary: the broker is its controller.
func (h *Hub) abstract(m *db.Model, admins []string) params.ModelAbstract {
	status := "available"
	if m.Life != db.LifeAlive {
		status = "destroying"
	}
	return params.ModelAbstract{
		UUID: m.UUID, Controller: h.name, Name: m.Name, Admins: admins,
		Cloud: m.Cloud, Region: m.Region, Credential: m.Credential,
		Size:   params.ModelSummarySize{Machines: m.MachineCount, Units: m.UnitCount},
		Status: status,
	}
}

// route is a model's current route, or nil when it is gone.
func (h *Hub) route(ctx context.Context, uuid string) (*db.Model, error) {
	m, err := h.routes.Route(ctx, uuid)
	if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
		return nil, nil
	}
	return m, err
}
