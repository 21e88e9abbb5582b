// Package summaries answers the model summary watchers a client opens on
// the broker's /api (Controller.WatchModelSummaries and
// WatchAllModelSummaries, then ModelSummaryWatcher.Next and Stop): the
// live list of the models the caller may see, over every controller, as
// the Juju dashboard shows it.
//
// A [Hub] hears of every model change from the routing table (a model
// placed, its life, its route moved by a migration, its removal), from
// this replica or another, and of every change to relations; it marks the
// change on each open [Watcher], which coalesces them per model until its
// client's next Next. Next then reads the models' current routes, checks
// the caller's access, and answers the changed summaries, or a removal
// for a model the caller no longer sees. Memory per watcher is the set of
// models its caller sees, plus the ones changed since its last Next.
//
// It imports routing, identity and db; the facades drive it.
package summaries
