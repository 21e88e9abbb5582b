// Package fleetquery runs one jq expression over the status of many
// models, spread over the broker's controllers: "which models run
// postgresql revision 12?", asked of the whole fleet at once.
//
// [Compile] checks an expression (gojq); a [Runner] fetches each model's
// status from its controller ([StatusFetcher]: a model connection with the
// controller's admin credentials, Client.FullStatus) and runs the
// expression over it. The work is bounded: fetches at once across every
// query of the replica and per controller, a deadline per fetch (a
// controller that misses it, or cannot be reached, is not asked again in
// that query), a deadline per jq run and per query, a cap on the models
// and on the bytes of output of one query. One model's failure is that
// model's result; the others go on.
//
// Which models a caller may query is the caller's business (broker/admin
// lists them from the database, filtered by access): this package runs
// what it is given.
package fleetquery
