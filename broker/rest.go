package broker

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// restRoutes mounts the admin REST API under /v1.
func (s *Server) restRoutes(e *echo.Echo) {
	e.HTTPErrorHandler = restErrorHandler
	v1 := e.Group("/v1")
	v1.POST("/login", s.restLogin)
	s.oidcRoutes(e, v1)
	authed := v1.Group("", s.restAuth, s.restAudit)
	authed.GET("/audit", s.restListAudit)
	s.authRoutes(authed)
	authed.GET("/whoami", func(c echo.Context) error {
		id := c.Get("identity").(*identity)
		return c.JSON(http.StatusOK, restapi.WhoAmI{Identity: id.Name, Admin: id.Admin})
	})
	admin := authed.Group("", requireAdmin)
	admin.GET("/controllers", s.restListControllers)
	admin.POST("/controllers", s.restAddController)
	admin.GET("/controllers/:name", s.restGetController)
	admin.DELETE("/controllers/:name", s.restRemoveController)
	admin.PUT("/controllers/:name/deprecated", s.restSetDeprecated)
	authed.GET("/models", s.restListModels)
	authed.GET("/models/:uuid", s.restGetModel)
	admin.PUT("/models/:uuid/migrated", s.restUpdateMigrated)
	admin.GET("/migrations", s.restListMigrations)
	admin.POST("/migrations", s.restMigrate)
	admin.GET("/migrations/:ref", s.restGetMigration)
}

// restError builds an error response.
func restError(status int, code, msg string) error {
	return echo.NewHTTPError(status, &restapi.Error{Message: msg, Code: code})
}

// restErrorHandler writes every error as a restapi.Error.
func restErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
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

// registryError maps a registry error to an HTTP error.
func registryError(err error) error {
	switch {
	case errors.Is(err, controllers.ErrNotFound):
		return restError(http.StatusNotFound, restapi.CodeNotFound, err.Error())
	case errors.Is(err, controllers.ErrAlreadyExists):
		return restError(http.StatusConflict, restapi.CodeAlreadyExists, err.Error())
	case errors.Is(err, controllers.ErrHasModels):
		return restError(http.StatusConflict, restapi.CodeConflict, err.Error())
	case errors.Is(err, controllers.ErrInvalid), errors.Is(err, controllers.ErrWrongController):
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
	case errors.As(err, new(*controllers.ConnectError)), errors.As(err, new(*controllers.DialError)):
		return restError(http.StatusBadGateway, restapi.CodeUnavailable, err.Error())
	}
	return err
}

func (s *Server) restLogin(c echo.Context) error {
	var req struct {
		restapi.LoginRequest
		restapi.ClientCredentialsRequest
	}
	if err := c.Bind(&req); err != nil {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "login: expected JSON {user, password} or {client-id, client-secret}")
	}
	if req.ClientID != "" {
		return s.restLoginClientCredentials(c, req.ClientCredentialsRequest)
	}
	ctx := c.Request().Context()
	id, err := s.authenticate(ctx, loginByPassword, c.Request().RemoteAddr, req.User, s.checkPassword(req.User, req.Password))
	if err != nil {
		return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, "invalid user name or password")
	}
	token, expires, err := s.newSession(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restapi.LoginResponse{Token: token, Identity: id.Name, ExpiresAt: expires})
}

// restAuth authenticates a request by bearer session token or basic auth.
func (s *Server) restAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		var (
			id  *identity
			err error
		)
		if user, password, ok := c.Request().BasicAuth(); ok {
			id, err = s.authenticate(ctx, loginByPassword, c.Request().RemoteAddr, user, s.checkPassword(user, password))
		} else if auth := c.Request().Header.Get("Authorization"); strings.HasPrefix(auth, restapi.BearerAuthScheme+" ") {
			id, err = s.authenticate(ctx, loginBySessionToken, c.Request().RemoteAddr, "", s.checkSession(strings.TrimPrefix(auth, restapi.BearerAuthScheme+" ")))
		} else {
			return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, "authentication required: log in with jimmctl login, or send basic auth")
		}
		if err != nil {
			return restError(http.StatusUnauthorized, restapi.CodeUnauthorized, err.Error())
		}
		c.Set("identity", id)
		return next(c)
	}
}

func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if id := c.Get("identity").(*identity); !id.Admin {
			return restError(http.StatusForbidden, restapi.CodeForbidden, "this needs broker administrator access")
		}
		return next(c)
	}
}

func (s *Server) restController(ctx context.Context, c *db.Controller, counts map[uint]int) restapi.Controller {
	out := restapi.Controller{
		Name: c.Name, UUID: c.UUID, Deprecated: c.Deprecated, AgentVersion: c.AgentVersion,
		Cloud: c.Cloud, CloudType: c.CloudType, Regions: c.Regions, Addresses: c.Addresses,
		Priority: c.Priority, ModelCount: counts[c.ID], AddedAt: c.CreatedAt.UTC(), Status: restapi.StatusDown,
	}
	if st, ok := s.health.Status(c.Name); ok {
		out.StatusSince, out.StatusMessage = st.Since.UTC(), st.LastError
		if st.Up {
			out.Status = restapi.StatusUp
		}
	} else {
		out.StatusMessage = "not checked yet"
	}
	if c.Deprecated {
		out.Status = restapi.StatusDeprecated
	}
	return out
}

func (s *Server) restListControllers(c echo.Context) error {
	ctx := c.Request().Context()
	ctls, err := s.registry.List(ctx)
	if err != nil {
		return err
	}
	counts, err := s.registry.ModelCounts(ctx)
	if err != nil {
		return err
	}
	out := make([]restapi.Controller, len(ctls))
	for i := range ctls {
		out[i] = s.restController(ctx, &ctls[i], counts)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) restGetController(c echo.Context) error {
	ctx := c.Request().Context()
	ctl, err := s.registry.Get(ctx, c.Param("name"))
	if err != nil {
		return registryError(err)
	}
	counts, err := s.registry.ModelCounts(ctx)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.restController(ctx, ctl, counts))
}

func (s *Server) restAddController(c echo.Context) error {
	var req restapi.AddControllerRequest
	if err := c.Bind(&req); err != nil {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "add controller: expected the fields of controller.yaml as JSON")
	}
	ctl, err := s.AddController(c.Request().Context(), req)
	if err != nil {
		return registryError(err)
	}
	return c.JSON(http.StatusCreated, ctl)
}

// AddController verifies and registers a controller, and starts checking
// its health.
func (s *Server) AddController(ctx context.Context, req restapi.AddControllerRequest) (restapi.Controller, error) {
	ctl, err := s.registry.Add(ctx, controllers.AddRequest{
		Name: req.Name, UUID: req.UUID, Addresses: req.APIAddresses, CACert: req.CACert, TLSServerName: req.TLSServerName,
		AdminUser: req.AdminUser, AdminPassword: req.AdminPassword, Priority: req.Priority,
	})
	if err != nil {
		return restapi.Controller{}, err
	}
	s.health.Track(ctl.Name)
	s.metrics.models.WithLabelValues(ctl.Name).Set(0)
	// The first health check starts at once; wait for it, so that the
	// status returned is real and placement can use the controller now.
	deadline := time.Now().Add(controllers.DefaultPingTimeout + time.Second)
	for _, checked := s.health.Status(ctl.Name); !checked && time.Now().Before(deadline); _, checked = s.health.Status(ctl.Name) {
		select {
		case <-ctx.Done():
			deadline = time.Time{}
		case <-time.After(10 * time.Millisecond):
		}
	}
	return s.restController(ctx, ctl, nil), nil
}

func (s *Server) restRemoveController(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("name")
	ctl, err := s.registry.Get(ctx, name)
	if err != nil {
		return registryError(err)
	}
	if err := s.registry.Remove(ctx, name, c.QueryParam("force") == "true"); err != nil {
		return registryError(err)
	}
	s.health.Untrack(name)
	s.pool.Forget(name)
	s.routes.forgetController(ctl.ID)
	if err := s.db.Notify(ctx, routesChannel, ""); err != nil {
		s.log.Warn("cannot tell other replicas that routes changed", "err", err)
	}
	s.metrics.models.DeleteLabelValues(name)
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) restSetDeprecated(c echo.Context) error {
	var req restapi.SetDeprecatedRequest
	if err := c.Bind(&req); err != nil {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "expected JSON {deprecated: true|false}")
	}
	ctx := c.Request().Context()
	ctl, err := s.registry.SetDeprecated(ctx, c.Param("name"), req.Deprecated)
	if err != nil {
		return registryError(err)
	}
	counts, err := s.registry.ModelCounts(ctx)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.restController(ctx, ctl, counts))
}

func restModel(m *db.Model) restapi.Model {
	return restapi.Model{UUID: m.UUID, Name: m.Name, Owner: m.Owner, Controller: m.Controller.Name,
		Cloud: m.Cloud, Region: m.Region, Life: m.Life, CreatedAt: m.CreatedAt.UTC()}
}

// restModelFor is a model as a caller who is not a broker administrator
// sees it: with their access, and no controller.
func restModelFor(m *db.Model, access string) restapi.Model {
	out := restModel(m)
	out.Controller, out.Access = "", access
	return out
}

func (s *Server) restListModels(c echo.Context) error {
	ctx := c.Request().Context()
	if id := c.Get("identity").(*identity); !id.Admin {
		rows, err := s.modelsOf(ctx, id.Name, false)
		if err != nil {
			return err
		}
		out := make([]restapi.Model, len(rows))
		for i := range rows {
			out[i] = restModelFor(&rows[i].Model, rows[i].Relation)
		}
		return c.JSON(http.StatusOK, out)
	}
	var rows []db.Model
	if err := s.db.WithContext(ctx).Preload("Controller").Order("owner, name").Find(&rows).Error; err != nil {
		return err
	}
	out := make([]restapi.Model, len(rows))
	for i := range rows {
		out[i] = restModel(&rows[i])
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) restGetModel(c echo.Context) error {
	var m db.Model
	err := s.db.WithContext(c.Request().Context()).Preload("Controller").Where("uuid = ?", c.Param("uuid")).First(&m).Error
	if errors.Is(err, db.ErrNotFound) {
		return restError(http.StatusNotFound, restapi.CodeNotFound, "model "+c.Param("uuid")+" not found")
	}
	if err != nil {
		return err
	}
	if id := c.Get("identity").(*identity); !id.Admin {
		access, err := s.modelAccess(c.Request().Context(), id, &m)
		if err != nil {
			return err
		}
		if access == accessNone {
			return restError(http.StatusNotFound, restapi.CodeNotFound, "model "+c.Param("uuid")+" not found")
		}
		return c.JSON(http.StatusOK, restModelFor(&m, access))
	}
	return c.JSON(http.StatusOK, restModel(&m))
}

// migrationError maps a migration error to an HTTP error.
func migrationError(err error) error {
	msg := err.Error()
	for _, prefix := range []string{errMigrating.Error() + ": ", errMigration.Error() + ": "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	switch {
	case errors.Is(err, errMigrating):
		return restError(http.StatusConflict, restapi.CodeMigrating, msg)
	case errors.Is(err, errMigration):
		return restError(http.StatusConflict, restapi.CodeConflict, msg)
	case jujuapi.ErrorCode(err) == jujuapi.CodeUnauthorized:
		return restError(http.StatusForbidden, restapi.CodeForbidden, err.Error())
	}
	return err
}

func (s *Server) restMigrate(c echo.Context) error {
	var req restapi.MigrateRequest
	if err := c.Bind(&req); err != nil || req.ModelUUID == "" || req.Controller == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "migrate: expected JSON {model-uuid, controller}")
	}
	mig, err := s.Migrate(c.Request().Context(), c.Get("identity").(*identity), req.Controller, req.ModelUUID)
	if err != nil {
		return migrationError(err)
	}
	return c.JSON(http.StatusAccepted, restMigration(mig))
}

func (s *Server) restListMigrations(c echo.Context) error {
	var rows []db.Migration
	if err := s.db.WithContext(c.Request().Context()).Preload("Source").Preload("Target").Order("id DESC").Find(&rows).Error; err != nil {
		return err
	}
	out := make([]restapi.Migration, len(rows))
	for i := range rows {
		out[i] = restMigration(&rows[i])
	}
	return c.JSON(http.StatusOK, out)
}

// restGetMigration shows a migration by id, or the latest of a model.
func (s *Server) restGetMigration(c echo.Context) error {
	ref := c.Param("ref")
	q := s.db.WithContext(c.Request().Context()).Preload("Source").Preload("Target")
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		q = q.Where("id = ?", id)
	} else {
		q = q.Where("model_uuid = ?", ref).Order("id DESC")
	}
	var mig db.Migration
	if err := q.First(&mig).Error; err != nil {
		if errors.Is(err, db.ErrNotFound) {
			return restError(http.StatusNotFound, restapi.CodeNotFound, "no migration "+ref)
		}
		return err
	}
	return c.JSON(http.StatusOK, restMigration(&mig))
}

func (s *Server) restUpdateMigrated(c echo.Context) error {
	var req restapi.UpdateMigratedRequest
	if err := c.Bind(&req); err != nil || req.Controller == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "expected JSON {controller}")
	}
	m, err := s.UpdateMigratedModel(c.Request().Context(), c.Get("identity").(*identity), req.Controller, c.Param("uuid"))
	if err != nil {
		return migrationError(err)
	}
	return c.JSON(http.StatusOK, restModel(m))
}
