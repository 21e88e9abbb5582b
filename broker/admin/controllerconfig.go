package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

// controllerConfigTimeout bounds a controller config request, the
// connection to the controller included, so that the broker answers
// before jimmctl gives up on it (jimmctl.DefaultTimeout, 30s).
const controllerConfigTimeout = 20 * time.Second

// minRedacted is the length from which a string value sent in a config
// change is taken out of the audited error: shorter ones hold no secret,
// and taking them out would mangle the words around them ("1m").
const minRedacted = 4

// redactedMark replaces a value in an audited error.
const redactedMark = "[redacted]"

// getControllerConfig answers GET /v1/controllers/:name/config: the
// controller's config as the controller reports it.
func (a *API) getControllerConfig(c echo.Context) error {
	name := c.Param("name")
	if err := checks(checkControllerName(name)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), controllerConfigTimeout)
	defer cancel()
	cl, err := a.controllerClient(ctx, name)
	if err != nil {
		return err
	}
	cfg, err := cl.ControllerConfig(ctx)
	if err != nil {
		return a.controllerCallError(name, cl, "show its config", err)
	}
	return c.JSON(http.StatusOK, restapi.ControllerConfig{Controller: name, Config: cfg})
}

// setControllerConfig answers PATCH /v1/controllers/:name/config: the
// controller checks and takes the values (all or none), and the answer is
// its config read back. The audit event names the keys; no value is ever
// logged or audited.
func (a *API) setControllerConfig(c echo.Context) error {
	name := c.Param("name")
	if err := checks(checkControllerName(name)); err != nil {
		return err
	}
	const usage = `set controller config: expected JSON {"config": {"key": value, ...}}`
	var req restapi.ControllerConfigRequest
	if err := bind(c, &req, usage); err != nil {
		return err
	}
	switch {
	case len(req.Config) == 0:
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, usage+": no key given")
	case len(req.Config) > restapi.MaxConfigKeys:
		return restError(http.StatusBadRequest, restapi.CodeBadRequest,
			fmt.Sprintf("set controller config of %q: %d keys, the limit is %d", name, len(req.Config), restapi.MaxConfigKeys))
	}
	keys := make([]string, 0, len(req.Config))
	for k := range req.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := checks(input.Name("controller config key", k)); err != nil {
			return err
		}
		if req.Config[k] == nil {
			return restError(http.StatusBadRequest, restapi.CodeBadRequest,
				fmt.Sprintf("set controller config of %q: key %q has no value (null)", name, k))
		}
	}
	c.Set(auditNoteKey, &auditNote{Detail: "keys=" + strings.Join(keys, ","), Redact: redactValues(req.Config)})

	ctx, cancel := context.WithTimeout(c.Request().Context(), controllerConfigTimeout)
	defer cancel()
	cl, err := a.controllerClient(ctx, name)
	if err != nil {
		return err
	}
	listed := strings.Join(keys, ", ")
	if err := cl.SetControllerConfig(ctx, req.Config); err != nil {
		return a.controllerCallError(name, cl, "set "+listed, err)
	}
	a.log.Info("controller config changed", "controller", name, "keys", keys, "by", caller(c).Name)
	cfg, err := cl.ControllerConfig(ctx)
	if err != nil {
		return a.controllerCallError(name, cl, "show its config after taking "+listed, err)
	}
	return c.JSON(http.StatusOK, restapi.ControllerConfig{Controller: name, Config: cfg})
}

// controllerClient is the pool's connection to a registered controller:
// 404 when it is not registered, 503 when it cannot be reached.
func (a *API) controllerClient(ctx context.Context, name string) (*controllers.Client, error) {
	if _, err := a.registry.Get(ctx, name); err != nil {
		return nil, registryError(err)
	}
	cl, err := a.pool.Get(ctx, name)
	switch {
	case err == nil:
		return cl, nil
	case errors.Is(err, controllers.ErrNotFound): // removed meanwhile
		return nil, registryError(err)
	case dbfault.IsDatabase(err):
		return nil, err
	}
	return nil, restError(http.StatusServiceUnavailable, restapi.CodeUnavailable,
		fmt.Sprintf("controller %q is unavailable: %v", name, err))
}

// controllerCallError is the answer to a failed call to a controller:
// its refusal passed on with its code and message, or 503 when it did not
// answer. what says what the controller was asked to do.
func (a *API) controllerCallError(name string, cl *controllers.Client, what string, err error) error {
	var je *jujuapi.Error
	if errors.As(err, &je) {
		status, code := refusalStatus(je.Code)
		return restError(status, code, fmt.Sprintf("controller %q refused to %s: %s", name, what, je.Message))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// A connection that let a call time out is suspect.
		a.pool.Discard(name, cl)
	}
	return restError(http.StatusServiceUnavailable, restapi.CodeUnavailable,
		fmt.Sprintf("controller %q is unavailable: asked to %s: %v", name, what, err))
}

// refusalStatus is the HTTP status of a controller's refusal with a Juju
// error code, and the code passed on (bad request when it had none).
func refusalStatus(code string) (int, string) {
	status := http.StatusBadRequest
	switch code {
	case jujuapi.CodeUnauthorized, jujuapi.CodeForbidden, jujuapi.CodeAccessRequired:
		status = http.StatusForbidden
	case jujuapi.CodeTryAgain, jujuapi.CodeUpgradeInProgress, jujuapi.CodeNotYetAvailable, jujuapi.CodeDeadlineExceeded:
		status = http.StatusServiceUnavailable
	case jujuapi.CodeNotImplemented:
		status = http.StatusBadGateway
	case jujuapi.CodeOperationBlocked:
		status = http.StatusConflict
	}
	if code == "" {
		code = restapi.CodeBadRequest
	}
	return status, code
}

// redactValues returns what takes the string values of cfg (of
// minRedacted bytes or more, in lists and maps too) out of a message, as
// written and as quoted: for the audit log, where a controller's refusal
// must not bring a value in (a value may be a secret).
func redactValues(cfg map[string]any) func(string) string {
	var vals []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if len(v) >= minRedacted {
				vals = append(vals, v)
				if q := strconv.Quote(v); q[1:len(q)-1] != v {
					vals = append(vals, q[1:len(q)-1])
				}
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, v := range cfg {
		walk(v)
	}
	// Longest first: a value that holds another goes whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	return func(msg string) string {
		for _, v := range vals {
			msg = strings.ReplaceAll(msg, v, redactedMark)
		}
		return msg
	}
}
