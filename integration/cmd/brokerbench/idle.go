package main

// Idle connections alone (-idle-only): the broker's memory per idle
// proxied model connection, attached to the controller and then detached
// and parked, without the pings, watchers and listings around it. With
// -heap-profile, the broker's heap is saved at both moments: the file
// named, with the connections parked, and that name with ".attached"
// added, with them attached.

import (
	"flag"
	"fmt"
	"time"

	"github.com/juju/juju/api"

	"github.com/jimmbroker/jimm/integration/internal/benchenv"
)

var (
	idleOnly   bool
	idleBursts int
)

func init() {
	flag.BoolVar(&idleOnly, "idle-only", false, "measure only the broker's memory per idle proxied connection, attached and parked (-conns of them)")
	flag.IntVar(&idleBursts, "idle-bursts", 1, "-idle-only: open -conns connections this many times, each burst once the last has parked, and report what each burst adds")
}

// idle opens nConns idle model connections through the broker (info), and
// reports the broker's memory per connection while they are attached and
// once they are parked. pid and metricsAddr are the broker's.
func idle(info *api.Info, pid int, metricsAddr string, nConns, fdLimit int) error {
	// An attached connection is two sockets in the broker; this mode
	// opens them all at once, so they must fit.
	if idleBursts < 1 {
		return fmt.Errorf("-idle-bursts %d: at least one burst", idleBursts)
	}
	// The last burst attaches beside the ones parked before it.
	if need := (idleBursts+1)*nConns + 1000; need > fdLimit {
		return fmt.Errorf("-idle-only: %d bursts of %d connections need %d sockets in the broker, over the open-file limit of %d: lower -conns or -idle-bursts",
			idleBursts, nConns, need-1000, fdLimit)
	}
	// Warm the broker up (pools, the route cache, the first login's
	// one-off allocations), so that the baseline holds them.
	warm, err := openMany(info, 32)
	for _, c := range warm {
		c.Close()
	}
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	before, err := benchenv.Measure(pid, metricsAddr)
	if err != nil {
		return err
	}
	start := time.Now()
	open, err := openMany(info, nConns)
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	if err != nil {
		return err
	}
	opened := time.Since(start)
	attached, err := benchenv.Measure(pid, metricsAddr)
	if err != nil {
		return err
	}
	if err := saveHeap(metricsAddr, ".attached"); err != nil {
		return err
	}
	fmt.Printf("idle proxied connections: opened %d in %s (%.0f/s)\n", nConns, opened.Round(time.Millisecond), float64(nConns)/opened.Seconds())
	attached.Report("  attached to the controller", before, nConns, opened < detachAfter)
	if err := awaitParked(metricsAddr, nConns); err != nil {
		return err
	}
	parked, err := benchenv.Measure(pid, metricsAddr)
	if err != nil {
		return err
	}
	parked.Report(fmt.Sprintf("  detached and parked (idle > %s)", detachAfter), before, nConns, true)
	if err := saveHeap(metricsAddr, ""); err != nil {
		return err
	}
	live := func(m benchenv.Memory) float64 { return (m.HeapLive - before.HeapLive) / float64(nConns) / 1024 }
	fmt.Printf("  live heap objects per connection (heap_alloc, no free slots of in-use spans): attached %.1f KB, parked %.1f KB\n", live(attached), live(parked))
	// Later bursts: what a burst of connections costs once the broker has
	// parked others, whose handshakes, logins and detaching left free
	// slots among the objects they keep.
	last := parked
	for burst := 2; burst <= idleBursts; burst++ {
		more, err := openMany(info, nConns)
		open = append(open, more...)
		if err != nil {
			return err
		}
		if err := awaitParked(metricsAddr, len(open)); err != nil {
			return err
		}
		m, err := benchenv.Measure(pid, metricsAddr)
		if err != nil {
			return err
		}
		fmt.Printf("  burst %d, parked beside the %d before it: %.1f KB per connection of this burst retained (live %.1f KB); all %d parked: %.1f KB each\n",
			burst, len(open)-nConns, m.PerConn(last, nConns), live(m)-live(last), len(open), m.PerConn(before, len(open)))
		fmt.Printf("brokerbench: burst=%d burst_detached_kb=%.1f burst_detached_live_kb=%.1f all_detached_kb=%.1f burst_conns=%d all_conns=%d\n",
			burst, m.PerConn(last, nConns), live(m)-live(last), m.PerConn(before, len(open)), nConns, len(open))
		last = m
	}
	fmt.Printf("brokerbench: conn_attached_kb=%.1f conn_detached_kb=%.1f conn_attached_live_kb=%.1f conn_detached_live_kb=%.1f conns=%d\n",
		attached.PerConn(before, nConns), parked.PerConn(before, nConns), live(attached), live(parked), nConns)
	return nil
}
