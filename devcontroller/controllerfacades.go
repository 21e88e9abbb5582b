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

// allModels answers Controller.AllModels: every model, for superusers.
func (s *session) allModels(context.Context) (params.UserModelList, error) {
	if err := s.requireSuperuser(); err != nil {
		return params.UserModelList{}, err
	}
	out := params.UserModelList{UserModels: []params.UserModel{}}
	for _, m := range s.visibleModels(s.identity(), true) {
		out.UserModels = append(out.UserModels, params.UserModel{
			Model:          params.Model{Name: m.Name, UUID: m.UUID, Type: m.Type, OwnerTag: jujuapi.UserTag(m.Owner).String()},
			LastConnection: s.ctl.lastConnection(s.identity()),
		})
	}
	return out, nil
}

// controllerModelStatus answers Controller.ModelStatus: ModelManager's,
// for superusers.
func (s *session) controllerModelStatus(ctx context.Context, p params.Entities) (params.ModelStatusResults, error) {
	if err := s.requireSuperuser(); err != nil {
		return params.ModelStatusResults{}, err
	}
	return s.modelStatus(ctx, p)
}

// mongoVersion answers Controller.MongoVersion: there is no MongoDB here,
// which show-controller takes in its stride ("not supported").
func (s *session) mongoVersion(context.Context) (params.StringResult, error) {
	if err := s.requireSuperuser(); err != nil {
		return params.StringResult{}, err
	}
	return params.StringResult{}, jujuapi.Errorf(jujuapi.CodeNotSupported, "the development controller keeps its state without MongoDB")
}

// listBlockedModels answers Controller.ListBlockedModels: the models with
// blocks and their types, for superusers.
func (s *session) listBlockedModels(context.Context) (params.ModelBlockInfoList, error) {
	if err := s.requireSuperuser(); err != nil {
		return params.ModelBlockInfoList{}, err
	}
	var out params.ModelBlockInfoList
	for _, m := range s.visibleModels(s.identity(), true) {
		var types []string
		for _, t := range []string{params.BlockDestroy, params.BlockRemove, params.BlockChange} {
			if _, ok := m.Blocks[t]; ok {
				types = append(types, t)
			}
		}
		if len(types) > 0 {
			out.Models = append(out.Models, params.ModelBlockInfo{Name: m.Name, UUID: m.UUID, OwnerTag: jujuapi.UserTag(m.Owner).String(), Blocks: types})
		}
	}
	return out, nil
}
