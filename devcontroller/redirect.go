package devcontroller

import (
	"context"
	"net"
	"strconv"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Redirects: once a model has migrated away (phase DONE), a login to it, or
// ModelManager.ModelInfo about it, fails with "redirection required" and an
// error-info saying where it went, as Juju's controllers answer. The record
// behind it (store.Redirect) survives restarts.

// redirectMessage is the message of a redirect error, as Juju words it.
const redirectMessage = "redirection to alternative server required"

// redirectServers turns the target's "host:port" addresses into the one
// server of a login result's shape, scope public.
func redirectServers(addrs []string) [][]params.HostPort {
	var hps []params.HostPort
	for _, addr := range addrs {
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			continue
		}
		hps = append(hps, params.HostPort{
			Address: params.Address{Value: host, Type: addressType(host), Scope: params.ScopePublic},
			Port:    port,
		})
	}
	return [][]params.HostPort{hps}
}

// redirectError is the error that sends a client to where a model went.
func redirectError(r *store.Redirect) *jujuapi.Error {
	info := params.RedirectErrorInfo{
		Servers:         redirectServers(r.Addrs),
		CACert:          r.CACert,
		ControllerTag:   jujuapi.ControllerTag(r.ControllerUUID).String(),
		ControllerAlias: r.ControllerAlias,
	}
	return &jujuapi.Error{Message: redirectMessage, Code: jujuapi.CodeRedirect, Info: info.AsMap()}
}

// mayFollow reports whether the caller may learn where a migrated model
// went: as in Juju, only those who had access to it (and superusers).
func (s *session) mayFollow(r *store.Redirect) bool {
	if s.isSuperuser() {
		return true
	}
	if claims := s.tokenClaims(); claims != nil {
		return claims[jujuapi.ModelTag(r.ModelUUID).String()] != ""
	}
	return r.Users[s.identity()] != ""
}

// redirectFor returns the redirect error for a model that migrated away and
// that the caller may follow, or nil.
func (s *session) redirectFor(uuid string) error {
	r, ok := s.ctl.store.Redirect(uuid)
	if !ok || !s.mayFollow(r) {
		return nil
	}
	return redirectError(r)
}

// redirectInfo answers Admin.RedirectInfo, which a client calls after a
// login was redirected without error-info: where the connection's model
// went. Like Juju, it answers before login.
func (s *session) redirectInfo(context.Context) (params.RedirectInfoResult, error) {
	if s.modelUUID != "" {
		if r, ok := s.ctl.store.Redirect(s.modelUUID); ok {
			return params.RedirectInfoResult{Servers: redirectServers(r.Addrs), CACert: r.CACert}, nil
		}
	}
	return params.RedirectInfoResult{}, jujuapi.Errorf(jujuapi.CodeNotFound, "no redirection information available")
}
