package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/fleetquery"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

// queryModels answers POST /v1/query-models with a handler holding the
// replica's query runner: its bounds apply across every caller's queries.
func (a *API) queryModels() echo.HandlerFunc {
	return a.queryModelsWith(fleetquery.NewRunner(fleetquery.StatusFetcher(a.registry.Resolve), fleetquery.Limits{}, a.log))
}

// queryModelsWith is queryModels with a runner of the caller's.
func (a *API) queryModelsWith(runner *fleetquery.Runner) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req restapi.QueryModelsRequest
		if err := bind(c, &req, `query models: expected JSON {"query": "<jq expression>"}`); err != nil {
			return err
		}
		if err := input.Lines("query", req.Query, fleetquery.MaxQueryBytes); err != nil {
			return badInput(err)
		}
		prog, err := fleetquery.Compile(req.Query)
		if err != nil {
			return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
		}
		ctx, id := c.Request().Context(), caller(c)
		// The models the caller may read, in one query (every model for a
		// broker administrator), by owner and name.
		rows, err := a.identity.Models(ctx, id.Name, id.Admin)
		if err != nil {
			return err
		}
		ctls, err := a.registry.List(ctx)
		if err != nil {
			return err
		}
		names := make(map[uint]string, len(ctls))
		for _, ctl := range ctls {
			names[ctl.ID] = ctl.Name
		}
		models := make([]fleetquery.Model, len(rows))
		for i, m := range rows {
			models[i] = fleetquery.Model{UUID: m.UUID, Name: m.Name, Owner: m.Owner, Controller: names[m.ControllerID]}
		}
		res, err := runner.Run(ctx, prog, models)
		if errors.Is(err, fleetquery.ErrBusy) {
			return tooMany(c, 5*time.Second, err.Error())
		}
		if err != nil {
			return err
		}
		out := restapi.QueryModelsResult{Models: make(map[string]restapi.ModelQueryResult, len(res.Models)),
			Omitted: res.Omitted, Truncated: res.Truncated}
		for _, m := range res.Models {
			r := restapi.ModelQueryResult{Name: m.Model.Name, Owner: m.Model.Owner, Outputs: make([]any, len(m.Outputs)),
				Error: fleetquery.Message(m.Err, id.Admin)}
			for i, o := range m.Outputs {
				r.Outputs[i] = o // encoded as it is
			}
			if id.Admin {
				r.Controller = m.Model.Controller
			}
			out.Models[m.Model.UUID] = r
		}
		if failed := countFailed(res); failed > 0 {
			a.log.Info("a model query failed on some models", "identity", id.Name, "models", len(res.Models), "failed", failed,
				"expression", input.Quote(strings.Join(strings.Fields(prog.String()), " ")), "first-error", firstError(res))
		}
		return c.JSON(http.StatusOK, out)
	}
}

func countFailed(res *fleetquery.Result) int {
	n := 0
	for _, m := range res.Models {
		if m.Err != nil {
			n++
		}
	}
	return n
}

// firstError is the first model's error, for the log (which names
// controllers whoever asked).
func firstError(res *fleetquery.Result) string {
	for _, m := range res.Models {
		if m.Err != nil {
			return fmt.Sprintf("model %s: %v", m.Model.UUID, m.Err)
		}
	}
	return ""
}
