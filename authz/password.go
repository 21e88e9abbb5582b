package authz

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
)

// PasswordCheck checks candidate passwords against a configured one (the
// bootstrap admin's) without keeping it: it holds only a random per-process
// key and the HMAC-SHA256 of the password under it. The configured password
// comes in clear from the environment and its digest never leaves the
// process, so a slow key-derivation function would only slow every login;
// guessing is bounded by rate-limiting failed logins instead. A nil or zero
// PasswordCheck, and one made from an empty password, match nothing. It is
// safe for concurrent use.
type PasswordCheck struct {
	key  []byte
	hash []byte // nil: no password configured
}

// NewPasswordCheck returns a PasswordCheck for password. An empty password
// disables password logins: Check then always returns false.
func NewPasswordCheck(password string) *PasswordCheck {
	if password == "" {
		return &PasswordCheck{}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand crashes the program instead)
	return &PasswordCheck{key: key, hash: derivePassword(password, key)}
}

// Check reports whether candidate is the configured password, comparing
// digests in constant time.
func (p *PasswordCheck) Check(candidate string) bool {
	if p == nil || p.hash == nil || candidate == "" {
		return false
	}
	return hmac.Equal(derivePassword(candidate, p.key), p.hash)
}

func derivePassword(password string, key []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(password))
	return mac.Sum(nil)
}
