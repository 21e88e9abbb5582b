package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/broker/migration"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

// restMigration renders a migration for the admin API.
func restMigration(m *db.Migration) restapi.Migration {
	return restapi.Migration{
		ID: m.ID, ModelUUID: m.ModelUUID, ModelName: m.ModelName, Owner: m.Owner,
		Source: m.SourceName(), Target: m.TargetName(), ControllerID: m.ControllerMigrationID,
		Phase: m.Phase, Message: m.Message, Result: m.Result,
		StartedAt: m.StartedAt.UTC(), PhaseChangedAt: m.PhaseChangedAt.UTC(), EndedAt: m.EndedAt,
		Plan: restPlan(migration.StoredPlan(m)),
	}
}

// migrationError maps a migration error to an HTTP error.
func migrationError(err error) error {
	if dbfault.IsDatabase(err) {
		return dbError(err, nil)
	}
	msg := err.Error()
	for _, prefix := range []string{migration.ErrRunning.Error() + ": ", migration.ErrRefused.Error() + ": "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	switch {
	case errors.Is(err, migration.ErrRunning):
		return restError(http.StatusConflict, restapi.CodeMigrating, msg)
	case errors.Is(err, migration.ErrRefused):
		return restError(http.StatusConflict, restapi.CodeConflict, msg)
	case jujuapi.ErrorCode(err) == jujuapi.CodeUnauthorized:
		return restError(http.StatusForbidden, restapi.CodeForbidden, err.Error())
	}
	return err
}

func (a *API) migrate(c echo.Context) error {
	var req restapi.MigrateRequest
	const usage = "migrate: expected JSON {model-uuid, controller}"
	if err := bind(c, &req, usage); err != nil {
		return err
	}
	if req.ModelUUID == "" || req.Controller == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, usage)
	}
	if err := checks(input.UUID("model-uuid", req.ModelUUID), checkControllerName(req.Controller)); err != nil {
		return err
	}
	mig, err := a.migrations.Migrate(c.Request().Context(), req.Controller, req.ModelUUID, migration.Options{Force: req.Force})
	if err != nil {
		return migrationError(err)
	}
	return c.JSON(http.StatusAccepted, restMigration(mig))
}

func (a *API) listMigrations(c echo.Context) error {
	rows, err := a.db.Migrations(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]restapi.Migration, len(rows))
	for i := range rows {
		out[i] = restMigration(&rows[i])
	}
	return c.JSON(http.StatusOK, out)
}

// getMigration shows a migration by id, or the latest of a model.
func (a *API) getMigration(c echo.Context) error {
	ref := c.Param("ref")
	if err := checks(input.Text("migration", ref, input.MaxName)); err != nil {
		return err
	}
	mig, err := a.db.MigrationByRef(c.Request().Context(), ref)
	if errors.Is(err, db.ErrNotFound) {
		return restError(http.StatusNotFound, restapi.CodeNotFound, "no migration "+ref)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, restMigration(mig))
}

func (a *API) updateMigrated(c echo.Context) error {
	var req restapi.UpdateMigratedRequest
	if err := bind(c, &req, "update migrated model: expected JSON {controller}"); err != nil {
		return err
	}
	if req.Controller == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "update migrated model: expected JSON {controller}")
	}
	if err := checks(input.UUID("model uuid", c.Param("uuid")), checkControllerName(req.Controller)); err != nil {
		return err
	}
	m, err := a.migrations.UpdateMigratedModel(c.Request().Context(), req.Controller, c.Param("uuid"))
	if err != nil {
		return migrationError(err)
	}
	return c.JSON(http.StatusOK, restModel(m))
}
