package benchenv

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPinCPU pins a child Go process, whose runtime has several threads,
// to one CPU and then the other, and reads each thread's mask back.
func TestPinCPU(t *testing.T) {
	if os.Getenv("BENCHENV_PIN_CHILD") == "1" {
		// The child: some threads, then wait to be killed.
		done := make(chan struct{})
		for range 4 {
			go func() {
				runtime.LockOSThread()
				<-done
			}()
		}
		time.Sleep(time.Minute)
		return
	}
	if runtime.NumCPU() < 2 {
		t.Fatalf("pinning needs 2 CPUs; this machine has %d", runtime.NumCPU())
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPinCPU$")
	cmd.Env = append(os.Environ(), "BENCHENV_PIN_CHILD=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	// Wait until the child has its locked threads.
	for deadline := time.Now().Add(10 * time.Second); ; {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err == nil && len(tasks) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child has %d threads after 10s", len(tasks))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, cpu := range []int{1, 0} {
		if on, err := onCPU(pid, cpu); err != nil || on {
			t.Fatalf("before pinning to CPU %d: on it alone %v (%v), want false", cpu, on, err)
		}
		if err := PinCPU(pid, cpu); err != nil {
			t.Fatal(err)
		}
		if on, err := onCPU(pid, cpu); err != nil || !on {
			t.Fatalf("after pinning to CPU %d: on it alone %v (%v), want true", cpu, on, err)
		}
		// Let the child run on both again before the other CPU.
		var both unix.CPUSet
		both.Set(0)
		both.Set(1)
		if err := setAffinity(pid, &both); err != nil {
			t.Fatal(err)
		}
	}
	if err := PinCPU(pid, runtime.NumCPU()); err == nil || !strings.Contains(err.Error(), "CPUs") {
		t.Fatalf("pinning to a CPU past the last: %v, want an error naming the CPUs", err)
	}
}

// onCPU reports whether every thread of process pid runs on cpu alone.
func onCPU(pid, cpu int) (bool, error) {
	on := true
	err := eachThread(pid, func(tid int) error {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			return err
		}
		on = on && set.Count() == 1 && set.IsSet(cpu)
		return nil
	})
	return on, err
}
