package migration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/db"
)

// testFleet builds a fleet: controllers by name with their version, and
// models per controller with their machines and units.
func testFleet(ctls map[string]string, models map[string][][2]int) *fleet {
	f := &fleet{ctls: map[string]*fleetCtl{}}
	for name, version := range ctls {
		f.ctls[name] = &fleetCtl{up: true, row: db.Controller{Name: name, AgentVersion: version, Cloud: "c", CloudType: "lxd", Regions: []string{"r"}}}
	}
	for _, name := range sortedNames(f.ctls) {
		for i, sz := range models[name] {
			m := db.Model{UUID: fmt.Sprintf("%s-%02d", name, i), Name: fmt.Sprintf("m%02d", i), Owner: "alice", Cloud: "c", Region: "r",
				Life: db.LifeAlive, MachineCount: sz[0], UnitCount: sz[1], Controller: f.ctls[name].row}
			f.models = append(f.models, m)
			l := &f.ctls[name].load
			*l = addModel(*l, &m, 1)
		}
	}
	return f
}

func ones(n int) [][2]int {
	out := make([][2]int, n)
	for i := range out {
		out[i] = [2]int{1, 2}
	}
	return out
}

// TestRebalancePlan: 12/2/1 models end within the tolerance, in the
// fewest moves (each from the busiest to the least loaded).
func TestRebalancePlan(t *testing.T) {
	f := testFleet(map[string]string{"a": "3.5.4", "b": "3.5.4", "c": "3.5.4"}, map[string][][2]int{"a": ones(12), "b": ones(2), "c": ones(1)})
	p, before, after := f.planRebalance(MeasureModels, 0)
	if before != 12/5.0 {
		t.Errorf("ratio before %.2f, want 2.40", before)
	}
	if after > Tolerance {
		t.Errorf("ratio after %.2f, above %.2f", after, Tolerance)
	}
	// 15 models over 3: the busiest must hold at most 6.25, so 6 leave a.
	if len(p.moves) != 6 {
		t.Errorf("%d moves, want 6: %+v", len(p.moves), p.moves)
	}
	for _, mv := range p.moves {
		if mv.Source != "a" || mv.Target == "a" {
			t.Errorf("move %+v: want from a to another", mv)
		}
	}
	if got := p.after["a"].Models; got != 6 {
		t.Errorf("a holds %d models after the plan, want 6", got)
	}
	// max-moves bounds the plan.
	f = testFleet(map[string]string{"a": "3.5.4", "b": "3.5.4", "c": "3.5.4"}, map[string][][2]int{"a": ones(12), "b": ones(2), "c": ones(1)})
	if p, _, after := f.planRebalance(MeasureModels, 2); len(p.moves) != 2 || after <= Tolerance {
		t.Errorf("max-moves 2: %d moves, ratio after %.2f", len(p.moves), after)
	}
}

// TestRebalanceByAgents: by agents, the biggest model moves first, and a
// controller on an older Juju takes nothing from a newer one.
func TestRebalanceByAgents(t *testing.T) {
	f := testFleet(map[string]string{"a": "3.5.4", "b": "3.5.4", "old": "3.4.0"},
		map[string][][2]int{"a": {{10, 40}, {2, 3}, {1, 1}}, "b": {{1, 1}}, "old": {{1, 1}}})
	p, before, after := f.planRebalance(MeasureAgents, 0)
	// a (57 agents) is the busiest; its 50-agent model goes first, to b
	// (the least loaded that may take it: old runs an older Juju).
	if len(p.moves) == 0 || p.moves[0].Agents != 50 || p.moves[0].Source != "a" || p.moves[0].Target != "b" {
		t.Fatalf("moves %+v, want the 50-agent model from a to b first", p.moves)
	}
	for _, mv := range p.moves {
		if mv.Target == "old" && mv.Source != "old" {
			t.Errorf("move %+v to an older controller", mv)
		}
	}
	if after >= before {
		t.Errorf("ratio %.2f → %.2f: no better", before, after)
	}
}

// TestEvacuationPlan: every live model of the source goes to the least
// loaded eligible target among those allowed, biggest first; a dying model
// and a model no target can take are listed with why.
func TestEvacuationPlan(t *testing.T) {
	f := testFleet(map[string]string{"src": "3.5.4", "b": "3.5.4", "c": "3.6.0", "old": "3.4.0"},
		map[string][][2]int{"src": {{5, 10}, {1, 1}, {1, 1}, {0, 0}}, "b": {{3, 3}}})
	for i := range f.models {
		if f.models[i].UUID == "src-03" {
			f.models[i].Life = db.LifeDying
		}
	}
	p, err := f.planEvacuation("src", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.moves) != 3 || len(p.unplaced) != 1 || !strings.Contains(p.unplaced[0].Reason, "dying") {
		t.Fatalf("plan %+v", p)
	}
	// The biggest model first, to the least loaded (c is empty).
	if p.moves[0].Agents != 15 || p.moves[0].Target != "c" {
		t.Errorf("first move %+v, want the 15-agent model to c", p.moves[0])
	}
	for _, mv := range p.moves {
		if mv.Target == "old" {
			t.Errorf("move %+v to a controller older than the source", mv)
		}
	}
	if p.after["src"].Models != 1 || p.after["src"].Agents() != 0 {
		t.Errorf("source after the plan %+v, want only the dying model", p.after["src"])
	}
	// Only to "old": nothing can go.
	f = testFleet(map[string]string{"src": "3.5.4", "old": "3.4.0"}, map[string][][2]int{"src": {{1, 1}}})
	p, err = f.planEvacuation("src", []string{"old"})
	if err != nil || len(p.moves) != 0 || len(p.unplaced) != 1 || !strings.Contains(p.unplaced[0].Reason, "older Juju") {
		t.Fatalf("to an older controller: %+v, %v", p, err)
	}
	if _, err := f.planEvacuation("src", []string{"nope"}); err == nil {
		t.Error("a target that is not registered is accepted")
	}
}
