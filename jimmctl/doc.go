// Package jimmctl is the admin CLI of the jimm broker: a small client of the
// broker's admin REST API under /v1 (Client), where the CLI finds the broker
// and its credentials (flags, JIMM_* environment, the file `jimmctl login`
// writes), and the cobra commands built by NewRootCommand.
//
// It imports nothing from the broker but the API types in broker/restapi.
package jimmctl
