//go:build unix

package jujuapi

import (
	"os"
	"runtime"
	"syscall"
)

// fdUsage returns the soft limit on open descriptors (0: unknown or
// unlimited) and how many are open, counted in /proc/self/fd (or /dev/fd);
// 0 when they cannot be counted (at the limit itself, opening the
// directory fails).
func fdUsage() (limit, open int) {
	limit, _ = fdLimit()
	dir := "/proc/self/fd"
	if runtime.GOOS != "linux" {
		dir = "/dev/fd"
	}
	f, err := os.Open(dir)
	if err != nil {
		return limit, 0
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return limit, 0
	}
	return limit, len(names) - 1 // not the directory's own
}

// fdLimit returns the soft RLIMIT_NOFILE, one system call, no descriptor;
// ok is false when it is unknown (or too large to matter).
func fdLimit() (int, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0, false
	}
	return int(rl.Cur), true
}
