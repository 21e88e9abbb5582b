package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/client"

	"github.com/jimmbroker/jimm/integration/internal/benchenv"
)

// watchers measures what n open AllWatchers cost the broker, one per
// model connection, each as the dashboard holds it: its first Next
// answered (the model's entities), the next one waiting for a change.
// It reports the Go heap and stacks they retain per watcher, beside what
// an attached idle connection retains (attachedKB, measured in the same
// run), and how much of it is returned once they are stopped and their
// connections closed.
func watchers(pid int, metricsAddr string, info *api.Info, n int, attachedKB float64) error {
	if err := awaitIdle(metricsAddr); err != nil {
		return err
	}
	before, err := benchenv.Measure(pid, metricsAddr)
	if err != nil {
		return err
	}
	if err := saveHeap(metricsAddr, ".watchers-before"); err != nil {
		return err
	}
	type held struct {
		conn api.Connection
		w    *api.AllWatcher
	}
	var (
		mu    sync.Mutex
		open  []held
		nexts sync.WaitGroup
	)
	closeAll := func() {
		for _, h := range open {
			h.w.Stop()
			h.conn.Close()
		}
		nexts.Wait()
		open = nil
	}
	defer closeAll()
	start := time.Now()
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	var opening sync.WaitGroup
	for range n {
		opening.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; opening.Done() }()
			conn, err := api.Open(info, api.DialOpts{})
			if err != nil {
				errs <- fmt.Errorf("open a model connection: %w", err)
				return
			}
			w, err := client.NewClient(conn, nil).WatchAll()
			if err != nil {
				conn.Close()
				errs <- fmt.Errorf("WatchAll: %w", err)
				return
			}
			if _, err := w.Next(); err != nil {
				conn.Close()
				errs <- fmt.Errorf("the watcher's first Next: %w", err)
				return
			}
			mu.Lock()
			open = append(open, held{conn, w})
			mu.Unlock()
			nexts.Add(1)
			go func() {
				defer nexts.Done()
				w.Next() // waits for a change, or the Stop
			}()
		}()
	}
	opening.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	opened := time.Since(start)
	// Every second Next is in flight once the broker has relayed them all:
	// give the last a moment to leave this process.
	time.Sleep(time.Second)
	with, err := benchenv.Measure(pid, metricsAddr)
	if err != nil {
		return err
	}
	closeAll()
	if err := awaitIdle(metricsAddr); err != nil {
		return err
	}
	after, err := benchenv.Measure(pid, metricsAddr)
	if err != nil {
		return err
	}
	if err := saveHeap(metricsAddr, ".watchers-closed"); err != nil {
		return err
	}
	per := with.PerConn(before, n)
	live := (with.HeapLive - before.HeapLive) / float64(n) / 1024
	liveKept := (after.HeapLive - before.HeapLive) / float64(n) / 1024
	spans := with.HeapInuse + with.Stacks - before.HeapInuse - before.Stacks
	spansAfter := after.HeapInuse + after.Stacks - before.HeapInuse - before.Stacks
	fmt.Printf("open AllWatchers, one per model connection, each with a Next waiting: opened %d in %s\n", n, opened.Round(time.Millisecond))
	fmt.Printf("  %.1f KB per watcher retained (Go heap %.1f KB + stacks %.1f KB); an attached idle connection: %.1f KB (ratio %.2f)\n",
		per, (with.HeapInuse-before.HeapInuse)/float64(n)/1024, (with.Stacks-before.Stacks)/float64(n)/1024, attachedKB, per/attachedKB)
	fmt.Printf("  live heap objects: %.1f KB per watcher while open, %.2f KB per watcher left after Stop and close\n", live, liveKept)
	fmt.Printf("  heap spans and stacks after Stop and close: %.1f MB of %.1f MB still held by the runtime for reuse; RSS %.1f MB -> %.1f MB -> %.1f MB\n",
		spansAfter/(1<<20), spans/(1<<20), float64(before.RSSKB)/1024, float64(with.RSSKB)/1024, float64(after.RSSKB)/1024)
	fmt.Printf("brokerbench: watchers=%d watcher_kb=%.1f watcher_vs_attached=%.2f watcher_live_kb=%.1f watcher_live_left_kb=%.2f\n", n, per, per/attachedKB, live, liveKept)
	return nil
}

// awaitIdle waits until the broker holds no model connection but the
// one brokerbench keeps for its own calls.
func awaitIdle(metricsAddr string) error {
	m, ok, err := awaitMetrics(metricsAddr, time.Minute, func(m map[string]float64) bool {
		return m["jimm_proxy_controller_connections"] <= 1 && m["jimm_proxy_parked_connections"] == 0
	})
	if err != nil || ok {
		return err
	}
	return fmt.Errorf("a minute after closing its connections, the broker still holds %.0f controller connections and %.0f parked ones",
		m["jimm_proxy_controller_connections"], m["jimm_proxy_parked_connections"])
}
