package jujuapi

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// deadlineCounter counts the deadlines set on a connection.
type deadlineCounter struct {
	net.Conn
	reads, writes atomic.Int64
}

func (c *deadlineCounter) SetReadDeadline(t time.Time) error {
	c.reads.Add(1)
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineCounter) SetWriteDeadline(t time.Time) error {
	c.writes.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

// TestDeadlinesSetSeldom: a connection busy with frames sets its read and
// write deadlines once in a while (deadlineSlack), not at every frame; a
// shorter wait than the one set still moves the deadline in at once.
func TestDeadlinesSetSeldom(t *testing.T) {
	a, b := net.Pipe()
	counted := &deadlineCounter{Conn: a}
	client, server := newConn(counted, true, ConnOptions{}), newConn(b, false, ConnOptions{})
	defer client.Close()
	defer server.Close()
	const frames = 1000
	go func() {
		for {
			f, err := server.NextFrame()
			if err != nil {
				return
			}
			err = server.WriteFrame(f.Bytes())
			f.Release()
			if err != nil {
				return
			}
		}
	}()
	start := time.Now()
	for range frames {
		if err := client.WriteFrame([]byte(`{"request-id":1}`)); err != nil {
			t.Fatal(err)
		}
		f, err := client.NextFrameWithin(time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		f.Release()
	}
	// Once, then about once per slack (over 900ms for these waits).
	allowed := 2 + int64(time.Since(start)/(900*time.Millisecond))
	if r, w := counted.reads.Load(), counted.writes.Load(); r > allowed || w > allowed {
		t.Errorf("%d frames each way set the read deadline %d times and the write deadline %d times, want at most %d", frames, r, w, allowed)
	}

	// A wait shorter than the deadline set is kept to.
	t0 := time.Now()
	if _, err := client.NextFrameWithin(50 * time.Millisecond); !errors.Is(err, ErrIdle) {
		t.Fatalf("NextFrameWithin(50ms) = %v, want ErrIdle", err)
	}
	if took := time.Since(t0); took < 50*time.Millisecond || took > 50*time.Millisecond+deadlineSlack(50*time.Millisecond)+100*time.Millisecond {
		t.Errorf("NextFrameWithin(50ms) gave up after %s", took)
	}
}
