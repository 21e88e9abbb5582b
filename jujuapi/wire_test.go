package jujuapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jimmbroker/jimm/jujuapi"
)

// This file pins down the WebSocket wire protocol (RFC 6455) that Upgrade,
// Dial and Conn speak. The peer in these tests writes and reads raw frames
// over TLS, so the checks hold whatever WebSocket implementation conn.go
// is built on, and do not lean on that implementation's own leniency.

// Opcodes and header bits (RFC 6455 section 5.2).
const (
	opContinuation byte = 0x0
	opText         byte = 0x1
	opBinary       byte = 0x2
	opClose        byte = 0x8
	opPing         byte = 0x9
	opPong         byte = 0xa

	rsv1 byte = 0x40
	rsv2 byte = 0x20
	rsv3 byte = 0x10
)

// wireTimeout bounds every raw read, write and dial, so that a failure
// cannot hang a test.
const wireTimeout = 3 * time.Second

// acceptKey is the Sec-WebSocket-Accept that answers key (RFC 6455
// section 4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// newWSKey returns a fresh Sec-WebSocket-Key: 16 random bytes in base64.
func newWSKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// filler returns n bytes of printable ASCII whose pattern does not repeat
// at a power of two, so that a lost, doubled or reordered chunk shows.
func filler(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = '!' + byte(i%89)
	}
	return b
}

// wireFrame is one WebSocket frame as it travels.
type wireFrame struct {
	fin    bool
	rsv    byte // the RSV bits in place: rsv1|rsv2|rsv3
	op     byte
	masked bool
	// key is the masking key; encode picks a random one when it is zero.
	key [4]byte
	// lenForm is how the payload length is written: in 7, 16 or 64 bits.
	// encode uses the shortest form when it is 0.
	lenForm int
	// declared, when not 0, is the length encode writes in place of
	// len(payload): a frame whose payload is not (all) sent.
	declared uint64
	payload  []byte // unmasked
}

// textFrame, controlFrame and closeFrame are whole, masked client frames.
func textFrame(s string) wireFrame {
	return wireFrame{fin: true, op: opText, masked: true, payload: []byte(s)}
}

func controlFrame(op byte, payload string) wireFrame {
	return wireFrame{fin: true, op: op, masked: true, payload: []byte(payload)}
}

func closeFrame(code uint16, reason string) wireFrame {
	return wireFrame{fin: true, op: opClose, masked: true, payload: append(binary.BigEndian.AppendUint16(nil, code), reason...)}
}

// fragment is a masked data frame: op is opText or opContinuation.
func fragment(op byte, fin bool, payload string) wireFrame {
	return wireFrame{fin: fin, op: op, masked: true, payload: []byte(payload)}
}

// unmasked is f as a server sends it.
func (f wireFrame) unmasked() wireFrame {
	f.masked = false
	return f
}

// shortestLenForm is the length form RFC 6455 section 5.2 requires for n.
func shortestLenForm(n uint64) int {
	switch {
	case n <= 125:
		return 7
	case n <= 0xffff:
		return 16
	}
	return 64
}

func (f wireFrame) encode() []byte {
	n := uint64(len(f.payload))
	if f.declared != 0 {
		n = f.declared
	}
	form := f.lenForm
	if form == 0 {
		form = shortestLenForm(n)
	}
	b0 := f.rsv&0x70 | f.op&0x0f
	if f.fin {
		b0 |= 0x80
	}
	var maskBit byte
	if f.masked {
		maskBit = 0x80
	}
	buf := make([]byte, 0, 14+len(f.payload))
	buf = append(buf, b0)
	switch form {
	case 7:
		buf = append(buf, maskBit|byte(n))
	case 16:
		buf = append(buf, maskBit|126)
		buf = binary.BigEndian.AppendUint16(buf, uint16(n))
	case 64:
		buf = append(buf, maskBit|127)
		buf = binary.BigEndian.AppendUint64(buf, n)
	default:
		panic(fmt.Sprintf("no %d-bit length form", form))
	}
	if !f.masked {
		return append(buf, f.payload...)
	}
	key := f.key
	for key == ([4]byte{}) {
		rand.Read(key[:])
	}
	buf = append(buf, key[:]...)
	start := len(buf)
	buf = append(buf, f.payload...)
	for i := range f.payload {
		buf[start+i] ^= key[i%4]
	}
	return buf
}

// readWireFrame reads one frame and unmasks its payload.
func readWireFrame(r io.Reader) (wireFrame, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil {
		return wireFrame{}, err
	}
	f := wireFrame{fin: h[0]&0x80 != 0, rsv: h[0] & 0x70, op: h[0] & 0x0f, masked: h[1]&0x80 != 0, lenForm: 7}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, h[:2]); err != nil {
			return f, err
		}
		n, f.lenForm = uint64(binary.BigEndian.Uint16(h[:2])), 16
	case 127:
		if _, err := io.ReadFull(r, h[:8]); err != nil {
			return f, err
		}
		n, f.lenForm = binary.BigEndian.Uint64(h[:8]), 64
	}
	if n > 16<<20 {
		return f, fmt.Errorf("frame header declares %d bytes", n)
	}
	if f.masked {
		if _, err := io.ReadFull(r, f.key[:]); err != nil {
			return f, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= f.key[i%4]
		}
	}
	return f, nil
}

// rawWS is one end of a WebSocket connection spoken in raw frames.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
	// peerIsClient says the frames read here come from a client, so
	// must be masked; a server's must not be.
	peerIsClient bool
}

// send writes frames in one write.
func (c *rawWS) send(t testing.TB, frames ...wireFrame) {
	t.Helper()
	var buf []byte
	for _, f := range frames {
		buf = append(buf, f.encode()...)
	}
	c.conn.SetWriteDeadline(time.Now().Add(wireTimeout))
	if _, err := c.conn.Write(buf); err != nil {
		// The other end may close before it has read it all: what is
		// read next tells whether that was right.
		t.Logf("write: %v", err)
	}
}

// next reads the next frame and checks that it is well formed; err is
// what ended the connection instead. Nothing within wireTimeout fails the
// test.
func (c *rawWS) next(t testing.TB) (wireFrame, error) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(wireTimeout))
	f, err := readWireFrame(c.br)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("nothing read within %v: the connection is still open", wireTimeout)
		}
		return f, err
	}
	c.check(t, f)
	return f, nil
}

// check reports what is wrong with a frame the peer sent.
func (c *rawWS) check(t testing.TB, f wireFrame) {
	t.Helper()
	peer := "server"
	if c.peerIsClient {
		peer = "client"
	}
	if f.masked != c.peerIsClient {
		t.Errorf("%s frame (opcode %#x) has masked=%v: client frames must be masked, server frames not (RFC 6455 5.1)", peer, f.op, f.masked)
	}
	if f.rsv != 0 {
		t.Errorf("%s frame (opcode %#x) has RSV bits %#x set with no extension negotiated", peer, f.op, f.rsv)
	}
	if n := uint64(len(f.payload)); f.lenForm != shortestLenForm(n) {
		t.Errorf("%s frame writes its %d-byte length in the %d-bit form, not the shortest (RFC 6455 5.2)", peer, n, f.lenForm)
	}
	switch f.op {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !f.fin || len(f.payload) > 125 {
			t.Errorf("%s control frame (opcode %#x) with FIN=%v and %d bytes: control frames are whole and at most 125 bytes", peer, f.op, f.fin, len(f.payload))
		}
	default:
		t.Errorf("%s frame has reserved opcode %#x", peer, f.op)
	}
}

// read reads the next frame, failing the test if there is none.
func (c *rawWS) read(t testing.TB) wireFrame {
	t.Helper()
	f, err := c.next(t)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

// readMessage reads a text message, which may come in fragments.
func (c *rawWS) readMessage(t testing.TB) (msg []byte, frames []wireFrame) {
	t.Helper()
	f := c.read(t)
	if f.op != opText {
		t.Fatalf("got a frame with opcode %#x (%.80q), want a text message", f.op, f.payload)
	}
	frames = append(frames, f)
	msg = append(msg, f.payload...)
	for !f.fin {
		f = c.read(t)
		if f.op != opContinuation {
			t.Fatalf("got a frame with opcode %#x inside a fragmented message", f.op)
		}
		frames = append(frames, f)
		msg = append(msg, f.payload...)
	}
	return msg, frames
}

// call makes a Pinger(1).Ping request to a Serve server and checks the
// next frame is its answer.
func (c *rawWS) call(t testing.TB, id int) {
	t.Helper()
	c.send(t, textFrame(req(id, "Pinger", 1, "Ping", "")))
	msg, _ := c.readMessage(t)
	if want := fmt.Sprintf(`{"request-id":%d,"response":{}}`, id); string(msg) != want {
		t.Fatalf("answer %q, want %q", msg, want)
	}
}

// sync pings a server and checks that the next frame is the pong: nothing
// else was sent before it.
func (c *rawWS) sync(t testing.TB) {
	t.Helper()
	payload := "sync " + rand.Text()
	c.send(t, controlFrame(opPing, payload))
	if f := c.read(t); f.op != opPong || string(f.payload) != payload {
		t.Fatalf("got a frame with opcode %#x (%.80q), want the pong %q", f.op, f.payload, payload)
	}
}

// readClose reads until a close frame and returns its status code (0 if
// it has none) and reason; ok is false if the connection ended without
// one.
func (c *rawWS) readClose(t testing.TB) (code int, reason string, ok bool) {
	t.Helper()
	for {
		f, err := c.next(t)
		if err != nil {
			t.Logf("connection ended without a close frame: %v", err)
			return 0, "", false
		}
		if f.op != opClose {
			t.Logf("frame with opcode %#x before the close: %.80q", f.op, f.payload)
			continue
		}
		switch len(f.payload) {
		case 0:
			return 0, "", true
		case 1:
			t.Errorf("close frame with a one-byte payload")
			return 0, "", true
		}
		reason = string(f.payload[2:])
		if !utf8.ValidString(reason) {
			t.Errorf("close reason is not UTF-8: %q", reason)
		}
		return int(binary.BigEndian.Uint16(f.payload)), reason, true
	}
}

// expectClose reads a close frame with one of the codes in want (0: no
// status code) and checks that the connection then ends.
func (c *rawWS) expectClose(t testing.TB, want ...int) {
	t.Helper()
	code, reason, ok := c.readClose(t)
	if !ok {
		t.Fatalf("connection ended without a close frame, want close %v", want)
	}
	if !slices.Contains(want, code) {
		t.Errorf("close %d %q, want %v", code, reason, want)
	}
	c.expectEnd(t)
}

// expectEnd checks that the connection ends with nothing more sent.
func (c *rawWS) expectEnd(t testing.TB) {
	t.Helper()
	if f, err := c.next(t); err == nil {
		t.Errorf("frame with opcode %#x (%.80q) after the close frame", f.op, f.payload)
	}
}

// result is what the server returned for this connection: what Serve
// returned (startServer), or what the script returned (connServer).
func (c *rawWS) result(t testing.TB, ts *testServer) error {
	t.Helper()
	select {
	case err := <-ts.resultFor(c.conn.LocalAddr().String()):
		return err
	case <-time.After(wireTimeout):
		t.Fatal("the server did not finish with the connection")
		return nil
	}
}

// upgradeHeader returns the header lines of a valid upgrade request with
// key, changed by set: name/value pairs that replace a line (an empty
// value drops it) or add one.
func upgradeHeader(key string, set ...string) []string {
	lines := [][2]string{{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Key", key}, {"Sec-WebSocket-Version", "13"}}
	for i := 0; i+1 < len(set); i += 2 {
		name, value := set[i], set[i+1]
		j := slices.IndexFunc(lines, func(l [2]string) bool { return strings.EqualFold(l[0], name) })
		switch {
		case j < 0 && value != "":
			lines = append(lines, [2]string{name, value})
		case j >= 0 && value == "":
			lines = slices.Delete(lines, j, j+1)
		case j >= 0:
			lines[j][1] = value
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l[0] + ": " + l[1]
	}
	return out
}

// rawHandshake opens a TLS connection to ts and sends it a request for
// /api written by hand. It returns the connection, positioned after the
// response, and the response.
func rawHandshake(t testing.TB, ts *testServer, method string, header []string) (*rawWS, *http.Response) {
	t.Helper()
	addr := ts.srv.Listener.Addr().String()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: wireTimeout}, "tcp", addr, ts.TLS)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "%s /api HTTP/1.1\r\nHost: %s\r\n", method, addr)
	for _, l := range header {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	conn.SetDeadline(time.Now().Add(wireTimeout))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("write the upgrade request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read the upgrade response: %v", err)
	}
	conn.SetDeadline(time.Time{})
	return &rawWS{conn: conn, br: br}, resp
}

// hasToken says whether a comma-separated header holds token.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// rawUpgrade opens a WebSocket connection to ts by hand, with extra header
// lines (as for upgradeHeader), and checks the 101 response.
func rawUpgrade(t testing.TB, ts *testServer, key string, extra ...string) *rawWS {
	t.Helper()
	c, resp := rawHandshake(t, ts, "GET", upgradeHeader(key, extra...))
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %s, want 101", resp.Status)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key); got != want {
		t.Errorf("Sec-WebSocket-Accept %q for key %q, want %q", got, key, want)
	}
	if !hasToken(resp.Header, "Upgrade", "websocket") || !hasToken(resp.Header, "Connection", "upgrade") {
		t.Errorf("101 without Upgrade: websocket and Connection: Upgrade: %v", resp.Header)
	}
	if ext := resp.Header.Values("Sec-WebSocket-Extensions"); len(ext) > 0 {
		t.Errorf("server negotiated extensions %q; it supports none", ext)
	}
	if p := resp.Header.Values("Sec-WebSocket-Protocol"); len(p) > 0 {
		t.Errorf("server chose subprotocol %q, none offered", p)
	}
	return c
}

// echoConn sends every frame back until NextFrame fails, then closes the
// way Serve does and returns NextFrame's error.
func echoConn(c *jujuapi.Conn) error {
	for {
		f, err := c.NextFrame()
		if err != nil {
			if jujuapi.IsClosed(err) && !errors.Is(err, jujuapi.ErrFrameTooLarge) {
				c.Close()
			} else {
				c.CloseWith(jujuapi.CloseFor(err), err.Error())
			}
			return err
		}
		err = c.WriteFrame(f.Bytes())
		f.Release()
		if err != nil {
			c.Close()
			return err
		}
	}
}

// hijacked is the server end of a connection a hijackServer took over.
type hijacked struct {
	*rawWS
	req *http.Request
}

// switchingProtocols is a valid 101 response head for key.
func switchingProtocols(key string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
}

// hijackServer is a TLS server that answers each request by hand, with
// the response head respond returns for its Sec-WebSocket-Key, then hands
// the connection over for the test to speak raw frames on.
func hijackServer(t *testing.T, respond func(key string) string) (*testServer, <-chan hijacked) {
	t.Helper()
	conns := make(chan hijacked, 8)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		conn.SetWriteDeadline(time.Now().Add(wireTimeout))
		io.WriteString(conn, respond(r.Header.Get("Sec-WebSocket-Key")))
		conn.SetWriteDeadline(time.Time{})
		conns <- hijacked{&rawWS{conn: conn, br: rw.Reader, peerIsClient: true}, r}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(func() {
		srv.Close()
		for {
			select {
			case h := <-conns:
				h.conn.Close()
			default:
				return
			}
		}
	})
	return &testServer{
		srv: srv,
		URL: "wss://" + strings.TrimPrefix(srv.URL, "https://") + "/api",
		TLS: srv.Client().Transport.(*http.Transport).TLSClientConfig,
	}, conns
}

// takeHijacked waits for the server end of the next connection.
func takeHijacked(t *testing.T, conns <-chan hijacked) hijacked {
	t.Helper()
	select {
	case h := <-conns:
		t.Cleanup(func() { h.conn.Close() })
		return h
	case <-time.After(wireTimeout):
		t.Fatal("no connection reached the server")
		return hijacked{}
	}
}

// TestWireServerHandshake: the opening handshake of RFC 6455 section 4.2.
func TestWireServerHandshake(t *testing.T) {
	t.Parallel()
	ts := startServer(t, registryHandler(quickRegistry()), jujuapi.ServerOptions{})

	t.Run("101 with the accept key", func(t *testing.T) {
		t.Parallel()
		// rawUpgrade checks the response.
		c := rawUpgrade(t, ts, newWSKey())
		c.call(t, 1)
	})

	t.Run("RFC 6455 sample key", func(t *testing.T) {
		t.Parallel()
		const key, accept = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
		if got := acceptKey(key); got != accept {
			t.Fatalf("acceptKey(%q) = %q, want %q (RFC 6455 section 1.3)", key, got, accept)
		}
		c := rawUpgrade(t, ts, key)
		c.call(t, 1)
	})

	t.Run("permessage-deflate offered, not negotiated", func(t *testing.T) {
		t.Parallel()
		// rawUpgrade fails on a Sec-WebSocket-Extensions in the response;
		// the frames read after it must not have RSV1 (compressed) set.
		c := rawUpgrade(t, ts, newWSKey(), "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
		c.call(t, 1)
		c.call(t, 2)
	})

	refused := []struct {
		name    string
		method  string
		set     []string
		version bool // a version mismatch: the response names version 13
	}{
		{"wrong version", "GET", []string{"Sec-WebSocket-Version", "8"}, true},
		{"no version", "GET", []string{"Sec-WebSocket-Version", ""}, true},
		{"no key", "GET", []string{"Sec-WebSocket-Key", ""}, false},
		{"key not 16 bytes", "GET", []string{"Sec-WebSocket-Key", base64.StdEncoding.EncodeToString([]byte("short"))}, false},
		{"POST", "POST", []string{"Content-Length", "0"}, false},
		{"no Upgrade header", "GET", []string{"Upgrade", ""}, false},
		{"no upgrade token in Connection", "GET", []string{"Connection", "keep-alive"}, false},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			t.Parallel()
			_, resp := rawHandshake(t, ts, tt.method, upgradeHeader(newWSKey(), tt.set...))
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode > 499 {
				t.Errorf("answered %s, want a 4xx", resp.Status)
			}
			if resp.Header.Get("Sec-WebSocket-Accept") != "" || hasToken(resp.Header, "Upgrade", "websocket") {
				t.Errorf("refusal carries upgrade headers: %v", resp.Header)
			}
			// RFC 6455 section 4.4: the server says which versions it speaks.
			if tt.version && !hasToken(resp.Header, "Sec-WebSocket-Version", "13") {
				t.Errorf("version refusal without Sec-WebSocket-Version: 13: %v", resp.Header)
			}
		})
	}
}

// TestWireServerMessages: fragmented messages, length forms and control
// frames, through a Conn from Upgrade that echoes every frame (and through
// Serve for unsolicited pongs).
func TestWireServerMessages(t *testing.T) {
	t.Parallel()
	echo := connServer(t, jujuapi.ConnOptions{}, echoConn)
	served := startServer(t, registryHandler(quickRegistry()), jujuapi.ServerOptions{})

	t.Run("three fragments make one frame", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, echo, newWSKey())
		c.send(t,
			fragment(opText, false, "first part|"),
			fragment(opContinuation, false, "second part|"),
			fragment(opContinuation, true, "third part"))
		if msg, _ := c.readMessage(t); string(msg) != "first part|second part|third part" {
			t.Errorf("echo %q", msg)
		}
		c.sync(t) // one NextFrame: no second echo
	})

	t.Run("empty fragments", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, echo, newWSKey())
		c.send(t, fragment(opText, false, ""), fragment(opContinuation, false, ""), fragment(opContinuation, true, "z"))
		if msg, _ := c.readMessage(t); string(msg) != "z" {
			t.Errorf("echo %q", msg)
		}
		c.send(t, textFrame(""))
		if msg, _ := c.readMessage(t); len(msg) != 0 {
			t.Errorf("echo of an empty message %q", msg)
		}
		c.sync(t)
	})

	t.Run("ping between fragments is answered", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, echo, newWSKey())
		// The pongs come while the message is unfinished.
		c.send(t, fragment(opText, false, "one "), controlFrame(opPing, "between 1"))
		if f := c.read(t); f.op != opPong || string(f.payload) != "between 1" {
			t.Fatalf("got opcode %#x %q, want the pong %q", f.op, f.payload, "between 1")
		}
		c.send(t, fragment(opContinuation, false, "two "), controlFrame(opPing, ""))
		if f := c.read(t); f.op != opPong || len(f.payload) != 0 {
			t.Fatalf("got opcode %#x %q, want an empty pong", f.op, f.payload)
		}
		c.send(t, fragment(opContinuation, true, "three"))
		if msg, _ := c.readMessage(t); string(msg) != "one two three" {
			t.Errorf("echo %q", msg)
		}
		c.sync(t)
	})

	t.Run("ping with 125 bytes is answered", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, echo, newWSKey())
		payload := string(filler(125))
		c.send(t, controlFrame(opPing, payload))
		if f := c.read(t); f.op != opPong || string(f.payload) != payload {
			t.Fatalf("got opcode %#x %q, want the pong", f.op, f.payload)
		}
	})

	t.Run("pong between fragments is ignored", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, echo, newWSKey())
		c.send(t, fragment(opText, false, "x"), controlFrame(opPong, "unsolicited"), fragment(opContinuation, true, "y"))
		if msg, _ := c.readMessage(t); string(msg) != "xy" {
			t.Errorf("echo %q", msg)
		}
		c.sync(t)
	})

	t.Run("unsolicited pong is ignored by Serve", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, served, newWSKey())
		c.send(t, controlFrame(opPong, "unsolicited"), controlFrame(opPong, ""))
		// The next frame is the answer: neither a reply to the pongs nor a close.
		c.call(t, 1)
		c.sync(t)
		c.call(t, 2)
	})

	lengths := []struct {
		size, form int
	}{{0, 7}, {125, 7}, {126, 16}, {65535, 16}, {65536, 64}}
	for _, tt := range lengths {
		t.Run(fmt.Sprintf("%d bytes in the %d-bit form", tt.size, tt.form), func(t *testing.T) {
			t.Parallel()
			c := rawUpgrade(t, echo, newWSKey())
			payload := filler(tt.size)
			c.send(t, wireFrame{fin: true, op: opText, masked: true, lenForm: tt.form, payload: payload})
			// read checks the server wrote each length in its shortest form.
			msg, frames := c.readMessage(t)
			if !bytes.Equal(msg, payload) {
				t.Errorf("echo of %d bytes is %d bytes, or differs", tt.size, len(msg))
			}
			if len(frames) == 1 && frames[0].lenForm != tt.form {
				t.Errorf("server wrote %d bytes in the %d-bit form, want %d", tt.size, frames[0].lenForm, tt.form)
			}
			c.sync(t)
		})
	}
}

// TestWireServerProtocolErrors: a frame that breaks RFC 6455 gets a close
// frame with the fitting status, then the connection ends; Serve returns
// the error.
func TestWireServerProtocolErrors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, registryHandler(quickRegistry()), jujuapi.ServerOptions{})
	ping1 := req(1, "Pinger", 1, "Ping", "")
	tests := []struct {
		name   string
		frames []wireFrame
		// want are the close codes allowed; nil: a close frame with any
		// code, or the connection ending without one.
		want []int
		// serveErr, when set, checks what Serve returned.
		serveErr func(error) bool
	}{
		{name: "unmasked client frame", frames: []wireFrame{textFrame(ping1).unmasked()}, want: []int{1002}},
		{name: "RSV1 set", frames: []wireFrame{{fin: true, rsv: rsv1, op: opText, masked: true, payload: []byte(ping1)}}, want: []int{1002}},
		{name: "RSV2 set", frames: []wireFrame{{fin: true, rsv: rsv2, op: opText, masked: true, payload: []byte(ping1)}}, want: []int{1002}},
		{name: "RSV3 set", frames: []wireFrame{{fin: true, rsv: rsv3, op: opText, masked: true, payload: []byte(ping1)}}, want: []int{1002}},
		{name: "unknown data opcode 0x3", frames: []wireFrame{{fin: true, op: 0x3, masked: true, payload: []byte(ping1)}}, want: []int{1002}},
		{name: "unknown control opcode 0xb", frames: []wireFrame{controlFrame(0xb, "x")}, want: []int{1002}},
		{name: "continuation with no message started", frames: []wireFrame{fragment(opContinuation, true, ping1)}, want: []int{1002}},
		{name: "text frame inside an unfinished message", frames: []wireFrame{
			fragment(opText, false, `{"request-id":2,`), textFrame(ping1),
		}, want: []int{1002}},
		{name: "ping with FIN clear", frames: []wireFrame{{op: opPing, masked: true, payload: []byte("x")}}, want: []int{1002}},
		{name: "close with FIN clear", frames: []wireFrame{{op: opClose, masked: true, payload: []byte{0x03, 0xe8}}}, want: []int{1002}},
		{name: "ping with 126 bytes", frames: []wireFrame{controlFrame(opPing, string(filler(126)))}, want: []int{1002}},
		{name: "pong with 126 bytes", frames: []wireFrame{controlFrame(opPong, string(filler(126)))}, want: []int{1002}},
		// 1005 may not be sent (RFC 6455 7.4.1); 999 is not a status code.
		{name: "close with status 1005", frames: []wireFrame{closeFrame(1005, "")}, want: []int{1002}},
		{name: "close with status 999", frames: []wireFrame{closeFrame(999, "")}, want: []int{1002}},
		// Not UTF-8 is 1007 by RFC 6455 7.4.1 and a protocol error too;
		// gorilla sends 1002.
		{name: "close reason not UTF-8", frames: []wireFrame{closeFrame(1000, "a\xffb")}, want: []int{1002, 1007}},
		// The length's most significant bit must be 0 (RFC 6455 5.2): a
		// protocol error, though gorilla reads it as a frame too big for
		// the limit and sends 1009.
		{name: "64-bit length with the top bit set", frames: []wireFrame{
			{fin: true, op: opText, masked: true, lenForm: 64, declared: 1<<63 | 5, payload: []byte("hello")},
		}, want: []int{1002, 1009}},
		// A one-byte close payload cannot hold a status code (RFC 6455
		// 5.5.1), but gorilla takes it for a close without one and answers
		// with an empty close: only the end of the connection is checked.
		{name: "close with a one-byte payload", frames: []wireFrame{{fin: true, op: opClose, masked: true, payload: []byte{0x03}}}},
		{name: "binary frame", frames: []wireFrame{{fin: true, op: opBinary, masked: true, payload: []byte(ping1)}},
			want: []int{1003}, serveErr: func(err error) bool { return errors.Is(err, jujuapi.ErrBinaryFrame) }},
		{name: "fragmented binary message", frames: []wireFrame{
			{op: opBinary, masked: true, payload: []byte(ping1[:5])}, fragment(opContinuation, true, ping1[5:]),
		}, want: []int{1003}, serveErr: func(err error) bool { return errors.Is(err, jujuapi.ErrBinaryFrame) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := rawUpgrade(t, ts, newWSKey())
			c.call(t, 1) // a complete message first: the connection works
			c.send(t, tt.frames...)
			if tt.want == nil {
				if _, _, ok := c.readClose(t); ok {
					c.expectEnd(t)
				}
				return
			}
			c.expectClose(t, tt.want...)
			err := c.result(t, ts)
			if err == nil {
				t.Errorf("Serve returned nil, want the protocol error")
			} else if tt.serveErr != nil && !tt.serveErr(err) {
				t.Errorf("Serve returned %T %v", err, err)
			}
		})
	}
}

// TestWireServerTooBig: a message over MaxFrameSize, in one frame or in
// fragments, gets close 1009; the server goes on serving other
// connections.
func TestWireServerTooBig(t *testing.T) {
	t.Parallel()
	const limit = 1024
	ts := startServer(t, registryHandler(quickRegistry()), jujuapi.ServerOptions{
		ConnOptions: jujuapi.ConnOptions{MaxFrameSize: limit},
	})
	text := func(n int) string { return string(filler(n)) }
	tests := []struct {
		name   string
		frames []wireFrame
	}{
		{"one frame one byte over", []wireFrame{textFrame(text(limit + 1))}},
		{"two fragments over in sum", []wireFrame{fragment(opText, false, text(600)), fragment(opContinuation, true, text(600))}},
		{"three fragments over in sum", []wireFrame{
			fragment(opText, false, text(400)), fragment(opContinuation, false, text(400)), fragment(opContinuation, true, text(400)),
		}},
		// The header alone says the frame is too big: the server must not
		// wait for a payload that never comes.
		{"64-bit length over the limit, payload not sent", []wireFrame{{fin: true, op: opText, masked: true, lenForm: 64, declared: 1 << 40}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			other := rawUpgrade(t, ts, newWSKey())
			other.call(t, 1)
			c := rawUpgrade(t, ts, newWSKey())
			c.call(t, 1)
			c.send(t, tt.frames...)
			c.expectClose(t, 1009)
			if err := c.result(t, ts); !errors.Is(err, jujuapi.ErrFrameTooLarge) {
				t.Errorf("Serve returned %v, want ErrFrameTooLarge", err)
			}
			other.call(t, 2)
			rawUpgrade(t, ts, newWSKey()).call(t, 1)
		})
	}
}

// TestWireServerClose: the closing handshake started by the peer.
func TestWireServerClose(t *testing.T) {
	t.Parallel()
	echo := connServer(t, jujuapi.ConnOptions{}, echoConn)
	served := startServer(t, registryHandler(quickRegistry()), jujuapi.ServerOptions{})

	checkErr := func(t *testing.T, err error, codes ...int) {
		t.Helper()
		if err == nil || !jujuapi.IsClosed(err) {
			t.Errorf("NextFrame failed with %v; IsClosed = false", err)
		}
		if got := jujuapi.CloseCode(err); !slices.Contains(codes, got) {
			t.Errorf("CloseCode(%v) = %d, want %v", err, got, codes)
		}
	}

	t.Run("1000 ends NextFrame and is answered", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, echo, newWSKey())
		c.send(t, textFrame("before"))
		if msg, _ := c.readMessage(t); string(msg) != "before" {
			t.Fatalf("echo %q", msg)
		}
		c.send(t, closeFrame(1000, "bye"))
		c.expectClose(t, 1000)
		checkErr(t, c.result(t, echo), 1000)
	})

	t.Run("1000 between fragments", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, echo, newWSKey())
		c.send(t, fragment(opText, false, "half a message"), closeFrame(1000, ""))
		c.expectClose(t, 1000)
		checkErr(t, c.result(t, echo), 1000)
	})

	t.Run("close without a status code", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, echo, newWSKey())
		c.send(t, wireFrame{fin: true, op: opClose, masked: true})
		// The answer carries no code or 1000; NextFrame's error no code
		// or 1005, "no status received".
		c.expectClose(t, 0, 1000)
		checkErr(t, c.result(t, echo), 0, 1005)
	})

	t.Run("Serve answers 1000 and returns nil", func(t *testing.T) {
		t.Parallel()
		c := rawUpgrade(t, served, newWSKey())
		c.call(t, 1)
		c.send(t, closeFrame(1000, "bye"))
		c.expectClose(t, 1000)
		if err := c.result(t, served); err != nil {
			t.Errorf("Serve returned %v after a normal close, want nil", err)
		}
	})
}

// TestWireClient: what Dial's Conn sends and accepts, against a server
// speaking raw frames.
func TestWireClient(t *testing.T) {
	t.Parallel()
	// Each subtest has its own server: a Conn does not tell its local
	// address, to match it with the server's end.
	dial := func(t *testing.T) (*jujuapi.Conn, hijacked) {
		t.Helper()
		ts, conns := hijackServer(t, switchingProtocols)
		c := dialConn(t, ts, jujuapi.ConnOptions{IdleTimeout: wireTimeout})
		return c, takeHijacked(t, conns)
	}

	t.Run("upgrade request", func(t *testing.T) {
		t.Parallel()
		_, srv := dial(t)
		r := srv.req
		if r.Method != http.MethodGet || r.URL.Path != "/api" {
			t.Errorf("request %s %s, want GET /api", r.Method, r.URL.Path)
		}
		if !hasToken(r.Header, "Upgrade", "websocket") || !hasToken(r.Header, "Connection", "upgrade") || r.Header.Get("Sec-WebSocket-Version") != "13" {
			t.Errorf("request header %v lacks Upgrade: websocket, Connection: Upgrade or Sec-WebSocket-Version: 13", r.Header)
		}
		if key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key")); err != nil || len(key) != 16 {
			t.Errorf("Sec-WebSocket-Key %q is not 16 bytes in base64", r.Header.Get("Sec-WebSocket-Key"))
		}
		// No extension is offered: the server could take it up.
		if ext := r.Header.Values("Sec-WebSocket-Extensions"); len(ext) > 0 {
			t.Errorf("client offers extensions %q", ext)
		}
	})

	t.Run("client frames are masked", func(t *testing.T) {
		t.Parallel()
		c, srv := dial(t)
		sizes := []int{5, 126, 70000}
		werr := make(chan error, 1)
		go func() {
			for _, n := range sizes {
				if err := c.WriteFrame(filler(n)); err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
		// The first frame, byte by byte: FIN + text, mask bit + length 5,
		// the key, then the payload XOR the key.
		raw := make([]byte, 2+4+5)
		srv.conn.SetReadDeadline(time.Now().Add(wireTimeout))
		if _, err := io.ReadFull(srv.br, raw); err != nil {
			t.Fatal(err)
		}
		if raw[0] != 0x81 || raw[1] != 0x80|5 {
			t.Errorf("header % x, want 81 85", raw[:2])
		}
		keys := map[[4]byte]bool{[4]byte(raw[2:6]): true}
		frames := 1
		unmasked := make([]byte, 5)
		for i := range unmasked {
			unmasked[i] = raw[6+i] ^ raw[2+i%4]
		}
		if !bytes.Equal(unmasked, filler(5)) {
			t.Errorf("payload % x unmasks to %q, want %q", raw[6:], unmasked, filler(5))
		}
		for _, n := range sizes[1:] {
			// read checks every frame is masked, with its length in the
			// shortest form.
			msg, fs := srv.readMessage(t)
			if !bytes.Equal(msg, filler(n)) {
				t.Errorf("%d-byte message arrived as %d bytes, or differs", n, len(msg))
			}
			for _, f := range fs {
				keys[f.key] = true
			}
			frames += len(fs)
			if len(fs) == 1 && n > 0xffff && fs[0].lenForm != 64 {
				t.Errorf("%d-byte frame written in the %d-bit length form, want 64", n, fs[0].lenForm)
			}
			t.Logf("%d-byte message sent in %d frame(s)", n, len(fs))
		}
		if err := <-werr; err != nil {
			t.Fatalf("WriteFrame: %v", err)
		}
		// RFC 6455 5.3: a fresh, unpredictable key for each frame.
		if len(keys) != frames {
			t.Errorf("%d masking keys for %d frames", len(keys), frames)
		}
	})

	t.Run("server frames are read", func(t *testing.T) {
		t.Parallel()
		c, srv := dial(t)
		want := []string{"tiny", string(filler(125)), string(filler(126)), string(filler(65535)), string(filler(70000)), "part one, part two, part three"}
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for _, m := range want[:len(want)-1] {
				srv.send(t, textFrame(m).unmasked())
			}
			srv.send(t,
				fragment(opText, false, "part one, ").unmasked(),
				fragment(opContinuation, false, "part two, ").unmasked(),
				fragment(opContinuation, true, "part three").unmasked())
		}()
		defer func() { <-sent }()
		for _, w := range want {
			f, err := c.NextFrame()
			if err != nil {
				t.Fatalf("NextFrame: %v", err)
			}
			if got := f.Bytes(); !bytes.Equal(got, []byte(w)) {
				t.Errorf("NextFrame gave %d bytes %.40q, want %d bytes %.40q", len(got), got, len(w), w)
			}
			f.Release()
		}
	})

	t.Run("masked frame from the server fails", func(t *testing.T) {
		t.Parallel()
		c, srv := dial(t)
		srv.send(t, textFrame("masked by the server"))
		if f, err := c.NextFrame(); err == nil {
			t.Fatalf("NextFrame accepted a masked server frame: %q", f.Bytes())
		}
		c.Close()
		// RFC 6455 5.1: the client must close the connection, and may
		// send 1002 first (gorilla does).
		if code, reason, ok := srv.readClose(t); ok {
			if code != 1002 {
				t.Errorf("client closed with %d %q, want 1002", code, reason)
			}
			srv.expectEnd(t)
		}
	})

	t.Run("ping is answered", func(t *testing.T) {
		t.Parallel()
		c, srv := dial(t)
		longest := string(filler(125))
		srv.send(t, controlFrame(opPing, "are you there?").unmasked(), textFrame("after the ping").unmasked())
		if f, err := c.NextFrame(); err != nil || string(f.Bytes()) != "after the ping" {
			t.Fatalf("NextFrame: %v", err)
		}
		srv.send(t,
			fragment(opText, false, "one ").unmasked(),
			controlFrame(opPing, longest).unmasked(),
			fragment(opContinuation, true, "two").unmasked())
		if f, err := c.NextFrame(); err != nil || string(f.Bytes()) != "one two" {
			t.Fatalf("NextFrame: %v", err)
		}
		for _, want := range []string{"are you there?", longest} {
			// read checks the pong is masked.
			if f := srv.read(t); f.op != opPong || string(f.payload) != want {
				t.Errorf("got opcode %#x %.40q, want the pong %.40q", f.op, f.payload, want)
			}
		}
	})

	t.Run("server close 1000 is answered", func(t *testing.T) {
		t.Parallel()
		c, srv := dial(t)
		srv.send(t, closeFrame(1000, "bye").unmasked())
		_, err := c.NextFrame()
		if !jujuapi.IsClosed(err) || jujuapi.CloseCode(err) != 1000 {
			t.Errorf("NextFrame = %v, want a close with 1000", err)
		}
		c.Close()
		srv.expectClose(t, 1000)
	})
}

// TestWireClientHandshake: Dial refuses a server whose answer to the
// upgrade is not a valid 101 (RFC 6455 section 4.1).
func TestWireClientHandshake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		respond func(key string) string
	}{
		{"wrong Sec-WebSocket-Accept", func(string) string { return switchingProtocols(newWSKey()) }},
		{"key itself as Sec-WebSocket-Accept", func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + key + "\r\n\r\n"
		}},
		{"no Sec-WebSocket-Accept", func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}},
		{"no Upgrade header", func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
		}},
		{"200 instead of 101", func(key string) string {
			return "HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\nContent-Length: 0\r\n\r\n"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts, conns := hijackServer(t, tt.respond)
			ctx, cancel := context.WithTimeout(t.Context(), wireTimeout)
			defer cancel()
			c, err := jujuapi.Dial(ctx, ts.URL, jujuapi.DialOptions{TLSConfig: ts.TLS})
			if err == nil {
				c.Close()
				t.Fatal("Dial accepted the response")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Dial timed out instead of refusing: %v", err)
			}
			takeHijacked(t, conns) // the request got there: not a TLS failure
		})
	}
}
