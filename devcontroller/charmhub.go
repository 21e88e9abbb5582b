package devcontroller

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Charmhub. A Juju controller resolves and downloads Charmhub charms from
// the model's charmhub-url (https://api.charmhub.io by default); the
// development controller deploys only uploaded (local) charms. When a
// client asks for a Charmhub charm (Application.DeployFromRepository,
// Charms.AddCharm or ResolveCharms), it tries the model's Charmhub as
// Juju would and answers with Juju's own error for what failed, e.g.
//
//	resolving with preferred channel: Post "https://api.charmhub.io/v2/charms/refresh": dial tcp: lookup api.charmhub.io: no such host
//
// and, should Charmhub answer, with a "not supported" error saying that
// this controller deploys local charms only. (Application.Deploy of a
// Charmhub URL, which needs the charm already in the model, deploys it
// without metadata, as before.)

// defaultCharmhubURL is Juju's default charmhub-url.
const defaultCharmhubURL = "https://api.charmhub.io"

// charmhubTimeout bounds the attempt to reach Charmhub.
const charmhubTimeout = 15 * time.Second

// charmhubClient makes the requests to Charmhub: no proxy from the
// environment (Juju takes proxies from model config, which has none here).
var charmhubClient = &http.Client{Transport: &http.Transport{Proxy: nil, TLSHandshakeTimeout: 10 * time.Second}}

// charmhubError tries to resolve a charm on the model's Charmhub and
// returns the error a client gets.
func (c *Controller) charmhubError(ctx context.Context, m *store.Model, name string) error {
	base, _ := c.configValues(m)["charmhub-url"].Value.(string)
	if base == "" {
		base = defaultCharmhubURL
	}
	url := strings.TrimSuffix(base, "/") + "/v2/charms/refresh"
	ctx, cancel := context.WithTimeout(ctx, charmhubTimeout)
	defer cancel()
	body := fmt.Sprintf(`{"context":[],"actions":[{"action":"install","instance-key":%q,"name":%q,"channel":"stable"}]}`, m.UUID, name)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("resolving with preferred channel: can not make new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := charmhubClient.Do(req)
	if err != nil {
		return fmt.Errorf("resolving with preferred channel: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return jujuapi.Errorf(jujuapi.CodeNotSupported,
		"resolving with preferred channel: charm %q: the development controller deploys only local charms (%s answered %s); upload one with juju deploy ./<charm-dir>",
		name, base, resp.Status)
}

// deployFromRepository answers Application.DeployFromRepository (version
// 19 and later) as Juju does when it cannot resolve the charm: each
// deployment's errors.
func (s *session) deployFromRepository(ctx context.Context, p params.DeployFromRepositoryArgs) (params.DeployFromRepositoryResults, error) {
	m, err := s.connectedModel(store.AccessWrite)
	if err != nil {
		return params.DeployFromRepositoryResults{}, err
	}
	// As Juju 3.5 (which checks removals here).
	if err := blockedIn(m, blockRemove); err != nil {
		return params.DeployFromRepositoryResults{}, err
	}
	out := params.DeployFromRepositoryResults{Results: make([]params.DeployFromRepositoryResult, len(p.Args))}
	for i, a := range p.Args {
		var errs []error
		for _, pl := range a.Placement {
			if pl != nil && pl.Scope == "#" && m.Machines[pl.Directive] == nil {
				errs = append(errs, fmt.Errorf("cannot deploy %q to machine %s: %w", a.ApplicationName, pl.Directive, jujuapi.NotFoundf("machine %s", pl.Directive)))
			}
		}
		errs = append(errs, s.ctl.charmhubError(ctx, m, a.CharmName))
		for _, err := range errs {
			out.Results[i].Errors = append(out.Results[i].Errors, paramsError(err))
		}
		s.ctl.log.Info("deploy from repository refused", "model", m.UUID, "charm", a.CharmName, "err", errs[len(errs)-1])
	}
	return out, nil
}

// deployFromRepositoryV18 is version 18's, which Juju had not finished.
func (s *session) deployFromRepositoryV18(context.Context, params.DeployFromRepositoryArgs) (params.DeployFromRepositoryResults, error) {
	return params.DeployFromRepositoryResults{}, jujuapi.Errorf(jujuapi.CodeNotImplemented, "this facade method is under development not implemented")
}
