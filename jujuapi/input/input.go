package input

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Limits, in bytes.
const (
	// MaxName bounds a name: of a controller, group, cloud, region,
	// credential or model.
	MaxName = 64
	// MaxUser bounds a user or service account name, and an address.
	MaxUser = 255
	// MaxSubject bounds a relation subject or object (kind:name#relation).
	MaxSubject = 320
	// MaxText bounds a short free-text field (a password, a TLS server
	// name, a query parameter).
	MaxText = 1024
	// MaxCert bounds a PEM certificate bundle.
	MaxCert = 64 << 10
	// MaxList bounds the number of items of a list field (addresses).
	MaxList = 32
	// QuoteMax is the most characters of a refused value an error quotes.
	QuoteMax = 64
)

// ErrInvalid is what every error of this package is (errors.Is); their
// messages do not repeat it.
var ErrInvalid = errors.New("invalid input")

type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// namePattern is the form of the names relation tuples can hold
// (authz's): a letter or digit, then letters, digits, '.', '_', '-'.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// Quote quotes s for an error message: at most QuoteMax characters, with
// the length of the rest, and every unprintable character escaped.
func Quote(s string) string {
	if len(s) <= QuoteMax {
		return strconv.Quote(s)
	}
	cut, n := 0, 0
	for cut < len(s) && n < QuoteMax {
		_, size := utf8.DecodeRuneInString(s[cut:])
		cut += size
		n++
	}
	return fmt.Sprintf("%s…(%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// Name checks a name of kind (e.g. "controller name"): 1 to MaxName
// bytes, a letter or digit then letters, digits, '.', '_' or '-'.
func Name(kind, s string) error {
	switch {
	case s == "":
		return invalid("no %s given", kind)
	case len(s) > MaxName:
		return invalid("bad %s %s: %d bytes long, the limit is %d", kind, Quote(s), len(s), MaxName)
	case !namePattern.MatchString(s):
		if err := Text(kind, s, MaxName); err != nil {
			return err
		}
		return invalid("bad %s %s: want letters, digits, '.', '_' or '-', starting with a letter or digit", kind, Quote(s))
	}
	return nil
}

// Text checks a free-text field: at most max bytes, valid UTF-8, and no
// control, bidirectional or format character. An empty text is valid.
func Text(field, s string, max int) error {
	if len(s) > max {
		return invalid("bad %s: %d bytes long, the limit is %d", field, len(s), max)
	}
	return chars(field, s, false)
}

// Lines is Text for a multi-line field (a PEM certificate): it also
// allows newlines, carriage returns and tabs.
func Lines(field, s string, max int) error {
	if len(s) > max {
		return invalid("bad %s: %d bytes long, the limit is %d", field, len(s), max)
	}
	return chars(field, s, true)
}

// Secret is Text for a secret: its errors never quote it.
func Secret(field, s string, max int) error {
	if len(s) > max {
		return invalid("bad %s: %d bytes long, the limit is %d", field, len(s), max)
	}
	for i, r := range s {
		if r == utf8.RuneError || Forbidden(r) {
			return invalid("bad %s: it holds a control or invalid character at byte %d", field, i)
		}
	}
	return nil
}

func chars(field, s string, lines bool) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return invalid("bad %s %s: not valid UTF-8 (at byte %d)", field, Quote(s), i)
			}
		}
		if lines && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if Forbidden(r) {
			return invalid("bad %s %s: it holds the character %U at byte %d: control, bidirectional and format characters are refused", field, Quote(s), r, i)
		}
	}
	return nil
}

// Forbidden reports whether r is refused in any name or text: a control
// character (C0, DEL, C1: NUL included), a format character (Unicode
// category Cf: the bidirectional embeddings, overrides and isolates
// U+202A–U+202E and U+2066–U+2069, the marks U+200E/U+200F and U+061C,
// zero-width characters, the BOM...), a surrogate or private-use
// character, a line or paragraph separator, or a noncharacter.
func Forbidden(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case unicode.Is(unicode.Cf, r), unicode.Is(unicode.Cs, r), unicode.Is(unicode.Co, r):
		return true
	case r == 0x2028 || r == 0x2029:
		return true
	case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
		return true
	}
	return false
}

// Int32 checks that n fits in 32 bits (a database integer column).
func Int32(field string, n int64) error {
	if n < -1<<31 || n > 1<<31-1 {
		return invalid("bad %s %d: out of range: want %d to %d", field, n, -1<<31, 1<<31-1)
	}
	return nil
}

// uuidPattern is a UUID in its canonical, lower-case form.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// UUID checks a UUID (of a model or controller).
func UUID(field, s string) error {
	if !uuidPattern.MatchString(s) {
		if s == "" {
			return invalid("no %s given", field)
		}
		return invalid("bad %s %s: not a UUID", field, Quote(s))
	}
	return nil
}
