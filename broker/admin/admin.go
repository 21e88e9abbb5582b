package admin

import (
	"context"
	"errors"
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
}

// New builds the admin API.
func New(deps Deps) *API {
	a := &API{
		db: deps.DB, identity: deps.Identity, rel: deps.Relations, routes: deps.Routes, migrations: deps.Migrations,
		registry: deps.Registry, health: deps.Health, pool: deps.Pool, reconciler: deps.Reconciler, audit: deps.Audit,
		log: deps.Logger, clock: clock.Or(deps.Clock),
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	return a
}

// Mount mounts the admin API under /v1 and the browser login under /auth,
// with the error handler that writes every error as a restapi.Error.
func (a *API) Mount(e *echo.Echo) {
	e.HTTPErrorHandler = errorHandler
	v1 := e.Group("/v1")
	v1.POST("/login", a.login)
	v1.POST("/login/device", a.loginDevice)
	v1.POST("/login/device/token", a.loginDeviceToken)
	v1.POST("/logout", a.logout, a.authenticate)
	e.GET(restapi.PathAuthLogin, a.browserLogin)
	e.GET(restapi.PathAuthCallback, a.browserCallback)
	e.GET(restapi.PathAuthWhoAmI, a.browserWhoAmI)
	e.GET(restapi.PathAuthLogout, a.browserLogout)
	e.POST(restapi.PathAuthLogout, a.browserLogout)

	authed := v1.Group("", a.authenticate, a.auditWrites)
	authed.GET("/audit", a.listAudit)
	authed.GET("/whoami", func(c echo.Context) error {
		id := caller(c)
		return c.JSON(http.StatusOK, restapi.WhoAmI{Identity: id.Name, Admin: id.Admin})
	})
	authed.GET("/groups", a.listGroups)
	authed.POST("/groups", a.addGroup)
	authed.PUT("/groups/:name", a.renameGroup)
	authed.DELETE("/groups/:name", a.removeGroup)
	authed.POST("/groups/:name/members", a.addMember)
	authed.DELETE("/groups/:name/members", a.removeMember)
	authed.GET("/relations", a.listRelations)
	authed.POST("/relations", a.addRelation)
	authed.DELETE("/relations", a.removeRelation)
	authed.GET("/relations/check", a.checkRelation)
	authed.GET("/models", a.listModels)
	authed.GET("/models/:uuid", a.getModel)

	admin := authed.Group("", requireAdmin)
	admin.GET("/controllers", a.listControllers)
	admin.POST("/controllers", a.addController)
	admin.GET("/controllers/:name", a.getController)
	admin.DELETE("/controllers/:name", a.removeController)
	admin.PUT("/controllers/:name/deprecated", a.setDeprecated)
	admin.PUT("/models/:uuid/migrated", a.updateMigrated)
	admin.GET("/migrations", a.listMigrations)
	admin.GET("/check", a.check)
	admin.POST("/reconcile", a.reconcileNow)
	admin.POST("/controllers/:name/models", a.importModel)
	admin.POST("/migrations", a.migrate)
	admin.GET("/migrations/:ref", a.getMigration)
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
	}
	c.JSON(status, body)
}

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
