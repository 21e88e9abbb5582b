package jujuapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error codes that clients act on. The strings are the protocol's.
const (
	CodeNotFound             = "not found"
	CodeUserNotFound         = "user not found"
	CodeModelNotFound        = "model not found"
	CodeUnauthorized         = "unauthorized access"
	CodeNotImplemented       = "not implemented"
	CodeNotSupported         = "not supported"
	CodeAlreadyExists        = "already exists"
	CodeBadRequest           = "bad request"
	CodeForbidden            = "forbidden"
	CodeRedirect             = "redirection required"
	CodeAccessRequired       = "access required"
	CodeNotValid             = "not valid"
	CodeTryAgain             = "try again"
	CodeMigrationRunning     = "model migration in progress"
	CodeDeadlineExceeded     = "deadline exceeded"
	CodeLoginExpired         = "login expired"
	CodeSessionTokenInvalid  = "session token invalid"
	CodeNoCreds              = "no credentials provided"
	CodeUpgradeInProgress    = "upgrade in progress"
	CodeOperationBlocked     = "operation is blocked"
	CodeMethodNotAllowed     = "method not allowed"
	CodeDischargeRequired    = "macaroon discharge required"
	CodeNotYetAvailable      = "not yet available; try again later"
	CodeCloudRegionRequired  = "cloud region required"
	CodeHasHostedModels      = "controller has hosted models"
	CodeModelNotEmpty        = "model not empty"
	CodeHasPersistentStorage = "controller/model has persistent storage"
)

// Error is an error as it travels on the wire: a message, a code and
// optional structured info (e.g. where a redirect points). A failed call
// carries it in the envelope (error, error-code, error-info); a bulk result
// carries it per item as {"message","code","info"}.
type Error struct {
	Message string         `json:"message"`
	Code    string         `json:"code"`
	Info    map[string]any `json:"info,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// UnmarshalInfo decodes Info into the value to points to, e.g. a
// *params.RedirectErrorInfo.
func (e *Error) UnmarshalInfo(to any) error {
	data, err := json.Marshal(e.Info)
	if err != nil {
		return fmt.Errorf("encode info of error %q: %w", e.Message, err)
	}
	if err := json.Unmarshal(data, to); err != nil {
		return fmt.Errorf("decode info of error %q: %w", e.Message, err)
	}
	return nil
}

// ErrorCode returns the code of err if it is or wraps an *Error, else "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// AsError turns any error into the *Error that goes on the wire. An error
// that wraps an *Error keeps its code and info, with the full message.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Message == err.Error() {
			return e
		}
		return &Error{Message: err.Error(), Code: e.Code, Info: e.Info}
	}
	return &Error{Message: err.Error()}
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Code: code}
}

// NotFoundf returns a "not found" error: the message is "<what> not found".
func NotFoundf(format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...) + " not found", Code: CodeNotFound}
}

// Common errors, worded as Juju words them.
var (
	ErrBadCreds    = &Error{Message: "invalid entity name or password", Code: CodeUnauthorized}
	ErrPerm        = &Error{Message: "permission denied", Code: CodeUnauthorized}
	ErrNotLoggedIn = &Error{Message: "not logged in", Code: CodeUnauthorized}
	ErrLoggedIn    = &Error{Message: "already logged in", Code: CodeBadRequest}
)

// Dispatch errors, worded exactly as Juju's server words them.

// UnknownFacadeError is returned for a facade the server does not have.
func UnknownFacadeError(facade string) *Error {
	return &Error{Message: fmt.Sprintf("unknown object type %q", facade), Code: CodeNotImplemented}
}

// UnknownVersionError is returned for a version of a facade the server does not have.
// Version 0 (a request that names none) reads as Juju reads it: an unknown
// object type.
func UnknownVersionError(facade string, version int) *Error {
	if version == 0 {
		return UnknownFacadeError(facade)
	}
	return &Error{Message: fmt.Sprintf("unknown version (%d) of interface %q", version, facade), Code: CodeNotImplemented}
}

// UnknownMethodError is returned for a method a facade version does not have.
func UnknownMethodError(facade string, version int, method string) *Error {
	fv := facade
	if version != 0 {
		fv = fmt.Sprintf("%s(%d)", facade, version)
	}
	return &Error{Message: fmt.Sprintf("no such request - method %s.%s is not implemented", fv, method), Code: CodeNotImplemented}
}

// Underlying returns the protocol error err wraps (the *Error a server
// answered), so that a client can be shown the server's own message
// without the wrapping that names the server; err itself when it wraps
// none.
func Underlying(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return err
}

// HTTPStatus is the HTTP status Juju's HTTP endpoints answer an error
// code with (its ServerErrorAndStatus), and 503 for "try again", which
// Juju leaves at 500 but a broker answers for a controller it cannot
// reach. Any other code is 500.
func HTTPStatus(code string) int {
	switch code {
	case CodeUnauthorized, CodeDischargeRequired:
		return http.StatusUnauthorized
	case CodeNotFound, CodeUserNotFound, CodeModelNotFound:
		return http.StatusNotFound
	case CodeBadRequest, CodeOperationBlocked:
		// Juju answers a block with 400, not 403, for older clients.
		return http.StatusBadRequest
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeForbidden:
		return http.StatusForbidden
	case CodeRedirect:
		return http.StatusMovedPermanently
	case CodeNotYetAvailable:
		return http.StatusConflict
	case CodeTryAgain:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
