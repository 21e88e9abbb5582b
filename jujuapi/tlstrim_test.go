package jujuapi

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi/pki"
)

// tlsPair is a TLS 1.3 connection over loopback TCP, both ends handshaken.
func tlsPair(t *testing.T) (client, server *tls.Conn) {
	t.Helper()
	b, err := pki.LoadOrCreate(t.TempDir(), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *tls.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		sc := tls.Server(nc, b.TLSConfig())
		sc.Handshake()
		accepted <- sc
	}()
	client, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: b.CAPool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server = <-accepted
	if server == nil {
		t.Fatal("no server connection")
	}
	t.Cleanup(func() { server.Close() })
	// The client's handshake is over when the server has read something.
	client.Write([]byte("x"))
	if _, err := io.ReadFull(server, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// tlsReadHeld is the memory tc's reading side holds in its buffers, read
// with reflect alone (not through trimTLS's offsets).
func tlsReadHeld(tc *tls.Conn) int {
	v := reflect.ValueOf(tc).Elem()
	bufCap := func(name string) int { return v.FieldByName(name).FieldByName("buf").Cap() }
	return bufCap("rawInput") + bufCap("hand") + v.FieldByName("input").FieldByName("s").Cap()
}

// The Go release this is built with has the layout trimTLS knows; a release
// that changes it makes trimTLS do nothing, and this fails so that the
// idle connections' lost memory is seen.
func TestTrimTLSReleasesReadBuffers(t *testing.T) {
	if !tlsReadSide().ok {
		t.Fatalf("trimTLS releases nothing under %s: it was checked against %s's crypto/tls; read crypto/tls.Conn's reading side again (every access to rawInput, input and hand under c.in's mutex, fields of the same names and types) and update tlsAuditedRelease",
			runtime.Version(), tlsAuditedRelease)
	}
	client, server := tlsPair(t)
	if held := tlsReadHeld(server); held < 1024 {
		t.Fatalf("the server's handshake left %d bytes in its buffers; expected its ClientHello", held)
	}
	if !trimTLS(server) {
		t.Fatal("trimTLS refused an idle connection")
	}
	if held := tlsReadHeld(server); held != 0 {
		t.Fatalf("trimmed, the server still holds %d bytes", held)
	}
	// The connection goes on, both ways, with records of any size.
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	go client.Write(big)
	got := make([]byte, len(big))
	if _, err := io.ReadFull(server, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read after trimming: %v (equal: %v)", err, bytes.Equal(got, big))
	}
	if held := tlsReadHeld(server); held < 16<<10 {
		t.Fatalf("a full-size record left %d bytes held; expected at least a record's", held)
	}
	if !trimTLS(server) || tlsReadHeld(server) != 0 {
		t.Fatalf("trimming after a large read left %d bytes", tlsReadHeld(server))
	}
	if _, err := server.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 4)
	if _, err := io.ReadFull(client, back); err != nil || string(back) != "back" {
		t.Fatalf("the client read %q, %v", back, err)
	}
	// A wrapper that gives the connection it wraps is looked through; a
	// connection without TLS is left alone.
	if !trimTLS(&gatheringConn{Conn: server}) {
		t.Fatal("trimTLS did not find the TLS connection under a wrapper")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if trimTLS(a) {
		t.Fatal("trimTLS reported trimming a connection without TLS")
	}
}

// Bytes read from the socket and not yet by the caller are kept.
func TestTrimTLSKeepsBufferedData(t *testing.T) {
	client, server := tlsPair(t)
	client.Write([]byte("abcdef"))
	first := make([]byte, 3)
	if _, err := io.ReadFull(server, first); err != nil {
		t.Fatal(err)
	}
	if trimTLS(server) {
		t.Fatal("trimmed a connection holding unread data")
	}
	rest := make([]byte, 3)
	if _, err := io.ReadFull(server, rest); err != nil || string(first)+string(rest) != "abcdef" {
		t.Fatalf("read %q then %q, %v", first, rest, err)
	}
}

// A goroutine blocked reading owns the buffers: trimTLS leaves them.
func TestTrimTLSLeavesAReader(t *testing.T) {
	client, server := tlsPair(t)
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 5)
		n, _ := io.ReadFull(server, b)
		got <- string(b[:n])
	}()
	deadline := time.Now().Add(5 * time.Second)
	for trimTLS(server) {
		if time.Now().After(deadline) {
			t.Fatal("trimTLS went on trimming while a reader was blocked")
		}
		time.Sleep(time.Millisecond)
	}
	client.Write([]byte("hello"))
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("the reader got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader got nothing")
	}
}

// Trimming over and over while the connection carries data from client
// to server loses and reorders nothing: a reader between reads may lose its
// buffers, never its bytes. Every 100 chunks the writer waits until the
// reader has read them all and a trim has happened, so that trims
// certainly fall between reads mid-stream.
func TestTrimTLSUnderTraffic(t *testing.T) {
	client, server := tlsPair(t)
	const chunks, every = 2000, 100
	chunk := func(i int) []byte {
		// Sizes from a byte to over a record, so that reads end inside
		// records and between them.
		return bytes.Repeat([]byte{byte(i)}, 1+(i*7919)%(20<<10))
	}
	var trims atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if trimTLS(server) {
				trims.Add(1)
			}
		}
	}()
	resume := make(chan struct{})
	go func() {
		for i := range chunks {
			if _, err := client.Write(chunk(i)); err != nil {
				return
			}
			if i%every == every-1 {
				select {
				case <-resume:
				case <-stop:
					return
				}
			}
		}
	}()
	// A lost byte fails the read, not the test binary's timeout.
	server.SetReadDeadline(time.Now().Add(time.Minute))
	for i := range chunks {
		want := chunk(i)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(server, got); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: read %d bytes that differ from those written", i, len(got))
		}
		if i%every == every-1 {
			before := trims.Load()
			deadline := time.Now().Add(5 * time.Second)
			for trims.Load() == before {
				if time.Now().After(deadline) {
					t.Fatalf("after chunk %d, with nothing left to read, no trim in 5s", i)
				}
				time.Sleep(time.Millisecond)
			}
			resume <- struct{}{}
		}
	}
}
