// Package load keeps the size of every model fresh: how many machines and
// units it has (its agents are the two together, subordinate units
// included, each agent holding two API connections to its controller).
// A [Refresher] reads each controller's model summaries, one call per
// controller, and records the counts that changed; one replica at a time
// does it every interval, under a lease, and fleet operations refresh
// before they plan. The sums per controller (db.ControllerLoads) are what
// `jimmctl list-controllers`, jimm_controller_load and the fleet planner
// see.
//
// It imports controllers' types and db; the broker wires it.
package load
