// Package admin is the broker's admin REST API under /v1 (controllers and
// their config, models, migrations, fleet queries, groups, relations, the
// audit log, logins and logout) and the browser login under /auth, for
// jimmctl and operators.
//
// Every route but the logins needs credentials (a session token, or the
// bootstrap admin's basic auth); writes are audited. Request and response
// types are in broker/restapi, shared with jimmctl. It imports migration,
// fleetquery, routing, identity, audit, controllers and db; nothing of the other
// endpoints (proxy, facades).
package admin
