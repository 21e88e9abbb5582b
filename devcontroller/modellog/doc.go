// Package modellog keeps the development controller's per-model logs: the
// lines of the model's agents, the model's events and its migrations'
// phases, which debug-log (/model/<uuid>/log) reads and tails.
//
// Each model's log is bounded (the newest records are kept) and lives in
// memory and in an append-only file of JSON lines, one per record, so
// that it survives a restart or a kill -9 of the process (a torn last line
// is dropped on load); the file is compacted when it holds twice the
// bound. Records are kept in time order; each gets a sequence number, in
// the order they were added, by which readers follow the log.
package modellog
