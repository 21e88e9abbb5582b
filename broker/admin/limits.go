package admin

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/clock"
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
	// DeviceLoginBurst device logins (POST /v1/login/device, which asks the
	// identity provider for a code) a source address may start at once,
	// then DeviceLoginRate per second (not positive: the defaults).
	DeviceLoginBurst int
	DeviceLoginRate  float64
}

// Defaults of Limits.
const (
	DefaultMaxBody                = 1 << 20
	DefaultMaxBodyUnauthenticated = 16 << 10
	DefaultDeviceLoginBurst       = 10
	DefaultDeviceLoginRate        = 0.2
)

func (l Limits) withDefaults() Limits {
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultMaxBody
	}
	if l.MaxBodyUnauthenticated <= 0 {
		l.MaxBodyUnauthenticated = DefaultMaxBodyUnauthenticated
	}
	if l.DeviceLoginBurst <= 0 {
		l.DeviceLoginBurst = DefaultDeviceLoginBurst
	}
	if l.DeviceLoginRate <= 0 {
		l.DeviceLoginRate = DefaultDeviceLoginRate
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

// rateLimiter is a token bucket per key (a source address): Burst at
// once, then Rate per second. Its memory is bounded: past maxLimited keys,
// new ones share one bucket.
type rateLimiter struct {
	clock       clock.Clock
	burst, rate float64

	mu      sync.Mutex
	buckets map[string]*tokenBucket
	swept   time.Time
}

type tokenBucket struct {
	tokens float64
	at     time.Time
}

const maxLimited = 20_000

func newRateLimiter(burst int, rate float64, c clock.Clock) *rateLimiter {
	return &rateLimiter{clock: clock.Or(c), burst: float64(burst), rate: rate, buckets: map[string]*tokenBucket{}}
}

// allow takes a token of key's bucket, or says how long until there is one.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if since := now.Sub(l.swept); since >= time.Minute || (len(l.buckets) >= maxLimited && since >= time.Second) {
		for k, b := range l.buckets {
			if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimited {
			key = "*overflow*"
			b = l.buckets[key]
		}
		if b == nil {
			b = &tokenBucket{tokens: l.burst, at: now}
			l.buckets[key] = b
		}
	}
	b.tokens = min(b.tokens+now.Sub(b.at).Seconds()*l.rate, l.burst)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// limitDevice rate-limits the start of device logins per source address.
func (a *API) limitDevice(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		source := audit.Source(c.Request().RemoteAddr)
		if ok, retry := a.deviceLimiter.allow(source); !ok {
			return tooMany(c, retry, fmt.Sprintf("too many device logins started from %s; try again in %d s", source, max(1, int(math.Ceil(retry.Seconds())))))
		}
		return next(c)
	}
}

// Bounds of the path parameters and query parameters, checked before use.
func checkControllerName(name string) error { return input.Name("controller name", name) }
func checkGroupParam(name string) error     { return input.Name("group name", name) }
