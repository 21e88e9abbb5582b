package admin

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/migration"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

func restLimits(l migration.Limits) restapi.AgentLimits {
	return restapi.AgentLimits{RateLimitMax: l.Max, RateLimitRate: l.Rate.String(), AgentWaitTime: l.Wait.String()}
}

// restPlan renders a migration plan for the admin API.
func restPlan(p *migration.Plan) *restapi.MigrationPlan {
	if p == nil {
		return nil
	}
	out := &restapi.MigrationPlan{
		ModelUUID: p.ModelUUID, Model: p.Model, Source: p.Source, Target: p.Target,
		Machines: p.Machines, Units: p.Units, Agents: p.Agents(), Logins: migration.LoginsPerAgent * p.Agents(),
		Limits: restLimits(p.Limits), EstimateSeconds: p.Estimate.Seconds(), Fits: p.Fits, Advice: p.Advice, Applied: p.Applied,
	}
	if p.Advised != nil {
		a := restLimits(*p.Advised)
		out.Advised = &a
	}
	return out
}

// planMigration answers how long a model's agents would take to reconnect
// to a target; with apply, it first sets the advised settings there.
func (a *API) planMigration(c echo.Context) error {
	var req restapi.PlanMigrationRequest
	const usage = "plan migration: expected JSON {model-uuid, controller[, apply]}"
	if err := bind(c, &req, usage); err != nil {
		return err
	}
	if req.ModelUUID == "" || req.Controller == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, usage)
	}
	if err := checks(input.UUID("model-uuid", req.ModelUUID), checkControllerName(req.Controller)); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := a.migrations.PlanMigration(ctx, req.Controller, req.ModelUUID)
	if err != nil {
		return migrationError(err)
	}
	if req.Apply && p.Advised != nil {
		if p, err = a.migrations.ApplyAdvice(ctx, p); err != nil {
			return migrationError(err)
		}
	}
	return c.JSON(http.StatusOK, restPlan(p))
}

// restJob renders a fleet job for the admin API.
func restJob(j *migration.Job) restapi.FleetJob {
	out := restapi.FleetJob{
		ID: j.ID, Kind: j.Kind, Controller: j.Controller, By: j.By, Parallel: j.Parallel, State: j.State,
		CreatedAt: j.CreatedAt.UTC(), EndedAt: j.EndedAt, Moves: []restapi.Move{},
		RatioBefore: j.RatioBefore, RatioAfter: j.RatioAfter,
	}
	for _, mv := range j.Moves {
		out.Moves = append(out.Moves, restapi.Move{
			ModelUUID: mv.ModelUUID, Model: mv.Model, Source: mv.Source, Target: mv.Target, Agents: mv.Agents,
			EstimateSeconds: mv.Estimate.Seconds(), State: mv.State, MigrationID: mv.MigrationID, Error: mv.Error,
		})
	}
	for _, u := range j.Unplaced {
		out.Unplaced = append(out.Unplaced, restapi.Unplaced{ModelUUID: u.ModelUUID, Model: u.Model, Reason: u.Reason})
	}
	conv := func(m map[string]db.Load) map[string]restapi.Load {
		if m == nil {
			return nil
		}
		out := make(map[string]restapi.Load, len(m))
		for k, l := range m {
			out[k] = restapi.Load{Models: l.Models, Machines: l.Machines, Units: l.Units, Agents: l.Agents()}
		}
		return out
	}
	out.Before, out.After = conv(j.Before), conv(j.After)
	return out
}

// jobAnswer answers a job just planned: 200 for a dry run, 202 for a
// started one.
func jobAnswer(c echo.Context, j *migration.Job) error {
	status := http.StatusAccepted
	if j.ID == 0 {
		status = http.StatusOK
	}
	return c.JSON(status, restJob(j))
}

func (a *API) evacuate(c echo.Context) error {
	var req restapi.EvacuateRequest
	const usage = "evacuate: expected JSON {controller[, to, parallel, dry-run, force]}"
	if err := bind(c, &req, usage); err != nil {
		return err
	}
	if req.Controller == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, usage)
	}
	errs := []error{checkControllerName(req.Controller)}
	for _, t := range req.To {
		errs = append(errs, checkControllerName(t))
	}
	if err := checks(errs...); err != nil {
		return err
	}
	if req.Parallel < 0 || req.Parallel > migration.MaxParallel {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "evacuate: parallel must be between 1 and "+strconv.Itoa(migration.MaxParallel))
	}
	j, err := a.migrations.Evacuate(c.Request().Context(), migration.EvacuateRequest{
		Controller: req.Controller, To: req.To, Parallel: req.Parallel, DryRun: req.DryRun, Force: req.Force,
	})
	if err != nil {
		return migrationError(err)
	}
	return jobAnswer(c, j)
}

func (a *API) rebalance(c echo.Context) error {
	var req restapi.RebalanceRequest
	if err := bind(c, &req, "rebalance: expected JSON {[by, max-moves, parallel, dry-run, force]}"); err != nil {
		return err
	}
	if req.Parallel < 0 || req.Parallel > migration.MaxParallel || req.MaxMoves < 0 {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "rebalance: parallel must be between 1 and "+strconv.Itoa(migration.MaxParallel)+" and max-moves not negative")
	}
	j, err := a.migrations.Rebalance(c.Request().Context(), migration.RebalanceRequest{
		By: req.By, MaxMoves: req.MaxMoves, Parallel: req.Parallel, DryRun: req.DryRun, Force: req.Force,
	})
	if err != nil {
		return migrationError(err)
	}
	return jobAnswer(c, j)
}

func (a *API) listFleetJobs(c echo.Context) error {
	jobs, err := a.migrations.Jobs(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]restapi.FleetJob, len(jobs))
	for i := range jobs {
		out[i] = restJob(&jobs[i])
	}
	return c.JSON(http.StatusOK, out)
}

func (a *API) getFleetJob(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "fleet job: the id is a positive number")
	}
	j, err := a.migrations.Job(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return restError(http.StatusNotFound, restapi.CodeNotFound, "no fleet job "+c.Param("id"))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restJob(j))
}
