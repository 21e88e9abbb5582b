package devcontroller

import (
	"context"
	"maps"
	"reflect"
	"strings"

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
	return params.ModelConfigResults{Config: s.ctl.configValues(m)}, nil
}

// configValues is a model's config with each value's source, as ModelGet
// shows it.
func (c *Controller) configValues(m *store.Model) map[string]params.ConfigValue {
	values := c.defaultConfig(m)
	maps.Copy(values, m.Config)
	out := make(map[string]params.ConfigValue, len(values)+1)
	for k, v := range values {
		out[k] = params.ConfigValue{Value: v, Source: c.configSourceOf(m, k, v)}
	}
	// As Juju does, report default-series with default-base.
	series := params.ConfigValue{Value: "", Source: sourceDefault}
	if base, ok := out["default-base"]; ok {
		if b, _ := base.Value.(string); b != "" {
			series = params.ConfigValue{Value: seriesOfBase(b), Source: base.Source}
		}
	}
	out["default-series"] = series
	return out
}

// seriesOfBase names the Ubuntu series of a base such as "ubuntu@22.04".
func seriesOfBase(base string) string {
	switch strings.TrimSuffix(base, "/stable") {
	case "ubuntu@18.04":
		return "bionic"
	case "ubuntu@20.04":
		return "focal"
	case "ubuntu@22.04":
		return "jammy"
	case "ubuntu@24.04":
		return "noble"
	}
	return ""
}

func (s *session) modelSet(ctx context.Context, p params.ModelSet) (struct{}, error) {
	m, err := s.configModel(store.AccessWrite)
	if err != nil {
		return struct{}{}, err
	}
	if err := writable(m); err != nil {
		return struct{}{}, err
	}
	if err := blockedIn(m, blockChange); err != nil {
		return struct{}{}, err
	}
	if err := s.ctl.coerceConfig(p.Config); err != nil {
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
	if err := s.ctl.checkSecretBackendSetting(p.Config); err != nil {
		return struct{}{}, err
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
	if err != nil {
		return struct{}{}, err
	}
	s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.modelconfig", "model config changed by %s: set %s", s.identity(), strings.Join(sortedKeys(p.Config), ", "))
	return struct{}{}, nil
}

func (s *session) modelUnset(ctx context.Context, p params.ModelUnset) (struct{}, error) {
	m, err := s.configModel(store.AccessWrite)
	if err != nil {
		return struct{}{}, err
	}
	if err := writable(m); err != nil {
		return struct{}{}, err
	}
	if err := blockedIn(m, blockChange); err != nil {
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
		// As in Juju, an unset key takes the value it inherits: a cloud
		// or region default is written to the model; Juju's own default
		// needs no writing.
		jujus := s.ctl.jujuDefaults()
		for _, k := range p.Keys {
			delete(m.Config, k)
			if v, ok := s.ctl.inherited(m.Region, k); ok && !reflect.DeepEqual(v, jujus[k]) {
				m.Config[k] = v
			}
		}
		return nil
	})
	if err != nil {
		return struct{}{}, err
	}
	s.ctl.modelEvent(m.UUID, logInfo, "juju.apiserver.modelconfig", "model config changed by %s: reset %s", s.identity(), strings.Join(p.Keys, ", "))
	return struct{}{}, nil
}
