package authz

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// JWKSPath is the path under which the broker serves its key set and at which
// controllers are told to fetch it.
const JWKSPath = "/.well-known/jwks.json"

// jwksMaxAge is how long clients may cache the key set. It is short so that
// a key withdrawn from the set stops being trusted soon; a controller meeting
// an unknown key id fetches the set again anyway.
const jwksMaxAge = 60 * time.Second

// minRSABits is the smallest RSA key accepted, as controllers refuse smaller.
const minRSABits = 2048

// SigningKey is one of the broker's token signing keys.
//
// A key is retired from RetireAt on: it no longer signs new tokens, but it is
// still published in the key set (so that tokens it signed keep verifying
// until they expire) for as long as it belongs to the [KeySet]. Removing it
// from the set withdraws it.
type SigningKey struct {
	// ID is the key id, the "kid" of the JWK and of the tokens' header.
	ID string
	// Algorithm is the JWS algorithm the key signs with, e.g. "ES256".
	Algorithm string
	// Private is the private key: *ecdsa.PrivateKey, *rsa.PrivateKey or
	// ed25519.PrivateKey.
	Private crypto.Signer
	// CreatedAt is when the key was made. The newest key that is active
	// and not retired signs new tokens.
	CreatedAt time.Time
	// ActivateAt is when the key starts signing; zero means at once. A key
	// is published before then, so that verifiers know it before they
	// meet a token it signed.
	ActivateAt time.Time
	// RetireAt is when the key stops signing new tokens; zero means never.
	// It stays published until the tokens it signed have expired.
	RetireAt time.Time
}

// GenerateSigningKey returns a new ECDSA P-256 key for ES256, created at now.
// Its ID is the key's RFC 7638 JWK thumbprint (SHA-256, base64url without
// padding), so it is derived from the public key and is the same wherever
// the key is loaded.
func GenerateSigningKey(now time.Time) (*SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	jwk := jose.JSONWebKey{Key: priv.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: compute key id: %w", err)
	}
	return &SigningKey{
		ID:        base64.RawURLEncoding.EncodeToString(tp),
		Algorithm: string(jose.ES256),
		Private:   priv,
		CreatedAt: now,
	}, nil
}

// MarshalPrivate returns the private key as PKCS #8 DER, for the caller to
// encrypt (see [Cipher]) and store. The ID, algorithm and times are not
// included: store them alongside.
func (k *SigningKey) MarshalPrivate() ([]byte, error) {
	if k == nil || k.Private == nil {
		return nil, errors.New("marshal signing key: no private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("marshal signing key %q: %w", k.ID, err)
	}
	return der, nil
}

// ParseSigningKey rebuilds a key from its id, algorithm, PKCS #8 DER private
// key (as returned by [SigningKey.MarshalPrivate]) and creation time. It
// checks that the key can sign with alg. RetireAt is left zero: set it from
// what was stored.
func ParseSigningKey(id, alg string, der []byte, createdAt time.Time) (*SigningKey, error) {
	if id == "" {
		return nil, errors.New("parse signing key: empty key id")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// The parser's error says nothing about the key's contents.
		return nil, fmt.Errorf("parse signing key %q: not a PKCS #8 private key: %w", id, err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse signing key %q: unsupported key type %T", id, parsed)
	}
	k := &SigningKey{ID: id, Algorithm: alg, Private: signer, CreatedAt: createdAt}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("parse signing key: %w", err)
	}
	return k, nil
}

// Validate reports whether k can sign tokens that controllers accept: it has
// an id, a private key, and an algorithm that fits the key (ES256 with P-256,
// ES384 with P-384, RS256/RS384/RS512/PS256 with RSA of at least 2048 bits,
// EdDSA with Ed25519).
func (k *SigningKey) Validate() error {
	if k == nil {
		return errors.New("nil signing key")
	}
	if k.ID == "" {
		return errors.New("signing key has no id")
	}
	if k.Private == nil {
		return fmt.Errorf("signing key %q has no private key", k.ID)
	}
	mismatch := func() error {
		return fmt.Errorf("signing key %q: algorithm %q does not fit a %s", k.ID, k.Algorithm, describeKey(k.Private))
	}
	switch jose.SignatureAlgorithm(k.Algorithm) {
	case jose.ES256, jose.ES384:
		priv, ok := k.Private.(*ecdsa.PrivateKey)
		if !ok {
			return mismatch()
		}
		want := elliptic.P256()
		if k.Algorithm == string(jose.ES384) {
			want = elliptic.P384()
		}
		if priv.Curve != want {
			return mismatch()
		}
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256:
		priv, ok := k.Private.(*rsa.PrivateKey)
		if !ok {
			return mismatch()
		}
		if bits := priv.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("signing key %q: RSA key of %d bits is too small (want at least %d)", k.ID, bits, minRSABits)
		}
	case jose.EdDSA:
		if _, ok := k.Private.(ed25519.PrivateKey); !ok {
			return mismatch()
		}
	default:
		return fmt.Errorf("signing key %q: unsupported algorithm %q (want ES256, ES384, RS256, RS384, RS512, PS256 or EdDSA)", k.ID, k.Algorithm)
	}
	return nil
}

// describeKey names a key's type without revealing anything secret.
func describeKey(s crypto.Signer) string {
	switch p := s.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA " + p.Curve.Params().Name + " key"
	case *rsa.PrivateKey:
		return "RSA " + strconv.Itoa(p.N.BitLen()) + "-bit key"
	case ed25519.PrivateKey:
		return "Ed25519 key"
	}
	return fmt.Sprintf("%T key", s)
}

// retiredAt reports whether k is retired at t.
func (k *SigningKey) retiredAt(t time.Time) bool {
	return !k.RetireAt.IsZero() && !t.Before(k.RetireAt)
}

// signsAt reports whether the key signs at t: active (ActivateAt passed,
// or not set) and not retired.
func (k *SigningKey) signsAt(t time.Time) bool {
	return (k.ActivateAt.IsZero() || !t.Before(k.ActivateAt)) && !k.retiredAt(t)
}

// KeySet is the set of the broker's signing keys: every key in it is
// published in the JWKS, and the newest one that is not retired signs new
// tokens. It is safe for concurrent use; the zero value is an empty set.
type KeySet struct {
	state atomic.Pointer[keySetState]
	// CacheFor is how long clients may cache the JWKS (default one
	// minute). Keep it shorter than the time a new key is published
	// before it signs. Set it before serving.
	CacheFor time.Duration
}

// keySetState is an immutable snapshot of a KeySet.
type keySetState struct {
	keys []keyEntry // newest first
	jwks []byte
}

type keyEntry struct {
	key    SigningKey // a copy, so callers cannot change it under us
	signer jose.Signer
}

// NewKeySet returns a KeySet holding keys (see [KeySet.Replace]).
func NewKeySet(keys ...*SigningKey) *KeySet {
	ks := &KeySet{}
	ks.Replace(keys)
	return ks
}

// Replace atomically swaps the set's keys for keys, for example after
// reloading them from the database. Keys that fail [SigningKey.Validate]
// (nil, no id, an algorithm that does not fit the key) are left out; callers
// that load keys with [ParseSigningKey] have already checked them. When two
// keys share an id, the first one given wins. The keys are copied: changing
// them afterwards does not change the set.
func (ks *KeySet) Replace(keys []*SigningKey) {
	st := &keySetState{}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k.Validate() != nil || seen[k.ID] {
			continue
		}
		e, err := newKeyEntry(k)
		if err != nil {
			continue
		}
		seen[k.ID] = true
		st.keys = append(st.keys, e)
	}
	// Newest first; keys created at the same time keep their given order.
	slices.SortStableFunc(st.keys, func(a, b keyEntry) int {
		return b.key.CreatedAt.Compare(a.key.CreatedAt)
	})
	st.jwks = marshalJWKS(st.keys)
	ks.state.Store(st)
}

func newKeyEntry(k *SigningKey) (keyEntry, error) {
	e := keyEntry{key: *k}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.Algorithm),
		Key:       jose.JSONWebKey{Key: k.Private, KeyID: k.ID, Algorithm: k.Algorithm},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return e, err
	}
	e.signer = signer
	return e, nil
}

// jwk is the JSON form of a public key in the set.
func (e *keyEntry) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{
		Key:       e.key.Private.Public(),
		KeyID:     e.key.ID,
		Algorithm: e.key.Algorithm,
		Use:       "sig",
	}
}

func marshalJWKS(entries []keyEntry) []byte {
	doc := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for i := range entries {
		b, err := entries[i].jwk().MarshalJSON()
		if err != nil {
			// Validated keys always marshal; leave out any that does not.
			continue
		}
		doc.Keys = append(doc.Keys, b)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return []byte(`{"keys":[]}`)
	}
	return out
}

func (ks *KeySet) load() *keySetState {
	if st := ks.state.Load(); st != nil {
		return st
	}
	return &keySetState{jwks: []byte(`{"keys":[]}`)}
}

// Current returns (a copy of) the key that signs new tokens now: the newest
// key that is not retired. It returns nil when there is none.
func (ks *KeySet) Current() *SigningKey {
	e := ks.load().currentAt(time.Now())
	if e == nil {
		return nil
	}
	k := e.key
	return &k
}

// currentAt returns the newest entry that signs at t, or nil.
func (st *keySetState) currentAt(t time.Time) *keyEntry {
	for i := range st.keys {
		if st.keys[i].key.signsAt(t) {
			return &st.keys[i]
		}
	}
	return nil
}

// JWKS returns the key set as a JSON Web Key Set, {"keys":[...]}, newest key
// first. Each key is public only and carries "kid", "alg" and "use":"sig";
// retired keys still in the set are included.
func (ks *KeySet) JWKS() []byte {
	return slices.Clone(ks.load().jwks)
}

// ServeHTTP serves the JWKS (see [KeySet.JWKS]) for GET and HEAD requests,
// whatever the path: mount it at [JWKSPath]. Other methods get 405 Method
// Not Allowed. Responses may be cached for a minute.
func (ks *KeySet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body := ks.load().jwks
	h := w.Header()
	h.Set("Content-Type", "application/json")
	cacheFor := ks.CacheFor
	if cacheFor <= 0 {
		cacheFor = jwksMaxAge
	}
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(cacheFor/time.Second)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
