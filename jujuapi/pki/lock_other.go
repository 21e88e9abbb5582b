//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package pki

import "sync"

var dirLock sync.Mutex

// lockDir serialises callers within this process only: the platform has no
// flock.
func lockDir(string) (func(), error) {
	dirLock.Lock()
	return dirLock.Unlock, nil
}
