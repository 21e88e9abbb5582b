package authz

import (
	"bytes"
	"testing"
)

func TestPasswordCheckKeepsOnlyKeyedDigest(t *testing.T) {
	const pw = "correct horse battery staple"
	a, b := NewPasswordCheck(pw), NewPasswordCheck(pw)
	for _, c := range []*PasswordCheck{a, b} {
		if len(c.key) != 32 || len(c.hash) != 32 {
			t.Fatalf("key %d bytes, digest %d bytes", len(c.key), len(c.hash))
		}
		if bytes.Contains(c.hash, []byte(pw)) || bytes.Contains(c.key, []byte(pw)) {
			t.Fatal("PasswordCheck holds the password")
		}
	}
	if bytes.Equal(a.key, b.key) || bytes.Equal(a.hash, b.hash) {
		t.Fatal("two checks of the same password share key or digest")
	}
}
