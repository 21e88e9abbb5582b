package authz_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/authz"
)

func TestNewSessionToken(t *testing.T) {
	const n = 1000
	tokens := make(map[string]bool, n)
	hashes := make(map[string]bool, n)
	for range n {
		tok, hash := authz.NewSessionToken()
		if !strings.HasPrefix(tok, "jimm_st_") {
			t.Fatalf("token %q lacks the prefix", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, authz.SessionTokenPrefix))
		if err != nil || len(raw) != 32 {
			t.Fatalf("token body is not 32 bytes of unpadded base64url: %d bytes, %v", len(raw), err)
		}
		if want := sha256.Sum256([]byte(tok)); !bytes.Equal(hash, want[:]) {
			t.Fatal("hash is not SHA-256 of the token")
		}
		if !bytes.Equal(authz.HashSessionToken(tok), hash) {
			t.Fatal("HashSessionToken differs from the hash NewSessionToken returned")
		}
		if tokens[tok] || hashes[string(hash)] {
			t.Fatal("duplicate session token or hash")
		}
		tokens[tok], hashes[string(hash)] = true, true
	}
}

func TestHashSessionToken(t *testing.T) {
	tok, _ := authz.NewSessionToken()
	tests := []struct {
		name  string
		a, b  string
		equal bool
	}{
		{"same token", tok, tok, true},
		{"different token", tok, tok[:len(tok)-1] + "x", false},
		{"prefix matters", tok, strings.TrimPrefix(tok, authz.SessionTokenPrefix), false},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ha, hb := authz.HashSessionToken(tt.a), authz.HashSessionToken(tt.b)
			if len(ha) != sha256.Size {
				t.Fatalf("hash is %d bytes", len(ha))
			}
			if bytes.Equal(ha, hb) != tt.equal {
				t.Errorf("hashes equal = %v, want %v", !tt.equal, tt.equal)
			}
		})
	}
}
