package jwtauth

import (
	"errors"
	"fmt"
)

// ErrInvalidToken is wrapped by every error Verify returns.
var ErrInvalidToken = errors.New("invalid token")

// Kinds of verification failure. Each wraps ErrInvalidToken; errors returned
// by Verify match exactly one of them with errors.Is.
var (
	// ErrMalformedToken: not base64, not a compact JWS, or claims of the
	// wrong shape.
	ErrMalformedToken = fmt.Errorf("%w: malformed token", ErrInvalidToken)
	// ErrUnsupportedAlgorithm: the "alg" header is not one of the accepted
	// asymmetric algorithms (for example "none" or an HMAC).
	ErrUnsupportedAlgorithm = fmt.Errorf("%w: unsupported signing algorithm", ErrInvalidToken)
	// ErrUnknownKey: no key with the token's key id in the key set, even
	// after fetching it again (or the token has no key id).
	ErrUnknownKey = fmt.Errorf("%w: unknown signing key", ErrInvalidToken)
	// ErrKeySetUnavailable: the key set could not be fetched.
	ErrKeySetUnavailable = fmt.Errorf("%w: key set unavailable", ErrInvalidToken)
	// ErrSignatureInvalid: the signature does not verify with the key.
	ErrSignatureInvalid = fmt.Errorf("%w: signature invalid", ErrInvalidToken)
	// ErrExpired: "exp" is not in the future (a missing "exp" is
	// ErrMalformedToken).
	ErrExpired = fmt.Errorf("%w: token expired", ErrInvalidToken)
	// ErrNotYetValid: "nbf" or "iat" is in the future (beyond the leeway).
	ErrNotYetValid = fmt.Errorf("%w: token not yet valid", ErrInvalidToken)
	// ErrWrongAudience: "aud" does not include this controller.
	ErrWrongAudience = fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	// ErrInvalidSubject: "sub" is not a user tag.
	ErrInvalidSubject = fmt.Errorf("%w: invalid subject", ErrInvalidToken)
)

// verifyError is what Verify returns: a message saying what failed, a kind
// (one of the Err* values above) and optionally the underlying cause.
type verifyError struct {
	kind  error
	msg   string
	cause error
}

func (e *verifyError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *verifyError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

func newError(kind error, cause error, format string, args ...any) error {
	return &verifyError{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}
