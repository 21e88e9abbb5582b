package benchenv

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Pinning: where each process of a benchmark runs. By default every
// process shares every CPU, so a proxy's CPU competes with the client's
// and the controller's, and on a machine of two CPUs a proxy's throughput
// against direct measures that contention as much as the proxy. Pinned,
// the proxies (the broker, HAProxy) get a CPU of their own and everything
// else shares the other, as in a deployment where the broker runs beside,
// not on, its controllers' and clients' machines.

// PinCPU runs every thread of process pid (0: this process) on cpu alone.
// Threads the process makes later inherit the mask of the thread that
// makes them, and children the mask of the thread that starts them.
func PinCPU(pid, cpu int) error {
	if cpu >= runtime.NumCPU() {
		return fmt.Errorf("pin to CPU %d: this machine has %d CPUs", cpu, runtime.NumCPU())
	}
	var set unix.CPUSet
	set.Set(cpu)
	return setAffinity(pid, &set)
}

// setAffinity gives every thread of process pid (0: this process) the CPU
// mask set.
func setAffinity(pid int, set *unix.CPUSet) error {
	if pid == 0 {
		pid = os.Getpid()
	}
	return eachThread(pid, func(tid int) error {
		if err := unix.SchedSetaffinity(tid, set); err != nil {
			return fmt.Errorf("set the CPUs of thread %d of process %d: %w", tid, pid, err)
		}
		return nil
	})
}

// eachThread calls f with each thread of process pid; a thread that ended
// since the listing (ESRCH) is skipped.
func eachThread(pid int, f func(tid int) error) error {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return fmt.Errorf("threads of process %d: %w", pid, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := f(tid); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
	}
	return nil
}
