package devcontroller

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/devcontroller/charm"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// An application's config (juju config): its charm's options, checked
// against the charm's config.yaml, and the application config Juju adds
// to every IAAS application, trust. Application.Get and CharmConfig
// describe each option as Juju does: {"value","source","type",
// "description","default"}, source being "user" for a value set (and
// different from the default), "default" or "unset". SetConfigs takes
// values as strings (parsed by the option's type) or YAML
// ("<application>: {option: value}"); UnsetApplicationsConfig resets
// options to their defaults. A change to the charm's options makes the
// application's units run their config-changed hook (hooks.go).
//
// An application of a charm the controller has no metadata for (a
// Charmhub charm, which it cannot fetch) takes any option as a string.

// trustOption is the one application config option of IAAS models.
const trustOption = "trust"

// appCharm returns the uploaded charm of an application, or nil.
func appCharm(m *store.Model, app *store.Application) *charm.Charm {
	if ch := m.Charms[app.CharmURL]; ch != nil {
		return &ch.Info
	}
	return nil
}

// describeCharmConfig describes each option of the charm with the
// application's settings, as Juju's describe does.
func describeCharmConfig(ch *charm.Charm, settings map[string]any) map[string]any {
	out := map[string]any{}
	if ch == nil {
		for k, v := range settings {
			out[k] = map[string]any{"value": v, "source": "user", "type": configType(v), "description": ""}
		}
		return out
	}
	for name, o := range ch.Config {
		info := map[string]any{"description": o.Description, "type": o.Type, "source": "unset"}
		v, isSet := settings[name]
		if isSet && v != nil && !sameValue(v, o.Default) {
			info["value"], info["source"] = v, "user"
		}
		if o.Default != nil {
			info["default"] = o.Default
			if info["source"] != "user" {
				info["value"], info["source"] = o.Default, "default"
			}
		}
		out[name] = info
	}
	return out
}

// sameValue compares config values across the types JSON gives them.
func sameValue(a, b any) bool {
	if a == nil || b == nil {
		return a == b
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// describeAppConfig describes the application config (trust).
func describeAppConfig(app *store.Application) map[string]any {
	info := map[string]any{"description": "Does this application have access to trusted credentials",
		"type": "bool", "default": false, "value": false, "source": "default"}
	if app.Trust {
		info["value"], info["source"] = true, "user"
	}
	return map[string]any{trustOption: info}
}

// configType names a value's type as Juju's option types do.
func configType(v any) string {
	switch x := v.(type) {
	case bool:
		return "boolean"
	case int64:
		return "int"
	case float64:
		if x == float64(int64(x)) {
			return "int"
		}
		return "float"
	}
	return "string"
}

// parsedConfig is config given to Deploy or SetConfigs, parsed.
type parsedConfig struct {
	charm map[string]any // nil values reset an option
	trust *bool
}

// parseConfig reads config given as strings and as YAML, as Juju's
// parseCharmSettings does; strings win over YAML.
func parseConfig(ch *charm.Charm, appName string, strs map[string]string, yamlConfig string) (parsedConfig, error) {
	out := parsedConfig{charm: map[string]any{}}
	setTrust := func(v any) error {
		var b bool
		switch x := v.(type) {
		case bool:
			b = x
		case string:
			var err error
			if b, err = strconv.ParseBool(x); err != nil {
				return fmt.Errorf("trust: expected bool, got string(%q)", x)
			}
		default:
			return fmt.Errorf("trust: expected bool, got %T(%#v)", v, v)
		}
		out.trust = &b
		return nil
	}
	if yamlConfig != "" {
		var all map[string]any
		if err := yaml.Unmarshal([]byte(yamlConfig), &all); err != nil {
			return out, fmt.Errorf("cannot parse settings data: %w", err)
		}
		settings, ok := all[appName].(map[string]any)
		if !ok {
			return out, fmt.Errorf("no settings found for %q", appName)
		}
		for k, v := range settings {
			if k == trustOption {
				if err := setTrust(v); err != nil {
					return out, err
				}
				continue
			}
			val, err := parseYAMLSetting(ch, k, v)
			if err != nil {
				return out, err
			}
			out.charm[k] = val
		}
	}
	for k, v := range strs {
		if k == trustOption {
			if err := setTrust(v); err != nil {
				return out, err
			}
			continue
		}
		if yamlConfig != "" && v == "" {
			// As Juju: with YAML, an empty string resets the option.
			if ch != nil {
				if _, ok := ch.Config[k]; !ok {
					return out, fmt.Errorf("unknown option %q", k)
				}
			}
			out.charm[k] = nil
			continue
		}
		if ch == nil {
			out.charm[k] = v
			continue
		}
		val, err := ch.ParseSetting(k, v)
		if err != nil {
			return out, err
		}
		out.charm[k] = val
	}
	return out, nil
}

func parseYAMLSetting(ch *charm.Charm, k string, v any) (any, error) {
	if ch == nil {
		return v, nil
	}
	if s, ok := v.(string); ok {
		return ch.ParseSetting(k, s)
	}
	return ch.ValidateSetting(k, v)
}

// applyCharmSettings applies parsed settings to an application; it
// reports whether anything changed.
func applyCharmSettings(app *store.Application, settings map[string]any) bool {
	before := maps.Clone(app.Config)
	for k, v := range settings {
		if v == nil {
			delete(app.Config, k)
			continue
		}
		if app.Config == nil {
			app.Config = map[string]any{}
		}
		app.Config[k] = v
	}
	if len(app.Config) == 0 {
		app.Config = nil
	}
	return !maps.EqualFunc(before, app.Config, sameValue)
}

func (s *session) get(_ context.Context, p params.ApplicationGet) (params.ApplicationGetResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.ApplicationGetResults{}, err
	}
	app := m.Applications[p.ApplicationName]
	if app == nil {
		return params.ApplicationGetResults{}, jujuapi.NotFoundf("application %q", p.ApplicationName)
	}
	return params.ApplicationGetResults{
		Application: app.Name, Charm: appMeta(m, app).Name,
		CharmConfig:       describeCharmConfig(appCharm(m, app), app.Config),
		ApplicationConfig: describeAppConfig(app),
		Constraints:       app.Cons, Base: params.Base{Name: app.Base.Name, Channel: stableChannel(app.Base.Channel)},
		Channel: app.Channel, EndpointBindings: endpointBindings(m, app),
	}, nil
}

// stableChannel writes an OS channel as Juju's Base does: "22.04/stable".
func stableChannel(ch string) string {
	if ch == "" || strings.Contains(ch, "/") {
		return ch
	}
	return ch + "/stable"
}

// endpointBindings maps every endpoint of the application's charm (and
// "", the default) to the space it is bound to: alpha, the only one.
func endpointBindings(m *store.Model, app *store.Application) map[string]string {
	out := map[string]string{"": alphaSpace}
	for _, name := range appMeta(m, app).BindingNames() {
		out[name] = alphaSpace
	}
	return out
}

// alphaSpace is the space every model has, to which all endpoints bind.
const alphaSpace = "alpha"

// charmConfig answers Application.CharmConfig.
func (s *session) charmConfig(_ context.Context, p params.ApplicationGetArgs) (params.ApplicationGetConfigResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.ApplicationGetConfigResults{}, err
	}
	out := params.ApplicationGetConfigResults{Results: make([]params.ConfigResult, len(p.Args))}
	for i, a := range p.Args {
		app := m.Applications[a.ApplicationName]
		if app == nil {
			out.Results[i].Error = paramsError(jujuapi.NotFoundf("application %q", a.ApplicationName))
			continue
		}
		out.Results[i].Config = describeCharmConfig(appCharm(m, app), app.Config)
	}
	return out, nil
}

func (s *session) setConfigs(ctx context.Context, p params.ConfigSetArgs) (params.ErrorResults, error) {
	m, err := s.changeableModel(blockChange)
	if err != nil {
		return params.ErrorResults{}, err
	}
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Args))}
	for i, a := range p.Args {
		out.Results[i].Error = paramsError(s.setConfig(ctx, m.UUID, a))
	}
	return out, nil
}

func (s *session) setConfig(ctx context.Context, uuid string, a params.ConfigSet) error {
	return s.changeAppSettings(ctx, uuid, a.ApplicationName, "changed", func(m *store.Model, app *store.Application) (map[string]any, error) {
		cfg, err := parseConfig(appCharm(m, app), app.Name, a.Config, a.ConfigYAML)
		if err != nil {
			return nil, fmt.Errorf("parsing settings for application: %w", err)
		}
		if cfg.trust != nil {
			app.Trust = *cfg.trust
		}
		return cfg.charm, nil
	})
}

// changeAppSettings applies to application name of model uuid the charm
// settings change computes (nil values reset a setting) and, when any
// changed, runs its units' config-changed hook and logs the change ("config
// of application X <what>").
func (s *session) changeAppSettings(ctx context.Context, uuid, name, what string, change func(*store.Model, *store.Application) (map[string]any, error)) error {
	changed := false
	_, err := s.ctl.store.UpdateModel(ctx, uuid, func(m *store.Model) error {
		changed = false
		if err := writable(m); err != nil {
			return err
		}
		app := m.Applications[name]
		if app == nil {
			return jujuapi.NotFoundf("application %q", name)
		}
		settings, err := change(m, app)
		if err != nil {
			return err
		}
		if applyCharmSettings(app, settings) {
			changed = true
			startHook(m, "config-changed", time.Now().UTC(), unitsOf(m, app.Name)...)
		}
		return nil
	})
	if err == nil && changed {
		s.ctl.modelEvent(uuid, logInfo, "juju.apiserver.application", "config of application %q %s", name, what)
	}
	return err
}

func (s *session) unsetApplicationsConfig(ctx context.Context, p params.ApplicationConfigUnsetArgs) (params.ErrorResults, error) {
	m, err := s.changeableModel(blockChange)
	if err != nil {
		return params.ErrorResults{}, err
	}
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Args))}
	for i, a := range p.Args {
		out.Results[i].Error = paramsError(s.unsetConfig(ctx, m.UUID, a))
	}
	return out, nil
}

func (s *session) unsetConfig(ctx context.Context, uuid string, a params.ApplicationUnset) error {
	return s.changeAppSettings(ctx, uuid, a.ApplicationName, "reset", func(m *store.Model, app *store.Application) (map[string]any, error) {
		ch := appCharm(m, app)
		reset := map[string]any{}
		for _, name := range a.Options {
			if name == trustOption {
				app.Trust = false
				continue
			}
			if ch != nil {
				if _, ok := ch.Config[name]; !ok {
					return nil, fmt.Errorf("updating application charm settings: unknown option %q", name)
				}
			}
			reset[name] = nil
		}
		return reset, nil
	})
}
