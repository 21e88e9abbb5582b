package main

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// memoryLimitShare is the part of --memory-limit the Go runtime's soft
// limit is set to: the rest is for what the runtime does not count (the
// binary, C and kernel buffers) and for the time a collection takes.
const memoryLimitShare = 0.9

// applyMemoryLimit sets the Go runtime's soft memory limit to
// memoryLimitShare of limit bytes, the memory the process may use (a
// container's limit, which the Helm chart passes), so that the garbage
// collector works harder as the heap nears it rather than the kernel
// killing the process at it. goMemLimit is the GOMEMLIMIT variable: when
// set, the operator chose the runtime's limit, and it wins. A limit of 0
// sets nothing. It logs what it did.
func applyMemoryLimit(log *slog.Logger, limit int64, goMemLimit string) error {
	switch {
	case limit < 0:
		return fmt.Errorf("--memory-limit %d: a number of bytes, or 0 for none", limit)
	case limit == 0:
		return nil
	case goMemLimit != "":
		log.Info("GOMEMLIMIT is set: --memory-limit is not applied", "memory_limit_bytes", limit, "GOMEMLIMIT", goMemLimit)
		return nil
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	log.Info("Go runtime's soft memory limit set", "memory_limit_bytes", limit, "soft_limit_bytes", soft)
	return nil
}
