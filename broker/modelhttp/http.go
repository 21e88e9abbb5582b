package modelhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// A model's plain HTTP endpoints (uploading a local charm to
// /model/<uuid>/charms or /model-<uuid>/charms/<object>, an application's
// resources) are relayed as they are: the broker authenticates the
// request's basic auth as it does a stream's, checks the caller's access
// to the model (read for GET and HEAD, write for anything else), and sends
// the request on to the model's controller with the controller's own
// credentials in place of the caller's. Bodies stream through in both
// directions, so an upload of any size costs the broker a small buffer.

// HTTPEndpointOf returns how to reach the controller hosting m's HTTP
// endpoints and the credentials to present there.
type HTTPEndpointOf func(ctx context.Context, m *db.Model) (controllers.Endpoint, controllers.Credentials, error)

// httpUpstreams keeps one transport per controller, so that uploads reuse
// connections, replacing it when the controller's endpoint changes.
type httpUpstreams struct {
	mu sync.Mutex
	by map[string]httpUpstream // by controller name
}

type httpUpstream struct {
	ep controllers.Endpoint
	tr *http.Transport
}

// transport returns the transport for ep.
func (u *httpUpstreams) transport(ep controllers.Endpoint) (*http.Transport, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if cur, ok := u.by[ep.Name]; ok {
		if sameEndpoint(cur.ep, ep) {
			return cur.tr, nil
		}
		cur.tr.CloseIdleConnections()
		delete(u.by, ep.Name)
	}
	tr, err := ep.HTTPTransport()
	if err != nil {
		return nil, err
	}
	if u.by == nil {
		u.by = map[string]httpUpstream{}
	}
	u.by[ep.Name] = httpUpstream{ep: ep, tr: tr}
	return tr, nil
}

// CloseIdleHTTP closes the idle connections kept to controllers' HTTP
// endpoints, as the broker shuts down.
func (p *Endpoints) CloseIdleHTTP() { p.httpUpstreams.close() }

// close closes every transport's idle connections.
func (u *httpUpstreams) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for name, cur := range u.by {
		cur.tr.CloseIdleConnections()
		delete(u.by, name)
	}
}

func sameEndpoint(a, b controllers.Endpoint) bool {
	return a.UUID == b.UUID && a.CACert == b.CACert && a.TLSServerName == b.TLSServerName &&
		strings.Join(a.Addresses, ",") == strings.Join(b.Addresses, ",")
}

// ServeModelHTTP relays r, a request for one of model modelUUID's HTTP
// endpoints, to the controller hosting the model, at the same path. A
// refusal is answered as Juju's HTTP endpoints answer one: a JSON error
// with its code, which the juju client turns back into the same error.
func (p *Endpoints) ServeModelHTTP(w http.ResponseWriter, r *http.Request, modelUUID string) {
	start := p.clock.Now()
	ctx := r.Context()
	user, password, ok := r.BasicAuth()
	if !ok {
		writeHTTPError(w, jujuapi.Errorf(jujuapi.CodeUnauthorized, "authentication failed: no credentials provided"))
		return
	}
	id, err := p.identity.JujuHTTPLogin(ctx, r.RemoteAddr, user, password)
	if dbfault.IsDatabase(err) {
		// The broker's failure, not the caller's credentials.
		writeHTTPError(w, dbfault.ForClient(err, p.log))
		return
	}
	if err != nil {
		writeHTTPError(w, jujuapi.Errorf(jujuapi.ErrorCode(err), "authentication failed: %v", err))
		return
	}
	what := r.Method + " " + httpEndpointName(r.URL.Path, modelUUID)
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	record := func(status int, err error) {
		if !write {
			return
		}
		result, msg := audit.Result(err)
		if err == nil && status >= 400 {
			result, msg = "error", http.StatusText(status)
		}
		p.audit.Add(audit.Event{Time: start, Identity: id.Name, Remote: audit.Source(r.RemoteAddr), Model: modelUUID,
			Facade: "HTTP", Method: what, Result: result, Error: msg, Duration: p.clock.Now().Sub(start)})
	}
	p.routes.AwaitCutover(ctx, modelUUID)
	m, err := p.routes.Route(ctx, modelUUID)
	if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
		err = jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", modelUUID)
	}
	if err == nil {
		var access string
		access, err = p.identity.ModelAccess(ctx, id, m)
		switch {
		case err != nil:
		case access == authz.AccessNone:
			err = jujuapi.ErrPerm
		case write && authz.AccessRank(access) < authz.AccessRank(authz.AccessWrite):
			err = jujuapi.ErrPerm
		}
	}
	if err != nil {
		err = dbfault.ForClient(err, p.log)
		p.log.Info("refused a model HTTP request", "model", modelUUID, "request", what, "user", id.Name, "remote", r.RemoteAddr, "err", err)
		record(0, err)
		writeHTTPError(w, err)
		return
	}
	ep, creds, err := p.httpEndpoint(ctx, m)
	var tr *http.Transport
	if err == nil {
		tr, err = p.httpUpstreams.transport(ep)
	}
	if dbfault.IsDatabase(err) {
		err = dbfault.ForClient(err, p.log)
		record(0, err)
		writeHTTPError(w, err)
		return
	}
	if err != nil {
		p.log.Warn("cannot reach the model's controller over HTTP", "model", m.UUID, "controller", m.Controller.Name, "err", err)
		err = jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q is unavailable; try again later", m.Name)
		record(0, err)
		writeHTTPError(w, err)
		return
	}
	status := 0
	rp := &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			out.URL.Scheme, out.URL.Host, out.Host = "https", ep.HTTPHost(), ""
			// The caller's credentials and cookies are the broker's
			// business; the controller sees its own admin's.
			out.Header.Del("Cookie")
			out.Header.Del("Macaroons")
			out.Header.Del("X-Forwarded-For")
			out.Header.Set("Authorization", creds.BasicAuth())
		},
		ModifyResponse: func(resp *http.Response) error {
			// Nothing that authenticates the broker to the controller
			// goes back to the caller.
			resp.Header.Del("Set-Cookie")
			status = resp.StatusCode
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				// The caller went away; there is no one to answer.
				record(0, fmt.Errorf("the client went away: %w", err))
				return
			}
			p.log.Warn("relaying a model HTTP request failed", "model", m.UUID, "controller", m.Controller.Name, "request", what, "err", err)
			e := jujuapi.Errorf(jujuapi.CodeTryAgain, "the controller hosting model %q is unavailable; try again later", m.Name)
			record(0, e)
			writeHTTPError(w, e)
			status = -1
		},
		FlushInterval: -1,
	}
	rp.ServeHTTP(w, r)
	if status >= 0 {
		record(status, nil)
	}
}

// httpEndpointName is the endpoint of path below its model, for logs and
// the audit log: "/charms", "/charms/<object>", "/applications/...".
func httpEndpointName(path, modelUUID string) string {
	for _, prefix := range []string{"/model/" + modelUUID, "/model-" + modelUUID} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			return rest
		}
	}
	return path
}

// writeHTTPError answers an HTTP request with err as Juju's HTTP endpoints
// do: a JSON params.ErrorResult with a status that matches its code.
// A database failure is worded as dbfault.ForClient words it (503 for an
// outage).
func writeHTTPError(w http.ResponseWriter, err error) {
	e := jujuapi.AsError(dbfault.ForClient(err, nil))
	body, _ := json.Marshal(params.ErrorResult{Error: e})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(jujuapi.HTTPStatus(e.Code))
	w.Write(body)
}
