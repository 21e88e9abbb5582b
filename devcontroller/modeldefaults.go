package devcontroller

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Model defaults, as Juju 3.5 keeps them: Juju's own defaults, defaults
// set for the cloud (which model-defaults shows as "controller"), and
// defaults set for one region of the cloud. A new model's config is
// composed from them, region over cloud over Juju's, then the settings it
// was created with; changing a default later changes no existing model.
// ModelGet names each value's source as Juju does: the last of "default",
// "controller", "region" whose current value equals the model's, else
// "model".

// Config sources, as ModelGet names them.
const (
	sourceDefault    = "default"
	sourceController = "controller"
	sourceRegion     = "region"
	sourceModel      = "model"
)

// jujuDefaults are the defaults that come from Juju itself: the default
// config without the keys that are the model's own.
func (c *Controller) jujuDefaults() map[string]any {
	d := c.defaultConfig(&store.Model{})
	for k := range fixedConfig {
		delete(d, k)
	}
	return d
}

// coerceConfig gives each value in cfg the type of Juju's default for its
// key (the CLI sends strings: "false" for a bool), in place.
func (c *Controller) coerceConfig(cfg map[string]any) error {
	defaults := c.jujuDefaults()
	for k, v := range cfg {
		typed, err := jujuapi.CoerceConfig(k, v, defaults[k])
		if err != nil {
			return err
		}
		cfg[k] = typed
	}
	return nil
}

// inheritedSources returns the config sources of a model in region, in
// Juju's order.
func (c *Controller) inheritedSources(region string) []configSource {
	src := []configSource{{sourceDefault, c.jujuDefaults()}}
	if meta := c.store.Meta(); meta != nil {
		src = append(src, configSource{sourceController, meta.CloudDefaults}, configSource{sourceRegion, meta.RegionDefaults[region]})
	}
	return src
}

type configSource struct {
	name   string
	values map[string]any
}

// inherited is what a key of a model in region inherits: the value of the
// last source that sets it.
func (c *Controller) inherited(region, key string) (any, bool) {
	var v any
	found := false
	for _, src := range c.inheritedSources(region) {
		if x, ok := src.values[key]; ok {
			v, found = x, true
		}
	}
	return v, found
}

// composeNewModelConfig is the config a new model in region starts with:
// the cloud's and the region's defaults, then the settings given.
func (c *Controller) composeNewModelConfig(region string, given map[string]any) map[string]any {
	cfg := map[string]any{}
	if meta := c.store.Meta(); meta != nil {
		maps.Copy(cfg, meta.CloudDefaults)
		maps.Copy(cfg, meta.RegionDefaults[region])
	}
	maps.Copy(cfg, given)
	return cfg
}

// configSourceOf names where a model's value for key comes from.
func (c *Controller) configSourceOf(m *store.Model, key string, value any) string {
	if fixedConfig[key] {
		return sourceModel
	}
	source := sourceModel
	for _, src := range c.inheritedSources(m.Region) {
		if x, ok := src.values[key]; ok && reflect.DeepEqual(x, value) {
			source = src.name
		}
	}
	return source
}

func (s *session) modelDefaultsForClouds(_ context.Context, p params.Entities) (params.ModelDefaultsResults, error) {
	if !s.isSuperuser() {
		return params.ModelDefaultsResults{}, jujuapi.ErrPerm
	}
	out := params.ModelDefaultsResults{Results: make([]params.ModelDefaultsResult, len(p.Entities))}
	for i, e := range p.Entities {
		if _, err := s.parseOurCloud(e.Tag); err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		out.Results[i].Config = s.ctl.modelDefaults()
	}
	return out, nil
}

// modelDefaults renders the defaults of the controller's cloud, key by
// key, as ModelDefaultsForClouds does.
func (c *Controller) modelDefaults() map[string]params.ModelDefaults {
	out := map[string]params.ModelDefaults{}
	for k, v := range c.jujuDefaults() {
		out[k] = params.ModelDefaults{Default: v}
	}
	meta := c.store.Meta()
	if meta == nil {
		return out
	}
	for k, v := range meta.CloudDefaults {
		d := out[k]
		d.Controller = v
		out[k] = d
	}
	for _, region := range c.cfg.Regions {
		for k, v := range meta.RegionDefaults[region] {
			d := out[k]
			d.Regions = append(d.Regions, params.RegionDefaults{RegionName: region, Value: v})
			out[k] = d
		}
	}
	return out
}

// defaultsScope checks the cloud and region a default is set for: the
// controller's cloud (also when none is named), and one of its regions or
// none.
func (s *session) defaultsScope(cloudTag, region string) error {
	if cloudTag != "" {
		if _, err := s.parseOurCloud(cloudTag); err != nil {
			return err
		}
	}
	if region != "" && !slices.Contains(s.ctl.cfg.Regions, region) {
		return jujuapi.NotFoundf("region %q of cloud %q (it has %s)", region, s.ctl.cfg.Cloud, strings.Join(s.ctl.cfg.Regions, ", "))
	}
	return nil
}

func (s *session) setModelDefaults(ctx context.Context, p params.SetModelDefaults) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Config))}
	if err := s.ctl.blocked(s.ctl.UUID(), blockChange); err != nil {
		return out, err
	}
	for i, d := range p.Config {
		out.Results[i].Error = paramsError(s.setDefaults(ctx, d))
	}
	return out, nil
}

func (s *session) setDefaults(ctx context.Context, d params.ModelDefaultValues) error {
	if !s.isSuperuser() {
		return jujuapi.ErrPerm
	}
	if _, ok := d.Config["agent-version"]; ok {
		return fmt.Errorf("agent-version cannot have a default value")
	}
	if err := s.ctl.coerceConfig(d.Config); err != nil {
		return err
	}
	for k, v := range d.Config {
		if fixedConfig[k] {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "model config %q cannot have a default value: it is the model's own", k)
		}
		if err := checkDevConfig(k, v); err != nil {
			return err
		}
	}
	if err := s.defaultsScope(d.CloudTag, d.CloudRegion); err != nil {
		return err
	}
	return s.ctl.updateDefaults(ctx, d.CloudRegion, func(values map[string]any) {
		maps.Copy(values, d.Config)
	}, s.identity())
}

func (s *session) unsetModelDefaults(ctx context.Context, p params.UnsetModelDefaults) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Keys))}
	if !s.isSuperuser() {
		return out, jujuapi.ErrPerm
	}
	if err := s.ctl.blocked(s.ctl.UUID(), blockChange); err != nil {
		return out, err
	}
	for i, k := range p.Keys {
		err := s.defaultsScope(k.CloudTag, k.CloudRegion)
		if err == nil {
			err = s.ctl.updateDefaults(ctx, k.CloudRegion, func(values map[string]any) {
				for _, key := range k.Keys {
					delete(values, key)
				}
			}, s.identity())
		}
		out.Results[i].Error = paramsError(err)
	}
	return out, nil
}

// updateDefaults changes the cloud's defaults (region "") or a region's.
func (c *Controller) updateDefaults(ctx context.Context, region string, fn func(values map[string]any), by string) error {
	_, err := c.store.UpdateMeta(ctx, func(meta *store.Meta) error {
		if region == "" {
			if meta.CloudDefaults == nil {
				meta.CloudDefaults = map[string]any{}
			}
			fn(meta.CloudDefaults)
			return nil
		}
		if meta.RegionDefaults == nil {
			meta.RegionDefaults = map[string]map[string]any{}
		}
		if meta.RegionDefaults[region] == nil {
			meta.RegionDefaults[region] = map[string]any{}
		}
		fn(meta.RegionDefaults[region])
		if len(meta.RegionDefaults[region]) == 0 {
			delete(meta.RegionDefaults, region)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update model defaults of cloud %q: %w", c.cfg.Cloud, err)
	}
	c.log.Info("model defaults changed", "cloud", c.cfg.Cloud, "region", region, "by", by)
	return nil
}
