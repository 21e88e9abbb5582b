// Package brokertest builds, for the broker packages' tests, the parts
// they stand on: an SQLite database, relations, an identity service with
// the bootstrap admin, and a running routing table; and the small helpers
// those tests share. It is test support only: no product code imports it.
package brokertest
