//go:build linux

package jujuapi_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

// parkServer is a TLS server whose connections are handed to the test as
// server-side jujuapi.Conns.
func parkServer(t *testing.T, opts jujuapi.ConnOptions) (url string, cfg *tls.Config, conns chan *jujuapi.Conn) {
	t.Helper()
	conns = make(chan *jujuapi.Conn, 1)
	ts := connServer(t, opts, func(c *jujuapi.Conn) error {
		conns <- c
		return nil
	})
	return ts.URL, ts.TLS, conns
}

// parked dials the server with a gorilla client, and returns it with the
// server's side.
func parked(t *testing.T, opts jujuapi.ConnOptions) (*websocket.Conn, *jujuapi.Conn) {
	t.Helper()
	url, cfg, conns := parkServer(t, opts)
	d := websocket.Dialer{TLSClientConfig: cfg}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	select {
	case c := <-conns:
		t.Cleanup(func() { c.Close() })
		return ws, c
	case <-time.After(5 * time.Second):
		t.Fatal("no server connection")
		return nil, nil
	}
}

// resumed waits for a parked connection's resume call.
func resumed(t *testing.T, ch chan struct{}, within time.Duration) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("not resumed within %s", within)
	}
}

func TestParkResumesOnFrame(t *testing.T) {
	ws, c := parked(t, jujuapi.ConnOptions{})
	before := jujuapi.ParkedConns()
	wake := make(chan struct{}, 1)
	if !c.Park(func() { wake <- struct{}{} }, time.Time{}) {
		t.Fatal("an idle connection did not park")
	}
	if got := jujuapi.ParkedConns(); got != before+1 {
		t.Errorf("ParkedConns = %d, want %d", got, before+1)
	}
	select {
	case <-wake:
		t.Fatal("resumed with nothing sent")
	case <-time.After(50 * time.Millisecond):
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"request-id":1}`))
	resumed(t, wake, 5*time.Second)
	f, err := c.NextFrame()
	if err != nil || string(f.Bytes()) != `{"request-id":1}` {
		t.Fatalf("NextFrame after resume = %v, %v", f, err)
	}
	if jujuapi.TLSReadHeld(c) == 0 {
		t.Fatal("a reading connection holds no TLS read buffer: TLSReadHeld cannot tell")
	}
	f.Release()
	// It parks again, and works again; parked, it keeps no TLS read
	// buffer.
	if !c.Park(func() { wake <- struct{}{} }, time.Time{}) {
		t.Fatal("did not park a second time")
	}
	if held := jujuapi.TLSReadHeld(c); held != 0 {
		t.Fatalf("parked, the connection keeps %d bytes of TLS read buffers", held)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"request-id":2}`))
	resumed(t, wake, 5*time.Second)
	if f, err := c.NextFrame(); err != nil || string(f.Bytes()) != `{"request-id":2}` {
		t.Fatalf("second NextFrame after resume = %v, %v", f, err)
	}
}

// A frame that reached the socket before Park resumes the connection at
// once.
func TestParkResumesOnFrameAlreadySent(t *testing.T) {
	ws, c := parked(t, jujuapi.ConnOptions{})
	ws.WriteMessage(websocket.TextMessage, []byte("early"))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		n, err := jujuapi.InboundBytes(c)
		if err != nil {
			t.Fatalf("bytes in the socket: %v", err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the frame did not reach the socket within 5 s")
		}
	}
	wake := make(chan struct{}, 1)
	if c.Park(func() { wake <- struct{}{} }, time.Time{}) {
		resumed(t, wake, 5*time.Second)
	}
	if f, err := c.NextFrame(); err != nil || string(f.Bytes()) != "early" {
		t.Fatalf("NextFrame = %v, %v", f, err)
	}
}

// rawParked opens a connection with a hand-written upgrade, for tests
// that control how bytes are cut into TLS records.
func rawParked(t *testing.T) (*tls.Conn, *jujuapi.Conn) {
	t.Helper()
	url, cfg, conns := parkServer(t, jujuapi.ConnOptions{})
	host := strings.TrimPrefix(url, "wss://")
	raw, err := tls.Dial("tcp", host[:strings.Index(host, "/")], cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.Write([]byte("GET /api HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	c := <-conns
	t.Cleanup(func() { c.Close() })
	resp := make([]byte, 4096)
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw.Read(resp); err != nil || !strings.HasPrefix(string(resp[:n]), "HTTP/1.1 101") {
		t.Fatalf("handshake: %q %v", resp[:n], err)
	}
	return raw, c
}

// maskedFrame is a final text frame as a client sends it (with a zero
// mask key, which leaves the payload as it is).
func maskedFrame(s string) []byte {
	return append([]byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}, s...)
}

// A frame that the TLS layer already holds (two frames in one TLS record)
// is found before parking: Park refuses, and the frame is read.
func TestParkRefusedWhenDataBuffered(t *testing.T) {
	raw, c := rawParked(t)
	raw.Write(append(maskedFrame("one"), maskedFrame("two")...))
	if f, err := c.NextFrame(); err != nil || string(f.Bytes()) != "one" {
		t.Fatalf("first frame: %v %v", f, err)
	}
	if c.Park(func() { t.Error("resumed a connection that did not park") }, time.Time{}) {
		t.Fatal("parked with a frame buffered")
	}
	if f, err := c.NextFrame(); err != nil || string(f.Bytes()) != "two" {
		t.Fatalf("second frame: %v %v", f, err)
	}
}

func TestParkResumesOnClose(t *testing.T) {
	_, c := parked(t, jujuapi.ConnOptions{})
	wake := make(chan struct{}, 1)
	if !c.Park(func() { wake <- struct{}{} }, time.Time{}) {
		t.Fatal("did not park")
	}
	c.Close()
	resumed(t, wake, 5*time.Second)
	if _, err := c.NextFrame(); !jujuapi.IsClosed(err) {
		t.Fatalf("NextFrame after close = %v, want a closed error", err)
	}
	if c.Park(func() {}, time.Time{}) {
		t.Fatal("a closed connection parked")
	}
}

func TestParkResumesWhenPeerGoes(t *testing.T) {
	ws, c := parked(t, jujuapi.ConnOptions{})
	wake := make(chan struct{}, 1)
	if !c.Park(func() { wake <- struct{}{} }, time.Time{}) {
		t.Fatal("did not park")
	}
	ws.NetConn().Close()
	resumed(t, wake, 5*time.Second)
	if _, err := c.NextFrame(); !jujuapi.IsClosed(err) {
		t.Fatalf("NextFrame after the peer went = %v, want a closed error", err)
	}
}

// A parked connection is still bound by its idle timeout.
func TestParkIdleTimeout(t *testing.T) {
	_, c := parked(t, jujuapi.ConnOptions{IdleTimeout: 300 * time.Millisecond})
	wake := make(chan struct{}, 1)
	if !c.Park(func() { wake <- struct{}{} }, time.Time{}) {
		t.Fatal("did not park")
	}
	resumed(t, wake, 5*time.Second)
	// The error is the parked connection's own: it was resumed because
	// its idle deadline passed, not for anything else.
	_, err := c.NextFrame()
	if !errors.Is(err, os.ErrDeadlineExceeded) || !jujuapi.IsClosed(err) || !strings.Contains(err.Error(), "no frame for 300ms") {
		t.Fatalf("NextFrame after the idle timeout = %v, want a deadline error naming the idle timeout", err)
	}
}

// NextFrameWithin gives up with ErrIdle when nothing begins, leaving the
// connection intact. (That a frame begun in the wait is read whole is
// TestNextFrameWithinReadsABegunFrameWhole's.)
func TestNextFrameWithin(t *testing.T) {
	ws, c := parked(t, jujuapi.ConnOptions{})
	if _, err := c.NextFrameWithin(50 * time.Millisecond); err != jujuapi.ErrIdle {
		t.Fatalf("NextFrameWithin with nothing sent = %v, want ErrIdle", err)
	}
	// Ping frames in the wait are answered without ending it early.
	pong := make(chan string, 1)
	ws.SetPongHandler(func(s string) error { pong <- s; return nil })
	go ws.ReadMessage()
	ws.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
	if _, err := c.NextFrameWithin(100 * time.Millisecond); err != jujuapi.ErrIdle {
		t.Fatalf("NextFrameWithin after a ping = %v, want ErrIdle", err)
	}
	select {
	case s := <-pong:
		if s != "hi" {
			t.Errorf("pong %q, want %q", s, "hi")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no pong")
	}
	// And the connection reads on.
	ws.WriteMessage(websocket.TextMessage, []byte("after the waits"))
	if f, err := c.NextFrame(); err != nil || string(f.Bytes()) != "after the waits" {
		t.Fatalf("NextFrame after the waits = %v, %v", f, err)
	}
}

// A reader parked with a recheck time is resumed once it has passed,
// with nothing sent, and Rechecked says so (once); the connection is
// intact: it parks again, and a frame sent later resumes it as usual, not
// as a recheck. A reader not resumed for its recheck time is not
// Rechecked.
func TestParkRecheck(t *testing.T) {
	ws, c := parked(t, jujuapi.ConnOptions{})
	if c.Rechecked() {
		t.Fatal("Rechecked on a reader never parked")
	}
	before := jujuapi.ParkedConns()
	wake := make(chan struct{}, 2)
	if !c.Park(func() { wake <- struct{}{} }, time.Now().Add(50*time.Millisecond)) {
		t.Fatal("an idle connection did not park")
	}
	resumed(t, wake, 5*time.Second)
	if got := jujuapi.ParkedConns(); got != before {
		t.Errorf("ParkedConns after the recheck = %d, want %d", got, before)
	}
	if !c.Rechecked() {
		t.Fatal("resumed for its recheck time, the reader is not told so")
	}
	if c.Rechecked() {
		t.Error("Rechecked twice for one recheck")
	}
	// Resumed with nothing to read, the reader may park again at once.
	if !c.Park(func() { wake <- struct{}{} }, time.Time{}) {
		t.Fatal("did not park again after the recheck")
	}
	select {
	case <-wake:
		t.Fatal("resumed with nothing sent and no recheck time, after parking again")
	case <-time.After(100 * time.Millisecond):
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"request-id":3}`))
	resumed(t, wake, 5*time.Second)
	if c.Rechecked() {
		t.Error("resumed by a frame, the reader is told it was rechecked")
	}
	f, err := c.NextFrame()
	if err != nil || string(f.Bytes()) != `{"request-id":3}` {
		t.Fatalf("NextFrame after a recheck and a second park = %v, %v", f, err)
	}
	f.Release()
}

// The TLS read buffers a message larger than a record grew are released
// before the connection waits for its next message, once nothing read
// ahead is in them; smaller messages leave them be.
func TestLargeMessageReleasesReadBuffers(t *testing.T) {
	ws, c := parked(t, jujuapi.ConnOptions{})
	read := func(want []byte) {
		t.Helper()
		f, err := c.NextFrame()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Bytes(), want) {
			t.Fatalf("read %d bytes, not the %d sent", len(f.Bytes()), len(want))
		}
		f.Release()
	}
	send := func(b []byte) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	small := []byte(`{"request-id":1}`)
	large := bytes.Repeat([]byte("0123456789abcdef"), 600<<10/16)
	// A message under a record's size: the buffers it grew are kept.
	medium := bytes.Repeat([]byte("m"), 12<<10)
	send(medium)
	read(medium)
	send(small)
	read(small)
	if held := jujuapi.TLSReadHeld(c); held < 12<<10 {
		t.Fatalf("after a 12 KB message, the connection holds %d bytes: a message under a record's size was trimmed after", held)
	}
	// A large one: released before the next read.
	send(large)
	read(large)
	if held := jujuapi.TLSReadHeld(c); held < 8<<10 {
		t.Fatalf("after a 600 KB message, the connection holds %d bytes; expected the buffers it grew", held)
	}
	send(small)
	read(small)
	if held := jujuapi.TLSReadHeld(c); held > 4<<10 {
		t.Fatalf("after a 600 KB message and a small one, the connection still holds %d bytes", held)
	}
	// A large message followed at once by a small one: what was read
	// ahead is kept (and read whole), and the buffers go at the next wait
	// once it is read.
	// (40 KB: both fit in the socket's receive buffer before either is
	// read.)
	ahead := large[:40<<10]
	if err := errors.Join(ws.WriteMessage(websocket.TextMessage, ahead), ws.WriteMessage(websocket.TextMessage, small)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		n, err := jujuapi.InboundBytes(c)
		if err != nil {
			t.Fatal(err)
		}
		if n >= len(ahead)+len(small) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes arrived of the %d sent", n, len(ahead)+len(small))
		}
	}
	read(ahead)
	read(small)
	send(small)
	read(small)
	if held := jujuapi.TLSReadHeld(c); held > 4<<10 {
		t.Fatalf("after a large message read ahead of a small one, the connection still holds %d bytes", held)
	}
}

// A wake that comes late, for a parking that ended (the poller's sweep or
// an event, or a recheck timer, racing the reader's resumption), leaves
// the reader's next parking alone: it neither resumes it nor marks it
// expired.
func TestLateWakeLeavesNextParking(t *testing.T) {
	ws, c := parked(t, jujuapi.ConnOptions{})
	wake := make(chan struct{}, 4)
	if !c.Park(func() { wake <- struct{}{} }, time.Time{}) {
		t.Fatal("an idle connection did not park")
	}
	first := jujuapi.ParkToken(c)
	ws.WriteMessage(websocket.TextMessage, []byte(`{"request-id":1}`))
	resumed(t, wake, 5*time.Second)
	f, err := c.NextFrame()
	if err != nil {
		t.Fatal(err)
	}
	f.Release()
	if !c.Park(func() { wake <- struct{}{} }, time.Time{}) {
		t.Fatal("did not park again")
	}
	second := jujuapi.ParkToken(c)
	if first == 0 || second == 0 || first == second {
		t.Fatalf("parking tokens %d then %d: want two distinct ones", first, second)
	}
	jujuapi.WakeLate(c, first, true)
	jujuapi.WakeLate(c, first, false)
	jujuapi.RecheckLate(c, first)
	select {
	case <-wake:
		t.Fatal("a late wake of the first parking resumed the second")
	case <-time.After(100 * time.Millisecond):
	}
	if got := jujuapi.ParkToken(c); got != second {
		t.Fatalf("parked under %d after the late wakes, want %d", got, second)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"request-id":2}`))
	resumed(t, wake, 5*time.Second)
	if f, err = c.NextFrame(); err != nil || string(f.Bytes()) != `{"request-id":2}` {
		t.Fatalf("NextFrame after late wakes = %v, %v; want the frame (the connection is not expired)", f, err)
	}
	f.Release()
}
