package admin

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/reconcile"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

func restDifferences(ds []reconcile.Difference) []restapi.Difference {
	out := make([]restapi.Difference, len(ds))
	for i, d := range ds {
		out[i] = restapi.Difference(d)
	}
	return out
}

// check lists the differences between the broker's models and its
// controllers'.
func (a *API) check(c echo.Context) error {
	ds, err := a.reconciler.Check(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restapi.ConsistencyReport{Differences: restDifferences(ds)})
}

// reconcileNow runs a reconciliation pass now.
func (a *API) reconcileNow(c echo.Context) error {
	rep, err := a.reconciler.Pass(c.Request().Context())
	if errors.Is(err, reconcile.ErrBusy) {
		return restError(http.StatusConflict, restapi.CodeConflict, err.Error())
	}
	if err != nil {
		return err
	}
	out := restapi.ReconcileResult{Differences: restDifferences(rep.Differences), Actions: make([]restapi.ReconcileAction, len(rep.Actions))}
	for i, act := range rep.Actions {
		out.Actions[i] = restapi.ReconcileAction(act)
	}
	return c.JSON(http.StatusOK, out)
}

// importModel adopts a model a controller hosts that the broker does not
// know.
func (a *API) importModel(c echo.Context) error {
	var req restapi.ImportModelRequest
	if err := bind(c, &req, "import model: want {\"model-uuid\": ...}"); err != nil {
		return err
	}
	if err := checks(checkControllerName(c.Param("name")), input.UUID("model-uuid", req.ModelUUID)); err != nil {
		return err
	}
	m, err := a.reconciler.Import(c.Request().Context(), c.Param("name"), req.ModelUUID)
	switch jujuapi.ErrorCode(err) {
	case "":
	case jujuapi.CodeNotFound:
		return restError(http.StatusNotFound, restapi.CodeNotFound, err.Error())
	case jujuapi.CodeAlreadyExists:
		return restError(http.StatusConflict, restapi.CodeAlreadyExists, err.Error())
	case jujuapi.CodeNotValid:
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
	default:
		return err
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, restModel(m))
}
