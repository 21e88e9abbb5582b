package jujuapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// Envelope is what a relay needs of a frame: its id, and which call it is
// or how it ended. Bodies are not decoded.
type Envelope struct {
	RequestID uint64 `json:"request-id"`
	Type      string `json:"type"`
	Version   int    `json:"version"`
	Request   string `json:"request"`
	ID        string `json:"id"` // names a server-side object, e.g. a watcher
	ErrorCode string `json:"error-code"`
	Error     string `json:"error"`
}

// IsRequest reports whether the frame is a request.
func (e *Envelope) IsRequest() bool { return e.Type != "" || e.Request != "" }

var errMissingRequestID = errors.New("malformed message: missing request-id")

// ScanEnvelope reads a frame's envelope, skipping over params and response
// bodies without keeping them. It accepts exactly what json.Unmarshal of
// the frame into an Envelope accepts, and fails on a frame without a
// positive request-id.
//
// The frame is validated in full, bodies included, but nothing of them is
// kept. Strings are copied out of frame (which may be reused afterwards),
// except that a string equal to the one already in env is kept as is:
// scanning frames for the same facade and method into one Envelope does
// not allocate.
func ScanEnvelope(frame []byte, env *Envelope) error {
	if scanEnvelopeFast(frame, env, false) != scanOK {
		// Invalid, or a form the fast scanner leaves to encoding/json:
		// the verdict, the error text and env are encoding/json's.
		return scanEnvelopeSlow(frame, env)
	}
	if env.RequestID == 0 {
		return errMissingRequestID
	}
	return nil
}

// ScanHeader reads a response's header: the envelope's members up to its
// body. It is for frames from a peer that the reader relays rather than
// decodes, such as a controller's responses, where a large body is passed
// on as it came without being read.
//
// Juju's encoders write a response's body last: request-id, then error,
// error-code and error-info if any, then response. Once the request-id is
// known, a member named "response" therefore ends the header: neither its
// value nor anything after it is read (a frame that goes on with more
// header members after its body, which no Juju encoder writes, is read as
// its header says). A frame whose body comes before its request-id is read
// in full, in any order, as ScanEnvelope reads it, except that the values
// of members other than the envelope's own fields (params, response,
// error-info, and any other) are checked only for their structure: strings
// closed, brackets balanced and matched, nesting within encoding/json's
// limit.
//
// On a frame that json.Unmarshal accepts, ScanHeader gives exactly what
// json.Unmarshal gives for the frame's header (scanHeaderSlow). A frame it
// rejects is rejected with encoding/json's error.
func ScanHeader(frame []byte, env *Envelope) error {
	if scanEnvelopeFast(frame, env, true) != scanOK {
		return scanHeaderSlow(frame, env)
	}
	if env.RequestID == 0 {
		return errMissingRequestID
	}
	return nil
}

// scanHeaderSlow is ScanHeader by way of encoding/json: the reference the
// fast scanner must agree with. It reads the frame's members in order,
// and stops at the first "response" member that follows a request-id.
func scanHeaderSlow(frame []byte, env *Envelope) error {
	dec := json.NewDecoder(bytes.NewReader(frame))
	if t, err := dec.Token(); err == nil && t == json.Delim('{') {
		for dec.More() {
			off := dec.InputOffset()
			t, err := dec.Token()
			if err != nil {
				break
			}
			if key, _ := t.(string); key == "response" {
				*env = Envelope{}
				if json.Unmarshal(append(frame[:off:off], '}'), env) == nil && env.RequestID != 0 {
					return nil
				}
			}
			var v json.RawMessage
			if dec.Decode(&v) != nil {
				break
			}
		}
	}
	return scanEnvelopeSlow(frame, env)
}

// scanEnvelopeSlow is ScanEnvelope by way of encoding/json: the reference
// the fast scanner must agree with.
func scanEnvelopeSlow(frame []byte, env *Envelope) error {
	*env = Envelope{}
	if err := json.Unmarshal(frame, env); err != nil {
		return fmt.Errorf("malformed message: %w", err)
	}
	if env.RequestID == 0 {
		return fmt.Errorf("malformed message: missing request-id")
	}
	return nil
}

// scanResult is the fast scanner's verdict.
type scanResult uint8

const (
	// scanOK: env holds what json.Unmarshal would have decoded.
	scanOK scanResult = iota
	// scanBad: json.Unmarshal rejects the frame.
	scanBad
	// scanSlow: a form the fast scanner does not decode itself (escaped
	// or non-ASCII top-level keys, request-id or version numbers other
	// than plain integers, or out of range); json.Unmarshal decides.
	scanSlow
)

// Fields of Envelope, as bits of a set.
const (
	fieldRequestID = 1 << iota
	fieldType
	fieldVersion
	fieldRequest
	fieldErrorCode
	fieldError
	fieldID
)

// maxNestingDepth is encoding/json's limit on nested objects and arrays,
// the top-level value counting as depth 1.
const maxNestingDepth = 10000

// scanEnvelopeFast decodes frame into env the way json.Unmarshal does,
// except that strings in env are reused when equal. Unless it returns
// scanOK, env is left in an unspecified state. With loose, it reads a
// response's header as ScanHeader does: the values of members other than
// the envelope's fields are checked only for structure, and a body after
// the request-id ends the read.
func scanEnvelopeFast(data []byte, env *Envelope, loose bool) scanResult {
	var seen uint
	n := len(data)
	i := skipSpace(data, 0)
	if i >= n || data[i] != '{' {
		return scanBad
	}
	i = skipSpace(data, i+1)
	if i < n && data[i] == '}' {
		i++
	} else {
		for {
			// Key. encoding/json matches it against the field names
			// case-insensitively, folding Unicode too (the Kelvin sign
			// matches k, the long s matches s): keys that are not plain
			// ASCII are left to it.
			if i >= n || data[i] != '"' {
				return scanBad
			}
			i++
			ks := i
			for ; i < n; i++ {
				c := data[i]
				if c == '"' {
					break
				}
				if c < ' ' {
					return scanBad
				}
				if c == '\\' || c >= utf8.RuneSelf {
					return scanSlow
				}
			}
			if i >= n {
				return scanBad
			}
			field := matchField(data[ks:i])
			if loose && field == 0 && seen&fieldRequestID != 0 && env.RequestID != 0 && string(data[ks:i]) == "response" {
				// The body: the header is read (see ScanHeader).
				goto done
			}
			i = skipSpace(data, i+1)
			if i >= n || data[i] != ':' {
				return scanBad
			}
			i = skipSpace(data, i+1)
			if i >= n {
				return scanBad
			}

			// Value. null leaves a field as it is; any JSON type other
			// than the field's is an error to encoding/json.
			switch {
			case field == 0:
				var r scanResult
				if loose {
					i, r = skipValueLoose(data, i)
				} else {
					i, r = skipValue(data, i)
				}
				if r != scanOK {
					return r
				}
			case data[i] == 'n':
				if !hasLiteral(data, i, "null") {
					return scanBad
				}
				i += 4
			case field == fieldRequestID || field == fieldVersion:
				start := i
				var ok, plain bool
				if i, plain, ok = skipNumber(data, i); !ok {
					return scanBad
				}
				if !plain {
					return scanSlow // fraction or exponent: json decides
				}
				num := data[start:i]
				if field == fieldRequestID {
					if num[0] == '-' {
						return scanSlow
					}
					v, ok := parseDigits(num)
					if !ok {
						return scanSlow
					}
					env.RequestID = v
				} else {
					neg := num[0] == '-'
					if neg {
						num = num[1:]
					}
					mag, ok := parseDigits(num)
					switch {
					case !ok, mag > uint64(math.MaxInt)+1, mag == uint64(math.MaxInt)+1 && !neg:
						return scanSlow
					case neg:
						env.Version = int(-mag)
					default:
						env.Version = int(mag)
					}
				}
				seen |= field
			default: // a string field
				if data[i] != '"' {
					return scanBad
				}
				start := i + 1
				if i = skipString(data, start); i < 0 {
					return scanBad
				}
				raw := data[start : i-1]
				switch field {
				case fieldType:
					setString(&env.Type, raw)
				case fieldRequest:
					setString(&env.Request, raw)
				case fieldErrorCode:
					setString(&env.ErrorCode, raw)
				case fieldError:
					setString(&env.Error, raw)
				case fieldID:
					setString(&env.ID, raw)
				}
				seen |= field
			}

			i = skipSpace(data, i)
			if i >= n {
				return scanBad
			}
			if data[i] == ',' {
				i = skipSpace(data, i+1)
				continue
			}
			if data[i] == '}' {
				i++
				break
			}
			return scanBad
		}
	}
	if skipSpace(data, i) != n {
		return scanBad
	}

done:
	// Fields the frame did not set keep their zero value.
	if seen&fieldRequestID == 0 {
		env.RequestID = 0
	}
	if seen&fieldType == 0 {
		env.Type = ""
	}
	if seen&fieldVersion == 0 {
		env.Version = 0
	}
	if seen&fieldRequest == 0 {
		env.Request = ""
	}
	if seen&fieldErrorCode == 0 {
		env.ErrorCode = ""
	}
	if seen&fieldError == 0 {
		env.Error = ""
	}
	if seen&fieldID == 0 {
		env.ID = ""
	}
	return scanOK
}

// matchField returns the Envelope field an ASCII key names, as
// encoding/json matches it (ignoring the case of letters), or 0.
func matchField(key []byte) uint {
	switch len(key) {
	case 2:
		if equalFoldASCII(key, "id") {
			return fieldID
		}
	case 4:
		if equalFoldASCII(key, "type") {
			return fieldType
		}
	case 5:
		if equalFoldASCII(key, "error") {
			return fieldError
		}
	case 7:
		if equalFoldASCII(key, "request") {
			return fieldRequest
		}
		if equalFoldASCII(key, "version") {
			return fieldVersion
		}
	case 10:
		if equalFoldASCII(key, "request-id") {
			return fieldRequestID
		}
		if equalFoldASCII(key, "error-code") {
			return fieldErrorCode
		}
	}
	return 0
}

// equalFoldASCII reports whether key equals the lower-case name, ignoring
// the case of ASCII letters in key.
func equalFoldASCII(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// setString stores the JSON string contents raw (valid, without its
// quotes) in *dst as encoding/json decodes it: escapes resolved, invalid
// UTF-8 and lone surrogates replaced by U+FFFD. *dst is left alone, and
// nothing allocated, when it already holds that value.
func setString(dst *string, raw []byte) {
	plain := true
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if !plain && !hasBackslash(raw) && utf8.Valid(raw) {
		plain = true
	}
	if plain {
		if string(raw) != *dst {
			*dst = string(raw)
		}
		return
	}
	var buf [128]byte
	s := appendUnquoted(buf[:0], raw)
	if string(s) != *dst {
		*dst = string(s)
	}
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// appendUnquoted appends the decoded JSON string contents s, which
// skipString has validated, to dst. It follows encoding/json's
// unquoteBytes.
func appendUnquoted(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch e := s[r+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := hex4(s[r+2 : r+6])
				r += 6
				if utf16.IsSurrogate(rr) {
					rr1 := rune(-1)
					if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
						rr1 = hex4(s[r+2 : r+6])
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != utf8.RuneError {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			dst = utf8.AppendRune(dst, rr)
			r += size
		}
	}
	return dst
}

// hex4 decodes four hex digits that skipString has validated.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// parseDigits parses a run of decimal digits as a uint64; ok is false if
// it overflows.
func parseDigits(b []byte) (v uint64, ok bool) {
	// JSON integers have no leading zeros, so among runs of the same
	// length the order of strings is the order of numbers.
	const max = "18446744073709551615"
	if len(b) > len(max) || len(b) == len(max) && string(b) > max {
		return 0, false
	}
	for _, c := range b {
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		c := data[i]
		if c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
		i++
	}
	return i
}

func hasLiteral(data []byte, i int, lit string) bool {
	return len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit
}

// strPlain marks the bytes that may stand for themselves in a JSON string
// (encoding/json accepts invalid UTF-8 there).
var strPlain = func() (t [256]bool) {
	for c := ' '; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// isHex marks hexadecimal digits.
var isHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// skipString validates a JSON string whose opening quote is just before
// data[i], and returns the index after its closing quote, or -1.
func skipString(data []byte, i int) int {
	for {
		// Eight bytes at a time while none is a quote, a backslash or a
		// control character. Each test below flags the top bit of a
		// byte that matches, and of no byte if none does (flags above a
		// match may be spurious: only the lowest is used).
		for i+8 <= len(data) {
			x := binary.LittleEndian.Uint64(data[i:])
			q := x ^ (lsb * '"')
			b := x ^ (lsb * '\\')
			m := ((q - lsb) &^ q) | ((b - lsb) &^ b) | ((x - lsb*' ') &^ x)
			if m &= msb; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(data) && strPlain[data[i]] {
			i++
		}
		if i >= len(data) {
			return -1
		}
		switch data[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(data) {
				return -1
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(data)-i < 6 || !isHex[data[i+2]] || !isHex[data[i+3]] || !isHex[data[i+4]] || !isHex[data[i+5]] {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
}

// skipNumber validates a JSON number starting at data[i] and returns the
// index after it; plain reports that it has neither fraction nor exponent.
func skipNumber(data []byte, i int) (end int, plain, ok bool) {
	n := len(data)
	if i < n && data[i] == '-' {
		i++
	}
	switch {
	case i >= n:
		return i, false, false
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		i++
		for i < n && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		return i, false, false
	}
	plain = true
	if i < n && data[i] == '.' {
		plain = false
		i++
		if i >= n || data[i] < '0' || data[i] > '9' {
			return i, false, false
		}
		for i < n && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	if i < n && (data[i] == 'e' || data[i] == 'E') {
		plain = false
		i++
		if i < n && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= n || data[i] < '0' || data[i] > '9' {
			return i, false, false
		}
		for i < n && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	return i, plain, true
}

// skipValue validates the JSON value starting at data[i], a member of the
// top-level object, and returns the index after it. Nesting is tracked in
// a bit stack (1 for an object, 0 for an array) and limited as
// encoding/json limits it.
func skipValue(data []byte, i int) (int, scanResult) {
	var (
		inline [4]uint64 // 256 levels before the stack must grow
		stack  = inline[:]
		depth  int // containers open inside the value
		n      = len(data)
		ok     bool
		w      int
		bit    uint64
	)
value: // data[i] should start a value
	if i >= n {
		return i, scanBad
	}
	switch c := data[i]; c {
	case '{', '[':
		depth++
		if 1+depth > maxNestingDepth {
			return i, scanBad
		}
		w, bit = (depth-1)>>6, 1<<(uint(depth-1)&63)
		if w >= len(stack) {
			stack = append(stack, 0)
		}
		i = skipSpace(data, i+1)
		if c == '{' {
			stack[w] |= bit
			if i < n && data[i] == '}' {
				i++
				depth--
				goto next
			}
			goto key
		}
		stack[w] &^= bit
		if i < n && data[i] == ']' {
			i++
			depth--
			goto next
		}
		goto value
	case '"':
		if i = skipString(data, i+1); i < 0 {
			return 0, scanBad
		}
	case 't':
		if !hasLiteral(data, i, "true") {
			return i, scanBad
		}
		i += 4
	case 'f':
		if !hasLiteral(data, i, "false") {
			return i, scanBad
		}
		i += 5
	case 'n':
		if !hasLiteral(data, i, "null") {
			return i, scanBad
		}
		i += 4
	default:
		if i, _, ok = skipNumber(data, i); !ok {
			return i, scanBad
		}
	}
next: // a value ended at data[i]
	if depth == 0 {
		return i, scanOK
	}
	i = skipSpace(data, i)
	if i >= n {
		return i, scanBad
	}
	w, bit = (depth-1)>>6, 1<<(uint(depth-1)&63)
	switch data[i] {
	case ',':
		i = skipSpace(data, i+1)
		if stack[w]&bit != 0 {
			goto key
		}
		goto value
	case '}':
		if stack[w]&bit == 0 {
			return i, scanBad
		}
	case ']':
		if stack[w]&bit != 0 {
			return i, scanBad
		}
	default:
		return i, scanBad
	}
	i++
	depth--
	goto next
key: // data[i] should start a member of an object
	if i >= n || data[i] != '"' {
		return i, scanBad
	}
	if i = skipString(data, i+1); i < 0 {
		return 0, scanBad
	}
	i = skipSpace(data, i)
	if i >= n || data[i] != ':' {
		return i, scanBad
	}
	i = skipSpace(data, i+1)
	goto value
}

// Byte classes for skipValueLoose.
const (
	looseOther = iota
	looseQuote
	looseOpen
	looseClose
	looseSpace
)

var looseClass = func() (t [256]uint8) {
	t['"'] = looseQuote
	t['{'], t['['] = looseOpen, looseOpen
	t['}'], t[']'] = looseClose, looseClose
	t[' '], t['\t'], t['\n'], t['\r'] = looseSpace, looseSpace, looseSpace, looseSpace
	return t
}()

// isScalarByte marks the bytes of numbers and of the literals true, false
// and null.
var isScalarByte = func() (t [256]bool) {
	for _, c := range "0123456789+-.eEtruefalsn" {
		t[c] = true
	}
	return t
}()

// skipValueLoose returns the index after the JSON value starting at
// data[i], checking only its structure: a scalar is a run of the bytes
// numbers and literals are made of; strings must be closed; brackets must
// balance and match, within encoding/json's nesting limit. Everything
// else between the brackets is passed over unread.
func skipValueLoose(data []byte, i int) (int, scanResult) {
	n := len(data)
	if i >= n {
		return i, scanBad
	}
	switch data[i] {
	case '"':
		if i = skipStringLoose(data, i+1); i < 0 {
			return 0, scanBad
		}
		return i, scanOK
	case '{', '[':
	default:
		j := i
		for j < n && isScalarByte[data[j]] {
			j++
		}
		if j == i {
			return i, scanBad
		}
		return j, scanOK
	}
	var (
		inline [4]uint64 // 256 levels before the stack must grow
		stack  = inline[:]
		depth  int
	)
	for i < n {
		c := data[i]
		switch looseClass[c] {
		case looseQuote:
			if i = skipStringLoose(data, i+1); i < 0 {
				return 0, scanBad
			}
			continue
		case looseOpen:
			depth++
			if 1+depth > maxNestingDepth {
				return i, scanBad
			}
			w, bit := (depth-1)>>6, uint64(1)<<(uint(depth-1)&63)
			if w >= len(stack) {
				stack = append(stack, 0)
			}
			if c == '{' {
				stack[w] |= bit
			} else {
				stack[w] &^= bit
			}
		case looseClose:
			w, bit := (depth-1)>>6, uint64(1)<<(uint(depth-1)&63)
			if (stack[w]&bit != 0) != (c == '}') {
				return i, scanBad
			}
			depth--
			if depth == 0 {
				return i + 1, scanOK
			}
		}
		i++
	}
	return i, scanBad
}

// skipStringLoose returns the index after the closing quote of a string
// whose opening quote is just before data[i], or -1 if it is not closed.
// Escapes are stepped over, not checked.
func skipStringLoose(data []byte, i int) int {
	for {
		// Eight bytes at a time while none is a quote or a backslash
		// (see skipString).
		for i+8 <= len(data) {
			x := binary.LittleEndian.Uint64(data[i:])
			q := x ^ (lsb * '"')
			b := x ^ (lsb * '\\')
			m := ((q - lsb) &^ q) | ((b - lsb) &^ b)
			if m &= msb; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto found
			}
			i += 8
		}
		for i < len(data) && data[i] != '"' && data[i] != '\\' {
			i++
		}
		if i >= len(data) {
			return -1
		}
	found:
		if data[i] == '"' {
			return i + 1
		}
		i += 2 // a backslash and the byte it escapes
	}
}
