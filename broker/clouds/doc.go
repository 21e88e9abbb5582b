// Package clouds is the broker's view of clouds, and what it keeps for
// them: the clouds its controllers host (a cloud's definition from a
// controller hosting it, its regions those of all of them), its users'
// cloud credentials (stored sealed with the secrets key, and handed to the
// controller a model using one is placed on), and model defaults per cloud
// and region (applied to every model the broker creates).
//
// Its exported methods answer the Juju Cloud facade and ModelManager's
// defaults calls for a caller the facades name; the facades register them.
// It imports identity, controllers, authz and db; nothing of the
// endpoints, nor routing or migration.
package clouds
