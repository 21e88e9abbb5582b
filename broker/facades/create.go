package facades

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/jimmbroker/jimm/broker/clouds"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// validModelName is Juju's rule for model names.
var validModelName = regexp.MustCompile(`^[a-z0-9]+[a-z0-9-]*$`)

func (s *session) createModel(ctx context.Context, p params.ModelCreateArgs) (params.ModelInfo, error) {
	id := s.caller()
	if len(p.Name) > maxModelNameLength {
		return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeNotValid, "model name of %d characters is too long: at most %d", len(p.Name), maxModelNameLength)
	}
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
		if cloud, err = s.api.identity.CloudForNewModel(ctx, id, cloud); err != nil {
			return params.ModelInfo{}, err
		}
	}
	cred, err := s.api.clouds.ModelCredential(ctx, id, p.CloudCredentialTag, cloud)
	if err != nil {
		return params.ModelInfo{}, err
	}
	return s.api.createModel(ctx, s.bg, owner.ID, cloud, p, cred)
}

// maxModelNameLength bounds a model's name: far more than any operator
// names a model, and far below what the database indexes.
const maxModelNameLength = 255

// createModel places a new model: it records the creation before asking
// any controller (a creation under way blocks another of the same owner
// and name, and a crash leaves a record for the reconciler to finish),
// then tries the eligible controllers in the order placement gives until
// one creates it, recording each before asking it and moving on only when
// the failure is the controller's. The route, the owner's access and the
// end of the creation are stored in one transaction; if that fails the
// model is destroyed again. A database failure stops the creation where it
// is: it is the database's fault, not the controller's. bg outlives the
// call, for the search for a model a controller creates after the broker
// gave up on it.
func (a *API) createModel(ctx, bg context.Context, owner, cloud string, p params.ModelCreateArgs, cred *clouds.Credential) (params.ModelInfo, error) {
	taken, err := a.nameTaken(ctx, owner, p.Name)
	if err != nil {
		return params.ModelInfo{}, err
	}
	if taken {
		return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeAlreadyExists, "model %q for %s already exists", p.Name, owner)
	}
	ctls, err := a.registry.List(ctx)
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
			Up: a.up(c.Name), Deprecated: c.Deprecated, Priority: c.Priority, AgentVersion: c.AgentVersion,
		})
	}
	order := controllers.Place(cands, cloud, p.CloudRegion, "", rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	if len(order) == 0 {
		where := cloud
		if p.CloudRegion != "" {
			where += "/" + p.CloudRegion
		}
		return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeNotFound, "no controller available for %s: none that hosts it is up and not deprecated", where)
	}
	creation := &db.ModelCreation{Owner: owner, Name: p.Name, Cloud: cloud, Region: p.CloudRegion, Replica: a.replicaID}
	if err := a.db.BeginModelCreation(ctx, creation); err != nil {
		if errors.Is(err, db.ErrDuplicate) {
			return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeAlreadyExists, "model %q for %s already exists (or is being created)", p.Name, owner)
		}
		return params.ModelInfo{}, err
	}
	args := p
	args.OwnerTag = jujuapi.UserTag(owner).String()
	var lastErr error
	faulted := false // a controller failed: it may create the model late
	for _, name := range order {
		if err := a.db.ModelCreationTrying(ctx, creation.ID, name); err != nil {
			a.endCreation(ctx, bg, creation, faulted)
			return params.ModelInfo{}, err
		}
		info, err := a.createOn(ctx, bg, byName[name], args, cred, creation, faulted)
		if err == nil {
			a.placements.WithLabelValues(name, "ok").Inc()
			return info, nil
		}
		lastErr = err
		if !controllers.IsControllerFault(err) {
			a.placements.WithLabelValues(name, "refused").Inc()
			a.endCreation(ctx, bg, creation, faulted)
			return params.ModelInfo{}, jujuapi.AsError(dbfault.ForClient(jujuapi.Underlying(err), a.log))
		}
		faulted = true
		a.placements.WithLabelValues(name, "controller-error").Inc()
		a.log.Warn("model creation failed on controller; trying the next", "controller", name, "model", p.Name, "err", err)
	}
	a.endCreation(ctx, bg, creation, faulted)
	a.log.Error("model creation failed on every eligible controller", "model", p.Name, "err", lastErr)
	return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeTryAgain, "cannot create model %q: no eligible controller could create it; try again later", p.Name)
}

// nameTaken reports whether owner has a model called name. A dying model
// that its controller no longer has is forgotten first: its name is free.
func (a *API) nameTaken(ctx context.Context, owner, name string) (bool, error) {
	m, err := a.db.ModelByOwnerName(ctx, owner, name)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if m.Life != db.LifeDying {
		return true, nil
	}
	c, err := a.pool.Get(ctx, m.Controller.Name)
	if err != nil {
		return true, nil // cannot tell: the name stays taken
	}
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.ModelInfo(callCtx, m.UUID); jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
		a.routes.RemoveModel(ctx, m.UUID)
		a.log.Info("forgot a destroyed model its controller no longer has", "model", m.UUID, "controller", m.Controller.Name)
		return false, nil
	}
	return true, nil
}

// endCreation ends a creation that recorded no model, with a context of
// its own (the caller's may be what ended it). If the database cannot
// take it now (an outage), it is tried again in the background, off bg,
// until it can: the record would otherwise block its name until the
// reconciler took this live replica's creation for abandoned.
func (a *API) endCreation(ctx, bg context.Context, c *db.ModelCreation, sweep bool) {
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	err := a.db.EndModelCreation(endCtx, c.ID, sweep)
	cancel()
	if err == nil {
		return
	}
	a.log.Warn("cannot record the end of a model creation yet; trying again", "model", c.Name, "owner", c.Owner, "err", err)
	go func() {
		ctx, cancel := context.WithTimeout(bg, orphanSweepFor)
		defer cancel()
		for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
			select {
			case <-ctx.Done():
				a.log.Error("gave up recording the end of a model creation; the reconciler will", "model", c.Name, "owner", c.Owner)
				return
			case <-a.clock.After(wait):
			}
			endCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := a.db.EndModelCreation(endCtx, c.ID, sweep)
			cancel()
			if err == nil {
				a.log.Info("recorded the end of a model creation", "model", c.Name, "owner", c.Owner)
				return
			}
		}
	}()
}

// createOn creates the model on one controller, its creation prepared
// for that controller by clouds (region, model defaults, credential), and
// records it, ending creation (kept as a sweep when an earlier controller
// faulted).
func (a *API) createOn(ctx, bg context.Context, ctl *db.Controller, args params.ModelCreateArgs, cred *clouds.Credential, creation *db.ModelCreation, faulted bool) (params.ModelInfo, error) {
	c, err := a.pool.Get(ctx, ctl.Name)
	if err != nil {
		return params.ModelInfo{}, err
	}
	owner, _ := jujuapi.ParseUserTag(args.OwnerTag)
	prepCtx, cancel := context.WithTimeout(ctx, a.modelCreateTimeout)
	credKey, err := a.clouds.Prepare(prepCtx, ctl, &args, cred)
	cancel()
	if err != nil {
		return params.ModelInfo{}, err
	}
	createCtx, cancel := context.WithTimeout(ctx, a.modelCreateTimeout)
	info, err := c.CreateModel(createCtx, args)
	cancel()
	if err != nil {
		if controllers.IsControllerFault(err) {
			// The request reached the controller and may yet create the
			// model there, after the broker has placed it elsewhere.
			go a.sweepOrphan(bg, ctl.Name, owner.ID, args.Name, creation.ID)
		}
		return params.ModelInfo{}, err
	}
	if credKey == "" && info.CloudCredentialTag != "" {
		// The controller's own credential (its administrator's): recorded
		// too, so that the models using it can be listed.
		if cloud, credOwner, name, err := jujuapi.ParseCloudCredentialTag(info.CloudCredentialTag); err == nil {
			credKey = cloud + "/" + credOwner + "/" + name
		}
	}
	row := &db.Model{
		UUID: info.UUID, Name: info.Name, Owner: owner.ID, ControllerID: ctl.ID,
		Cloud: ctl.Cloud, Region: info.CloudRegion, Type: info.Type, Life: db.LifeAlive, Credential: credKey,
	}
	err = a.db.FinishModelCreation(ctx, creation.ID, row, identity.SubjectOf(owner.ID), faulted)
	a.rel.Changed() // the owner's access counts at once, here
	if err != nil {
		if adopted, aerr := a.db.ModelByUUID(context.WithoutCancel(ctx), info.UUID); aerr == nil && adopted.Controller.Name == ctl.Name {
			// The reconciler took this replica for dead and recorded the
			// model itself: it is the broker's.
			a.hideController(&info)
			return info, nil
		}
		// Undo on the controller, with a context of its own: the caller's
		// may be what just ended. The creation record stays when the
		// database failed: the reconciler checks the controller later.
		undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		derr := c.DestroyModel(undoCtx, info.UUID, true, nil)
		if derr != nil {
			a.log.Error("cannot undo model creation: model left on controller for the reconciler", "controller", ctl.Name, "model", info.UUID, "err", derr)
		} else {
			// Undone: the name is free again as soon as the database can
			// say so (else the reconciler ends the record).
			a.endCreation(ctx, bg, creation, faulted)
		}
		if errors.Is(err, db.ErrDuplicate) {
			return params.ModelInfo{}, jujuapi.Errorf(jujuapi.CodeAlreadyExists, "model %q for %s already exists", args.Name, owner.ID)
		}
		// Not the controller's fault: the loop must stop here.
		return params.ModelInfo{}, fmt.Errorf("record model %q: %w", args.Name, err)
	}
	a.log.Info("model created", "model", info.Name, "uuid", info.UUID, "owner", owner.ID, "controller", ctl.Name)
	a.hideController(&info)
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
// controller created after the broker stopped waiting for it (creation
// is the broker's record of that creation). It keeps looking until the
// controller has answered twice, the second time after a creation still
// queued there would have finished. It is the quick path: the reconciler
// does the same from the creation record, after a crash too.
func (a *API) sweepOrphan(bg context.Context, ctlName, owner, name string, creation int64) {
	ctx, cancel := context.WithTimeout(bg, orphanSweepFor)
	defer cancel()
	log := a.log.With("controller", ctlName, "owner", owner, "model", name)
	var firstAnswer time.Time
	for {
		done, err := a.sweepOnce(ctx, log, ctlName, owner, name, creation)
		switch {
		case err != nil:
			log.Debug("cannot yet look for an orphaned model", "err", err)
		case firstAnswer.IsZero():
			firstAnswer = a.clock.Now()
		case done && a.clock.Now().Sub(firstAnswer) > a.modelCreateTimeout:
			return
		}
		select {
		case <-ctx.Done():
			log.Error("gave up looking for a model a controller may have created after a timeout")
			return
		case <-a.clock.After(orphanSweepEvery):
		}
	}
}

// sweepOnce lists the controller's models and destroys the orphans among
// them; done reports that it found none left.
func (a *API) sweepOnce(ctx context.Context, log *slog.Logger, ctlName, owner, name string, creation int64) (done bool, err error) {
	c, err := a.pool.Get(ctx, ctlName)
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
		if m == nil || m.Name != name || m.OwnerTag != ownerTag || m.Life != db.LifeAlive {
			continue
		}
		routed, err := a.db.ModelByUUID(callCtx, m.UUID)
		if err == nil && routed.Controller.Name == ctlName {
			continue // the broker's own: not an orphan
		}
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return false, err
		}
		if other, err := a.db.ModelCreationByName(callCtx, owner, name); err == nil && other.ID != creation {
			return false, nil // a later creation of the same name is under way: its model, not an orphan
		}
		done = false
		if err := c.DestroyModel(callCtx, m.UUID, true, nil); err != nil {
			return false, err
		}
		log.Warn("destroyed a model a controller created after the broker gave up on it", "uuid", m.UUID)
	}
	return done, nil
}
