package admin

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

// Limits bound what the admin API accepts before it costs anything.
type Limits struct {
	// MaxBody bounds the body of an authenticated request (adding a
	// controller, with its CA certificate, is the largest), in bytes;
	// MaxBodyUnauthenticated that of a login, which anyone may send.
	// Not positive: the defaults.
	MaxBody, MaxBodyUnauthenticated int64
}

// Defaults of Limits.
const (
	DefaultMaxBody                = 1 << 20
	DefaultMaxBodyUnauthenticated = 16 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultMaxBody
	}
	if l.MaxBodyUnauthenticated <= 0 {
		l.MaxBodyUnauthenticated = DefaultMaxBodyUnauthenticated
	}
	return l
}

// errTooLarge is the answer to a body over limit bytes.
func errTooLarge(limit int64) error {
	return restError(http.StatusRequestEntityTooLarge, restapi.CodeTooLarge,
		fmt.Sprintf("request body too large: the limit is %d bytes", limit))
}

// bodyLimit refuses a request whose body is over limit bytes before
// anything reads it: at once when its Content-Length says so, else when a
// read passes the limit (bind answers 413 then).
func bodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > limit {
				// Close rather than drain what the client sends on.
				c.Response().Header().Set("Connection", "close")
				return errTooLarge(limit)
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
			}
			return next(c)
		}
	}
}

// bind decodes the request's JSON body into v: 413 for a body over the
// limit, else 400 with usage (which says what was expected).
func bind(c echo.Context, v any, usage string) error {
	if err := (&echo.DefaultBinder{}).BindBody(c, v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge(mbe.Limit)
		}
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, usage)
	}
	return nil
}

// badInput is the answer to a refused name or field (input.ErrInvalid):
// 400, with input's message, which quotes little.
func badInput(err error) error {
	return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
}

// checks runs input checks in turn: the first failure as badInput.
func checks(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return badInput(err)
		}
	}
	return nil
}

// tooMany is a 429 with Retry-After.
func tooMany(c echo.Context, retry time.Duration, msg string) error {
	secs := max(1, int(math.Ceil(retry.Seconds())))
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return restError(http.StatusTooManyRequests, restapi.CodeTooManyRequests, msg)
}

// throttled answers a throttled login (only ever a failed one) with 429
// and Retry-After; it reports false for any other error.
func throttled(c echo.Context, err error) (error, bool) {
	var te *identity.ThrottledError
	if !errors.As(err, &te) {
		return nil, false
	}
	return tooMany(c, te.RetryAfter, te.Error()), true
}

// Bounds of the path parameters and query parameters, checked before use.
func checkControllerName(name string) error { return input.Name("controller name", name) }
func checkGroupParam(name string) error     { return input.Name("group name", name) }
