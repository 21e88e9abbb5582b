package authz_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/authz"
)

func mustCipher(t *testing.T, key []byte) *authz.Cipher {
	t.Helper()
	c, err := authz.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCipherRoundTrip(t *testing.T) {
	c := mustCipher(t, authz.GenerateKey())
	tests := []struct {
		name      string
		plaintext []byte
		aad       string
	}{
		{"password", []byte("hunter2-admin-password"), "controller/ctl-a/admin-password"},
		{"empty plaintext", []byte{}, "controller/ctl-b/admin-password"},
		{"binary", bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000), "signing-key/abc/private"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := c.Seal(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.plaintext) >= 8 && bytes.Contains(sealed, tt.plaintext) {
				t.Fatal("sealed data contains the plaintext")
			}
			if sealed[0] != 1 || len(sealed) != 1+12+len(tt.plaintext)+16 {
				t.Errorf("sealed layout: version %d, length %d", sealed[0], len(sealed))
			}
			got, err := c.Open(sealed, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
			again, err := c.Seal(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(sealed, again) {
				t.Error("two Seals of the same plaintext are identical")
			}
		})
	}
}

func TestCipherOpenFails(t *testing.T) {
	key := authz.GenerateKey()
	c := mustCipher(t, key)
	const aad = "controller/ctl-a/admin-password"
	secret := []byte("s3cr3t-admin-password")
	sealed, err := c.Seal(secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		cipher  *authz.Cipher
		sealed  []byte
		aad     string
		wantMsg string
	}{
		{"wrong aad", c, sealed, "controller/ctl-b/admin-password", "decrypt secret for controller/ctl-b/admin-password: message authentication failed"},
		{"wrong key", mustCipher(t, authz.GenerateKey()), sealed, aad, "message authentication failed — wrong key"},
		{"tampered ciphertext", c, flip(len(sealed) - 20), aad, "message authentication failed"},
		{"tampered tag", c, flip(len(sealed) - 1), aad, "message authentication failed"},
		{"tampered nonce", c, flip(3), aad, "message authentication failed"},
		{"unknown version", c, flip(0), aad, "unknown format version"},
		{"truncated", c, sealed[:20], aad, "too short"},
		{"empty", c, nil, aad, "too short"},
		{"empty aad", c, sealed, "", "no associated data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cipher.Open(tt.sealed, tt.aad)
			if err == nil {
				t.Fatalf("Open succeeded: %q", got)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error %q does not contain %q", msg, tt.wantMsg)
			}
			for _, leak := range []string{string(secret), hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key)} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q leaks a secret", msg)
				}
			}
		})
	}

	if _, err := c.Seal(secret, ""); err == nil {
		t.Error("Seal with empty aad succeeded")
	}
}

func TestNewCipherKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := authz.NewCipher(make([]byte, n)); err == nil {
			t.Errorf("NewCipher accepted a %d-byte key", n)
		}
	}
	if _, err := authz.NewCipher(make([]byte, 32)); err != nil {
		t.Errorf("NewCipher refused a 32-byte key: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	key := authz.GenerateKey()
	// A key whose base64 forms use both alphabets' special characters.
	special := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:32]
	tests := []struct {
		name    string
		in      string
		want    []byte
		wantErr string
	}{
		{"hex", hex.EncodeToString(key), key, ""},
		{"upper-case hex", strings.ToUpper(hex.EncodeToString(key)), key, ""},
		{"hex with newline", hex.EncodeToString(key) + "\n", key, ""},
		{"std base64", base64.StdEncoding.EncodeToString(special), special, ""},
		{"raw std base64", base64.RawStdEncoding.EncodeToString(special), special, ""},
		{"url base64", base64.URLEncoding.EncodeToString(special), special, ""},
		{"raw url base64", base64.RawURLEncoding.EncodeToString(special), special, ""},
		{"empty", "", nil, "empty"},
		{"short hex", hex.EncodeToString(key[:31]), nil, "want 32"},
		{"long hex", hex.EncodeToString(append(bytes.Clone(key), 0)), nil, "want 32"},
		{"16-byte base64", base64.StdEncoding.EncodeToString(key[:16]), nil, "16 bytes, want 32"},
		{"48-byte base64", base64.StdEncoding.EncodeToString(append(bytes.Clone(key), key[:16]...)), nil, "48 bytes, want 32"},
		{"neither", "this is not a key, it is a passphrase!", nil, "neither 64 hex characters nor base64"},
		{"hex with bad char", hex.EncodeToString(key)[:63] + "g", nil, "want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := authz.ParseKey(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tt.want) {
					t.Errorf("ParseKey = %x, want %x", got, tt.want)
				}
				if _, err := authz.NewCipher(got); err != nil {
					t.Errorf("NewCipher: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseKey accepted %q", tt.in)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if in := strings.TrimSpace(tt.in); len(in) > 4 && strings.Contains(err.Error(), in[:len(in)/2]) {
				t.Errorf("error %q echoes the input", err)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	a, b := authz.GenerateKey(), authz.GenerateKey()
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("GenerateKey: %d bytes, equal=%v", len(a), bytes.Equal(a, b))
	}
}
