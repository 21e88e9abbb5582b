//go:build !unix

package jujuapi

// fdUsage is unknown where descriptors are not counted: no reserve.
func fdUsage() (limit, open int) { return 0, 0 }

// fdLimit is unknown there too.
func fdLimit() (int, bool) { return 0, false }
