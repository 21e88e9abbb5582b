package jujuapi

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// The WebSocket framing of RFC 6455, as much of it as the Juju API uses:
// text messages (possibly fragmented), ping, pong and close; no
// extensions, no subprotocols. Conn builds on it.

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// maxControlPayload is the largest payload of a ping, pong or close frame.
const maxControlPayload = 125

// maxFrameHeader is the largest frame header: 2 bytes, a 64-bit length and
// a mask key.
const maxFrameHeader = 14

// ErrProtocol is a peer's violation of the WebSocket protocol; the
// connection is closed with status 1002.
var ErrProtocol = errors.New("websocket protocol error")

// ErrInvalidUTF8 is a text message that is not valid UTF-8: RFC 6455
// (section 8.1) has the connection failed, with status 1007.
var ErrInvalidUTF8 = errors.New("text message is not valid UTF-8")

// ClosePolicyViolation is the status a connection is closed with when the
// peer broke a rule of the server's (RFC 6455 section 7.4.1), e.g. it did
// not log in in time.
const ClosePolicyViolation = 1008

// checkText checks a whole text message's payload: valid UTF-8.
func checkText(p []byte) error {
	if !utf8.Valid(p) {
		return ErrInvalidUTF8
	}
	return nil
}

// errCloseSent is returned by writes after the close frame went out.
var errCloseSent = errors.New("websocket: close frame already sent")

// CloseError is a close frame received from the peer.
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("websocket: peer closed with status %d", e.Code)
	}
	return fmt.Sprintf("websocket: peer closed with status %d: %s", e.Code, e.Text)
}

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// frameHeader is one frame's header, as read.
type frameHeader struct {
	fin    bool
	op     byte
	masked bool
	key    [4]byte
	length int64
}

// checkHeader checks a frame header for what this side may receive: a
// server receives masked frames only, a client unmasked ones.
func checkHeader(h *frameHeader, b0 byte, client bool) error {
	if b0&0x70 != 0 {
		return protocolError("reserved bits set (no extension was negotiated)")
	}
	if h.masked == client {
		if client {
			return protocolError("masked frame from the server")
		}
		return protocolError("unmasked frame from the client")
	}
	switch h.op {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !h.fin {
			return protocolError("fragmented control frame")
		}
		if h.length > maxControlPayload {
			return protocolError("control frame of %d bytes (at most %d)", h.length, maxControlPayload)
		}
	default:
		return protocolError("unknown opcode %#x", h.op)
	}
	return nil
}

// appendHeader appends a final frame's header for a payload of n bytes,
// with mask key key when masked.
func appendHeader(b []byte, op byte, n int, masked bool, key [4]byte) []byte {
	var m byte
	if masked {
		m = 0x80
	}
	b = append(b, 0x80|op)
	switch {
	case n <= 125:
		b = append(b, m|byte(n))
	case n <= 0xffff:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if masked {
		b = append(b, key[:]...)
	}
	return b
}

// maskBytes XORs b with the mask key, b starting at offset pos of the
// payload, and returns the offset after b.
func maskBytes(key [4]byte, pos int, b []byte) int {
	i := 0
	if len(b) >= 16 {
		var k8 [8]byte
		for j := range k8 {
			k8[j] = key[(pos+j)&3]
		}
		kw := binary.LittleEndian.Uint64(k8[:])
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^kw)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

func newMaskKey() (k [4]byte) {
	rand.Read(k[:])
	return k
}

// closePayload is a close frame's payload: the status, then the reason,
// cut to fit and made valid UTF-8.
func closePayload(code int, reason string) []byte {
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2]
	}
	reason = strings.ToValidUTF8(reason, "")
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return append(b, reason...)
}

// parseClose reads a received close frame's payload.
func parseClose(p []byte) (*CloseError, error) {
	switch {
	case len(p) == 0:
		return &CloseError{Code: CloseNoStatus}, nil
	case len(p) == 1:
		return nil, protocolError("close frame with a 1-byte payload")
	}
	code := int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return nil, protocolError("close frame with invalid status %d", code)
	}
	if !utf8.Valid(p[2:]) {
		return nil, protocolError("close frame reason is not UTF-8")
	}
	return &CloseError{Code: code, Text: string(p[2:])}, nil
}

// validCloseCode reports whether a peer may send status code in a close
// frame (RFC 6455 section 7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey is the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// newChallengeKey is a fresh Sec-WebSocket-Key.
func newChallengeKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// validChallengeKey reports whether a Sec-WebSocket-Key is 16 bytes in base64.
func validChallengeKey(key string) bool {
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16
}

// hasToken reports whether a comma-separated header holds token, in any case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
