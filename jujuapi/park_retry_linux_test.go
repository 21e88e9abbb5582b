//go:build linux

package jujuapi

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A failure to create the epoll set (no descriptor left) is transient: it
// is retried with back-off, logged once when it begins and once when it
// ends, and the set is made once the failure passes, so that connections
// park again without a restart.
func TestPollerRetriesEpollCreation(t *testing.T) {
	var mu sync.Mutex
	failing, calls := true, 0
	var logs bytes.Buffer
	p := &poller{
		log: slog.New(slog.NewTextHandler(&logs, nil)),
		create: func() (int, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if failing {
				return -1, syscall.EMFILE
			}
			return epollCreate()
		},
	}
	// Many parks while failing: one attempt per back-off, not one each.
	for range 100 {
		if err := p.start(); err == nil {
			t.Fatal("start succeeded while epoll_create1 fails")
		}
	}
	if calls != 1 {
		t.Errorf("epoll_create1 tried %d times within the first back-off, want 1", calls)
	}
	time.Sleep(epollRetryMin + 20*time.Millisecond)
	if err := p.start(); err == nil {
		t.Fatal("start succeeded while epoll_create1 fails")
	}
	if calls != 2 {
		t.Errorf("epoll_create1 tried %d times after the back-off, want 2", calls)
	}
	if n := strings.Count(logs.String(), "cannot park"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs.String())
	}

	mu.Lock()
	failing = false
	mu.Unlock()
	deadline := time.Now().Add(3 * epollRetryMax)
	for p.start() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the epoll set was not made within %s of the failure passing", 3*epollRetryMax)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "park again") {
		t.Errorf("the recovery was not logged:\n%s", logs.String())
	}
	// The set works: a socket registered in it wakes the poller.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLONESHOT, Fd: 42}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fds[0], &ev); err != nil {
		t.Fatalf("the recreated epoll set does not take a socket: %v", err)
	}
	if err := p.start(); err != nil {
		t.Errorf("start after success: %v", err)
	}
	before := calls
	p.start()
	if calls != before {
		t.Error("start created another epoll set once one exists")
	}
}
