package jujuapi_test

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
)

// countingListener counts the writes its connections make to their
// sockets.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: nc, writes: l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *countingConn) NetConn() net.Conn { return c.Conn }

// TestLargeFrameRecordsGathered: a frame larger than a TLS record goes to
// the socket in writes of several records each, not one write per 16 KB
// record, and arrives whole; frames of every size around the record and
// gathering bounds arrive whole, in order.
func TestLargeFrameRecordsGathered(t *testing.T) {
	var writes atomic.Int64
	sizes := []int{1, 16<<10 - 14, 16<<10 - 13, 16 << 10, 16<<10 + 1, 2 * (16<<10 + 256), 2*(16<<10+256) + 1, 600_000, 3<<20 + 7}
	frameOf := func(n int) []byte {
		b := bytes.Repeat([]byte(`{"a":"0123456789abcdef"},`), n/25+1)[:n]
		return b
	}
	start := make(chan int, 1)
	counted := make(chan int64, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := jujuapi.Upgrade(w, r, jujuapi.ConnOptions{})
		if err != nil {
			return
		}
		defer c.Close()
		for _, n := range sizes {
			before := writes.Load()
			if err := c.WriteFrame(frameOf(n)); err != nil {
				t.Errorf("write %d bytes: %v", n, err)
				return
			}
			if n == 600_000 {
				counted <- writes.Load() - before
			}
		}
		<-start
	}))
	srv.Listener = jujuapi.GatheringListener(countingListener{Listener: srv.Listener, writes: &writes})
	srv.StartTLS()
	defer srv.Close()
	ts := &testServer{srv: srv, URL: "wss://" + strings.TrimPrefix(srv.URL, "https://") + "/api"}
	ts.TLS = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	c := dialConn(t, ts, jujuapi.ConnOptions{MaxFrameSize: 4 << 20})
	defer c.Close()
	for _, n := range sizes {
		f, err := c.NextFrame()
		if err != nil {
			t.Fatalf("frame of %d bytes: %v", n, err)
		}
		if !bytes.Equal(f.Bytes(), frameOf(n)) {
			t.Fatalf("frame of %d bytes arrived as %d bytes, or changed", n, len(f.Bytes()))
		}
		f.Release()
	}
	start <- 1
	// 600,000 bytes are 37 TLS records: 19 writes of two records; one
	// per record would be 37, four per write 10.
	if got := <-counted; got < 19 || got > 20 {
		t.Errorf("a 600,000-byte frame took %d writes to the socket, want 19 or 20 (two records to a write)", got)
	} else {
		t.Logf("a 600,000-byte frame took %d writes to the socket", got)
	}
}
