package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/broker/migration"
	"github.com/jimmbroker/jimm/broker/reconcile"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

// Deps are the parts the admin API works with.
type Deps struct {
	DB         *db.DB
	Identity   *identity.Service
	Relations  *authz.Relations
	Routes     *routing.Table
	Migrations *migration.Manager
	Registry   *controllers.Registry
	Health     *controllers.Health
	Pool       *controllers.Pool
	Audit      *audit.Log // nil: writes are not audited
	// Reconciler checks and reconciles the broker with its controllers.
	Reconciler *reconcile.Reconciler
	Logger     *slog.Logger
	Clock      clock.Clock // nil: the system clock
	// Limits bound request bodies and device logins (zero: defaults).
	Limits Limits
}

// API is the admin REST API.
type API struct {
	db         *db.DB
	identity   *identity.Service
	rel        *authz.Relations
	routes     *routing.Table
	migrations *migration.Manager
	registry   *controllers.Registry
	health     *controllers.Health
	pool       *controllers.Pool
	reconciler *reconcile.Reconciler
	audit      *audit.Log
	log        *slog.Logger
	clock      clock.Clock

	limits Limits
}

// New builds the admin API.
func New(deps Deps) *API {
	a := &API{
		db: deps.DB, identity: deps.Identity, rel: deps.Relations, routes: deps.Routes, migrations: deps.Migrations,
		registry: deps.Registry, health: deps.Health, pool: deps.Pool, reconciler: deps.Reconciler, audit: deps.Audit,
		log: deps.Logger, clock: clock.Or(deps.Clock), limits: deps.Limits.withDefaults(),
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	return a
}

// Mount mounts the admin API under /v1 and the browser login under /auth,
// with the error handler that writes every error as a restapi.Error.
//
// Every route has its own middleware (no group middleware, whose
// catch-all routes would answer a wrong method 404): a body limit first
// (Limits: a login's smallest), then authentication where it is needed. A
// path with another method is answered 405 with Allow.
func (a *API) Mount(e *echo.Echo) {
	e.HTTPErrorHandler = errorHandler
	small, large := bodyLimit(a.limits.MaxBodyUnauthenticated), bodyLimit(a.limits.MaxBody)
	open := func(method, path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
		e.Add(method, path, h, append([]echo.MiddlewareFunc{small}, mw...)...)
	}
	open(http.MethodPost, restapi.PathLogin, a.login)
	open(http.MethodPost, restapi.PathLoginDevice, a.loginDevice)
	open(http.MethodPost, restapi.PathLoginDeviceToken, a.loginDeviceToken)
	open(http.MethodPost, restapi.PathLogout, a.logout, a.authenticate)
	open(http.MethodGet, restapi.PathAuthLogin, a.browserLogin)
	open(http.MethodGet, restapi.PathAuthCallback, a.browserCallback)
	open(http.MethodGet, restapi.PathAuthWhoAmI, a.browserWhoAmI)
	open(http.MethodGet, restapi.PathAuthLogout, a.browserLogout)
	open(http.MethodPost, restapi.PathAuthLogout, a.browserLogout)

	authed := func(method, path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
		e.Add(method, "/v1"+path, h, append([]echo.MiddlewareFunc{large, a.authenticate, a.auditWrites}, mw...)...)
	}
	authed(http.MethodGet, "/audit", a.listAudit)
	authed(http.MethodGet, "/whoami", func(c echo.Context) error {
		id := caller(c)
		return c.JSON(http.StatusOK, restapi.WhoAmI{Identity: id.Name, Admin: id.Admin})
	})
	authed(http.MethodGet, "/groups", a.listGroups)
	authed(http.MethodPost, "/groups", a.addGroup)
	authed(http.MethodPut, "/groups/:name", a.renameGroup)
	authed(http.MethodDelete, "/groups/:name", a.removeGroup)
	authed(http.MethodPost, "/groups/:name/members", a.addMember)
	authed(http.MethodDelete, "/groups/:name/members", a.removeMember)
	authed(http.MethodGet, "/relations", a.listRelations)
	authed(http.MethodPost, "/relations", a.addRelation)
	authed(http.MethodDelete, "/relations", a.removeRelation)
	authed(http.MethodGet, "/relations/check", a.checkRelation)
	authed(http.MethodGet, "/models", a.listModels)
	authed(http.MethodGet, "/models/:uuid", a.getModel)
	authed(http.MethodPost, "/query-models", a.queryModels())

	admin := func(method, path string, h echo.HandlerFunc) { authed(method, path, h, requireAdmin) }
	admin(http.MethodGet, "/controllers", a.listControllers)
	admin(http.MethodPost, "/controllers", a.addController)
	admin(http.MethodGet, "/controllers/:name", a.getController)
	admin(http.MethodDelete, "/controllers/:name", a.removeController)
	admin(http.MethodPut, "/controllers/:name/deprecated", a.setDeprecated)
	admin(http.MethodGet, "/controllers/:name"+restapi.PathConfig, a.getControllerConfig)
	admin(http.MethodPatch, "/controllers/:name"+restapi.PathConfig, a.setControllerConfig)
	admin(http.MethodPut, "/models/:uuid/migrated", a.updateMigrated)
	admin(http.MethodGet, "/migrations", a.listMigrations)
	admin(http.MethodGet, "/check", a.check)
	admin(http.MethodPost, "/reconcile", a.reconcileNow)
	admin(http.MethodPost, "/controllers/:name/models", a.importModel)
	admin(http.MethodPost, "/migrations", a.migrate)
	admin(http.MethodGet, "/migrations/:ref", a.getMigration)
	admin(http.MethodPost, "/migration-plans", a.planMigration)
	admin(http.MethodPost, "/evacuations", a.evacuate)
	admin(http.MethodPost, "/rebalances", a.rebalance)
	admin(http.MethodGet, "/fleet-jobs", a.listFleetJobs)
	admin(http.MethodGet, "/fleet-jobs/:id", a.getFleetJob)
}

// restError builds an error response.
func restError(status int, code, msg string) error {
	return echo.NewHTTPError(status, &restapi.Error{Message: msg, Code: code})
}

// dbError is the REST error for a database failure: 503 "database
// unavailable; try again" for an outage, else a generic 500; never the
// driver's words (dbfault.ForClient logs them).
func dbError(err error, log *slog.Logger) error {
	err = dbfault.ForClient(err, log)
	if errors.Is(err, db.ErrUnavailable) {
		return restError(http.StatusServiceUnavailable, restapi.CodeUnavailable, err.Error())
	}
	return restError(http.StatusInternalServerError, "", err.Error())
}

// errorHandler writes every error as a restapi.Error; a database failure
// as dbError words it.
func errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if dbfault.IsDatabase(err) {
		err = dbError(err, slog.Default())
	}
	status, body := http.StatusInternalServerError, &restapi.Error{Message: err.Error()}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		switch m := he.Message.(type) {
		case *restapi.Error:
			body = m
		case string:
			body = &restapi.Error{Message: m}
		default:
			body = &restapi.Error{Message: http.StatusText(status)}
		}
		if status == http.StatusMethodNotAllowed {
			body = &restapi.Error{Code: restapi.CodeMethodNotAllowed, Message: fmt.Sprintf("method %s is not allowed on %s: use %s",
				c.Request().Method, input.Quote(c.Request().URL.Path), c.Response().Header().Get(echo.HeaderAllow))}
		}
	}
	if len(body.Message) > maxErrorMessage {
		// Never echo a large input back, whatever quoted it.
		body = &restapi.Error{Code: body.Code, Message: input.Quote(body.Message)}
	}
	c.JSON(status, body)
}

// maxErrorMessage bounds an error's message in a response.
const maxErrorMessage = 4096

// identityKey is where authenticate leaves the caller in the request's
// context.
const identityKey = "identity"

// caller is the authenticated caller of a request.
func caller(c echo.Context) *identity.Identity {
	id, _ := c.Get(identityKey).(*identity.Identity)
	return id
}

// authenticate authenticates a request by bearer session token or basic
// auth.
func (a *API) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, remote := c.Request().Context(), c.Request().RemoteAddr
		var (
			id  *identity.Identity
			err error
		)
		if user, password, ok := c.Request().BasicAuth(); ok {
			id, err = a.identity.Password(ctx, remote, user, password)
		} else if auth := c.Request().Header.Get("Authorization"); strings.HasPrefix(auth, restapi.BearerAuthScheme+" ") {
			id, err = a.identity.Session(ctx, remote, strings.TrimPrefix(auth, restapi.BearerAuthScheme+" "))
		} else {
			return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, "authentication required: log in with jimmctl login, or send basic auth")
		}
		if dbfault.IsDatabase(err) {
			return dbError(err, a.log) // the broker's failure, not the caller's credentials
		}
		if herr, ok := throttled(c, err); ok {
			return herr
		}
		if err != nil {
			return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, err.Error())
		}
		c.Set(identityKey, id)
		return next(c)
	}
}

func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !caller(c).Admin {
			return restError(http.StatusForbidden, restapi.CodeForbidden, "this needs broker administrator access")
		}
		return next(c)
	}
}

// auditNoteKey is where a handler leaves an *auditNote for auditWrites.
const auditNoteKey = "audit-note"

// auditNote is what a handler adds to its call's audit event.
type auditNote struct {
	// Detail follows the method, e.g. "keys=a,b": the names of the keys
	// a call set.
	Detail string
	// Redact, when set, rewrites the event's error message, e.g. to take
	// out the values the caller sent.
	Redact func(string) string
}

// auditWrites records the admin API's calls that change state (POST, PUT,
// DELETE, PATCH), after authentication.
func (a *API) auditWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodDelete && r.Method != http.MethodPatch {
			return next(c)
		}
		start := a.clock.Now()
		err := next(c)
		ev := audit.Event{Time: start, Remote: audit.Source(r.RemoteAddr), Facade: "REST", Method: r.Method + " " + r.URL.Path,
			Model: c.Param("uuid"), Result: "ok", Duration: a.clock.Now().Sub(start)}
		if id := caller(c); id != nil {
			ev.Identity = id.Name
		}
		status := c.Response().Status
		if err != nil {
			ev.Result, ev.Error = "error", err.Error()
			status = http.StatusInternalServerError
			if he, ok := err.(*echo.HTTPError); ok {
				status = he.Code
				ev.Error = ""
				switch m := he.Message.(type) {
				case *restapi.Error:
					ev.Result, ev.Error = m.Code, m.Message
				case string:
					ev.Error = m
				}
			}
		}
		if status >= 400 && (ev.Result == "ok" || ev.Result == "") {
			ev.Result = strings.ToLower(http.StatusText(status))
		}
		if n, ok := c.Get(auditNoteKey).(*auditNote); ok {
			if n.Detail != "" {
				ev.Method += " " + n.Detail
			}
			if n.Redact != nil {
				ev.Error = n.Redact(ev.Error)
			}
		}
		a.audit.Add(ev)
		return err
	}
}

// AddController verifies and registers a controller, and starts checking
// its health. It returns once the first health check has answered, so
// that the status returned is real and placement can use the controller
// at once.
func (a *API) AddController(ctx context.Context, req restapi.AddControllerRequest) (restapi.Controller, error) {
	ctl, err := a.registry.Add(ctx, controllers.AddRequest{
		Name: req.Name, UUID: req.UUID, Addresses: req.APIAddresses, CACert: req.CACert, TLSServerName: req.TLSServerName,
		AdminUser: req.AdminUser, AdminPassword: req.AdminPassword, Priority: req.Priority,
	})
	if err != nil {
		return restapi.Controller{}, err
	}
	a.health.Track(ctl.Name)
	// The first health check runs at once, in real time.
	deadline := time.Now().Add(controllers.DefaultPingTimeout + time.Second)
	for _, checked := a.health.Status(ctl.Name); !checked && time.Now().Before(deadline); _, checked = a.health.Status(ctl.Name) {
		select {
		case <-ctx.Done():
			deadline = time.Time{}
		case <-time.After(10 * time.Millisecond):
		}
	}
	return a.restController(ctl, nil), nil
}
