package authz

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// SessionTokenPrefix begins every session token, so that a leaked token is
// recognisable (by people and by secret scanners).
const SessionTokenPrefix = "jimm_st_"

// NewSessionToken returns a new session token, given once to the client
// ("jimm_st_" followed by 32 random bytes in base64url without padding), and
// its hash, which is what gets stored. The token itself is a bearer
// credential: never store or log it.
func NewSessionToken() (token string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	token = SessionTokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashSessionToken(token)
}

// HashSessionToken returns the SHA-256 hash of token, the form in which
// session tokens are stored and looked up. The token is 256 bits of
// randomness, so a plain hash (no salt, no stretching) is enough.
func HashSessionToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
