package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

// listAudit answers GET /v1/audit: one page of audit events, for a
// broker administrator or an audit_log_viewer of the broker.
func (a *API) listAudit(c echo.Context) error {
	ctx := c.Request().Context()
	id := caller(c)
	if !id.Admin {
		ok, err := a.rel.Check(ctx, id.Subject(), authz.AuditLogViewer, identity.BrokerObject)
		if err != nil {
			return err
		}
		if !ok {
			return restError(http.StatusForbidden, restapi.CodeForbidden,
				"reading the audit log needs broker administrator access or "+authz.AuditLogViewer+" on "+identity.BrokerObject+"; "+id.Name+" has neither")
		}
	}
	f, err := auditFilter(c)
	if err != nil {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
	}
	rows, next, err := a.db.AuditEvents(ctx, f)
	if err != nil {
		return err
	}
	out := restapi.AuditEvents{Events: make([]restapi.AuditEvent, len(rows))}
	for i, r := range rows {
		out.Events[i] = restapi.AuditEvent{ID: r.ID, Time: r.Time.UTC(), Identity: r.Identity, Remote: r.Remote, Model: r.Model,
			Facade: r.Facade, Method: r.Method, Result: r.Result, Error: r.Error, DurationMicros: r.DurationMicros}
	}
	if next != 0 {
		out.Next = strconv.FormatInt(next, 10)
	}
	return c.JSON(http.StatusOK, out)
}

// auditFilter reads GET /v1/audit's query.
func auditFilter(c echo.Context) (db.AuditFilter, error) {
	f := db.AuditFilter{
		Identity: c.QueryParam(restapi.AuditQueryUser),
		Model:    c.QueryParam(restapi.AuditQueryModel),
		Method:   c.QueryParam(restapi.AuditQueryMethod),
	}
	for _, err := range []error{input.Text(restapi.AuditQueryUser, f.Identity, input.MaxUser), input.Text(restapi.AuditQueryModel, f.Model, input.MaxName),
		input.Text(restapi.AuditQueryMethod, f.Method, input.MaxText)} {
		if err != nil {
			return f, err
		}
	}
	var err error
	for _, t := range []struct {
		name string
		into *time.Time
	}{{restapi.AuditQuerySince, &f.Since}, {restapi.AuditQueryUntil, &f.Until}} {
		if v := c.QueryParam(t.name); v != "" {
			if *t.into, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return f, badParam(t.name, v, "an RFC 3339 time, e.g. 2026-11-21T09:00:00Z")
			}
		}
	}
	if v := c.QueryParam(restapi.AuditQueryLimit); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > db.MaxAuditLimit {
			return f, badParam(restapi.AuditQueryLimit, v, "a number from 1 to "+strconv.Itoa(db.MaxAuditLimit))
		}
	}
	if v := c.QueryParam(restapi.AuditQueryAfter); v != "" {
		if f.After, err = strconv.ParseInt(v, 10, 64); err != nil || f.After < 1 {
			return f, badParam(restapi.AuditQueryAfter, v, "the \"next\" cursor of the page before")
		}
	}
	return f, nil
}

type paramError struct{ name, value, want string }

func (e *paramError) Error() string {
	return "list audit events: bad " + e.name + " " + input.Quote(e.value) + ": want " + e.want
}

func badParam(name, value, want string) error { return &paramError{name, value, want} }
