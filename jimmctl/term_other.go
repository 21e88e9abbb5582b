//go:build !linux

package jimmctl

import "os"

// withoutEcho runs fn. Without golang.org/x/term, jimmctl turns echo off
// only on Linux; elsewhere a password typed on the terminal is visible
// (use --password-file to avoid that).
func withoutEcho(_ *os.File, fn func() error) error { return fn() }
