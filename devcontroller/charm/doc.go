// Package charm reads Juju charms as a development controller needs them:
// an uploaded archive (a zip, as `juju deploy ./dir` packs it or charmcraft
// builds it) gives the charm's name, relation endpoints, config options
// with their defaults, bases, revision and version; ParseURL reads charm
// URLs ("local:jammy/demo-0", "ch:amd64/jammy/postgresql-12"). It follows
// Juju 3.5's rules (github.com/juju/charm/v12) and words its errors as
// Juju does, so that a client sees the same refusals. It knows nothing of
// the controller: the controller stores what Read returns.
package charm
