// Package audit is the broker's audit log: the record of every login and
// every call that changes state, kept off the request path.
//
//   - [Log] queues [Event]s and writes them to the database in batches; a
//     caller never waits on the database. Values are bounded before the
//     write; a batch the database rejects is split so that only the rows at
//     fault are dropped; while the database cannot take events they go to a
//     bounded local spool ([WithSpool]) and are replayed, in order, when it
//     can, on the next start too. What is dropped all the same is counted
//     and logged. It purges events older than the retention.
//   - [ChangesState] classifies calls by facade and method, so that reads
//     are not recorded; [Result], [BulkResult] and [ModelNamed] read what an
//     event records of a call, never its parameters.
//
// Events never hold a secret: no call's parameters, and error messages are
// scrubbed. The endpoints that produce events (the /api facades, the model
// proxy, the admin API, logins) build them; this package imports only db
// and the wire protocol's types, and nothing of the broker's.
package audit
