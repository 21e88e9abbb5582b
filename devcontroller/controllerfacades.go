package devcontroller

import (
	"context"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The Controller facade.

func (s *session) controllerVersion(context.Context) (params.ControllerVersionResults, error) {
	return params.ControllerVersionResults{Version: s.ctl.cfg.AgentVersion}, nil
}

func (s *session) getControllerAccess(_ context.Context, p params.Entities) (params.UserAccessResults, error) {
	out := params.UserAccessResults{Results: make([]params.UserAccessResult, len(p.Entities))}
	for i, e := range p.Entities {
		t, err := jujuapi.ParseUserTag(e.Tag)
		if err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		var access string
		switch {
		case t.ID == s.identity():
			access = s.controllerAccess()
		case !s.isSuperuser():
			out.Results[i].Error = paramsError(jujuapi.ErrPerm)
			continue
		default:
			u, ok := s.ctl.store.User(t.ID)
			if !ok {
				out.Results[i].Error = paramsError(jujuapi.Errorf(jujuapi.CodeUserNotFound, "user %q not found", t.ID))
				continue
			}
			access = u.Access
		}
		out.Results[i].Result = &params.UserAccess{UserTag: e.Tag, Access: access}
	}
	return out, nil
}

func (s *session) identityProviderURL(context.Context) (params.StringResult, error) {
	return params.StringResult{}, nil
}

// controllerModelConfig answers Controller.ModelConfig: the controller
// model's config, for superusers, without sources (as Juju gives it).
func (s *session) controllerModelConfig(context.Context) (params.ModelConfigResults, error) {
	if err := s.requireSuperuser(); err != nil {
		return params.ModelConfigResults{}, err
	}
	m, err := s.ctl.model(s.ctl.UUID())
	if err != nil {
		return params.ModelConfigResults{}, err
	}
	out := params.ModelConfigResults{Config: map[string]params.ConfigValue{}}
	for k, v := range s.ctl.configValues(m) {
		out.Config[k] = params.ConfigValue{Value: v.Value}
	}
	return out, nil
}
