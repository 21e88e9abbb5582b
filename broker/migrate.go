package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Model migration, as the broker runs it: check what it can itself,
// record the migration, ask the source controller to move the model
// (Controller.InitiateMigration), follow its phases, and flip the route in
// one transaction when the model is on the target, telling every replica.
// One replica follows a migration at a time, holding a lease on its row;
// when that replica dies another takes over.

// Phases as Juju names them; INITIATING is the broker's, before the source
// controller accepted the migration.
const (
	phaseInitiating = "INITIATING"
	phaseSuccess    = "SUCCESS"
	phaseDone       = "DONE"
	phaseAbortDone  = "ABORTDONE"
)

// migrationStatuses map the status text a controller shows in
// ModelInfo.migration to the phase, longest first.
var migrationStatuses = []struct{ prefix, phase string }{
	{"successful, removing model from source controller", "REAP"},
	{"successful, transferring logs to target controller", "LOGTRANSFER"},
	{"successful", phaseSuccess},
	{"activating model in target controller", "VALIDATION"},
	{"validating", "VALIDATION"},
	{"processing relations", "PROCESSRELATIONS"},
	{"importing", "IMPORT"},
	{"quiescing", "QUIESCE"},
	{"migration completed", phaseDone},
	{"aborted", "ABORT"},
	{"migration aborted", phaseAbortDone},
}

// pastSuccess reports whether a phase is SUCCESS or later: the model is
// being handed over and its route is about to flip.
func pastSuccess(phase string) bool {
	switch phase {
	case phaseSuccess, "LOGTRANSFER", "REAP", phaseDone:
		return true
	}
	return false
}

func phaseOf(status string) string {
	phase := ""
	best := 0
	for _, s := range migrationStatuses {
		if strings.HasPrefix(status, s.prefix) && len(s.prefix) > best {
			phase, best = s.phase, len(s.prefix)
		}
	}
	return phase
}

// errMigrating marks the refusal of a migration because another one of
// the model is running.
var errMigrating = errors.New("migration running")

// errMigration marks a refusal to start a migration: the caller's request
// breaks a rule, nothing was started.
var errMigration = errors.New("migration refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMigration, fmt.Sprintf(format, args...))
}

// Migrate starts moving a model to the target controller after checking
// every rule it can itself. It returns once the source controller has
// accepted the migration; a follower then takes it to its end.
func (s *Server) Migrate(ctx context.Context, id *identity, targetName, modelUUID string) (*db.Migration, error) {
	if !id.Admin {
		return nil, jujuapi.ErrPerm
	}
	m, err := s.routes.get(ctx, modelUUID)
	if err != nil {
		return nil, refuse("model %s is not known to the broker", modelUUID)
	}
	target, err := s.registry.Get(ctx, targetName)
	if err != nil {
		return nil, refuse("%v", err)
	}
	if err := s.precheck(ctx, m, target); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	leaseUntil := now.Add(migrationLease)
	mig := &db.Migration{
		ModelUUID: m.UUID, ModelName: m.Name, Owner: m.Owner,
		SourceControllerID: m.ControllerID, TargetControllerID: target.ID,
		Phase: phaseInitiating, Result: restapi.MigrationRunning, StartedAt: now, PhaseChangedAt: now,
		LeaseOwner: s.replicaID, LeaseUntil: &leaseUntil,
	}
	if err := s.db.WithContext(ctx).Create(mig).Error; err != nil {
		if errors.Is(err, db.ErrDuplicate) {
			return nil, fmt.Errorf("%w: %w", errMigrating, refuse("a migration of model %q is already running", m.Name))
		}
		return nil, fmt.Errorf("record migration of model %q: %w", m.Name, err)
	}
	mig.Source, mig.Target = m.Controller, *target
	s.log.Info("migration started", "model", m.Name, "uuid", m.UUID, "from", m.Controller.Name, "to", target.Name, "migration", mig.ID)
	if err := s.initiate(ctx, mig); err != nil {
		s.endMigration(mig, restapi.MigrationFailed, phaseInitiating, err.Error())
		return mig, err
	}
	go s.follow(mig)
	return mig, nil
}

// precheck applies the rules the broker can check itself, with messages
// that name the rule. Juju's controllers check them again.
func (s *Server) precheck(ctx context.Context, m *db.Model, target *db.Controller) error {
	src := &m.Controller
	switch {
	case m.Life != "alive":
		return refuse("model %q is %s: only a live model can be migrated", m.Name, m.Life)
	case target.ID == src.ID:
		return refuse("model %q is already on controller %q", m.Name, target.Name)
	case target.Deprecated:
		return refuse("controller %q is deprecated: it takes no models", target.Name)
	case !s.health.Up(target.Name):
		return refuse("controller %q is down", target.Name)
	case target.Cloud != m.Cloud || target.CloudType != src.CloudType:
		return refuse("controller %q hosts cloud %q (%s); model %q is on cloud %q (%s): source and target must share cloud and substrate",
			target.Name, target.Cloud, target.CloudType, m.Name, m.Cloud, src.CloudType)
	case !slices.Contains(target.Regions, m.Region):
		return refuse("controller %q does not host region %q of cloud %q", target.Name, m.Region, m.Cloud)
	}
	tv, err1 := controllers.ParseVersion(target.AgentVersion)
	sv, err2 := controllers.ParseVersion(src.AgentVersion)
	if err1 == nil && err2 == nil && tv.Compare(sv) < 0 {
		return refuse("controller %q runs Juju %s, older than %s on controller %q: the target must be at least the source's version",
			target.Name, target.AgentVersion, src.AgentVersion, src.Name)
	}
	tc, err := s.pool.Get(ctx, target.Name)
	if err != nil {
		return refuse("controller %q cannot be reached: %v", target.Name, err)
	}
	sums, err := tc.ListModelSummaries(ctx, tc.User(), true)
	if err != nil {
		return fmt.Errorf("list models on controller %q: %w", target.Name, err)
	}
	owner := jujuapi.UserTag(m.Owner).String()
	for _, r := range sums {
		if r.Result != nil && r.Result.Name == m.Name && r.Result.OwnerTag == owner {
			return refuse("controller %q already has a model %q owned by %s", target.Name, m.Name, m.Owner)
		}
	}
	sc, err := s.controllerClient(ctx, m)
	if err != nil {
		return err
	}
	info, err := sc.ModelInfo(ctx, m.UUID)
	if err != nil {
		return fmt.Errorf("read model %q on its controller: %w", m.Name, err)
	}
	for _, u := range info.Users {
		if strings.Contains(u.UserName, "@") {
			continue // an external identity: every controller knows it
		}
		var res params.UserInfoResults
		err := tc.Call(ctx, "UserManager", 3, "UserInfo", params.UserInfoRequest{Entities: []params.Entity{{Tag: jujuapi.UserTag(u.UserName).String()}}}, &res)
		if err != nil {
			return fmt.Errorf("look up user %q on controller %q: %w", u.UserName, target.Name, err)
		}
		if len(res.Results) != 1 || res.Results[0].Error != nil {
			return refuse("user %q of model %q is not known to controller %q", u.UserName, m.Name, target.Name)
		}
	}
	return nil
}

// initiate asks the source controller to migrate the model to the target.
func (s *Server) initiate(ctx context.Context, mig *db.Migration) error {
	ep, creds, err := s.registry.Resolve(ctx, mig.Target.Name)
	if err != nil {
		return err
	}
	sc, err := s.pool.Get(ctx, mig.Source.Name)
	if err != nil {
		return fmt.Errorf("controller %q cannot be reached: %w", mig.Source.Name, err)
	}
	var res params.InitiateMigrationResults
	err = sc.Call(ctx, "Controller", 11, "InitiateMigration", params.InitiateMigrationArgs{Specs: []params.MigrationSpec{{
		ModelTag: jujuapi.ModelTag(mig.ModelUUID).String(),
		TargetInfo: params.MigrationTargetInfo{
			ControllerTag: jujuapi.ControllerTag(ep.UUID).String(), ControllerAlias: mig.Target.Name,
			Addrs: ep.Addresses, CACert: ep.CACert, AuthTag: jujuapi.UserTag(creds.User).String(), Password: creds.Password,
		},
	}}}, &res)
	if err == nil && (len(res.Results) != 1 || res.Results[0].Error != nil) {
		if len(res.Results) == 1 {
			err = res.Results[0].Error
		} else {
			err = fmt.Errorf("%d results for one migration", len(res.Results))
		}
	}
	if err != nil {
		return fmt.Errorf("%w: controller %q refused to migrate model %q: %v", errMigration, mig.Source.Name, mig.ModelName, unwrapJuju(err))
	}
	mig.ControllerMigrationID = res.Results[0].MigrationId
	return s.db.WithContext(ctx).Model(mig).Updates(map[string]any{"controller_migration_id": mig.ControllerMigrationID}).Error
}

// migrationLease is how long a replica may go without renewing its claim
// on a migration before another takes it over.
const (
	migrationLease = 15 * time.Second
	migrationPoll  = 250 * time.Millisecond
	migrationAdopt = 5 * time.Second
	cutoverMaxWait = 10 * time.Second
	cutoverChannel = "jimm_cutover"
)

// adoptMigrations, every migrationAdopt, takes over running migrations no
// live replica follows (its lease expired), e.g. after a broker restart.
func (s *Server) adoptMigrations(ctx context.Context) {
	for {
		var running []db.Migration
		err := s.db.WithContext(ctx).Where("result = ? AND (lease_owner = '' OR lease_until IS NULL OR lease_until < ?)", restapi.MigrationRunning, time.Now().UTC()).Find(&running).Error
		if err != nil && ctx.Err() == nil {
			s.log.Warn("cannot look for migrations to follow", "err", err)
		}
		for i := range running {
			if s.claim(ctx, &running[i]) {
				mig := running[i]
				if err := s.db.WithContext(ctx).Preload("Source").Preload("Target").First(&mig, mig.ID).Error; err == nil {
					s.log.Info("following a migration another replica left", "migration", mig.ID, "model", mig.ModelName, "phase", mig.Phase)
					go s.follow(&mig)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(migrationAdopt):
		}
	}
}

// claim takes (or renews) this replica's lease on a running migration.
func (s *Server) claim(ctx context.Context, mig *db.Migration) bool {
	now := time.Now().UTC()
	until := now.Add(migrationLease)
	res := s.db.WithContext(ctx).Model(&db.Migration{}).
		Where("id = ? AND result = ? AND (lease_owner = ? OR lease_owner = '' OR lease_until IS NULL OR lease_until < ?)", mig.ID, restapi.MigrationRunning, s.replicaID, now).
		Updates(map[string]any{"lease_owner": s.replicaID, "lease_until": until})
	return res.Error == nil && res.RowsAffected == 1
}

// follow watches a migration on the source controller until it ends,
// recording its phases, and flips the route when the model is on the
// target. It stops if it loses its lease.
func (s *Server) follow(mig *db.Migration) {
	ctx := s.serveCtx
	renewed := time.Now()
	for ctx.Err() == nil {
		if time.Since(renewed) > migrationLease/3 {
			if !s.claim(ctx, mig) {
				s.log.Warn("lost the lease on a migration; another replica follows it", "migration", mig.ID)
				return
			}
			renewed = time.Now()
		}
		if done := s.followOnce(ctx, mig); done {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(migrationPoll):
		}
	}
}

// followOnce reads the migration's state on the source once; it reports
// whether the migration has ended.
func (s *Server) followOnce(ctx context.Context, mig *db.Migration) bool {
	sc, err := s.pool.Get(ctx, mig.Source.Name)
	if err != nil {
		s.log.Debug("cannot reach a migration's source controller yet", "migration", mig.ID, "err", err)
		return false
	}
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := sc.ModelInfo(callCtx, mig.ModelUUID)
	switch code := jujuapi.ErrorCode(err); {
	case code == jujuapi.CodeRedirect, code == jujuapi.CodeNotFound:
		// The model left the source: it is on the target if the target
		// says so.
		if err := s.checkOnTarget(ctx, mig.ModelUUID, &mig.Target); err != nil {
			s.log.Warn("model left its source but the target does not host it yet", "migration", mig.ID, "err", err)
			return false
		}
		s.setPhase(mig, phaseDone, "migration completed")
		if err := s.flipTo(ctx, mig.ModelUUID, &mig.Target, mig); err != nil {
			s.log.Error("cannot flip a migrated model's route", "migration", mig.ID, "err", err)
			return false
		}
		return true
	case err != nil:
		s.log.Debug("cannot read a migration's progress yet", "migration", mig.ID, "err", err)
		return false
	case info.Migration == nil:
		return false
	}
	status := info.Migration.Status
	phase := phaseOf(status)
	if phase == "" {
		return false
	}
	if phase != mig.Phase {
		s.setPhase(mig, phase, status)
	}
	if phase == phaseAbortDone {
		s.endMigration(mig, restapi.MigrationFailed, mig.Phase, status)
		return true
	}
	return false
}

// checkOnTarget verifies that the target controller hosts the model.
func (s *Server) checkOnTarget(ctx context.Context, uuid string, target *db.Controller) error {
	tc, err := s.pool.Get(ctx, target.Name)
	if err != nil {
		return err
	}
	if _, err := tc.ModelInfo(ctx, uuid); err != nil {
		return fmt.Errorf("controller %q does not host model %s: %w", target.Name, uuid, unwrapJuju(err))
	}
	return nil
}

// setPhase records a new phase of a running migration; on reaching SUCCESS
// or later every replica starts holding new connections to the model until
// its route flips.
func (s *Server) setPhase(mig *db.Migration, phase, message string) {
	now := time.Now().UTC()
	cutover := pastSuccess(phase) && !pastSuccess(mig.Phase)
	err := s.db.Tx(s.serveCtx, func(tx *gorm.DB, notify func(string, string)) error {
		if cutover {
			notify(cutoverChannel, mig.ModelUUID)
		}
		return tx.Model(&db.Migration{}).Where("id = ?", mig.ID).Updates(map[string]any{"phase": phase, "message": message, "phase_changed_at": now}).Error
	})
	if err != nil {
		s.log.Warn("cannot record a migration's phase", "migration", mig.ID, "phase", phase, "err", err)
		return
	}
	mig.Phase, mig.Message, mig.PhaseChangedAt = phase, message, now
	s.metrics.migrationPhases.WithLabelValues(phase).Inc()
	s.log.Info("migration phase", "migration", mig.ID, "model", mig.ModelName, "phase", phase, "message", message)
}

// endMigration records how a migration ended.
func (s *Server) endMigration(mig *db.Migration, result, phase, message string) {
	now := time.Now().UTC()
	err := s.db.WithContext(context.WithoutCancel(s.serveCtx)).Model(&db.Migration{}).Where("id = ?", mig.ID).
		Updates(map[string]any{"result": result, "phase": phase, "message": message, "ended_at": now, "lease_owner": ""}).Error
	if err != nil {
		s.log.Error("cannot record the end of a migration", "migration", mig.ID, "err", err)
	}
	mig.Result, mig.Phase, mig.Message, mig.EndedAt = result, phase, message, &now
	s.metrics.migrations.WithLabelValues(result).Inc()
	s.metrics.migrationDuration.Observe(now.Sub(mig.StartedAt).Seconds())
	s.endCutover(mig.ModelUUID)
	s.log.Info("migration ended", "migration", mig.ID, "model", mig.ModelName, "result", result, "phase", phase, "message", message)
}

// flipTo points a model at target in one transaction (ending mig, when
// given) and tells every replica.
func (s *Server) flipTo(ctx context.Context, uuid string, target *db.Controller, mig *db.Migration) error {
	now := time.Now().UTC()
	var from string
	err := s.db.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		var m db.Model
		if err := tx.Preload("Controller").Where("uuid = ?", uuid).First(&m).Error; err != nil {
			return err
		}
		from = m.Controller.Name
		if err := tx.Model(&db.Model{}).Where("uuid = ?", uuid).Updates(map[string]any{"controller_id": target.ID, "updated_at": now}).Error; err != nil {
			return err
		}
		if mig != nil {
			if err := tx.Model(&db.Migration{}).Where("id = ?", mig.ID).Updates(map[string]any{
				"result": restapi.MigrationSucceeded, "phase": phaseDone, "ended_at": now, "lease_owner": "",
			}).Error; err != nil {
				return err
			}
		}
		notify(routesChannel, uuid)
		return nil
	})
	if err != nil {
		return fmt.Errorf("flip route of model %s to controller %q: %w", uuid, target.Name, err)
	}
	s.metrics.routeFlips.Inc()
	s.metrics.models.WithLabelValues(from).Dec()
	s.metrics.models.WithLabelValues(target.Name).Inc()
	if mig != nil {
		mig.Result, mig.Phase, mig.EndedAt = restapi.MigrationSucceeded, phaseDone, &now
		s.metrics.migrations.WithLabelValues(restapi.MigrationSucceeded).Inc()
		s.metrics.migrationDuration.Observe(now.Sub(mig.StartedAt).Seconds())
	}
	s.log.Info("route flipped", "model", uuid, "from", from, "to", target.Name)
	return nil
}

// UpdateMigratedModel points a model moved outside the broker at the
// controller that now hosts it, after checking that it does.
func (s *Server) UpdateMigratedModel(ctx context.Context, id *identity, targetName, uuid string) (*db.Model, error) {
	if !id.Admin {
		return nil, jujuapi.ErrPerm
	}
	m, err := s.routes.get(ctx, uuid)
	if err != nil {
		return nil, refuse("model %s is not known to the broker", uuid)
	}
	target, err := s.registry.Get(ctx, targetName)
	if err != nil {
		return nil, refuse("%v", err)
	}
	if m.ControllerID != target.ID {
		if err := s.checkOnTarget(ctx, uuid, target); err != nil {
			return nil, refuse("%v", err)
		}
		if err := s.flipTo(ctx, uuid, target, nil); err != nil {
			return nil, err
		}
	}
	s.routes.forget(uuid)
	return s.routes.get(ctx, uuid)
}

// Cutovers: from SUCCESS until the route flips (or the migration fails),
// new connections to the model wait, at most cutoverMaxWait, rather than
// reach a source that is handing the model over.

func (s *Server) startCutover(uuid string) {
	s.cutoverMu.Lock()
	defer s.cutoverMu.Unlock()
	if _, ok := s.cutovers[uuid]; ok {
		return
	}
	ch := make(chan struct{})
	s.cutovers[uuid] = ch
	time.AfterFunc(cutoverMaxWait, func() { s.endCutover(uuid) })
}

func (s *Server) endCutover(uuid string) {
	s.cutoverMu.Lock()
	defer s.cutoverMu.Unlock()
	if ch, ok := s.cutovers[uuid]; ok {
		close(ch)
		delete(s.cutovers, uuid)
	}
}

// awaitCutover holds a new connection while its model is cutting over.
func (s *Server) awaitCutover(ctx context.Context, uuid string) {
	s.cutoverMu.Lock()
	ch := s.cutovers[uuid]
	s.cutoverMu.Unlock()
	if ch == nil {
		return
	}
	start := time.Now()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	s.metrics.cutoverWait.Observe(time.Since(start).Seconds())
}

// restMigration renders a migration for the admin API.
func restMigration(m *db.Migration) restapi.Migration {
	return restapi.Migration{
		ID: m.ID, ModelUUID: m.ModelUUID, ModelName: m.ModelName, Owner: m.Owner,
		Source: m.Source.Name, Target: m.Target.Name, ControllerID: m.ControllerMigrationID,
		Phase: m.Phase, Message: m.Message, Result: m.Result,
		StartedAt: m.StartedAt.UTC(), PhaseChangedAt: m.PhaseChangedAt.UTC(), EndedAt: m.EndedAt,
	}
}

// checkRoute asks a model's controller whether it still hosts the model,
// and heals the route when it answers with a redirect. The proxy calls it
// when a relayed call finds the model gone from its controller, so that
// the route flips at once rather than at the next poll, or at all when
// the model moved outside the broker.
func (s *Server) checkRoute(uuid string) {
	// Callers for one model share one check, and all wait for its end.
	s.routeChecks.Do(uuid, func() (any, error) {
		s.checkRouteOnce(uuid)
		return nil, nil
	})
}

func (s *Server) checkRouteOnce(uuid string) {
	ctx, cancel := context.WithTimeout(s.serveCtx, 10*time.Second)
	defer cancel()
	m, err := s.routes.get(ctx, uuid)
	if err != nil {
		return
	}
	c, err := s.pool.Get(ctx, m.Controller.Name)
	if err != nil {
		return
	}
	_, err = c.ModelInfo(ctx, uuid)
	if jujuapi.ErrorCode(err) != jujuapi.CodeRedirect {
		return
	}
	if to, err := s.healRoute(ctx, m, err); err != nil {
		s.log.Warn("a model left its controller and the broker cannot follow it", "model", uuid, "err", err)
	} else {
		s.log.Info("followed a model that left its controller", "model", uuid, "from", m.Controller.Name, "to", to)
	}
}
