package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Fleet job kinds, move measures and bounds.
const (
	JobEvacuate  = "evacuate"
	JobRebalance = "rebalance"

	MeasureModels   = "models"
	MeasureMachines = "machines"
	MeasureUnits    = "units"
	MeasureAgents   = "agents"

	// MaxParallel bounds the migrations a job runs at once.
	MaxParallel = 16
	// jobStep is how often the replica running a job looks at its moves.
	jobStep = time.Second
	// jobsListed is how many jobs Jobs returns.
	jobsListed = 100
)

// EvacuateRequest asks to empty a controller.
type EvacuateRequest struct {
	Controller string
	To         []string // targets allowed (none: every eligible controller)
	Parallel   int
	DryRun     bool
	Force      bool
}

// RebalanceRequest asks to even the fleet's load.
type RebalanceRequest struct {
	By       string // a Measure* (default models)
	MaxMoves int    // 0: no bound
	Parallel int
	DryRun   bool
	Force    bool
}

// Job is an evacuation or a rebalance: its plan and, once started, its
// progress.
type Job struct {
	ID         int64
	Kind       string
	Controller string // evacuated
	By         string // rebalanced by
	Parallel   int
	Force      bool
	State      string // db.FleetJobRunning, db.FleetJobDone, or "planned" for a dry run
	CreatedAt  time.Time
	EndedAt    *time.Time
	Moves      []JobMove
	Unplaced   []Unplaced
	Before     map[string]db.Load
	After      map[string]db.Load
	// RatioBefore and RatioAfter are max/mean by By (rebalance).
	RatioBefore, RatioAfter float64
}

// JobMove is one migration of a job.
type JobMove struct {
	ID          int64
	ModelUUID   string
	Model       string
	Source      string
	Target      string
	Agents      int
	Estimate    time.Duration
	State       string
	MigrationID int64
	Error       string
}

// Unplaced is a model a plan found no target for.
type Unplaced struct {
	ModelUUID string `json:"model-uuid"`
	Model     string `json:"model"`
	Reason    string `json:"reason"`
}

// jobPlan is the part of a job stored as JSON.
type jobPlan struct {
	Unplaced    []Unplaced         `json:"unplaced,omitempty"`
	Before      map[string]db.Load `json:"before,omitempty"`
	After       map[string]db.Load `json:"after,omitempty"`
	RatioBefore float64            `json:"ratio-before,omitempty"`
	RatioAfter  float64            `json:"ratio-after,omitempty"`
}

// snapshot reads the fleet for planning, refreshing the models' sizes
// first when it can.
func (m *Manager) snapshot(ctx context.Context) (*fleet, error) {
	if m.refreshLoad != nil {
		if err := m.refreshLoad(ctx); err != nil {
			m.log.Warn("planning with the model sizes last read", "err", err)
		}
	}
	ctls, err := m.registry.List(ctx)
	if err != nil {
		return nil, err
	}
	loads, err := m.db.ControllerLoads(ctx)
	if err != nil {
		return nil, err
	}
	models, err := m.db.Models(ctx)
	if err != nil {
		return nil, err
	}
	f := &fleet{ctls: map[string]*fleetCtl{}, models: models}
	for _, c := range ctls {
		f.ctls[c.Name] = &fleetCtl{row: c, up: m.up(c.Name), load: loads[c.Name]}
	}
	return f, nil
}

// Evacuate deprecates a controller and starts moving every model off it,
// Parallel at a time; with DryRun it only answers the plan.
func (m *Manager) Evacuate(ctx context.Context, req EvacuateRequest) (*Job, error) {
	f, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	p, err := f.planEvacuation(req.Controller, req.To)
	if err != nil {
		return nil, err
	}
	j := &Job{Kind: JobEvacuate, Controller: req.Controller, Parallel: max(req.Parallel, 1), Force: req.Force,
		Moves: p.moves, Unplaced: p.unplaced, Before: p.before, After: p.after}
	m.estimateMoves(ctx, j)
	if req.DryRun {
		j.State, j.CreatedAt = "planned", m.clock.Now().UTC()
		return j, nil
	}
	if _, err := m.registry.SetDeprecated(ctx, req.Controller, true); err != nil {
		return nil, fmt.Errorf("deprecate controller %q before evacuating it: %w", req.Controller, err)
	}
	return m.startJob(ctx, j)
}

// Rebalance plans the fewest moves that bring every controller within
// Tolerance of the fleet's mean load and, unless DryRun, starts them.
func (m *Manager) Rebalance(ctx context.Context, req RebalanceRequest) (*Job, error) {
	by := req.By
	switch by {
	case "":
		by = MeasureModels
	case MeasureModels, MeasureMachines, MeasureUnits, MeasureAgents:
	default:
		return nil, refuse("rebalance by %q: want one of models, machines, units, agents", by)
	}
	f, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	p, before, after := f.planRebalance(by, req.MaxMoves)
	j := &Job{Kind: JobRebalance, By: by, Parallel: max(req.Parallel, 1), Force: req.Force,
		Moves: p.moves, Before: p.before, After: p.after, RatioBefore: before, RatioAfter: after}
	m.estimateMoves(ctx, j)
	if req.DryRun {
		j.State, j.CreatedAt = "planned", m.clock.Now().UTC()
		return j, nil
	}
	return m.startJob(ctx, j)
}

// estimateMoves fills each move's VALIDATION estimate from its target's
// agent login settings (read once per target; a target that cannot be
// read leaves its moves without an estimate).
func (m *Manager) estimateMoves(ctx context.Context, j *Job) {
	limits := map[string]*Limits{}
	for i := range j.Moves {
		mv := &j.Moves[i]
		l, read := limits[mv.Target]
		if !read {
			if got, err := m.limitsOf(ctx, mv.Target); err == nil {
				l = &got
			}
			limits[mv.Target] = l
		}
		if l != nil {
			mv.Estimate = Estimate(mv.Agents, *l)
		}
	}
}

func (m *Manager) startJob(ctx context.Context, j *Job) (*Job, error) {
	plan, err := json.Marshal(jobPlan{Unplaced: j.Unplaced, Before: j.Before, After: j.After, RatioBefore: j.RatioBefore, RatioAfter: j.RatioAfter})
	if err != nil {
		return nil, err
	}
	row := &db.FleetJob{Kind: j.Kind, Controller: j.Controller, Measure: j.By, Parallel: j.Parallel, Force: j.Force,
		State: db.FleetJobRunning, Plan: string(plan)}
	for _, mv := range j.Moves {
		row.Moves = append(row.Moves, db.FleetMove{ModelUUID: mv.ModelUUID, Model: mv.Model, Source: mv.Source, Target: mv.Target,
			Agents: mv.Agents, EstimateMS: mv.Estimate.Milliseconds(), State: db.MovePending})
	}
	if len(row.Moves) == 0 {
		now := m.clock.Now().UTC()
		row.State, row.EndedAt = db.FleetJobDone, &now
	}
	if err := m.db.AddFleetJob(ctx, row); err != nil {
		return nil, err
	}
	m.log.Info("fleet job started", "job", row.ID, "kind", j.Kind, "controller", j.Controller, "by", j.By, "moves", len(row.Moves), "parallel", j.Parallel)
	m.kickJobs()
	return jobOf(row), nil
}

// jobOf reads a stored job.
func jobOf(row *db.FleetJob) *Job {
	j := &Job{ID: row.ID, Kind: row.Kind, Controller: row.Controller, By: row.Measure, Parallel: row.Parallel, Force: row.Force,
		State: row.State, CreatedAt: row.CreatedAt.UTC(), EndedAt: row.EndedAt}
	var p jobPlan
	if row.Plan != "" && json.Unmarshal([]byte(row.Plan), &p) == nil {
		j.Unplaced, j.Before, j.After, j.RatioBefore, j.RatioAfter = p.Unplaced, p.Before, p.After, p.RatioBefore, p.RatioAfter
	}
	for _, mv := range row.Moves {
		j.Moves = append(j.Moves, JobMove{ID: mv.ID, ModelUUID: mv.ModelUUID, Model: mv.Model, Source: mv.Source, Target: mv.Target,
			Agents: mv.Agents, Estimate: time.Duration(mv.EstimateMS) * time.Millisecond, State: mv.State, MigrationID: mv.MigrationID, Error: mv.Error})
	}
	return j
}

// Job returns a fleet job (db.ErrNotFound when there is none).
func (m *Manager) Job(ctx context.Context, id int64) (*Job, error) {
	row, err := m.db.FleetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return jobOf(row), nil
}

// Jobs returns the latest fleet jobs, newest first.
func (m *Manager) Jobs(ctx context.Context) ([]Job, error) {
	rows, err := m.db.FleetJobs(ctx, jobsListed)
	if err != nil {
		return nil, err
	}
	out := make([]Job, len(rows))
	for i := range rows {
		out[i] = *jobOf(&rows[i])
	}
	return out, nil
}

// kickJobs wakes the job runner.
func (m *Manager) kickJobs() {
	select {
	case m.jobKick <- struct{}{}:
	default:
	}
}

// runJobs steps every running job this replica holds (or can take: its
// holder stopped renewing) every jobStep, until ctx ends.
func (m *Manager) runJobs(ctx context.Context) {
	for {
		ids, err := m.db.RunningFleetJobs(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("cannot list running fleet jobs", "err", err)
		}
		for _, id := range ids {
			now := m.clock.Now()
			ok, err := m.db.TakeLease(ctx, db.FleetJobLease(id), m.replica, now, now.Add(Lease))
			if err != nil || !ok {
				continue
			}
			if err := m.stepJob(ctx, id); err != nil && ctx.Err() == nil {
				m.log.Warn("fleet job step failed; retrying", "job", id, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-m.jobKick:
		case <-m.clock.After(jobStep):
		}
	}
}

// stepJob records the moves whose migrations ended, starts pending moves
// up to the job's parallelism, and ends the job when every move has ended.
func (m *Manager) stepJob(ctx context.Context, id int64) error {
	row, err := m.db.FleetJob(ctx, id)
	if err != nil {
		return err
	}
	running := 0
	for i := range row.Moves {
		mv := &row.Moves[i]
		switch mv.State {
		case db.MoveRunning:
			mig, err := m.db.MigrationByRef(ctx, fmt.Sprint(mv.MigrationID))
			if err != nil {
				return err
			}
			switch mig.Result {
			case db.MigrationSucceeded:
				if err := m.endMove(ctx, row, mv, db.MoveSucceeded, ""); err != nil {
					return err
				}
			case db.MigrationFailed:
				if mig.Phase == phaseInitiating && strings.HasPrefix(mig.Message, notAccepted) {
					// Nothing moved: the move starts again.
					why := fmt.Sprintf("migration %d never started (%s): starting it again", mig.ID, notAccepted)
					if err := m.db.SetFleetMove(ctx, mv.ID, db.MovePending, 0, why); err != nil {
						return err
					}
					mv.State, mv.MigrationID, mv.Error = db.MovePending, 0, why
					m.log.Info("fleet job move starts again", "job", id, "model", mv.ModelUUID, "migration", mig.ID)
					continue
				}
				if err := m.endMove(ctx, row, mv, db.MoveFailed, fmt.Sprintf("migration %d failed in %s: %s", mig.ID, mig.Phase, mig.Message)); err != nil {
					return err
				}
			default:
				running++
			}
		}
	}
	for i := range row.Moves {
		if running >= row.Parallel {
			break
		}
		mv := &row.Moves[i]
		if mv.State != db.MovePending {
			continue
		}
		started, err := m.startMove(ctx, row, mv)
		if err != nil {
			return err
		}
		if started {
			running++
		}
	}
	pending := 0
	for _, mv := range row.Moves {
		if mv.State == db.MovePending {
			pending++
		}
	}
	if running == 0 && pending == 0 {
		if err := m.db.EndFleetJob(ctx, id, m.clock.Now()); err != nil {
			return err
		}
		failed := 0
		for _, mv := range row.Moves {
			if mv.State == db.MoveFailed {
				failed++
			}
		}
		m.log.Info("fleet job ended", "job", id, "kind", row.Kind, "moves", len(row.Moves), "failed", failed)
		if err := m.db.ReleaseLease(ctx, db.FleetJobLease(id), m.replica); err != nil {
			m.log.Debug("cannot release a fleet job's lease", "job", id, "err", err)
		}
	}
	return nil
}

// startMove starts one move's migration and reports whether it runs. A
// move whose model is already on its target (its migration ended while
// no replica watched) succeeds; one the broker refuses fails, leaving the
// model where it is; one whose source cannot be reached now stays pending,
// its error saying why, and is tried again at the next step. Only errors
// of the broker's own (its database) are returned, for the step to be
// retried.
func (m *Manager) startMove(ctx context.Context, job *db.FleetJob, mv *db.FleetMove) (bool, error) {
	route, err := m.db.ModelByUUID(ctx, mv.ModelUUID)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return false, m.endMove(ctx, job, mv, db.MoveFailed, "the model is gone")
	case err != nil:
		return false, err
	case route.Controller.Name == mv.Target:
		return false, m.endMove(ctx, job, mv, db.MoveSucceeded, "")
	case !m.up(route.Controller.Name):
		return false, m.moveWaits(ctx, job, mv, fmt.Sprintf("controller %q, the model's source, is down: the move waits for it", route.Controller.Name))
	}
	mig, err := m.Migrate(ctx, mv.Target, mv.ModelUUID, Options{Force: job.Force})
	switch {
	case dbfault.IsDatabase(err):
		return false, err // the broker's own: the step is retried
	case jujuapi.ErrorCode(err) == jujuapi.CodeTryAgain:
		// The source cannot be reached now: the move waits for it,
		// saying why, rather than fail.
		return false, m.moveWaits(ctx, job, mv, err.Error())
	}
	if errors.Is(err, ErrRunning) {
		// Started by this job before a crash, or by someone else: follow
		// the running migration.
		if mig, err = m.db.MigrationByRef(ctx, mv.ModelUUID); err != nil {
			return false, err
		}
	} else if err != nil {
		if mig != nil && mig.ID != 0 {
			mv.MigrationID = mig.ID
		}
		return false, m.endMove(ctx, job, mv, db.MoveFailed, err.Error())
	}
	mv.State, mv.MigrationID = db.MoveRunning, mig.ID
	if err := m.db.SetFleetMove(ctx, mv.ID, db.MoveRunning, mig.ID, ""); err != nil {
		return true, err
	}
	m.moves.WithLabelValues(job.Kind, db.MoveRunning).Inc()
	m.log.Info("fleet job move started", "job", job.ID, "model", mv.ModelUUID, "from", mv.Source, "to", mv.Target, "migration", mig.ID)
	m.moveAudit(job, mv, "started", "")
	return true, nil
}

// moveWaits records why a pending move waits (once per reason).
func (m *Manager) moveWaits(ctx context.Context, job *db.FleetJob, mv *db.FleetMove, why string) error {
	if mv.Error == why {
		return nil
	}
	if err := m.db.SetFleetMove(ctx, mv.ID, db.MovePending, 0, why); err != nil {
		return err
	}
	mv.Error = why
	m.log.Info("fleet job move waits", "job", job.ID, "model", mv.ModelUUID, "why", why)
	return nil
}

func (m *Manager) endMove(ctx context.Context, job *db.FleetJob, mv *db.FleetMove, state, errText string) error {
	if err := m.db.SetFleetMove(ctx, mv.ID, state, mv.MigrationID, errText); err != nil {
		return err
	}
	mv.State, mv.Error = state, errText
	m.moves.WithLabelValues(job.Kind, state).Inc()
	m.log.Info("fleet job move ended", "job", job.ID, "model", mv.ModelUUID, "to", mv.Target, "result", state, "err", errText)
	m.moveAudit(job, mv, state, errText)
	return nil
}

// moveAudit records a move's start or end in the audit log.
func (m *Manager) moveAudit(job *db.FleetJob, mv *db.FleetMove, result, errText string) {
	if m.audit == nil {
		return
	}
	m.audit(AuditEvent{
		Time: m.clock.Now(), Model: mv.ModelUUID, Result: result, Error: errText,
		Method: fmt.Sprintf("%s job %d move %s → %s (migration %d)", job.Kind, job.ID, mv.Source, mv.Target, mv.MigrationID),
	})
}

// AuditEvent is what the manager records of a fleet job's moves; the
// broker passes it to its audit log (facade "Fleet").
type AuditEvent struct {
	Time          time.Time
	Model, Method string
	Result, Error string
}
