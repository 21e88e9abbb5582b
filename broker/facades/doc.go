// Package facades answers the Juju facades the broker serves itself on
// /api, the controller endpoint: logins, model lists from the broker's own
// database (one query, filtered by access), model creation with placement
// over the controllers, model info, status and destruction through the
// hosting controller, model access grants, clouds aggregated over the
// controllers, and the caller's own user and controller access.
//
// Clients see one controller: the broker's UUID and address, never a
// hosting controller's. It imports routing, identity, audit, controllers
// and db; nothing of the other endpoints (proxy, admin).
package facades
