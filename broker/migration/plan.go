package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jimmbroker/jimm/broker/load"
	"github.com/jimmbroker/jimm/db"
)

// Plan is the estimate for moving one model to a target: how long its
// agents need to reconnect there against the target's agent login
// settings, and what to change when that does not fit the target's wait
// time.
type Plan struct {
	ModelUUID string `json:"model-uuid"`
	Model     string `json:"model"` // owner/name
	Source    string `json:"source"`
	Target    string `json:"target"`
	Machines  int    `json:"machines"`
	Units     int    `json:"units"`
	Limits    Limits `json:"limits"`
	// Estimate is Estimate(Agents(), Limits).
	Estimate time.Duration `json:"estimate"`
	Fits     bool          `json:"fits"`
	Advice   string        `json:"advice,omitempty"`
	Advised  *Limits       `json:"advised,omitempty"`
	Applied  bool          `json:"applied,omitempty"`
}

// Agents is the number of the model's agents: machines and units.
func (p *Plan) Agents() int { return p.Machines + p.Units }

// Options change how a migration starts.
type Options struct {
	// Force starts a migration whose plan does not fit the target's
	// agent wait time.
	Force bool
}

// PlanMigration estimates moving the model whose UUID is uuid to the
// controller named targetName, without the other prechecks.
func (m *Manager) PlanMigration(ctx context.Context, targetName, uuid string) (*Plan, error) {
	model, target, err := m.modelAndTarget(ctx, uuid, targetName)
	if err != nil {
		return nil, err
	}
	return m.plan(ctx, model, target)
}

// ApplyAdvice sets a plan's advised settings on its target and plans again
// against them.
func (m *Manager) ApplyAdvice(ctx context.Context, p *Plan) (*Plan, error) {
	if p.Advised == nil {
		return p, nil
	}
	a := p.Advised
	if a.Max != p.Limits.Max || a.Rate != p.Limits.Rate {
		tc, err := m.reachable(ctx, p.Target)
		if err != nil {
			return nil, err
		}
		cfg := map[string]any{"agent-ratelimit-max": a.Max, "agent-ratelimit-rate": a.Rate.String()}
		if err := tc.SetControllerConfig(ctx, cfg); err != nil {
			return nil, fmt.Errorf("set the advised agent login settings on controller %q: %w", p.Target, err)
		}
	}
	if a.Wait != p.Limits.Wait {
		// The source's migration master waits for the agents.
		sc, err := m.reachable(ctx, p.Source)
		if err != nil {
			return nil, err
		}
		if err := sc.SetControllerConfig(ctx, map[string]any{"migration-agent-wait-time": a.Wait.String()}); err != nil {
			return nil, fmt.Errorf("set the advised migration-agent-wait-time on controller %q: %w", p.Source, err)
		}
	}
	m.log.Info("agent login settings applied", "target", p.Target, "source", p.Source, "model", p.ModelUUID,
		"agent-ratelimit-max", a.Max, "agent-ratelimit-rate", a.Rate, "migration-agent-wait-time", a.Wait)
	out, err := m.PlanMigration(ctx, p.Target, p.ModelUUID)
	if err != nil {
		return nil, err
	}
	out.Applied = true
	return out, nil
}

// limitsOf reads a controller's agent login settings.
func (m *Manager) limitsOf(ctx context.Context, name string) (Limits, error) {
	c, err := m.reachable(ctx, name)
	if err != nil {
		return Limits{}, err
	}
	cfg, err := c.ControllerConfig(ctx)
	if err != nil {
		return Limits{}, fmt.Errorf("read the agent login settings of controller %q: %w", name, err)
	}
	l, err := LimitsFromConfig(cfg)
	if err != nil {
		return Limits{}, fmt.Errorf("controller %q: %w", name, err)
	}
	return l, nil
}

// reachable returns a connection to the controller named name, or an
// error that says it cannot be reached.
func (m *Manager) reachable(ctx context.Context, name string) (Controller, error) {
	c, err := m.controller(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("controller %q cannot be reached: %w", name, err)
	}
	return c, nil
}

// plan reads the agent login settings — the bucket (agent-ratelimit-max
// and -rate) from the target, which admits the agents' logins, and
// migration-agent-wait-time from the source, whose migration master waits
// for the agents to report — and the model's size (fresh from its
// controller's model summaries, else as last recorded), and estimates.
func (m *Manager) plan(ctx context.Context, model *db.Model, target *db.Controller) (*Plan, error) {
	limits, err := m.limitsOf(ctx, target.Name)
	if err != nil {
		return nil, err
	}
	src, err := m.limitsOf(ctx, model.Controller.Name)
	if err != nil {
		return nil, err
	}
	limits.Wait = src.Wait
	p := &Plan{
		ModelUUID: model.UUID, Model: modelName(model), Source: model.Controller.Name, Target: target.Name,
		Machines: model.MachineCount, Units: model.UnitCount, Limits: limits,
	}
	if sc, err := m.controller(ctx, model.Controller.Name); err == nil {
		if sums, err := sc.ListModelSummaries(ctx, sc.User(), true); err == nil {
			for _, s := range sums {
				if s.Result != nil && s.Result.UUID == model.UUID {
					p.Machines, p.Units = load.Sizes(s.Result)
				}
			}
		} else {
			m.log.Debug("planning with the model's last recorded size", "model", model.UUID, "err", err)
		}
	}
	p.Estimate = Estimate(p.Agents(), limits)
	p.Fits = Fits(p.Estimate, limits)
	if advised, advice, ok := Advise(p.Agents(), limits); ok {
		p.Advice, p.Advised = advice, &advised
	}
	return p, nil
}

// planJSON is a plan as stored on its migration.
func planJSON(p *Plan) string {
	b, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	return string(b)
}

// StoredPlan reads the plan stored on a migration (nil when none).
func StoredPlan(mig *db.Migration) *Plan {
	if mig.Plan == "" {
		return nil
	}
	var p Plan
	if err := json.Unmarshal([]byte(mig.Plan), &p); err != nil {
		return nil
	}
	return &p
}

// MarshalJSON writes Limits with Go duration text.
func (l Limits) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"max": strconv.Itoa(l.Max), "rate": l.Rate.String(), "wait": l.Wait.String(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *Limits) UnmarshalJSON(b []byte) error {
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var err error
	if l.Max, err = strconv.Atoi(raw["max"]); err != nil {
		return err
	}
	if l.Rate, err = time.ParseDuration(raw["rate"]); err != nil {
		return err
	}
	l.Wait, err = time.ParseDuration(raw["wait"])
	return err
}
