package broker

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// What the audit log records of each kind of call: logins are audited by
// authenticate; here, the calls that change state on /api, on model
// connections and on the admin REST API.

// auditResult is an audit event's result for a call's error: ok, its
// error code, or "error" for an error without one.
func auditResult(err error) (result, msg string) {
	if err == nil {
		return "ok", ""
	}
	if code := jujuapi.ErrorCode(err); code != "" {
		return code, err.Error()
	}
	return "error", err.Error()
}

// auditAPICall records a state-changing call the broker answered on /api.
// The model is the one the call names, if it names one.
func (a *apiSession) auditAPICall(req *jujuapi.Message, start time.Time, result any, err error) {
	if req.Type == "Admin" || !changesState(req.Type, req.Request) {
		return // logins are audited by authenticate
	}
	ev := auditEvent{Time: start, Remote: sourceOf(a.remote), Facade: req.Type, Method: req.Request, Duration: time.Since(start)}
	if id := a.caller(); id != nil {
		ev.Identity = id.Name
	}
	ev.Result, ev.Error = auditResult(err)
	switch r := result.(type) {
	case params.ModelInfo:
		ev.Model = r.UUID
	case *params.ModelInfo:
		if r != nil {
			ev.Model = r.UUID
		}
	case params.ErrorResults:
		ev.Result, ev.Error = bulkResult(r, ev.Result, ev.Error)
	case *params.ErrorResults:
		if r != nil {
			ev.Result, ev.Error = bulkResult(*r, ev.Result, ev.Error)
		}
	}
	if ev.Model == "" {
		ev.Model = modelNamed(req.Params)
	}
	a.srv.audit(ev)
}

// bulkResult is the result of a bulk call: the first failed operation's,
// when one failed.
func bulkResult(r params.ErrorResults, result, msg string) (string, string) {
	for _, one := range r.Results {
		if one.Error != nil {
			if one.Error.Code != "" {
				return one.Error.Code, one.Error.Message
			}
			return "error", one.Error.Message
		}
	}
	return result, msg
}

// modelNamed returns the UUID of the first model tag in a call's
// parameters, or "". Only the tag is read, never anything else.
func modelNamed(raw []byte) string {
	prefix := []byte(`"model-`)
	for {
		i := bytes.Index(raw, prefix)
		if i < 0 {
			return ""
		}
		raw = raw[i+len(prefix):]
		if end := bytes.IndexByte(raw, '"'); end == 36 && isUUID(raw[:end]) {
			return string(raw[:end])
		}
	}
}

// isUUID reports whether b looks like a UUID: 36 hex digits and dashes.
func isUUID(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return false
		}
	}
	return len(b) == 36
}

// auditRelayed records a relayed model call that changes state, when its
// response (error code code, message msg) has come back.
func (p *modelProxy) auditRelayed(call pendingCall, took time.Duration, code, msg string) {
	if !changesState(call.facade, call.method) {
		return
	}
	result := "ok"
	if code != "" {
		result = code
	} else if msg != "" {
		result = "error"
	}
	p.srv.audit(auditEvent{Time: call.start, Identity: p.id.Name, Remote: sourceOf(p.remote), Model: p.modelUUID,
		Facade: call.facade, Method: call.method, Result: result, Error: msg, Duration: took})
}

// auditFailed records a relayed model call that the broker answered with
// err itself (its controller could not be reached).
func (p *modelProxy) auditFailed(call pendingCall, took time.Duration, err error) {
	code := jujuapi.ErrorCode(err)
	if code == "" {
		code = "error"
	}
	p.auditRelayed(call, took, code, err.Error())
}

// restAudit records the admin REST API's calls that change state (POST,
// PUT, DELETE), after authentication.
func (s *Server) restAudit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodDelete && r.Method != http.MethodPatch {
			return next(c)
		}
		start := time.Now()
		err := next(c)
		ev := auditEvent{Time: start, Remote: sourceOf(r.RemoteAddr), Facade: "REST", Method: r.Method + " " + r.URL.Path,
			Model: c.Param("uuid"), Result: "ok", Duration: time.Since(start)}
		if id, ok := c.Get("identity").(*identity); ok {
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
		s.audit(ev)
		return err
	}
}
