package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"time"

	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// forUser checks that the caller may list the models of the user named by
// tag: itself, or anyone for an admin.
func (a *apiSession) forUser(tag string) (string, error) {
	t, err := jujuapi.ParseUserTag(tag)
	if err != nil {
		return "", err
	}
	id := a.caller()
	if t.ID != id.Name && !id.Admin {
		return "", jujuapi.ErrPerm
	}
	return t.ID, nil
}

// modelsOf returns the models a user can see, with the best access it has
// to each, in one query: those it or its groups have a relation to, and
// those on the controllers it administers. all (admins only), or a broker
// administrator, gets every model with admin.
func (s *Server) modelsOf(ctx context.Context, user string, all bool) ([]db.ModelAccess, error) {
	if !all {
		admin, err := s.isBrokerAdmin(ctx, user)
		if err != nil {
			return nil, err
		}
		all = admin
	}
	var subjects, controllers []string
	if !all {
		var err error
		if subjects, err = s.rel.Subjects(ctx, subjectOf(user)); err != nil {
			return nil, fmt.Errorf("list the groups of %q: %w", user, err)
		}
		if controllers, err = s.administeredControllers(ctx, user); err != nil {
			return nil, err
		}
	}
	rows, err := s.db.ModelsFor(ctx, subjects, controllers)
	if err != nil {
		return nil, err
	}
	// One row per relation: keep each model once, with its best access.
	out := rows[:0]
	index := map[string]int{}
	for _, row := range rows {
		row.Relation = relationAccess(row.Relation)
		if all {
			row.Relation = accessAdmin
		}
		if i, seen := index[row.UUID]; seen {
			if accessRank(row.Relation) > accessRank(out[i].Relation) {
				out[i].Relation = row.Relation
			}
			continue
		}
		index[row.UUID] = len(out)
		out = append(out, row)
	}
	return out, nil
}

func (a *apiSession) listModels(ctx context.Context, p params.Entity) (params.UserModelList, error) {
	user, err := a.forUser(p.Tag)
	if err != nil {
		return params.UserModelList{}, err
	}
	rows, err := a.srv.modelsOf(ctx, user, false)
	if err != nil {
		return params.UserModelList{}, err
	}
	out := params.UserModelList{UserModels: make([]params.UserModel, 0, len(rows))}
	for _, m := range rows {
		out.UserModels = append(out.UserModels, params.UserModel{
			Model: params.Model{Name: m.Name, UUID: m.UUID, Type: m.Type, OwnerTag: jujuapi.UserTag(m.Owner).String()},
		})
	}
	return out, nil
}

func (a *apiSession) listModelSummaries(ctx context.Context, p params.ModelSummariesRequest) (params.ModelSummaryResults, error) {
	user, err := a.forUser(p.UserTag)
	if err != nil {
		return params.ModelSummaryResults{}, err
	}
	if p.All && !a.caller().Admin {
		return params.ModelSummaryResults{}, jujuapi.ErrPerm
	}
	rows, err := a.srv.modelsOf(ctx, user, p.All)
	if err != nil {
		return params.ModelSummaryResults{}, err
	}
	out := params.ModelSummaryResults{Results: make([]params.ModelSummaryResult, len(rows))}
	for i := range rows {
		out.Results[i].Result = a.srv.summary(&rows[i])
	}
	return out, nil
}

// summary renders a routing-table row as the broker shows it: the broker
// is the controller.
func (s *Server) summary(m *db.ModelAccess) *params.ModelSummary {
	since := m.UpdatedAt
	status := "available"
	if m.Life != "alive" {
		status = "destroying"
	}
	return &params.ModelSummary{
		Name: m.Name, UUID: m.UUID, Type: m.Type, ControllerUUID: s.uuid,
		CloudTag: jujuapi.CloudTag(m.Cloud).String(), CloudRegion: m.Region,
		OwnerTag: jujuapi.UserTag(m.Owner).String(), Life: m.Life,
		Status:     params.EntityStatus{Status: status, Since: &since},
		UserAccess: params.UserAccessPermission(m.Relation),
		Counts: []params.ModelEntityCount{
			{Entity: params.Machines, Count: int64(m.MachineCount)},
			{Entity: params.Cores, Count: int64(m.CoreCount)},
			{Entity: params.Units, Count: int64(m.UnitCount)},
		},
		SLA:          &params.ModelSLAInfo{Level: "unsupported", Owner: m.Owner},
		AgentVersion: &m.AgentVersion,
	}
}

// hostedModel returns a model's route if the caller has at least want on
// it. A caller without any access is told the model is not found.
func (a *apiSession) hostedModel(ctx context.Context, tag, want string) (*db.Model, error) {
	t, err := jujuapi.ParseModelTag(tag)
	if err != nil {
		return nil, err
	}
	return a.srv.accessibleModel(ctx, a.caller(), t.ID, want)
}

func (s *Server) accessibleModel(ctx context.Context, id *identity, uuid, want string) (*db.Model, error) {
	m, err := s.routes.get(ctx, uuid)
	if err != nil {
		return nil, err
	}
	have, err := s.modelAccess(ctx, id, m)
	if err != nil {
		return nil, err
	}
	if have == accessNone {
		return nil, jujuapi.NotFoundf("model %q", uuid)
	}
	if accessRank(have) < accessRank(want) {
		return nil, jujuapi.ErrPerm
	}
	return m, nil
}

// controllerClient returns the shared admin connection to a model's
// controller, or an error that says the controller is unavailable.
func (s *Server) controllerClient(ctx context.Context, m *db.Model) (*controllers.Client, error) {
	c, err := s.pool.Get(ctx, m.Controller.Name)
	if err != nil {
		s.log.Warn("controller unavailable", "controller", m.Controller.Name, "model", m.UUID, "err", err)
		return nil, jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q is unavailable; try again later", m.Name)
	}
	return c, nil
}

// hideController replaces what would reveal the hosting controller in a
// model's info with the broker's own identity.
func (s *Server) hideController(info *params.ModelInfo) {
	info.ControllerUUID = s.uuid
}

func (a *apiSession) modelInfo(ctx context.Context, p params.Entities) (params.ModelInfoResults, error) {
	out := params.ModelInfoResults{Results: make([]params.ModelInfoResult, len(p.Entities))}
	for i, e := range p.Entities {
		info, err := a.oneModelInfo(ctx, e.Tag)
		if err != nil {
			out.Results[i].Error = jujuapi.AsError(err)
			continue
		}
		out.Results[i].Result = info
	}
	return out, nil
}

func (a *apiSession) oneModelInfo(ctx context.Context, tag string) (*params.ModelInfo, error) {
	m, err := a.hostedModel(ctx, tag, accessRead)
	if err != nil {
		return nil, err
	}
	c, err := a.srv.controllerClient(ctx, m)
	if err != nil {
		return nil, err
	}
	info, err := c.ModelInfo(ctx, m.UUID)
	if err != nil {
		if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
			a.srv.forgetModel(ctx, m.UUID)
		}
		return nil, jujuapi.AsError(unwrapJuju(err))
	}
	a.srv.hideController(&info)
	a.srv.recordCounts(ctx, m.UUID, len(info.Machines), -1)
	return &info, nil
}

// unwrapJuju returns the protocol error inside err, so the client sees the
// controller's message without the broker's wrapping that names it.
func unwrapJuju(err error) error {
	var e *jujuapi.Error
	if errors.As(err, &e) {
		return e
	}
	return err
}

// validModelName is Juju's rule for model names.
var validModelName = regexp.MustCompile(`^[a-z0-9]+[a-z0-9-]*$`)

func (a *apiSession) createModel(ctx context.Context, p params.ModelCreateArgs) (params.ModelInfo, error) {
	id := a.caller()
	if !validModelName.MatchString(p.Name) {
		return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeNotValid, "%q is not a valid name: model names may only contain lowercase letters, digits and hyphens", p.Name)
	}
	owner, err := jujuapi.ParseUserTag(p.OwnerTag)
	if err != nil {
		return params.ModelInfo{}, err
	}
	if owner.ID != id.Name && !id.Admin {
		return params.ModelInfo{}, jujuapi.ErrPerm
	}
	cloud := ""
	if p.CloudTag != "" {
		t, err := jujuapi.ParseCloudTag(p.CloudTag)
		if err != nil {
			return params.ModelInfo{}, err
		}
		cloud = t.ID
	}
	if !id.Admin {
		if cloud, err = a.srv.cloudForNewModel(ctx, id, cloud); err != nil {
			return params.ModelInfo{}, err
		}
	}
	return a.srv.createModel(ctx, owner.ID, cloud, p)
}

// createModel places a new model: it tries the eligible controllers in the
// order placement gives until one creates it, moving on only when the
// failure is the controller's. The route and the owner's access are stored
// in one transaction; if that fails the model is destroyed again, so
// nothing is left half-created.
func (s *Server) createModel(ctx context.Context, owner, cloud string, p params.ModelCreateArgs) (params.ModelInfo, error) {
	var taken int64
	if err := s.db.WithContext(ctx).Model(&db.Model{}).Where("owner = ? AND name = ?", owner, p.Name).Count(&taken).Error; err != nil {
		return params.ModelInfo{}, fmt.Errorf("check model name: %w", err)
	}
	if taken > 0 {
		return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeAlreadyExists, "model %q for %s already exists", p.Name, owner)
	}
	ctls, err := s.registry.List(ctx)
	if err != nil {
		return params.ModelInfo{}, err
	}
	if cloud == "" {
		clouds := map[string]bool{}
		for _, c := range ctls {
			clouds[c.Cloud] = true
		}
		if len(clouds) != 1 {
			return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeNotValid, "this broker hosts %d clouds: name one", len(clouds))
		}
		for c := range clouds {
			cloud = c
		}
	}
	byName := map[string]*db.Controller{}
	cands := make([]controllers.Candidate, 0, len(ctls))
	for i := range ctls {
		c := &ctls[i]
		byName[c.Name] = c
		cands = append(cands, controllers.Candidate{
			Name: c.Name, Cloud: c.Cloud, CloudType: c.CloudType, Regions: c.Regions,
			Up: s.health.Up(c.Name), Deprecated: c.Deprecated, Priority: c.Priority, AgentVersion: c.AgentVersion,
		})
	}
	order := controllers.Place(cands, cloud, p.CloudRegion, "", s.rand())
	if len(order) == 0 {
		where := cloud
		if p.CloudRegion != "" {
			where += "/" + p.CloudRegion
		}
		return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeNotFound, "no controller available for %s: none that hosts it is up and not deprecated", where)
	}
	args := p
	args.OwnerTag = jujuapi.UserTag(owner).String()
	var lastErr error
	for _, name := range order {
		info, err := s.createOn(ctx, byName[name], args)
		if err == nil {
			s.metrics.placements.WithLabelValues(name, "ok").Inc()
			return info, nil
		}
		lastErr = err
		if !controllers.IsControllerFault(err) {
			s.metrics.placements.WithLabelValues(name, "refused").Inc()
			return params.ModelInfo{}, jujuapi.AsError(unwrapJuju(err))
		}
		s.metrics.placements.WithLabelValues(name, "controller-error").Inc()
		s.log.Warn("model creation failed on controller; trying the next", "controller", name, "model", p.Name, "err", err)
	}
	s.log.Error("model creation failed on every eligible controller", "model", p.Name, "err", lastErr)
	return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeTryAgain, "cannot create model %q: no eligible controller could create it; try again later", p.Name)
}

func (s *Server) createOn(ctx context.Context, ctl *db.Controller, args params.ModelCreateArgs) (params.ModelInfo, error) {
	c, err := s.pool.Get(ctx, ctl.Name)
	if err != nil {
		return params.ModelInfo{}, err
	}
	owner, _ := jujuapi.ParseUserTag(args.OwnerTag)
	createCtx, cancel := context.WithTimeout(ctx, s.cfg.ModelCreateTimeout)
	info, err := c.CreateModel(createCtx, args)
	cancel()
	if err != nil {
		if controllers.IsControllerFault(err) {
			// The request reached the controller and may yet create the
			// model there, after the broker has placed it elsewhere.
			go s.sweepOrphan(ctl.Name, owner.ID, args.Name)
		}
		return params.ModelInfo{}, err
	}
	row := &db.Model{
		UUID: info.UUID, Name: info.Name, Owner: owner.ID, ControllerID: ctl.ID,
		Cloud: ctl.Cloud, Region: info.CloudRegion, Type: info.Type, Life: "alive",
	}
	err = s.db.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		if err := tx.Create(row).Error; err != nil {
			return err
		}
		notify(authz.RelationsChannel, "")
		return tx.Create(&db.Relation{Subject: subjectOf(owner.ID), Relation: authz.Administrator, ObjectKind: authz.KindModel, ObjectID: info.UUID}).Error
	})
	s.rel.Changed() // the owner's access counts at once, here
	if err != nil {
		// Undo on the controller, with a context of its own: the caller's
		// may be what just ended.
		undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := c.DestroyModel(undoCtx, info.UUID, true, nil); derr != nil {
			s.log.Error("cannot undo model creation: model left on controller", "controller", ctl.Name, "model", info.UUID, "err", derr)
		}
		if errors.Is(err, db.ErrDuplicate) {
			return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeAlreadyExists, "model %q for %s already exists", args.Name, owner.ID)
		}
		return params.ModelInfo{}, fmt.Errorf("record model %q: %w", args.Name, err)
	}
	s.metrics.models.WithLabelValues(ctl.Name).Inc()
	s.log.Info("model created", "model", info.Name, "uuid", info.UUID, "owner", owner.ID, "controller", ctl.Name)
	s.hideController(&info)
	return info, nil
}

// orphanSweep bounds the search for a model a controller may have created
// after the broker gave up on it.
const (
	orphanSweepFor   = 10 * time.Minute
	orphanSweepEvery = 2 * time.Second
)

// sweepOrphan destroys any model named name owned by owner on controller
// ctlName that the routing table does not route there: one that the
// controller created after the broker stopped waiting for it. It keeps
// looking until the controller has answered twice, the second time after
// a creation still queued there would have finished.
func (s *Server) sweepOrphan(ctlName, owner, name string) {
	ctx, cancel := context.WithTimeout(s.serveCtx, orphanSweepFor)
	defer cancel()
	var firstAnswer time.Time
	for {
		done, err := s.sweepOnce(ctx, ctlName, owner, name)
		switch {
		case err != nil:
			s.log.Debug("cannot yet look for an orphaned model", "controller", ctlName, "model", name, "err", err)
		case firstAnswer.IsZero():
			firstAnswer = time.Now()
		case done && time.Since(firstAnswer) > s.cfg.ModelCreateTimeout:
			return
		}
		select {
		case <-ctx.Done():
			s.log.Error("gave up looking for a model a controller may have created after a timeout", "controller", ctlName, "owner", owner, "model", name)
			return
		case <-time.After(orphanSweepEvery):
		}
	}
}

// sweepOnce lists the controller's models and destroys the orphans among
// them; done reports that it found none left.
func (s *Server) sweepOnce(ctx context.Context, ctlName, owner, name string) (done bool, err error) {
	c, err := s.pool.Get(ctx, ctlName)
	if err != nil {
		return false, err
	}
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sums, err := c.ListModelSummaries(callCtx, c.User(), true)
	if err != nil {
		return false, err
	}
	ownerTag := jujuapi.UserTag(owner).String()
	done = true
	for _, r := range sums {
		m := r.Result
		if m == nil || m.Name != name || m.OwnerTag != ownerTag || m.Life != "alive" {
			continue
		}
		var routed db.Model
		err := s.db.WithContext(callCtx).Preload("Controller").Where("uuid = ?", m.UUID).First(&routed).Error
		if err == nil && routed.Controller.Name == ctlName {
			continue // the broker's own: not an orphan
		}
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return false, err
		}
		done = false
		if err := c.DestroyModel(callCtx, m.UUID, true, nil); err != nil {
			return false, err
		}
		s.log.Warn("destroyed a model a controller created after the broker gave up on it", "controller", ctlName, "model", name, "uuid", m.UUID, "owner", owner)
	}
	return done, nil
}

func (a *apiSession) destroyModels(ctx context.Context, p params.DestroyModelsParams) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Models))}
	for i, d := range p.Models {
		if err := a.destroyModel(ctx, d); err != nil {
			out.Results[i].Error = jujuapi.AsError(err)
		}
	}
	return out, nil
}

func (a *apiSession) destroyModel(ctx context.Context, d params.DestroyModelParams) error {
	m, err := a.hostedModel(ctx, d.ModelTag, accessAdmin)
	if err != nil {
		return err
	}
	c, err := a.srv.controllerClient(ctx, m)
	if err != nil {
		return err
	}
	force := d.Force != nil && *d.Force
	if err := c.DestroyModel(ctx, m.UUID, force, d.MaxWait); err != nil {
		if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
			a.srv.forgetModel(ctx, m.UUID)
			return nil
		}
		return unwrapJuju(err)
	}
	err = a.srv.db.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		notify(routesChannel, m.UUID)
		return tx.Model(&db.Model{}).Where("uuid = ?", m.UUID).Update("life", "dying").Error
	})
	if err != nil {
		return fmt.Errorf("record model %s dying: %w", m.UUID, err)
	}
	a.srv.routes.forget(m.UUID)
	return nil
}

func (a *apiSession) modelStatus(ctx context.Context, p params.Entities) (params.ModelStatusResults, error) {
	out := params.ModelStatusResults{Results: make([]params.ModelStatus, len(p.Entities))}
	for i, e := range p.Entities {
		out.Results[i].ModelTag = e.Tag
		st, err := a.oneModelStatus(ctx, e.Tag)
		if err != nil {
			out.Results[i].Error = jujuapi.AsError(err)
			continue
		}
		out.Results[i] = st
	}
	return out, nil
}

func (a *apiSession) oneModelStatus(ctx context.Context, tag string) (params.ModelStatus, error) {
	m, err := a.hostedModel(ctx, tag, accessAdmin)
	if err != nil {
		return params.ModelStatus{}, err
	}
	c, err := a.srv.controllerClient(ctx, m)
	if err != nil {
		return params.ModelStatus{}, err
	}
	st, err := c.ModelStatus(ctx, m.UUID)
	if err != nil {
		if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
			// Gone from its controller: gone from the routing table.
			a.srv.forgetModel(ctx, m.UUID)
			return params.ModelStatus{}, jujuapi.NotFoundf("model %q", m.UUID)
		}
		return params.ModelStatus{}, unwrapJuju(err)
	}
	a.srv.recordCounts(ctx, m.UUID, st.HostedMachineCount, st.UnitCount)
	return st, nil
}

// forgetModel removes a model that its controller no longer has from the
// routing table, with every relation to it.
func (s *Server) forgetModel(ctx context.Context, uuid string) {
	err := s.db.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		notify(routesChannel, uuid)
		notify(authz.RelationsChannel, "")
		var m db.Model
		if err := tx.Preload("Controller").Where("uuid = ?", uuid).First(&m).Error; err != nil {
			return err
		}
		if err := tx.Where("object_kind = 'model' AND object_id = ?", uuid).Delete(&db.Relation{}).Error; err != nil {
			return err
		}
		if err := tx.Delete(&m).Error; err != nil {
			return err
		}
		s.metrics.models.WithLabelValues(m.Controller.Name).Dec()
		return nil
	})
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		s.log.Error("cannot remove a destroyed model from the routing table", "model", uuid, "err", err)
	}
	s.rel.Changed()
	s.routes.forget(uuid)
}

// recordCounts keeps the counts shown in model summaries; -1 leaves a
// count as it is.
func (s *Server) recordCounts(ctx context.Context, uuid string, machines, units int) {
	set := map[string]any{}
	if machines >= 0 {
		set["machine_count"], set["core_count"] = machines, machines
	}
	if units >= 0 {
		set["unit_count"] = units
	}
	if err := s.db.WithContext(ctx).Model(&db.Model{}).Where("uuid = ?", uuid).Updates(set).Error; err != nil {
		s.log.Debug("cannot record model counts", "model", uuid, "err", err)
	}
}

// rand returns a random source for placement.
func (s *Server) rand() *rand.Rand {
	return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
}
