package authz

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size in bytes of a [Cipher] key (AES-256).
const KeySize = 32

// sealVersion is the first byte of every sealed secret: the format (AES-256-GCM,
// 12-byte random nonce, version byte and AAD authenticated). It leaves room
// for another format or key later.
const sealVersion byte = 1

const nonceSize = 12

// Cipher encrypts secrets stored at rest (controller admin passwords, signing
// keys) with AES-256-GCM. Each secret is bound to the object it belongs to by
// additional authenticated data (AAD) such as
// "controller/ctl-a/admin-password": a ciphertext copied to another row does
// not decrypt. A Cipher is safe for concurrent use.
type Cipher struct {
	aead cipher.AEAD
}

// NewCipher returns a Cipher using key, which must be [KeySize] bytes
// (see [ParseKey] and [GenerateKey]).
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret encryption key is %d bytes, want %d (AES-256)", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret encryption key: %w", err)
	}
	return &Cipher{aead: aead}, nil
}

// GenerateKey returns a new random [KeySize]-byte key.
func GenerateKey() []byte {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key) // never fails (crypto/rand crashes the program instead)
	return key
}

// ParseKey decodes a [KeySize]-byte key written as 64 hexadecimal characters
// or as base64 (standard or URL alphabet, with or without padding).
// Surrounding white space is ignored. The error never quotes s.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("secret encryption key is empty: want 32 bytes as 64 hex characters or base64 (generate one with `openssl rand -hex 32`)")
	}
	if len(s) == 2*KeySize {
		if key, err := hex.DecodeString(s); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) == KeySize {
				return key, nil
			}
			return nil, fmt.Errorf("secret encryption key decodes (base64) to %d bytes, want %d: give 32 bytes as 64 hex characters or base64 (generate one with `openssl rand -hex 32`)", len(key), KeySize)
		}
	}
	return nil, fmt.Errorf("secret encryption key (%d characters) is neither 64 hex characters nor base64 of 32 bytes (generate one with `openssl rand -hex 32`)", len(s))
}

// fullAAD is what GCM authenticates besides the ciphertext: the format
// version and the caller's AAD.
func fullAAD(aad string) []byte {
	b := make([]byte, 0, 1+len(aad))
	b = append(b, sealVersion)
	return append(b, aad...)
}

// Seal encrypts plaintext for the object named by aad (which must not be
// empty) and returns version byte || 12-byte random nonce || ciphertext and
// tag. Sealing the same plaintext twice gives different results.
func (c *Cipher) Seal(plaintext []byte, aad string) ([]byte, error) {
	if aad == "" {
		return nil, errors.New("encrypt secret: no associated data naming the object the secret belongs to")
	}
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+c.aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1 : 1+nonceSize]) // never fails
	return c.aead.Seal(out, out[1:1+nonceSize], plaintext, fullAAD(aad)), nil
}

// Open decrypts sealed, produced by [Cipher.Seal] with the same key and aad.
// It fails when the key or aad differ or the data was altered; the error says
// which secret could not be decrypted, never what it holds.
func (c *Cipher) Open(sealed []byte, aad string) ([]byte, error) {
	if aad == "" {
		return nil, errors.New("decrypt secret: no associated data naming the object the secret belongs to")
	}
	if len(sealed) < 1+nonceSize+c.aead.Overhead() {
		return nil, fmt.Errorf("decrypt secret for %s: sealed data is too short (%d bytes) — truncated or not encrypted?", aad, len(sealed))
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("decrypt secret for %s: unknown format version %d (want %d)", aad, sealed[0], sealVersion)
	}
	nonce, ct := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	plaintext, err := c.aead.Open(nil, nonce, ct, fullAAD(aad))
	if err != nil {
		return nil, fmt.Errorf("decrypt secret for %s: message authentication failed — wrong key, altered data, or a secret stored for another object?", aad)
	}
	return plaintext, nil
}
