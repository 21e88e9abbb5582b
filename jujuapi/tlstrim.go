package jujuapi

import (
	"bytes"
	"crypto/tls"
	"net"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Releasing what an idle TLS connection's reading side keeps.
//
// crypto/tls grows a connection's read buffers to the largest record and
// the largest handshake message it has read, and keeps them while the
// connection is open: a server's connection keeps about 3.4 KB from the
// handshake alone (a Go client's ClientHello, with its post-quantum key
// share, is 1.7 KB, held once as raw input and once as handshake data), a
// client's keeps the server's certificates, and either keeps 17 KB or more
// once it has read one full-size record. For a connection that then sits
// idle for hours, that is most of what it costs. crypto/tls offers no way
// to release them, so trimTLS does it through the layout of tls.Conn: it
// looks up, once, the fields it relies on by name and type (the read
// side's mutex, rawInput, input and hand) and does nothing at all when any
// of them is missing or of another type, as it would be after a Go
// release that changed them. TestTrimTLSReleasesReadBuffers fails then, so
// that the loss is seen. Layout alone does not prove the fields are still
// touched only under that mutex, so trimTLS also works only on the Go
// release whose crypto/tls was read for it (tlsAuditedRelease), and
// does nothing on any other, where the test fails too, so that
// crypto/tls is read again.
//
// Trimming is safe whenever it happens: it holds the read side's mutex
// (the one tls.Conn.Read and the handshake hold) and gives up if another
// goroutine holds it, and it only drops buffers that hold no byte, which
// leaves the connection as a new one is. The next read grows a buffer
// sized for what it reads.

// tlsAuditedRelease is the Go release whose crypto/tls trimTLS was
// checked against: every access to rawInput, input and hand made under
// c.in's mutex (outside QUIC, which trimTLS never sees).
const tlsAuditedRelease = "go1.26"

// tlsReadSide is where a tls.Conn keeps its reading side, as offsets from
// the start of the struct; ok is false when the layout is not the one
// trimTLS knows.
var tlsReadSide = sync.OnceValue(func() (l struct {
	ok                          bool
	inMu, rawInput, input, hand uintptr
}) {
	if v := runtime.Version(); v != tlsAuditedRelease && !strings.HasPrefix(v, tlsAuditedRelease+".") {
		return l
	}
	t := reflect.TypeFor[tls.Conn]()
	field := func(name string, typ reflect.Type) (uintptr, bool) {
		f, ok := t.FieldByName(name)
		return f.Offset, ok && len(f.Index) == 1 && f.Type == typ
	}
	var ok [3]bool
	l.rawInput, ok[0] = field("rawInput", reflect.TypeFor[bytes.Buffer]())
	l.input, ok[1] = field("input", reflect.TypeFor[bytes.Reader]())
	l.hand, ok[2] = field("hand", reflect.TypeFor[bytes.Buffer]())
	in, found := t.FieldByName("in")
	if !found || len(in.Index) != 1 || in.Type.Kind() != reflect.Struct || in.Type.NumField() == 0 {
		return l
	}
	mu := in.Type.Field(0)
	if !mu.Anonymous || mu.Type != reflect.TypeFor[sync.Mutex]() {
		return l
	}
	l.inMu = in.Offset + mu.Offset
	l.ok = ok[0] && ok[1] && ok[2]
	return l
})

// trimTLS releases the read buffers of the TLS connection at or under nc
// (through wrappers that give the connection they wrap) if they hold no
// data and no goroutine is reading it. It reports whether it did; false
// also for a connection without TLS.
func trimTLS(nc net.Conn) bool {
	var tc *tls.Conn
	underneath(nc, func(c net.Conn) bool {
		tc, _ = c.(*tls.Conn)
		return tc != nil
	})
	l := tlsReadSide()
	if tc == nil || !l.ok {
		return false
	}
	p := unsafe.Pointer(tc)
	mu := (*sync.Mutex)(unsafe.Add(p, l.inMu))
	if !mu.TryLock() {
		return false
	}
	defer mu.Unlock()
	rawInput := (*bytes.Buffer)(unsafe.Add(p, l.rawInput))
	input := (*bytes.Reader)(unsafe.Add(p, l.input))
	hand := (*bytes.Buffer)(unsafe.Add(p, l.hand))
	if rawInput.Len() != 0 || input.Len() != 0 || hand.Len() != 0 {
		return false
	}
	*rawInput, *input, *hand = bytes.Buffer{}, bytes.Reader{}, bytes.Buffer{}
	return true
}
