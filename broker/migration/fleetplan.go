package migration

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
)

// Tolerance is how far above the fleet's mean load a rebalance leaves the
// busiest controller: max/mean ≤ Tolerance.
const Tolerance = 1.25

// fleet is what a plan is made from: the controllers and the models on
// them, with their loads as last read.
type fleet struct {
	ctls   map[string]*fleetCtl
	models []db.Model
}

type fleetCtl struct {
	row  db.Controller
	up   bool
	load db.Load
}

// size is a model's size by a measure.
func size(m *db.Model, by string) int {
	switch by {
	case MeasureMachines:
		return m.MachineCount
	case MeasureUnits:
		return m.UnitCount
	case MeasureAgents:
		return m.MachineCount + m.UnitCount
	}
	return 1
}

// loadBy is a load by a measure.
func loadBy(l db.Load, by string) int {
	switch by {
	case MeasureMachines:
		return l.Machines
	case MeasureUnits:
		return l.Units
	case MeasureAgents:
		return l.Agents()
	}
	return l.Models
}

func addModel(l db.Load, m *db.Model, sign int) db.Load {
	l.Models += sign
	l.Machines += sign * m.MachineCount
	l.Units += sign * m.UnitCount
	return l
}

// eligible says why controller t cannot take model m from source s ("" when
// it can), by the rules the migration prechecks apply.
func eligible(m *db.Model, s, t *fleetCtl) string {
	switch {
	case t.row.Name == s.row.Name:
		return "it is the source"
	case t.row.Deprecated:
		return fmt.Sprintf("controller %q is deprecated", t.row.Name)
	case !t.up:
		return fmt.Sprintf("controller %q is down", t.row.Name)
	case t.row.Cloud != m.Cloud || t.row.CloudType != s.row.CloudType:
		return fmt.Sprintf("controller %q hosts another cloud or substrate", t.row.Name)
	case !slices.Contains(t.row.Regions, m.Region):
		return fmt.Sprintf("controller %q does not host region %q", t.row.Name, m.Region)
	}
	tv, err1 := controllers.ParseVersion(t.row.AgentVersion)
	sv, err2 := controllers.ParseVersion(s.row.AgentVersion)
	if err1 == nil && err2 == nil && tv.Compare(sv) < 0 {
		return fmt.Sprintf("controller %q runs an older Juju (%s < %s)", t.row.Name, t.row.AgentVersion, s.row.AgentVersion)
	}
	return ""
}

// planned is a plan's outcome.
type planned struct {
	moves    []JobMove
	unplaced []Unplaced
	before   map[string]db.Load
	after    map[string]db.Load
}

func (f *fleet) loads() map[string]db.Load {
	out := make(map[string]db.Load, len(f.ctls))
	for name, c := range f.ctls {
		out[name] = c.load
	}
	return out
}

func modelName(m *db.Model) string { return m.Owner + "/" + m.Name }

// biggestFirst orders models by agents, most first, then by name.
func biggestFirst(ms []*db.Model, by string) {
	slices.SortFunc(ms, func(a, b *db.Model) int {
		if c := cmp.Compare(size(b, by), size(a, by)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.MachineCount+b.UnitCount, a.MachineCount+a.UnitCount); c != 0 {
			return c
		}
		return strings.Compare(modelName(a), modelName(b))
	})
}

// planEvacuation places every model of source on the least loaded
// eligible controller (among to, when given), biggest models first.
func (f *fleet) planEvacuation(source string, to []string) (planned, error) {
	src, ok := f.ctls[source]
	if !ok {
		return planned{}, refuse("controller %q is not registered", source)
	}
	for _, t := range to {
		if _, ok := f.ctls[t]; !ok {
			return planned{}, refuse("target controller %q is not registered", t)
		}
		if t == source {
			return planned{}, refuse("controller %q cannot be its own evacuation's target", t)
		}
	}
	out := planned{before: f.loads()}
	var ms []*db.Model
	for i := range f.models {
		if f.models[i].Controller.Name == source {
			ms = append(ms, &f.models[i])
		}
	}
	biggestFirst(ms, MeasureAgents)
	for _, m := range ms {
		if m.Life != db.LifeAlive {
			out.unplaced = append(out.unplaced, Unplaced{ModelUUID: m.UUID, Model: modelName(m), Reason: fmt.Sprintf("the model is %s", m.Life)})
			continue
		}
		var best *fleetCtl
		var why []string
		for _, name := range sortedNames(f.ctls) {
			t := f.ctls[name]
			if len(to) > 0 && !slices.Contains(to, name) || name == source {
				continue
			}
			if r := eligible(m, src, t); r != "" {
				why = append(why, r)
				continue
			}
			if best == nil || lessLoaded(t.load, best.load) {
				best = t
			}
		}
		if best == nil {
			reason := "no other controller is registered"
			if len(why) > 0 {
				reason = "no eligible controller: " + strings.Join(why, "; ")
			}
			out.unplaced = append(out.unplaced, Unplaced{ModelUUID: m.UUID, Model: modelName(m), Reason: reason})
			continue
		}
		out.moves = append(out.moves, JobMove{ModelUUID: m.UUID, Model: modelName(m), Source: source, Target: best.row.Name, Agents: m.MachineCount + m.UnitCount})
		best.load = addModel(best.load, m, 1)
		src.load = addModel(src.load, m, -1)
	}
	out.after = f.loads()
	return out, nil
}

// lessLoaded orders loads for placement: fewer agents, then fewer models.
func lessLoaded(a, b db.Load) bool {
	if a.Agents() != b.Agents() {
		return a.Agents() < b.Agents()
	}
	return a.Models < b.Models
}

func sortedNames(m map[string]*fleetCtl) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ratio is the busiest controller's load over the mean, by a measure,
// over the controllers that take part (up and not deprecated).
func ratio(ctls []*fleetCtl, by string) float64 {
	if len(ctls) == 0 {
		return 0
	}
	total, most := 0, 0
	for _, c := range ctls {
		n := loadBy(c.load, by)
		total += n
		most = max(most, n)
	}
	if total == 0 {
		return 0
	}
	return float64(most) / (float64(total) / float64(len(ctls)))
}

// planRebalance moves models off the busiest controller, one at a time,
// until max/mean ≤ Tolerance, no move helps, or maxMoves (0: no bound).
// Each move takes the biggest model of the busiest controller that some
// eligible controller can take without ending busier than the busiest
// was, to the least loaded such controller; every move lowers the sum of
// squared loads, so the plan ends.
func (f *fleet) planRebalance(by string, maxMoves int) (planned, float64, float64) {
	out := planned{before: f.loads()}
	var part []*fleetCtl
	for _, name := range sortedNames(f.ctls) {
		if c := f.ctls[name]; c.up && !c.row.Deprecated {
			part = append(part, c)
		}
	}
	before := ratio(part, by)
	moved := map[string]bool{}
	for maxMoves == 0 || len(out.moves) < maxMoves {
		if ratio(part, by) <= Tolerance {
			break
		}
		busiest := part[0]
		for _, c := range part[1:] {
			if loadBy(c.load, by) > loadBy(busiest.load, by) {
				busiest = c
			}
		}
		var ms []*db.Model
		for i := range f.models {
			m := &f.models[i]
			if m.Controller.Name == busiest.row.Name && m.Life == db.LifeAlive && !moved[m.UUID] && size(m, by) > 0 {
				ms = append(ms, m)
			}
		}
		biggestFirst(ms, by)
		var pick *db.Model
		var to *fleetCtl
		for _, m := range ms {
			for _, t := range part {
				if eligible(m, busiest, t) != "" || loadBy(t.load, by)+size(m, by) >= loadBy(busiest.load, by) {
					continue
				}
				if to == nil || loadBy(t.load, by) < loadBy(to.load, by) {
					to = t
				}
			}
			if to != nil {
				pick = m
				break
			}
		}
		if pick == nil {
			break // nothing on the busiest controller can move anywhere useful
		}
		moved[pick.UUID] = true
		out.moves = append(out.moves, JobMove{ModelUUID: pick.UUID, Model: modelName(pick), Source: busiest.row.Name, Target: to.row.Name, Agents: pick.MachineCount + pick.UnitCount})
		busiest.load = addModel(busiest.load, pick, -1)
		to.load = addModel(to.load, pick, 1)
		pick.Controller = to.row
	}
	out.after = f.loads()
	return out, before, ratio(part, by)
}
