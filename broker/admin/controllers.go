package admin

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

// registryError maps a registry error to an HTTP error.
func registryError(err error) error {
	switch {
	case errors.Is(err, controllers.ErrNotFound):
		return restError(http.StatusNotFound, restapi.CodeNotFound, err.Error())
	case errors.Is(err, controllers.ErrAlreadyExists):
		return restError(http.StatusConflict, restapi.CodeAlreadyExists, err.Error())
	case errors.Is(err, controllers.ErrHasModels):
		return restError(http.StatusConflict, restapi.CodeConflict, err.Error())
	case errors.Is(err, controllers.ErrInUse):
		return restError(http.StatusConflict, restapi.CodeMigrating, err.Error())
	case errors.Is(err, controllers.ErrInvalid), errors.Is(err, controllers.ErrWrongController), errors.Is(err, input.ErrInvalid):
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
	case errors.As(err, new(*controllers.ConnectError)), errors.As(err, new(*controllers.DialError)):
		return restError(http.StatusBadGateway, restapi.CodeUnavailable, err.Error())
	}
	return err
}

func (a *API) restController(c *db.Controller, loads map[string]db.Load) restapi.Controller {
	l := loads[c.Name]
	out := restapi.Controller{
		Name: c.Name, UUID: c.UUID, Deprecated: c.Deprecated, AgentVersion: c.AgentVersion,
		Cloud: c.Cloud, CloudType: c.CloudType, Regions: c.Regions, Addresses: c.Addresses,
		Priority: c.Priority, ModelCount: l.Models, Machines: l.Machines, Units: l.Units, Agents: l.Agents(),
		AddedAt: c.CreatedAt.UTC(), Status: restapi.StatusDown,
	}
	if st, ok := a.health.Status(c.Name); ok {
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

func (a *API) listControllers(c echo.Context) error {
	ctx := c.Request().Context()
	ctls, err := a.registry.List(ctx)
	if err != nil {
		return err
	}
	loads, err := a.db.ControllerLoads(ctx)
	if err != nil {
		return err
	}
	out := make([]restapi.Controller, len(ctls))
	for i := range ctls {
		out[i] = a.restController(&ctls[i], loads)
	}
	return c.JSON(http.StatusOK, out)
}

func (a *API) getController(c echo.Context) error {
	if err := checks(checkControllerName(c.Param("name"))); err != nil {
		return err
	}
	ctl, err := a.registry.Get(c.Request().Context(), c.Param("name"))
	if err != nil {
		return registryError(err)
	}
	return a.writeController(c, ctl)
}

// writeController answers with one controller, its load included.
func (a *API) writeController(c echo.Context, ctl *db.Controller) error {
	loads, err := a.db.ControllerLoads(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.restController(ctl, loads))
}

func (a *API) addController(c echo.Context) error {
	var req restapi.AddControllerRequest
	if err := bind(c, &req, "add controller: expected the fields of controller.yaml as JSON"); err != nil {
		return err
	}
	// The registry checks every field again (controllers.CheckAddRequest),
	// before anything is dialled or stored.
	ctl, err := a.AddController(c.Request().Context(), req)
	if err != nil {
		return registryError(err)
	}
	return c.JSON(http.StatusCreated, ctl)
}

func (a *API) removeController(c echo.Context) error {
	name := c.Param("name")
	if err := checks(checkControllerName(name)); err != nil {
		return err
	}
	if err := a.registry.Remove(c.Request().Context(), name, c.QueryParam("force") == "true"); err != nil {
		return registryError(err)
	}
	// Every replica, this one included, stops checking the controller and
	// drops its connection when the registry's change notification
	// arrives, and forgets the routes of models a forced removal dropped;
	// doing the first two here too spares this replica the wait.
	a.health.Untrack(name)
	a.pool.Forget(name)
	return c.NoContent(http.StatusNoContent)
}

func (a *API) setDeprecated(c echo.Context) error {
	if err := checks(checkControllerName(c.Param("name"))); err != nil {
		return err
	}
	// The field is required: {} must not undo a deprecation.
	var req struct {
		Deprecated *bool `json:"deprecated"`
	}
	const usage = "set deprecated: expected JSON {\"deprecated\": true|false}"
	if err := bind(c, &req, usage); err != nil {
		return err
	}
	if req.Deprecated == nil {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, usage+": the deprecated field is missing")
	}
	ctl, err := a.registry.SetDeprecated(c.Request().Context(), c.Param("name"), *req.Deprecated)
	if err != nil {
		return registryError(err)
	}
	return a.writeController(c, ctl)
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

func (a *API) listModels(c echo.Context) error {
	ctx := c.Request().Context()
	if id := caller(c); !id.Admin {
		rows, err := a.identity.Models(ctx, id.Name, false)
		if err != nil {
			return err
		}
		out := make([]restapi.Model, len(rows))
		for i := range rows {
			out[i] = restModelFor(&rows[i].Model, rows[i].Relation)
		}
		return c.JSON(http.StatusOK, out)
	}
	rows, err := a.db.Models(ctx)
	if err != nil {
		return err
	}
	out := make([]restapi.Model, len(rows))
	for i := range rows {
		out[i] = restModel(&rows[i])
	}
	return c.JSON(http.StatusOK, out)
}

func (a *API) getModel(c echo.Context) error {
	ctx := c.Request().Context()
	if err := checks(input.UUID("model uuid", c.Param("uuid"))); err != nil {
		return err
	}
	m, err := a.db.ModelByUUID(ctx, c.Param("uuid"))
	if errors.Is(err, db.ErrNotFound) {
		return restError(http.StatusNotFound, restapi.CodeNotFound, "model "+c.Param("uuid")+" not found")
	}
	if err != nil {
		return err
	}
	if id := caller(c); !id.Admin {
		access, err := a.identity.ModelAccess(ctx, id, m)
		if err != nil {
			return err
		}
		if access == authz.AccessNone {
			return restError(http.StatusNotFound, restapi.CodeNotFound, "model "+c.Param("uuid")+" not found")
		}
		return c.JSON(http.StatusOK, restModelFor(m, access))
	}
	return c.JSON(http.StatusOK, restModel(m))
}
