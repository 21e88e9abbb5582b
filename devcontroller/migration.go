package devcontroller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/modellog"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The source side of a model migration.
//
// Controller.InitiateMigration checks the model (it exists, is alive, is
// not the controller model, has no migration running), logs in to the
// target's /api with the target info and has it run its prechecks (see
// migrationtarget.go), all before anything changes: a refusal is the
// call's per-model error. It then records the migration in the model's
// document (phase QUIESCE, the model in "exporting" mode) and starts a
// runner, which moves the model through Juju's phases, committing each
// phase before running it:
//
//	QUIESCE           the target's prechecks again
//	IMPORT            MigrationTarget.Import with the model's export
//	PROCESSRELATIONS  nothing (no cross-model relations here)
//	VALIDATION        the agents move to the target and report (agents.go),
//	                  then MigrationTarget.Activate
//	SUCCESS           nothing: the model is live on the target
//	LOGTRANSFER       the model's log goes to the target (logtransfer.go)
//	REAP              the model's document goes, a redirect record stays
//	DONE
//
// A failure before SUCCESS goes to ABORT, which brings the agents back
// and asks the target to Abort its import (when there may be one), then
// ABORTDONE: the model is as it was, usable, and its status says why the
// migration failed. From SUCCESS
// on there is no going back: a failing step is retried.
//
// While the model is exporting, reads work and every change is refused
// with "model migration in progress", as in Juju.
//
// On restart, a migration that had not reached SUCCESS is aborted (if the
// target was asked to activate, the target is asked first whether it did,
// and if so the migration goes on instead); one past SUCCESS is finished.
//
// For tests, the model config key dev-migration-fail-phase (a phase name)
// makes the runner fail on entering that phase; from SUCCESS on it fails
// once, then the retry succeeds. The key dev-migration-phase-delay,
// "PHASE:duration" (e.g. "VALIDATION:5s"), makes the runner wait that long
// on entering that phase, before doing the phase's work (and before an
// injected failure fires); the wait ends early only when the controller
// stops, and happens once per phase per runner. Both keys are
// development-only: ModelSet refuses a malformed value.

// Migration phases, as Juju names them.
const (
	phaseQuiesce          = "QUIESCE"
	phaseImport           = "IMPORT"
	phaseProcessRelations = "PROCESSRELATIONS"
	phaseValidation       = "VALIDATION"
	phaseSuccess          = "SUCCESS"
	phaseLogTransfer      = "LOGTRANSFER"
	phaseReap             = "REAP"
	phaseDone             = "DONE"
	phaseAbort            = "ABORT"
	phaseAbortDone        = "ABORTDONE"
)

// failPhaseKey is the model config key that injects a migration failure.
const failPhaseKey = "dev-migration-fail-phase"

// phaseDelayKey is the model config key that delays a migration phase:
// "PHASE:duration".
const phaseDelayKey = "dev-migration-phase-delay"

// parsePhaseDelay reads a dev-migration-phase-delay value, "PHASE:duration"
// with a phase name (any case) and a Go duration, e.g. "VALIDATION:5s".
func parsePhaseDelay(v any) (phase string, d time.Duration, err error) {
	s, ok := v.(string)
	if !ok {
		return "", 0, fmt.Errorf("%s must be a string \"PHASE:duration\", not %T", phaseDelayKey, v)
	}
	name, dur, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return "", 0, fmt.Errorf("%s %q is not \"PHASE:duration\" (e.g. \"VALIDATION:5s\")", phaseDelayKey, s)
	}
	phase = strings.ToUpper(strings.TrimSpace(name))
	if !knownPhase(phase) {
		return "", 0, fmt.Errorf("%s %q: %q is not a migration phase", phaseDelayKey, s, name)
	}
	d, err = time.ParseDuration(strings.TrimSpace(dur))
	if err != nil || d < 0 {
		return "", 0, fmt.Errorf("%s %q: %q is not a non-negative duration", phaseDelayKey, s, dur)
	}
	return phase, d, nil
}

// checkDevConfig refuses a malformed value of a development-only model
// config key.
func checkDevConfig(key string, v any) error {
	if key == phaseDelayKey {
		if _, _, err := parsePhaseDelay(v); err != nil {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "%v", err)
		}
	}
	return nil
}

// Bounds on calls to the target controller.
const (
	targetCallTimeout   = 30 * time.Second
	targetImportTimeout = 2 * time.Minute
	// retryBackoffMax bounds the wait between retries of a step past
	// SUCCESS.
	retryBackoffMax = 10 * time.Second
)

// knownPhase reports whether phase is one of Juju's migration phases.
func knownPhase(phase string) bool {
	switch phase {
	case phaseQuiesce, phaseImport, phaseProcessRelations, phaseValidation, phaseSuccess,
		phaseLogTransfer, phaseReap, phaseDone, phaseAbort, phaseAbortDone:
		return true
	}
	return false
}

// beforeSuccess reports whether a phase can still abort.
func beforeSuccess(phase string) bool {
	switch phase {
	case phaseQuiesce, phaseImport, phaseProcessRelations, phaseValidation:
		return true
	}
	return false
}

// phaseStatus is the status message a migration shows on entering a phase.
func phaseStatus(phase, failure string) string {
	switch phase {
	case phaseQuiesce:
		return "quiescing"
	case phaseImport:
		return "importing model into target controller"
	case phaseProcessRelations:
		return "processing relations"
	case phaseValidation:
		return "validating"
	case phaseSuccess:
		return "successful"
	case phaseLogTransfer:
		return "successful, transferring logs to target controller (0 sent)"
	case phaseReap:
		return "successful, removing model from source controller"
	case phaseDone:
		return "migration completed"
	case phaseAbort:
		return "aborted, removing model from target controller: " + failure
	case phaseAbortDone:
		return "migration aborted: " + failure
	}
	return strings.ToLower(phase)
}

// writable refuses changes to a model that is migrating away, as Juju does.
func writable(m *store.Model) error {
	if m.MigrationMode == store.MigrationModeExporting {
		return jujuapi.Errorf(jujuapi.CodeMigrationRunning, "model migration in progress")
	}
	return nil
}

// migrationStatus renders a model's latest migration for ModelInfo.
func migrationStatus(m *store.Model) *params.ModelMigrationStatus {
	mig := m.Migration
	if mig == nil {
		return nil
	}
	start := mig.Start
	st := &params.ModelMigrationStatus{Status: mig.StatusMessage, Start: &start}
	if !mig.End.IsZero() {
		end := mig.End
		st.End = &end
	}
	return st
}

func (s *session) initiateMigration(ctx context.Context, p params.InitiateMigrationArgs) (params.InitiateMigrationResults, error) {
	out := params.InitiateMigrationResults{Results: make([]params.InitiateMigrationResult, len(p.Specs))}
	if err := s.requireSuperuser(); err != nil {
		return out, err
	}
	for i, spec := range p.Specs {
		out.Results[i].ModelTag = spec.ModelTag
		id, err := s.ctl.initiateMigration(ctx, spec, s.identity())
		if err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		out.Results[i].MigrationId = id
	}
	return out, nil
}

// migratable refuses a model that cannot start a migration, naming the rule.
func migratable(m *store.Model) error {
	switch {
	case m.IsController:
		return jujuapi.Errorf(jujuapi.CodeNotSupported, "model %q is the controller model: a controller model cannot be migrated", m.Name)
	case m.MigrationMode == store.MigrationModeExporting && m.Migration != nil:
		return jujuapi.Errorf(jujuapi.CodeMigrationRunning, "a migration of model %q is already running (%s, phase %s)", m.Name, m.Migration.ID, m.Migration.Phase)
	case m.MigrationMode != store.MigrationModeNone:
		return jujuapi.Errorf(jujuapi.CodeMigrationRunning, "model %q is %s: a migration is already running", m.Name, m.MigrationMode)
	case m.Life != store.LifeAlive:
		return jujuapi.Errorf(jujuapi.CodeNotValid, "model %q is %s: only a live model can be migrated", m.Name, m.Life)
	}
	return nil
}

// migrationTarget checks the target info of a migration spec.
func migrationTarget(ti params.MigrationTargetInfo) (store.MigrationTarget, error) {
	var t store.MigrationTarget
	ctl, err := jujuapi.ParseControllerTag(ti.ControllerTag)
	if err != nil {
		return t, fmt.Errorf("target-info controller-tag: %w", err)
	}
	if _, err := jujuapi.ParseUserTag(ti.AuthTag); err != nil {
		return t, fmt.Errorf("target-info auth-tag: %w", err)
	}
	switch {
	case len(ti.Addrs) == 0:
		return t, jujuapi.Errorf(jujuapi.CodeNotValid, "target-info has no API addresses (addrs)")
	case ti.CACert == "":
		return t, jujuapi.Errorf(jujuapi.CodeNotValid, "target-info has no CA certificate (ca-cert)")
	case ti.Password == "" && ti.Macaroons != "":
		return t, jujuapi.Errorf(jujuapi.CodeNotSupported, "macaroon authentication to the target is not supported by the development controller: give the target user's password")
	case ti.Password == "":
		return t, jujuapi.Errorf(jujuapi.CodeNotValid, "target-info has no password")
	}
	return store.MigrationTarget{
		ControllerUUID: ctl.ID, ControllerAlias: ti.ControllerAlias, Addrs: ti.Addrs,
		CACert: ti.CACert, AuthTag: ti.AuthTag, Password: ti.Password,
	}, nil
}

// initiateMigration checks and starts one migration and returns its id.
func (c *Controller) initiateMigration(ctx context.Context, spec params.MigrationSpec, by string) (string, error) {
	tag, err := jujuapi.ParseModelTag(spec.ModelTag)
	if err != nil {
		return "", err
	}
	m, err := c.model(tag.ID)
	if err != nil {
		return "", err
	}
	if err := migratable(m); err != nil {
		return "", err
	}
	target, err := migrationTarget(spec.TargetInfo)
	if err != nil {
		return "", err
	}
	if target.ControllerUUID == c.UUID() {
		return "", jujuapi.Errorf(jujuapi.CodeNotValid, "model %q is already on controller %s", m.Name, c.UUID())
	}
	// As Juju does, have the target run its prechecks before anything
	// changes, so that a refusal is this call's error.
	pctx, cancel := context.WithTimeout(ctx, targetCallTimeout)
	defer cancel()
	tc, err := c.dialTarget(pctx, target)
	if err != nil {
		return "", err
	}
	defer tc.Close()
	if err := c.targetPrechecks(pctx, tc, m); err != nil {
		return "", err
	}

	var id string
	_, err = c.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := migratable(m); err != nil {
			return err
		}
		attempt := 0
		if m.Migration != nil {
			attempt = m.Migration.Attempt + 1
		}
		now := time.Now().UTC()
		id = fmt.Sprintf("%s:%d", m.UUID, attempt)
		m.Migration = &store.Migration{
			ID: id, Attempt: attempt, Phase: phaseQuiesce, StatusMessage: phaseStatus(phaseQuiesce, ""),
			InitiatedBy: by, Start: now, PhaseChanged: now, PriorStatus: m.Status, Target: target,
		}
		m.MigrationMode = store.MigrationModeExporting
		m.Status = store.Status{Status: "busy", Info: "migrating: " + m.Migration.StatusMessage, Since: now}
		return nil
	})
	if err != nil {
		return "", storeErr(err, fmt.Sprintf("model %q", m.UUID))
	}
	c.log.Info("migration started", "model", m.Name, "uuid", m.UUID, "migration", id, "by", by, "target", target)
	c.appendLog(m.UUID, migrationRecord(m.UUID, logInfo, fmt.Sprintf("migration %s to controller %s started by %s", id, targetName(target), by)),
		migrationRecord(m.UUID, logInfo, "setting migration phase to "+phaseQuiesce),
		migrationRecord(m.UUID, logInfo, phaseStatus(phaseQuiesce, "")))
	c.startMigration(m.UUID, id, false)
	return id, nil
}

// dialTarget logs in to the target controller's /api with the target info,
// trying each address in turn, and checks that it is the controller named.
func (c *Controller) dialTarget(ctx context.Context, t store.MigrationTarget) (*jujuapi.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(t.CACert)) {
		return nil, jujuapi.Errorf(jujuapi.CodeNotValid, "the target's CA certificate is not a PEM certificate")
	}
	var errs []error
	for _, addr := range t.Addrs {
		conn, err := jujuapi.Dial(ctx, "wss://"+addr+"/api", jujuapi.DialOptions{
			ConnOptions: c.cfg.Conn,
			TLSConfig:   &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cl := jujuapi.NewClient(conn)
		var res params.LoginResult
		err = cl.Call(ctx, "Admin", 3, "Login", params.LoginRequest{
			AuthTag: t.AuthTag, Credentials: t.Password, ClientVersion: c.cfg.AgentVersion,
		}, &res)
		if err != nil {
			cl.Close()
			// Not %w: the target's "unauthorized access" is not the
			// caller's.
			return nil, fmt.Errorf("log in to target controller at %s as %s: %v", addr, t.AuthTag, err)
		}
		if want := jujuapi.ControllerTag(t.ControllerUUID).String(); res.ControllerTag != want {
			cl.Close()
			return nil, jujuapi.Errorf(jujuapi.CodeNotValid, "target controller at %s is %s, not %s", addr, res.ControllerTag, want)
		}
		return cl, nil
	}
	return nil, fmt.Errorf("connect to target controller %s: %v", t.ControllerUUID, errors.Join(errs...))
}

// targetPrechecks has the target check that it can take m.
func (c *Controller) targetPrechecks(ctx context.Context, tc *jujuapi.Client, m *store.Model) error {
	args := migrationPrecheckArgs{
		MigrationModelInfo: params.MigrationModelInfo{
			UUID: m.UUID, Name: m.Name, OwnerTag: jujuapi.UserTag(m.Owner).String(),
			AgentVersion: m.AgentVersion, ControllerAgentVersion: c.cfg.AgentVersion,
			FacadeVersions: facadeMap(c.controllerRoot.Versions()),
		},
		Cloud: m.Cloud, CloudType: m.CloudType, CloudRegion: m.Region, Users: sortedKeys(m.Users),
	}
	args.SecretBackend, args.SecretBackendID = c.modelSecretBackend(m)
	if err := tc.Call(ctx, "MigrationTarget", 3, "Prechecks", args, nil); err != nil {
		return fmt.Errorf("target prechecks failed: %w", err)
	}
	return nil
}

func facadeMap(vs []jujuapi.FacadeVersions) map[string][]int {
	out := make(map[string][]int, len(vs))
	for _, v := range vs {
		out[v.Name] = v.Versions
	}
	return out
}

// startMigration runs a migration's runner until it ends or the
// controller stops.
func (c *Controller) startMigration(uuid, id string, resumed bool) {
	ctx := c.serveCtx
	c.runners.Add(1)
	go func() {
		defer c.runners.Done()
		r := &migrationRun{c: c, uuid: uuid, id: id, fired: map[string]bool{}, delayed: map[string]bool{},
			log: c.log.With("uuid", uuid, "migration", id)}
		defer r.closeTarget()
		r.run(ctx, resumed)
	}()
}

// resumeMigrations starts a runner for every migration that had not ended
// when the controller stopped.
func (c *Controller) resumeMigrations() {
	for _, m := range c.store.Models() {
		if m.MigrationMode == store.MigrationModeExporting && m.Migration != nil {
			c.log.Info("resuming migration after restart", "model", m.Name, "uuid", m.UUID, "migration", m.Migration.ID, "phase", m.Migration.Phase)
			c.startMigration(m.UUID, m.Migration.ID, true)
		}
	}
}

// migrationRun moves one model through the phases.
type migrationRun struct {
	c        *Controller
	uuid, id string
	log      *slog.Logger
	tc       *jujuapi.Client // connection to the target, nil until needed
	// pending holds the model log records of the update being made, added
	// to the log once it is committed.
	pending []modellog.Record
	fired   map[string]bool // phases past SUCCESS whose injected failure fired
	delayed map[string]bool // phases whose dev-migration-phase-delay was served
}

// current returns the model and its migration, or nil once the model is
// gone or runs another migration.
func (r *migrationRun) current() (*store.Model, *store.Migration) {
	m, ok := r.c.store.Model(r.uuid)
	if !ok || m.Migration == nil || m.Migration.ID != r.id {
		return nil, nil
	}
	return m, m.Migration
}

func (r *migrationRun) run(ctx context.Context, resumed bool) {
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		m, mig := r.current()
		if mig == nil {
			return
		}
		phase := mig.Phase
		if resumed {
			resumed = false
			if beforeSuccess(phase) {
				r.recoverPhase(ctx, mig)
				continue
			}
		}
		if hook := r.c.cfg.migrationHook; hook != nil {
			hook(ctx, r.uuid, phase)
			if ctx.Err() != nil {
				return
			}
		}
		if r.delay(ctx, m, phase); ctx.Err() != nil {
			return
		}
		next, err := r.step(ctx, m, mig)
		if ctx.Err() != nil {
			// The controller is stopping: the phase stays committed and
			// the next start takes it from there.
			return
		}
		switch {
		case err != nil && beforeSuccess(phase):
			r.abort(ctx, phase, err)
		case err != nil:
			r.log.Warn("migration step failed; retrying", "phase", phase, "err", err, "in", backoff)
			sleep(ctx, backoff)
			backoff = min(2*backoff, retryBackoffMax)
		case next == "":
			return
		default:
			backoff = 250 * time.Millisecond
			if err := r.setPhase(ctx, next, ""); err != nil {
				r.log.Error("cannot record migration phase; retrying", "phase", next, "err", err)
				sleep(ctx, time.Second)
			}
		}
	}
}

// step runs one phase and returns the next ("" when the migration ended).
func (r *migrationRun) step(ctx context.Context, m *store.Model, mig *store.Migration) (string, error) {
	phase := mig.Phase
	if err := r.injected(m, phase); err != nil {
		return "", err
	}
	switch phase {
	case phaseQuiesce:
		if err := r.waitForAgents(ctx, "quiescing"); err != nil {
			return "", err
		}
		// The model is stable now: check again that the target takes it.
		err := r.withTarget(ctx, targetCallTimeout, func(ctx context.Context, tc *jujuapi.Client) error {
			return r.c.targetPrechecks(ctx, tc, m)
		})
		return phaseImport, err
	case phaseImport:
		var cred *store.Credential
		if ref, ok := credentialRefOf(m); ok {
			cred, _ = r.c.store.Credential(ref.id())
		}
		archives := map[string][]byte{}
		for _, ch := range m.Charms {
			data, err := r.c.readCharmArchive(ch.SHA256)
			if err != nil {
				return "", fmt.Errorf("export model: charm %s: %w", ch.URL, err)
			}
			archives[ch.SHA256] = data
		}
		_, backendID := r.c.modelSecretBackend(m)
		export, err := exportModelWith(m, mig.PriorStatus, cred, archives, backendID)
		if err != nil {
			return "", fmt.Errorf("export model: %w", err)
		}
		err = r.withTarget(ctx, targetImportTimeout, func(ctx context.Context, tc *jujuapi.Client) error {
			return tc.Call(ctx, "MigrationTarget", 3, "Import", params.SerializedModel{
				Bytes: export, Charms: charmURLs(m), Tools: []params.SerializedModelTools{}, Resources: []params.SerializedModelResource{},
			}, nil)
		})
		if err != nil {
			return "", fmt.Errorf("model data transfer failed: %w", err)
		}
		return phaseProcessRelations, nil
	case phaseProcessRelations:
		return phaseValidation, nil // no relations across models here
	case phaseValidation:
		return phaseSuccess, r.validate(ctx, mig)
	case phaseSuccess:
		return phaseLogTransfer, nil
	case phaseLogTransfer:
		return phaseReap, r.transferLogs(ctx, mig)
	case phaseReap:
		return "", r.reap(ctx, m, mig)
	case phaseAbort:
		// The agents come back first, then the target drops the model.
		if n := r.c.agents.returnModel(r.uuid); n > 0 {
			r.log.Info("agents returning to this controller", "agents", n)
		}
		r.abortTarget(ctx, mig)
		return phaseAbortDone, nil
	}
	return "", nil // DONE, ABORTDONE: nothing left to do
}

// injected returns the failure that dev-migration-fail-phase asks for on
// entering phase, if any. Past SUCCESS it fires once per runner, since
// those steps are retried.
func (r *migrationRun) injected(m *store.Model, phase string) error {
	v, _ := m.Config[failPhaseKey].(string)
	if phase == phaseAbort || phase == phaseAbortDone || phase == phaseDone || !strings.EqualFold(strings.TrimSpace(v), phase) {
		return nil
	}
	if !beforeSuccess(phase) {
		if r.fired[phase] {
			return nil
		}
		r.fired[phase] = true
	}
	return fmt.Errorf("injected failure in phase %s", phase)
}

// delay serves dev-migration-phase-delay on entering phase: once per phase
// per runner, until the delay passes or the controller stops.
func (r *migrationRun) delay(ctx context.Context, m *store.Model, phase string) {
	v, ok := m.Config[phaseDelayKey]
	if !ok || r.delayed[phase] {
		return
	}
	want, d, err := parsePhaseDelay(v)
	if err != nil {
		r.log.Warn("ignoring malformed model config", "key", phaseDelayKey, "err", err)
		return
	}
	if want != phase || d <= 0 {
		return
	}
	r.delayed[phase] = true
	r.log.Info("delaying migration phase", "phase", phase, "for", d, "key", phaseDelayKey)
	sleep(ctx, d)
}

// waitForAgents waits for the model's agents to report for a phase. In
// VALIDATION ("validating") the agents move to the target (agents.go) and
// each reports once logged in there; the wait is bounded by the controller
// config migration-agent-wait-time, after which the phase fails naming how
// many did not report. Quiescing agents are simulated: they report at once.
func (r *migrationRun) waitForAgents(ctx context.Context, what string) error {
	if what != "validating" || ctx.Err() != nil {
		return ctx.Err()
	}
	_, mig := r.current()
	if mig == nil {
		return fmt.Errorf("model %s no longer runs migration %s", r.uuid, r.id)
	}
	dest, err := targetDest(mig.Target)
	if err != nil {
		return err
	}
	wait := r.c.settings().migrationAgentWaitTime
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := time.Now()
	r.log.Info("moving agents to the target controller", "target", mig.Target.ControllerUUID, "wait", wait)
	reported, total := r.c.agents.moveModel(wctx, r.uuid, dest)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if reported < total {
		r.log.Warn("agents did not report in time", "reported", reported, "agents", total, "took", time.Since(start).Round(time.Millisecond))
		return fmt.Errorf("%d of %d agents did not report from the target controller within migration-agent-wait-time (%v)", total-reported, total, wait)
	}
	r.log.Info("all agents reported from the target controller", "agents", total, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// validate waits for the agents, then activates the model on the target.
// ActivateSent is committed before asking, so that after a crash the
// runner knows the model may be live there.
func (r *migrationRun) validate(ctx context.Context, mig *store.Migration) error {
	if err := r.waitForAgents(ctx, "validating"); err != nil {
		return err
	}
	_, err := r.update(ctx, func(m *store.Model, mig *store.Migration) {
		mig.ActivateSent = true
		r.setStatus(m, mig, "activating model in target controller")
	})
	if err != nil {
		return err
	}
	err = r.withTarget(ctx, targetCallTimeout, func(ctx context.Context, tc *jujuapi.Client) error {
		return tc.Call(ctx, "MigrationTarget", 3, "Activate", params.ActivateModelArgs{
			ModelTag: jujuapi.ModelTag(r.uuid).String(), ControllerTag: jujuapi.ControllerTag(r.c.UUID()).String(),
			ControllerAlias: r.c.cfg.Name, SourceAPIAddrs: r.c.addrs, SourceCACert: string(r.c.CACertPEM()),
			CrossModelUUIDs: []string{},
		}, nil)
	})
	if err == nil || ctx.Err() != nil {
		return err
	}
	// The target may have activated the model and the answer been lost.
	if active, aerr := r.activatedOnTarget(ctx); aerr == nil && active {
		r.log.Warn("activation reported an error, but the model is active on the target: going on", "err", err)
		return nil
	}
	return fmt.Errorf("model activation failed: %w", err)
}

// activatedOnTarget asks the target whether the model is live there.
func (r *migrationRun) activatedOnTarget(ctx context.Context) (bool, error) {
	var res params.ModelInfoResults
	err := r.withTarget(ctx, targetCallTimeout, func(ctx context.Context, tc *jujuapi.Client) error {
		return tc.Call(ctx, "ModelManager", 10, "ModelInfo", params.Entities{Entities: []params.Entity{{Tag: jujuapi.ModelTag(r.uuid).String()}}}, &res)
	})
	switch {
	case err != nil:
		return false, err
	case len(res.Results) != 1:
		return false, fmt.Errorf("target answered %d model infos for one model", len(res.Results))
	case res.Results[0].Error == nil:
		return true, nil
	case res.Results[0].Error.Code == jujuapi.CodeNotFound:
		return false, nil
	}
	return false, res.Results[0].Error
}

// recoverPhase decides the fate of a migration found before SUCCESS at
// start: abort it, unless the target was asked to activate the model and
// did.
func (r *migrationRun) recoverPhase(ctx context.Context, mig *store.Migration) {
	if mig.Phase == phaseValidation && mig.ActivateSent {
		for attempt := range 3 {
			active, err := r.activatedOnTarget(ctx)
			if err == nil && active {
				r.log.Info("model was activated on the target before the restart: completing the migration")
				if err := r.setPhase(ctx, phaseSuccess, ""); err != nil {
					r.log.Error("cannot record migration phase", "phase", phaseSuccess, "err", err)
				}
				return
			}
			if err == nil {
				break
			}
			r.log.Warn("cannot ask the target whether it activated the model", "attempt", attempt+1, "err", err)
			sleep(ctx, time.Duration(attempt+1)*time.Second)
		}
	}
	r.abort(ctx, mig.Phase, fmt.Errorf("the source controller restarted during phase %s", mig.Phase))
}

// abort records a failure before SUCCESS and enters ABORT.
func (r *migrationRun) abort(ctx context.Context, phase string, cause error) {
	reason := cause.Error()
	r.log.Warn("migration failed: aborting", "phase", phase, "reason", reason)
	_, err := r.update(ctx, func(m *store.Model, mig *store.Migration) {
		mig.FailedPhase, mig.Failure = phase, reason
		r.enter(m, mig, phaseAbort)
	})
	if err != nil && ctx.Err() == nil {
		r.log.Error("cannot record migration abort; retrying", "err", err)
		sleep(ctx, time.Second)
	}
}

// abortTarget asks the target to drop what it may have imported. It is
// best effort: the target may never have heard of the model.
func (r *migrationRun) abortTarget(ctx context.Context, mig *store.Migration) {
	if mig.FailedPhase == phaseQuiesce {
		return // nothing was sent yet
	}
	var err error
	for attempt := range 3 {
		err = r.withTarget(ctx, targetCallTimeout, func(ctx context.Context, tc *jujuapi.Client) error {
			return tc.Call(ctx, "MigrationTarget", 3, "Abort", params.ModelArgs{ModelTag: jujuapi.ModelTag(r.uuid).String()}, nil)
		})
		if err == nil || ctx.Err() != nil {
			return
		}
		sleep(ctx, time.Duration(250<<attempt)*time.Millisecond)
	}
	r.log.Error("cannot remove the imported model from the target controller", "err", err)
}

// reap removes the model from this controller and leaves a redirect to the
// target, in one transaction; the migration ends with it (DONE).
func (r *migrationRun) reap(ctx context.Context, m *store.Model, mig *store.Migration) error {
	final := *mig
	now := time.Now().UTC()
	final.Phase, final.StatusMessage, final.PhaseChanged, final.End = phaseDone, phaseStatus(phaseDone, ""), now, now
	final.Target.Password = ""
	redirect := &store.Redirect{
		ModelUUID: m.UUID, ModelName: m.Name, ModelOwner: m.Owner, Users: maps.Clone(m.Users),
		ControllerUUID: mig.Target.ControllerUUID, ControllerAlias: mig.Target.ControllerAlias,
		Addrs: mig.Target.Addrs, CACert: mig.Target.CACert, Migration: &final,
	}
	err := r.c.store.ReapModel(ctx, r.uuid, func(m *store.Model) error {
		if m.Migration == nil || m.Migration.ID != r.id || m.Migration.Phase != phaseReap {
			return fmt.Errorf("model %s is no longer in phase REAP of migration %s", r.uuid, r.id)
		}
		return nil
	}, redirect)
	if err != nil {
		return fmt.Errorf("remove migrated model: %w", err)
	}
	// As in Juju, the model's log goes with it: the target has it now.
	if err := r.c.logs.Remove(r.uuid); err != nil {
		r.log.Warn("cannot remove the log of the migrated model", "err", err)
	}
	r.log.Info("migration completed: model removed, logins redirected", "model", m.Name,
		"target", mig.Target.ControllerUUID, "alias", mig.Target.ControllerAlias)
	if hook := r.c.cfg.migrationHook; hook != nil {
		hook(ctx, r.uuid, phaseDone)
	}
	return nil
}

// update applies fn to the migration (and its model) and commits it, if
// the migration is still this one.
func (r *migrationRun) update(ctx context.Context, fn func(m *store.Model, mig *store.Migration)) (*store.Model, error) {
	r.pending = nil
	m, err := r.c.store.UpdateModel(ctx, r.uuid, func(m *store.Model) error {
		if m.Migration == nil || m.Migration.ID != r.id {
			return fmt.Errorf("model %s no longer runs migration %s", r.uuid, r.id)
		}
		fn(m, m.Migration)
		return nil
	})
	if err == nil {
		r.c.appendLog(r.uuid, r.pending...)
	}
	r.pending = nil
	return m, err
}

// migrationRecord is a line of a model's log from its migration master.
func migrationRecord(uuid, level, msg string) modellog.Record {
	return modellog.Record{Entity: controllerAgent, Module: migrationModule(uuid), Location: caller(2),
		Level: level, Message: msg, Labels: []string{migrationLabel}}
}

// targetName names a migration's target controller for people.
func targetName(t store.MigrationTarget) string {
	if t.ControllerAlias != "" {
		return fmt.Sprintf("%q (%s)", t.ControllerAlias, t.ControllerUUID)
	}
	return t.ControllerUUID
}

// setPhase commits a new phase, with its status message.
func (r *migrationRun) setPhase(ctx context.Context, phase, failure string) error {
	_, err := r.update(ctx, func(m *store.Model, mig *store.Migration) {
		if failure != "" {
			mig.Failure = failure
		}
		r.enter(m, mig, phase)
	})
	return err
}

// enter moves a migration (in a document being updated) to phase.
func (r *migrationRun) enter(m *store.Model, mig *store.Migration, phase string) {
	now := time.Now().UTC()
	mig.Phase, mig.PhaseChanged = phase, now
	if phase == phaseAbort {
		r.pending = append(r.pending, migrationRecord(r.uuid, logError, fmt.Sprintf("migration failed in phase %s: %s", mig.FailedPhase, mig.Failure)))
	}
	r.pending = append(r.pending, migrationRecord(r.uuid, logInfo, "setting migration phase to "+phase))
	r.setStatus(m, mig, phaseStatus(phase, mig.Failure))
	if phase == phaseAbortDone {
		// The model is back to normal, its status says why the
		// migration failed, and the target's credentials are dropped.
		mig.End = now
		mig.Target.Password = ""
		m.MigrationMode = store.MigrationModeNone
		m.Status = store.Status{Status: "available", Info: mig.StatusMessage, Since: now}
	}
	r.log.Info("migration phase", "model", m.Name, "phase", phase, "status", mig.StatusMessage)
}

// setStatus sets the migration's status message and, as Juju does, the
// model's status: busy, "migrating: <message>".
func (r *migrationRun) setStatus(m *store.Model, mig *store.Migration, msg string) {
	mig.StatusMessage = msg
	r.pending = append(r.pending, migrationRecord(r.uuid, logInfo, msg))
	m.Status = store.Status{Status: "busy", Info: "migrating: " + msg, Since: time.Now().UTC()}
}

// withTarget calls fn with a connection to the target (dialling one if
// needed) and a deadline; a broken connection is dropped for the next call.
func (r *migrationRun) withTarget(ctx context.Context, timeout time.Duration, fn func(ctx context.Context, tc *jujuapi.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if r.tc != nil && r.tc.Err() != nil {
		r.closeTarget()
	}
	if r.tc == nil {
		_, mig := r.current()
		if mig == nil {
			return fmt.Errorf("model %s no longer runs migration %s", r.uuid, r.id)
		}
		tc, err := r.c.dialTarget(ctx, mig.Target)
		if err != nil {
			return err
		}
		r.tc = tc
	}
	err := fn(ctx, r.tc)
	if err != nil && r.tc.Err() != nil {
		r.closeTarget()
	}
	return err
}

func (r *migrationRun) closeTarget() {
	if r.tc != nil {
		r.tc.Close()
		r.tc = nil
	}
}

// charmURLs lists the charms a model uses, for SerializedModel.charms.
func charmURLs(m *store.Model) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, name := range sortedKeys(m.Applications) {
		if u := m.Applications[name].CharmURL; !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
