package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Defaults and bounds.
const (
	// DefaultInterval is the time between passes.
	DefaultInterval = time.Minute
	// HeartbeatTTL is how long a replica's heartbeat lease lasts; it is
	// renewed every third of it.
	HeartbeatTTL = 9 * time.Second
	// passLease bounds one pass; the lease is released at its end.
	passLease = time.Minute
	// leaseName is the lease a replica holds while it reconciles.
	leaseName = "reconciler"
	// Identity is who the reconciler's actions are audited as.
	Identity = "jimm-reconciler"
)

// Actions a pass takes.
const (
	ActionAdopt      = "adopt-model"      // recorded a model a crashed creation made
	ActionDestroy    = "destroy-orphan"   // destroyed a model a failed creation left
	ActionEnd        = "end-creation"     // forgot a creation record that has nothing left to do
	ActionClearDying = "clear-dying"      // forgot a dying model its controller no longer has
	ActionImport     = "import-model"     // an administrator adopted a model
	actionReport     = "report-unknown"   // (counted only) a model nobody created through the broker
	actionFailed     = "failed"           // (counted only) an action that failed
	actionSkipped    = "skipped-creation" // (counted only) a creation still in progress
)

// Action is one thing a pass did.
type Action struct {
	Action     string `json:"action"`
	Controller string `json:"controller,omitempty"`
	ModelUUID  string `json:"model-uuid,omitempty"`
	Model      string `json:"model,omitempty"` // owner/name
	Error      string `json:"error,omitempty"`
}

// Report is what a pass did and what disagreed before it.
type Report struct {
	Actions []Action `json:"actions"`
	// Differences are those the pass found, before acting.
	Differences []Difference `json:"differences"`
}

// ErrBusy says another replica holds the reconciler's lease.
var ErrBusy = errors.New("another broker replica is reconciling; try again shortly")

// Deps are what a Reconciler works with.
type Deps struct {
	DB        *db.DB
	Registry  *controllers.Registry
	Pool      *controllers.Pool
	Routes    *routing.Table
	Relations *authz.Relations
	Audit     *audit.Log // nil: not audited
	// ReplicaID names this replica: its heartbeat lease, and the model
	// creations it records.
	ReplicaID string
	// Interval is the time between passes (DefaultInterval if 0).
	Interval time.Duration
	// CreateGrace is how long a model creation may make no progress before
	// it counts as abandoned even though its replica lives.
	CreateGrace time.Duration
	Metrics     prometheus.Registerer
	Logger      *slog.Logger
	Clock       clock.Clock
}

// Reconciler runs the passes.
type Reconciler struct {
	d     Deps
	clock clock.Clock
	log   *slog.Logger
	mu    sync.Mutex // one pass at a time in this replica

	passes      *prometheus.CounterVec
	actions     *prometheus.CounterVec
	differences *prometheus.GaugeVec
	lastPass    prometheus.Gauge
}

// New makes a Reconciler; Run starts it.
func New(d Deps) (*Reconciler, error) {
	if d.Interval <= 0 {
		d.Interval = DefaultInterval
	}
	if d.CreateGrace <= 0 {
		d.CreateGrace = 2 * time.Minute
	}
	r := &Reconciler{d: d, clock: clock.Or(d.Clock), log: d.Logger.With("part", "reconciler"),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_reconcile_passes_total", Help: "Reconciliation passes, by result (ok, error, busy: another replica held the lease).",
		}, []string{"result"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_reconcile_actions_total", Help: "What reconciliation passes did, by action.",
		}, []string{"action"}),
		differences: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jimm_reconcile_differences", Help: "Differences between the broker and its controllers found by the last pass, by kind.",
		}, []string{"kind"}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jimm_reconcile_last_pass_timestamp_seconds", Help: "When the last reconciliation pass of this replica ended.",
		}),
	}
	if d.Metrics != nil {
		for _, c := range []prometheus.Collector{r.passes, r.actions, r.differences, r.lastPass} {
			if err := d.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register reconciler metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Check compares the broker's models with every controller's and lists
// each difference, changing nothing.
func (r *Reconciler) Check(ctx context.Context) ([]Difference, error) {
	s, err := take(ctx, r.d.DB, r.d.Registry, r.d.Pool, r.clock.Now())
	if err != nil {
		return nil, err
	}
	return s.differences(), nil
}

// Run keeps the replica's heartbeat and runs a pass at once and then every
// interval, until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	go r.heartbeat(ctx)
	for {
		if _, err := r.Pass(ctx); err != nil && !errors.Is(err, ErrBusy) && ctx.Err() == nil {
			r.log.Warn("reconciliation pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.clock.After(r.d.Interval):
		}
	}
}

func (r *Reconciler) heartbeat(ctx context.Context) {
	name := "replica/" + r.d.ReplicaID
	for {
		now := r.clock.Now()
		if _, err := r.d.DB.TakeLease(ctx, name, r.d.ReplicaID, now, now.Add(HeartbeatTTL)); err != nil && ctx.Err() == nil {
			r.log.Debug("cannot renew the replica's heartbeat", "err", err)
		}
		select {
		case <-ctx.Done():
			releaseCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r.d.DB.ReleaseLease(releaseCtx, name, r.d.ReplicaID)
			cancel()
			return
		case <-r.clock.After(HeartbeatTTL / 3):
		}
	}
}

// Pass runs one reconciliation pass now, under the lease; it fails with
// ErrBusy when another replica holds it.
func (r *Reconciler) Pass(ctx context.Context) (*Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	ok, err := r.d.DB.TakeLease(ctx, leaseName, r.d.ReplicaID, now, now.Add(passLease))
	if err != nil {
		r.passes.WithLabelValues("error").Inc()
		return nil, err
	}
	if !ok {
		r.passes.WithLabelValues("busy").Inc()
		return nil, ErrBusy
	}
	defer func() {
		releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := r.d.DB.ReleaseLease(releaseCtx, leaseName, r.d.ReplicaID); err != nil {
			r.log.Debug("cannot release the reconciler's lease; it runs out by itself", "err", err)
		}
	}()
	passCtx, cancel := context.WithTimeout(ctx, passLease-5*time.Second)
	defer cancel()
	rep, err := r.pass(passCtx)
	if err != nil {
		r.passes.WithLabelValues("error").Inc()
		return nil, err
	}
	r.passes.WithLabelValues("ok").Inc()
	r.lastPass.SetToCurrentTime()
	return rep, nil
}

func (r *Reconciler) pass(ctx context.Context) (*Report, error) {
	s, err := take(ctx, r.d.DB, r.d.Registry, r.d.Pool, r.clock.Now())
	if err != nil {
		return nil, err
	}
	// A dead replica's heartbeat is kept an hour (for its creations to be
	// seen as abandoned), then forgotten.
	if _, err := r.d.DB.RemoveExpiredLeases(ctx, s.at.Add(-time.Hour)); err != nil {
		r.log.Debug("cannot forget expired leases", "err", err)
	}
	rep := &Report{Actions: []Action{}, Differences: s.differences()}
	r.differences.Reset()
	for _, d := range rep.Differences {
		r.differences.WithLabelValues(d.Kind).Inc()
		if d.Kind == KindUnknown {
			r.actions.WithLabelValues(actionReport).Inc()
			r.log.Warn("a controller hosts a model the broker does not know", "controller", d.Controller, "model", d.Model, "uuid", d.ModelUUID)
		}
	}
	for i := range s.creations {
		r.finishCreation(ctx, s, &s.creations[i], rep)
	}
	for i := range s.models {
		m := &s.models[i]
		if m.Life != db.LifeDying || s.migrating[m.UUID] {
			continue
		}
		if _, answered := s.listed[m.Controller.Name]; !answered || len(s.hostedBy(m.UUID)) > 0 {
			continue
		}
		r.d.Routes.RemoveModel(ctx, m.UUID)
		r.record(rep, Action{Action: ActionClearDying, Controller: m.Controller.Name, ModelUUID: m.UUID, Model: m.Owner + "/" + m.Name}, nil)
	}
	return rep, nil
}

// abandoned reports whether nobody is at creation c any more: its replica's
// heartbeat ran out, it made no progress for the grace period, or its
// outcome is known (a sweep).
func (r *Reconciler) abandoned(ctx context.Context, s *snapshot, c *db.ModelCreation) (bool, error) {
	if c.State == db.CreationSweeping || s.at.Sub(c.UpdatedAt) > r.d.CreateGrace {
		return true, nil
	}
	held, ok := s.replicas[c.Replica] // each replica's heartbeat read once a pass
	if !ok {
		var err error
		if held, err = r.d.DB.LeaseHeld(ctx, "replica/"+c.Replica, s.at); err != nil {
			return false, err
		}
		s.replicas[c.Replica] = held
	}
	return !held, nil
}

// finishCreation ends an abandoned creation: it adopts the model the
// creation made (still being created, and none of that owner and name
// recorded), destroys any other it made, and forgets the record once every
// controller it asked has answered.
func (r *Reconciler) finishCreation(ctx context.Context, s *snapshot, c *db.ModelCreation, rep *Report) {
	gone, err := r.abandoned(ctx, s, c)
	if err != nil || !gone {
		if err == nil {
			r.actions.WithLabelValues(actionSkipped).Inc()
		}
		return
	}
	model := c.Owner + "/" + c.Name
	var made []hosted // unrouted live models of its owner and name on the controllers it asked, latest asked first
	for i := len(c.Controllers) - 1; i >= 0; i-- {
		name := c.Controllers[i]
		models, answered := s.listed[name]
		if !answered {
			return // cannot tell yet: next pass
		}
		for uuid, h := range models {
			if s.routed[uuid] == nil && h.owner() == c.Owner && h.sum.Name == c.Name && h.sum.Life == db.LifeAlive {
				made = append(made, h)
			}
		}
	}
	// Another creation of the same name under way owns what it makes.
	for _, other := range s.creations {
		if other.ID != c.ID && other.Owner == c.Owner && other.Name == c.Name && other.State == db.CreationCreating {
			if gone, err := r.abandoned(ctx, s, &other); err != nil || !gone {
				return
			}
		}
	}
	adopted := false
	if c.State == db.CreationCreating && len(made) > 0 {
		if _, err := r.d.DB.ModelByOwnerName(ctx, c.Owner, c.Name); errors.Is(err, db.ErrNotFound) {
			err := r.adopt(ctx, made[0], c.ID)
			r.record(rep, Action{Action: ActionAdopt, Controller: made[0].controller, ModelUUID: made[0].sum.UUID, Model: model}, err)
			if err != nil {
				return
			}
			adopted = true
			made = made[1:]
		} else if err != nil {
			return
		}
	}
	for _, h := range made {
		err := r.destroy(ctx, h)
		r.record(rep, Action{Action: ActionDestroy, Controller: h.controller, ModelUUID: h.sum.UUID, Model: model}, err)
		if err != nil {
			return
		}
	}
	if adopted {
		return // AdoptModel removed the record
	}
	removed, err := r.d.DB.RemoveModelCreation(ctx, c.ID, c.UpdatedAt)
	if err != nil || removed {
		r.record(rep, Action{Action: ActionEnd, Model: model, ModelUUID: c.ModelUUID}, err)
	}
}

// adopt records a hosted model as its owner's, ending creation (0: none).
func (r *Reconciler) adopt(ctx context.Context, h hosted, creation int64) error {
	ctl, err := r.d.Registry.Get(ctx, h.controller)
	if err != nil {
		return err
	}
	cred := ""
	if cloud, owner, name, err := jujuapi.ParseCloudCredentialTag(h.sum.CloudCredentialTag); err == nil && h.sum.CloudCredentialTag != "" {
		cred = cloud + "/" + owner + "/" + name
	}
	typ := h.sum.Type
	if typ == "" {
		typ = "iaas"
	}
	m := &db.Model{UUID: h.sum.UUID, Name: h.sum.Name, Owner: h.owner(), ControllerID: ctl.ID,
		Cloud: ctl.Cloud, Region: h.sum.CloudRegion, Type: typ, Life: db.LifeAlive, Credential: cred}
	if err := r.d.DB.AdoptModel(ctx, m, identity.SubjectOf(m.Owner), creation); err != nil {
		return err
	}
	if r.d.Relations != nil {
		r.d.Relations.Changed()
	}
	r.log.Info("recorded a model a creation left unrecorded", "controller", h.controller, "model", m.Owner+"/"+m.Name, "uuid", m.UUID)
	return nil
}

// destroy destroys a model a failed creation left on its controller.
func (r *Reconciler) destroy(ctx context.Context, h hosted) error {
	callCtx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	c, err := r.d.Pool.Get(callCtx, h.controller)
	if err != nil {
		return err
	}
	if err := c.DestroyModel(callCtx, h.sum.UUID, true, nil); err != nil && jujuapi.ErrorCode(err) != jujuapi.CodeNotFound {
		return err
	}
	r.log.Warn("destroyed a model a failed creation left on its controller", "controller", h.controller, "model", h.owner()+"/"+h.sum.Name, "uuid", h.sum.UUID)
	return nil
}

// record counts and audits an action and adds it to the report.
func (r *Reconciler) record(rep *Report, a Action, err error) {
	result := "ok"
	if err != nil {
		a.Error, result = err.Error(), "error"
		r.actions.WithLabelValues(actionFailed).Inc()
		r.log.Warn("reconciliation action failed", "action", a.Action, "controller", a.Controller, "model", a.Model, "err", err)
	} else {
		r.actions.WithLabelValues(a.Action).Inc()
	}
	rep.Actions = append(rep.Actions, a)
	if r.d.Audit != nil {
		r.d.Audit.Add(audit.Event{Time: r.clock.Now(), Identity: Identity, Model: a.ModelUUID, Facade: "Reconciler", Method: a.Action, Result: result, Error: a.Error})
	}
}

// Import adopts a model hosted on controller that the broker does not
// know, as its owner's on the controller (jimmctl import-model).
func (r *Reconciler) Import(ctx context.Context, controller, uuid string) (*db.Model, error) {
	if existing, err := r.d.DB.ModelByUUID(ctx, uuid); err == nil {
		return nil, jujuapi.Errorf(jujuapi.CodeAlreadyExists, "model %s is already known to the broker, on controller %q", uuid, existing.Controller.Name)
	} else if !errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	models, err := list(ctx, r.d.Pool, controller)
	if err != nil {
		return nil, fmt.Errorf("import model %s from controller %q: %w", uuid, controller, err)
	}
	h, ok := models[uuid]
	if !ok {
		return nil, jujuapi.NotFoundf("model %s on controller %q (the controller model cannot be imported)", uuid, controller)
	}
	if h.sum.Life != db.LifeAlive {
		return nil, jujuapi.Errorf(jujuapi.CodeNotValid, "model %s on controller %q is %s", uuid, controller, h.sum.Life)
	}
	if err := r.adopt(ctx, h, 0); err != nil {
		if errors.Is(err, db.ErrDuplicate) {
			return nil, jujuapi.Errorf(jujuapi.CodeAlreadyExists, "%s already has a model called %q", h.owner(), h.sum.Name)
		}
		return nil, err
	}
	r.actions.WithLabelValues(ActionImport).Inc()
	return r.d.DB.ModelByUUID(ctx, uuid)
}
