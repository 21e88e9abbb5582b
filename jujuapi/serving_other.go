//go:build !unix

package jujuapi

// fdUsage is unknown where descriptors are not counted: no reserve.
func fdUsage() (limit, open int) { return 0, 0 }
