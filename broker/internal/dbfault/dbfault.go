package dbfault

import (
	"errors"
	"log/slog"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// UnavailableMessage is what a client is told when the database is
// unavailable.
const UnavailableMessage = "database unavailable; try again"

// InternalMessage is what a client is told when the database failed
// otherwise.
const InternalMessage = "internal error: the broker's database failed (see the broker's log)"

// clientError is a client's view of a database failure: the wire error it
// is shown, and the failure (errors.Is(err, db.ErrUnavailable) still holds).
type clientError struct {
	wire  *jujuapi.Error
	cause error
}

func (e *clientError) Error() string   { return e.wire.Message }
func (e *clientError) Unwrap() []error { return []error{e.wire, e.cause} }

// Unavailable is the error a client gets when the database is unavailable:
// code "try again", message UnavailableMessage. cause, if not nil, stays in
// the chain (for logs and errors.Is); db.ErrUnavailable always is.
func Unavailable(cause error) error {
	if cause == nil || !errors.Is(cause, db.ErrUnavailable) {
		cause = errors.Join(db.ErrUnavailable, cause)
	}
	return &clientError{wire: jujuapi.Errorf(jujuapi.CodeTryAgain, UnavailableMessage), cause: cause}
}

// IsDatabase reports whether err is a failure of the database (an outage
// or another), as the db package returns them.
func IsDatabase(err error) bool {
	var e *db.Error
	return errors.Is(err, db.ErrUnavailable) || errors.As(err, &e)
}

// ForClient returns err as a client may see it: a database outage becomes
// Unavailable, another database failure a generic internal error, each
// logged on log (when not nil) with the driver's words; any other error is
// returned as it is. Errors already mapped are returned as they are.
func ForClient(err error, log *slog.Logger) error {
	if err == nil {
		return nil
	}
	var done *clientError
	if errors.As(err, &done) {
		return err
	}
	if !IsDatabase(err) {
		return err
	}
	if errors.Is(err, db.ErrUnavailable) {
		if log != nil {
			log.Warn("database unavailable", "err", db.Detail(err))
		}
		return Unavailable(err)
	}
	if log != nil {
		log.Error("database failure", "err", db.Detail(err))
	}
	return &clientError{wire: &jujuapi.Error{Message: InternalMessage}, cause: err}
}

// AsError is jujuapi.AsError after ForClient: for results that carry an
// error per item.
func AsError(err error, log *slog.Logger) *jujuapi.Error {
	if err == nil {
		return nil
	}
	return jujuapi.AsError(ForClient(err, log))
}
