package devcontroller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The ModelUpgrader facade (version 1, /api): `juju upgrade-model`. The
// controller is told which agent versions it has (Config.AgentVersions,
// the --agent-versions flag), standing for the agent binaries a Juju
// controller finds in its storage and simplestreams. As in Juju:
//
//   - a hosted model asked for no version, or for the controller's, goes to
//     the controller model's version; a version above the controller's is
//     refused;
//   - another version must be newer than the model's ("no upgrades
//     available" otherwise) and one the controller has ("cannot find agents
//     from simple streams: no matching agent binaries available");
//   - a dry run only answers the version it would choose.
//
// An upgrade takes effect at once: the model's agents are simulated.

// versionZero is Juju's zero version, which asks for the best one.
const versionZero = "0.0.0"

// compareVersions orders "major.minor.patch" versions; a version that does
// not parse sorts first.
func compareVersions(a, b string) int {
	va, errA := parseVersion(a)
	vb, errB := parseVersion(b)
	switch {
	case errA != nil || errB != nil:
		return compareStrings(a, b)
	}
	for i := range va {
		if va[i] != vb[i] {
			if va[i] < vb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// agentVersions are the agent versions the controller has, oldest first.
func (c *Controller) agentVersions() []string {
	vs := slices.Clone(c.cfg.AgentVersions)
	if !slices.Contains(vs, c.cfg.AgentVersion) {
		vs = append(vs, c.cfg.AgentVersion)
	}
	slices.SortFunc(vs, compareVersions)
	return vs
}

// availableVersion is the newest agent version the controller has that is
// newer than a model's, as status shows it ("upgrade available"), or "".
func (c *Controller) availableVersion(m *store.Model) string {
	vs := c.agentVersions()
	if newest := vs[len(vs)-1]; compareVersions(newest, m.AgentVersion) > 0 {
		return newest
	}
	return ""
}

func (s *session) upgradeModel(ctx context.Context, p params.UpgradeModelParams) (params.UpgradeModelResult, error) {
	m, err := s.modelFromTag(p.ModelTag, store.AccessWrite)
	if err != nil {
		return params.UpgradeModelResult{}, err
	}
	if err := s.ctl.blocked(s.ctl.UUID(), blockChange); err != nil {
		return params.UpgradeModelResult{}, err
	}
	if m.Life != store.LifeAlive {
		return params.UpgradeModelResult{Error: paramsError(jujuapi.Errorf(jujuapi.CodeNotValid, "model is not alive"))}, nil
	}
	target := strings.TrimSpace(p.TargetVersion)
	if target == "" {
		target = versionZero
	}
	if _, err := parseVersion(target); err != nil {
		return params.UpgradeModelResult{}, jujuapi.Errorf(jujuapi.CodeNotValid, "invalid version %q", p.TargetVersion)
	}
	ctlModel, err := s.ctl.model(s.ctl.UUID())
	if err != nil {
		return params.UpgradeModelResult{}, err
	}
	useControllerVersion := false
	if !m.IsController {
		ctlVersion := ctlModel.AgentVersion
		switch {
		case target == versionZero, compareVersions(target, ctlVersion) == 0:
			target, useControllerVersion = ctlVersion, true
		case compareVersions(ctlVersion, target) < 0:
			return params.UpgradeModelResult{}, fmt.Errorf("cannot upgrade to a version %q greater than that of the controller %q", target, ctlVersion)
		}
	}
	if !useControllerVersion {
		chosen, err := s.ctl.decideVersion(m.AgentVersion, target)
		if err != nil {
			return params.UpgradeModelResult{Error: paramsError(err)}, nil
		}
		target = chosen
	}
	result := params.UpgradeModelResult{ChosenVersion: target}
	if p.DryRun {
		return result, nil
	}
	if err := writable(m); err != nil {
		return params.UpgradeModelResult{}, err
	}
	from := m.AgentVersion
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		m.AgentVersion = target
		return nil
	})
	if err != nil {
		return params.UpgradeModelResult{}, fmt.Errorf("set agent version of model %q: %w", m.Name, err)
	}
	if from != target {
		s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.modelupgrader", "model agent version changed from %s to %s", from, target)
		s.ctl.log.Info("model upgraded", "model", m.Name, "uuid", m.UUID, "from", from, "to", target, "by", s.identity())
	}
	return result, nil
}

// decideVersion picks the version to upgrade a model at current to: the
// target if the controller has it, or (target 0.0.0) the newest it has
// with the model's major and minor version, as Juju's decideVersion does.
func (c *Controller) decideVersion(current, target string) (string, error) {
	upToDate := jujuapi.Errorf(jujuapi.CodeAlreadyExists, "no upgrades available")
	have := c.agentVersions()
	if target != versionZero {
		if compareVersions(target, current) <= 0 {
			return "", upToDate
		}
		if !slices.Contains(have, target) {
			return "", jujuapi.Errorf(jujuapi.CodeNotFound, "cannot find agents from simple streams: no matching agent binaries available")
		}
		return target, nil
	}
	cur, _ := parseVersion(current)
	best := ""
	for _, v := range have {
		if pv, err := parseVersion(v); err == nil && pv[0] == cur[0] && pv[1] == cur[1] {
			best = v
		}
	}
	switch {
	case best == "":
		return "", jujuapi.Errorf(jujuapi.CodeNotFound, "available agent binary, upload required")
	case compareVersions(best, current) <= 0:
		return "", upToDate
	}
	return best, nil
}

// abortModelUpgrade answers ModelUpgrader.AbortModelUpgrade: upgrades take
// effect at once here, so there is never one to abort (as Juju answers
// when there is none).
func (s *session) abortModelUpgrade(_ context.Context, p params.ModelParam) (struct{}, error) {
	if _, err := s.modelFromTag(p.ModelTag, store.AccessWrite); err != nil {
		return struct{}{}, err
	}
	if err := s.ctl.blocked(s.ctl.UUID(), blockChange); err != nil {
		return struct{}{}, err
	}
	return struct{}{}, nil
}
