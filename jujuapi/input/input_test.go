package input

import (
	"errors"
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ctl-a", true}, {"A.b_c-1", true}, {strings.Repeat("a", MaxName), true},
		{"", false}, {strings.Repeat("a", MaxName+1), false}, {"a\x00b", false}, {"a\u202eb", false},
		{"a b", false}, {"a/b", false}, {"-a", false}, {"é", false}, {"a\u2066", false}, {"\xff", false},
	} {
		err := Name("controller name", tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("Name(%q) = %v; want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Name(%q): %v does not wrap ErrInvalid", tc.name, err)
		}
	}
}

func TestTextNeverEchoesLargeInput(t *testing.T) {
	big := strings.Repeat("x", 1<<20) + "\u202e"
	for _, err := range []error{Name("group name", big), Text("field", big, 2<<20), Lines("ca-cert", big, 2<<20), Secret("password", "s3cr3t\x00", 100)} {
		if err == nil {
			t.Fatal("accepted")
		}
		if len(err.Error()) > 300 || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error of %d bytes: %.200s", len(err.Error()), err)
		}
	}
	for _, r := range []rune{0, 0x1b, 0x7f, 0x85, 0x200e, 0x200f, 0x202a, 0x202e, 0x2066, 0x2069, 0xfeff, 0x2028} {
		if !Forbidden(r) {
			t.Errorf("%U allowed", r)
		}
	}
	for _, r := range []rune{'a', 'é', '日', ' ', '😀'} {
		if Forbidden(r) {
			t.Errorf("%U refused", r)
		}
	}
	if Lines("pem", "a\nb\r\n\tc", 100) != nil || Text("x", "a\nb", 100) == nil {
		t.Error("Lines or Text wrong about newlines")
	}
	if Int32("priority", 1<<31) == nil || Int32("priority", -1<<31) != nil {
		t.Error("Int32")
	}
}
