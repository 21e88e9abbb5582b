package devcontroller

import (
	"context"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// configModel is the model ModelConfig acts on: the connection's model, or
// the controller model on /api (as in Juju).
func (s *session) configModel(want string) (*store.Model, error) {
	if s.modelUUID != "" {
		return s.connectedModel(want)
	}
	return s.requireModel(s.ctl.UUID(), want)
}

func (s *session) modelGet(context.Context) (params.ModelConfigResults, error) {
	m, err := s.configModel(store.AccessRead)
	if err != nil {
		return params.ModelConfigResults{}, err
	}
	out := params.ModelConfigResults{Config: map[string]params.ConfigValue{}}
	for k, v := range s.ctl.defaultConfig(m) {
		out.Config[k] = params.ConfigValue{Value: v, Source: "default"}
	}
	for k, v := range m.Config {
		out.Config[k] = params.ConfigValue{Value: v, Source: "model"}
	}
	return out, nil
}

func (s *session) modelSet(ctx context.Context, p params.ModelSet) (struct{}, error) {
	m, err := s.configModel(store.AccessWrite)
	if err != nil {
		return struct{}{}, err
	}
	if err := writable(m); err != nil {
		return struct{}{}, err
	}
	for k, v := range p.Config {
		if fixedConfig[k] {
			return struct{}{}, jujuapi.Errorf(jujuapi.CodeNotValid, "model config %q cannot be changed", k)
		}
		if err := checkDevConfig(k, v); err != nil {
			return struct{}{}, err
		}
	}
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		for k, v := range p.Config {
			m.Config[k] = v
		}
		return nil
	})
	return struct{}{}, err
}

func (s *session) modelUnset(ctx context.Context, p params.ModelUnset) (struct{}, error) {
	m, err := s.configModel(store.AccessWrite)
	if err != nil {
		return struct{}{}, err
	}
	if err := writable(m); err != nil {
		return struct{}{}, err
	}
	for _, k := range p.Keys {
		if fixedConfig[k] {
			return struct{}{}, jujuapi.Errorf(jujuapi.CodeNotValid, "model config %q cannot be changed", k)
		}
	}
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		for _, k := range p.Keys {
			delete(m.Config, k)
		}
		return nil
	})
	return struct{}{}, err
}
