package reconcile

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Kinds of difference.
const (
	// KindUnknown: a controller hosts a model the broker does not route.
	KindUnknown = "unknown-model"
	// KindMissing: the broker routes a model to a controller that does not
	// have it.
	KindMissing = "missing-model"
	// KindMisrouted: the broker routes a model to one controller, another
	// has it.
	KindMisrouted = "misrouted-model"
	// KindCreation: a model creation the broker began has not ended.
	KindCreation = "pending-creation"
	// KindUnreachable: a controller did not answer, so it was not compared.
	KindUnreachable = "controller-unreachable"
)

// Difference is one way the broker and its controllers disagree.
type Difference struct {
	Kind       string `json:"kind"`
	Controller string `json:"controller,omitempty"`
	ModelUUID  string `json:"model-uuid,omitempty"`
	// Model is "owner/name".
	Model  string `json:"model,omitempty"`
	Detail string `json:"detail"`
}

// hosted is a model as a controller lists it.
type hosted struct {
	controller string
	sum        params.ModelSummary
}

// owner is the model's owner's name.
func (h hosted) owner() string {
	if u, err := jujuapi.ParseUserTag(h.sum.OwnerTag); err == nil {
		return u.ID
	}
	return h.sum.OwnerTag
}

// snapshot is the broker's and its controllers' models at one time.
type snapshot struct {
	at          time.Time
	controllers []db.Controller
	// listed holds each controller that answered: its models (not its
	// controller model), by UUID.
	listed      map[string]map[string]hosted
	unreachable map[string]error
	models      []db.Model
	routed      map[string]*db.Model // by UUID
	migrating   map[string]bool      // model UUIDs with a migration running
	creations   []db.ModelCreation
	// replicas caches whether each replica's heartbeat is held, for a pass.
	replicas map[string]bool
}

// listTimeout bounds each controller's answer.
const listTimeout = 15 * time.Second

// take reads the broker's records, then every controller's models, all at
// once. The records are read first: a model created meanwhile shows as
// hosted and unrouted, which only a creation record explains, and
// creation records are read last.
func take(ctx context.Context, d *db.DB, reg *controllers.Registry, pool *controllers.Pool, now time.Time) (*snapshot, error) {
	s := &snapshot{at: now, listed: map[string]map[string]hosted{}, unreachable: map[string]error{}, routed: map[string]*db.Model{}, migrating: map[string]bool{}, replicas: map[string]bool{}}
	var err error
	if s.controllers, err = reg.List(ctx); err != nil {
		return nil, err
	}
	if s.models, err = d.Models(ctx); err != nil {
		return nil, err
	}
	for i := range s.models {
		s.routed[s.models[i].UUID] = &s.models[i]
	}
	migs, err := d.Migrations(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range migs {
		if m.Result == db.MigrationRunning {
			s.migrating[m.ModelUUID] = true
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range s.controllers {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			models, err := list(ctx, pool, name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.unreachable[name] = err
				return
			}
			s.listed[name] = models
		}(c.Name)
	}
	wg.Wait()
	if s.creations, err = d.ModelCreations(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// list returns a controller's models but its controller model, by UUID.
func list(ctx context.Context, pool *controllers.Pool, name string) (map[string]hosted, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	c, err := pool.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	sums, err := c.ListModelSummaries(ctx, c.User(), true)
	if err != nil {
		return nil, err
	}
	out := make(map[string]hosted, len(sums))
	for _, r := range sums {
		if r.Error != nil {
			return nil, fmt.Errorf("list the models of controller %q: %s", name, r.Error.Message)
		}
		if r.Result == nil || r.Result.IsController {
			continue
		}
		out[r.Result.UUID] = hosted{controller: name, sum: *r.Result}
	}
	return out, nil
}

// hostedBy returns where the model uuid is hosted, among the controllers
// that answered.
func (s *snapshot) hostedBy(uuid string) []hosted {
	var out []hosted
	for _, models := range s.listed {
		if h, ok := models[uuid]; ok {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].controller < out[j].controller })
	return out
}

// pendingFor returns the creation record that explains a hosted model the
// broker does not route: one of the same owner and name that asked that
// controller.
func (s *snapshot) pendingFor(h hosted) *db.ModelCreation {
	for i := range s.creations {
		c := &s.creations[i]
		if c.Owner == h.owner() && c.Name == h.sum.Name && slices.Contains(c.Controllers, h.controller) {
			return c
		}
	}
	return nil
}

// differences lists how the snapshot's two sides disagree, in a stable
// order.
func (s *snapshot) differences() []Difference {
	var out []Difference
	for name, err := range s.unreachable {
		out = append(out, Difference{Kind: KindUnreachable, Controller: name, Detail: "not compared: " + err.Error()})
	}
	for _, m := range s.models {
		if s.migrating[m.UUID] {
			continue // on both controllers while it moves
		}
		if _, answered := s.listed[m.Controller.Name]; !answered {
			continue
		}
		if _, ok := s.listed[m.Controller.Name][m.UUID]; ok {
			continue
		}
		d := Difference{Controller: m.Controller.Name, ModelUUID: m.UUID, Model: m.Owner + "/" + m.Name}
		if where := s.hostedBy(m.UUID); len(where) > 0 {
			d.Kind, d.Detail = KindMisrouted, fmt.Sprintf("routed to %s, hosted on %s", m.Controller.Name, where[0].controller)
		} else {
			d.Kind, d.Detail = KindMissing, fmt.Sprintf("the broker has it (%s), its controller does not", m.Life)
		}
		out = append(out, d)
	}
	for ctl, models := range s.listed {
		for uuid, h := range models {
			if s.routed[uuid] != nil || s.migrating[uuid] || h.sum.Life != db.LifeAlive {
				continue // a dying model the broker does not know is on its way out
			}
			if s.pendingFor(h) != nil {
				continue // listed with its creation below
			}
			out = append(out, Difference{Kind: KindUnknown, Controller: ctl, ModelUUID: uuid, Model: h.owner() + "/" + h.sum.Name,
				Detail: fmt.Sprintf("hosted (%s) but not known to the broker: jimmctl import-model %s %s adopts it", h.sum.Life, ctl, uuid)})
		}
	}
	for _, c := range s.creations {
		out = append(out, Difference{Kind: KindCreation, Controller: strings.Join(c.Controllers, ","), ModelUUID: c.ModelUUID, Model: c.Owner + "/" + c.Name,
			Detail: fmt.Sprintf("%s since %s (replica %s)", c.State, c.UpdatedAt.UTC().Format(time.RFC3339), c.Replica)})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Controller != b.Controller {
			return a.Controller < b.Controller
		}
		if a.Model != b.Model {
			return a.Model < b.Model
		}
		return a.ModelUUID < b.ModelUUID
	})
	return out
}
