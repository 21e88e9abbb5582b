package migration

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Phases as Juju names them; INITIATING is the broker's, before the source
// controller accepted the migration.
const (
	phaseInitiating = "INITIATING"
	phaseSuccess    = "SUCCESS"
	phaseDone       = "DONE"
	phaseAbortDone  = "ABORTDONE"
)

// migrationStatuses map the status text a controller shows in
// ModelInfo.migration to the phase.
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

// phaseOf is the phase a migration status text names (the longest prefix
// that matches), or "".
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

// follower takes one migration to its end, on the replica that holds its
// lease.
type follower struct {
	m   *Manager
	mig *db.Migration
	log *slog.Logger
	// idPending: the controller's migration id is not recorded yet (the
	// database failed when the source accepted the migration).
	idPending bool
}

func (m *Manager) follower(mig *db.Migration) *follower {
	return &follower{m: m, mig: mig, log: m.log.With("migration", mig.ID, "model", mig.ModelName, "uuid", mig.ModelUUID)}
}

// adopt, every adoptEvery, takes over running migrations no live replica
// follows (their lease lapsed), e.g. after a broker restart.
func (m *Manager) adopt(ctx context.Context) {
	for {
		running, err := m.db.UnclaimedMigrations(ctx, m.clock.Now())
		if err != nil && ctx.Err() == nil {
			m.log.Warn("cannot look for migrations to follow", "err", err)
		}
		for i := range running {
			f := m.follower(&running[i])
			if ok, _ := f.claim(ctx); ok {
				f.log.Info("following a migration another replica left", "phase", f.mig.Phase)
				go f.run(ctx)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-m.clock.After(adoptEvery):
		}
	}
}

// claim takes (or renews) this replica's lease on the migration. It
// reports whether the lease is this replica's, and the database's failure
// when it could not tell.
func (f *follower) claim(ctx context.Context) (bool, error) {
	now := f.m.clock.Now()
	ok, err := f.m.db.ClaimMigration(ctx, f.mig.ID, f.m.replica, now, now.Add(Lease))
	if err != nil && ctx.Err() == nil {
		f.log.Warn("cannot renew the lease on a migration", "err", db.Detail(err))
	}
	return ok, err
}

// run watches the migration on the source controller until it ends,
// recording its phases, and flips the route when the model is on the
// target. It stops if it loses its lease.
func (f *follower) run(ctx context.Context) {
	renewed := f.m.clock.Now()
	for ctx.Err() == nil {
		if f.m.clock.Now().Sub(renewed) > Lease/3 {
			switch ok, err := f.claim(ctx); {
			case errors.Is(err, db.ErrUnavailable):
				// The database cannot say whose the lease is: no other
				// replica can take it meanwhile. Go on following, and
				// renew when the database is back.
			case !ok:
				f.log.Warn("lost the lease on a migration; another replica follows it")
				return
			default:
				renewed = f.m.clock.Now()
			}
		}
		if f.idPending {
			if err := f.m.db.SetControllerMigrationID(ctx, f.mig.ID, f.mig.ControllerMigrationID); err == nil {
				f.idPending = false
			}
		}
		if done := f.once(ctx); done {
			return
		}
		select {
		case <-ctx.Done():
		case <-f.m.clock.After(poll):
		}
	}
}

// once reads the migration's state on the source once; it reports whether
// the migration has ended.
func (f *follower) once(ctx context.Context) bool {
	mig := f.mig
	sc, err := f.m.controller(ctx, mig.Source.Name)
	if err != nil {
		f.log.Debug("cannot reach a migration's source controller yet", "err", err)
		return false
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	info, err := sc.ModelInfo(callCtx, mig.ModelUUID)
	switch code := jujuapi.ErrorCode(err); {
	case code == jujuapi.CodeRedirect, code == jujuapi.CodeNotFound:
		// The model left the source: it is on the target if the target
		// says so.
		if err := f.m.checkOnTarget(ctx, mig.ModelUUID, &mig.Target); err != nil {
			f.log.Warn("model left its source but the target does not host it yet", "err", err)
			return false
		}
		f.setPhase(ctx, phaseDone, "migration completed")
		if err := f.flip(ctx); err != nil {
			f.log.Error("cannot flip a migrated model's route", "err", err)
			return false
		}
		return true
	case err != nil:
		f.log.Debug("cannot read a migration's progress yet", "err", err)
		return false
	case info.Migration == nil && f.neverAccepted():
		// The replica that started it stopped before the source took it
		// (between recording it and the source's answer): nothing moved,
		// and the model stays usable where it is.
		f.end(db.MigrationFailed, phaseInitiating, notAccepted+": the model stays on "+mig.Source.Name)
		return true
	case info.Migration == nil:
		return false
	}
	status := info.Migration.Status
	phase := phaseOf(status)
	if phase == "" {
		return false
	}
	if phase != mig.Phase {
		f.setPhase(ctx, phase, status)
	}
	if phase == phaseAbortDone {
		f.end(db.MigrationFailed, mig.Phase, status)
		return true
	}
	return false
}

// notAccepted begins the message of a migration that ended because the
// source never took it; a fleet job starts such a move again.
const notAccepted = "the source controller never took the migration: the broker that started it stopped first"

// neverAccepted reports whether the migration, which the source shows no
// migration for, was never taken by the source: it is still the broker's
// INITIATING, with no id from the source, and older than a lease, so that
// no request of the replica that started it can still be on its way.
func (f *follower) neverAccepted() bool {
	mig := f.mig
	return mig.Phase == phaseInitiating && mig.ControllerMigrationID == "" && !f.idPending &&
		f.m.clock.Now().Sub(mig.StartedAt) > Lease
}

// setPhase records a new phase of the migration; on reaching SUCCESS or
// later every replica starts holding new connections to the model until
// its route flips.
func (f *follower) setPhase(ctx context.Context, phase, message string) {
	mig := f.mig
	now := f.m.clock.Now().UTC()
	cutover := pastSuccess(phase) && !pastSuccess(mig.Phase)
	if err := f.m.db.SetMigrationPhase(ctx, mig, phase, message, now, cutover); err != nil {
		f.log.Warn("cannot record a migration's phase", "phase", phase, "err", err)
		return
	}
	if mig.Phase == "VALIDATION" && phase != "VALIDATION" {
		f.m.validation.Observe(now.Sub(mig.PhaseChangedAt).Seconds())
	}
	mig.Phase, mig.Message, mig.PhaseChangedAt = phase, message, now
	f.m.phases.WithLabelValues(phase).Inc()
	f.log.Info("migration phase", "phase", phase, "message", message)
}

// flip points the model at the target, ending the migration as succeeded
// in the same transaction.
func (f *follower) flip(ctx context.Context) error {
	mig := f.mig
	if err := f.m.routes.Flip(ctx, mig.ModelUUID, &mig.Target, mig.ID); err != nil {
		return err
	}
	now := f.m.clock.Now().UTC()
	mig.Result, mig.Phase, mig.EndedAt = db.MigrationSucceeded, phaseDone, &now
	f.m.migrations.WithLabelValues(db.MigrationSucceeded).Inc()
	f.m.duration.Observe(now.Sub(mig.StartedAt).Seconds())
	return nil
}

// end records how a migration ended without a flip, and lets connections
// waiting for its cutover go on.
func (f *follower) end(result, phase, message string) {
	mig := f.mig
	now := f.m.clock.Now().UTC()
	ctx := context.Background()
	if runCtx, err := f.m.runCtx(); err == nil {
		ctx = context.WithoutCancel(runCtx)
	}
	if err := f.m.db.EndMigration(ctx, mig.ID, result, phase, message, now); err != nil {
		if errors.Is(err, db.ErrUnavailable) {
			// Record it when the database is back, rather than leave a
			// migration running for good.
			f.log.Warn("cannot record the end of a migration yet; trying again", "err", db.Detail(err))
			go f.recordEnd(ctx, result, phase, message, now)
		} else {
			f.log.Error("cannot record the end of a migration", "err", err)
		}
	}
	mig.Result, mig.Phase, mig.Message, mig.EndedAt = result, phase, message, &now
	f.m.migrations.WithLabelValues(result).Inc()
	f.m.duration.Observe(now.Sub(mig.StartedAt).Seconds())
	f.m.routes.EndCutover(mig.ModelUUID)
	f.log.Info("migration ended", "result", result, "phase", phase, "message", message)
}

// recordEnd records a migration's end once the database is back, trying
// with back-off until it can or ctx ends.
func (f *follower) recordEnd(ctx context.Context, result, phase, message string, at time.Time) {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		err := f.m.db.EndMigration(ctx, f.mig.ID, result, phase, message, at)
		if err == nil {
			f.log.Info("recorded the end of a migration", "result", result)
			return
		}
		if !errors.Is(err, db.ErrUnavailable) {
			f.log.Error("cannot record the end of a migration", "err", err)
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
