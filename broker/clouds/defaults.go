package clouds

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Model defaults (juju model-defaults) are the broker's own: stored in its
// database per cloud and per cloud region, and copied to the controllers
// hosting the cloud (defaultsync.go), which apply them to every model the
// broker creates there. Juju's built-in defaults (the "default" column)
// come from a controller hosting the cloud.

// cloudAndRegion resolves the cloud and region a defaults call names: the
// broker's only cloud when none is named, and a region that cloud has.
func (s *Service) cloudAndRegion(ctx context.Context, cloudTag, region string) (string, error) {
	defs, err := s.cloudDefs(ctx)
	if err != nil {
		return "", err
	}
	var cloud string
	switch {
	case cloudTag != "":
		t, err := jujuapi.ParseCloudTag(cloudTag)
		if err != nil {
			return "", err
		}
		cloud = t.ID
	case len(defs) == 1:
		for name := range defs {
			cloud = name
		}
	default:
		return "", jujuapi.Errorf(jujuapi.CodeNotValid, "this broker hosts %d clouds: name one", len(defs))
	}
	def, ok := defs[cloud]
	if !ok {
		return "", jujuapi.NotFoundf("cloud %q", cloud)
	}
	if region != "" && !slices.ContainsFunc(def.Regions, func(r params.CloudRegion) bool { return r.Name == region }) {
		return "", jujuapi.NotFoundf("region %q of cloud %q", region, cloud)
	}
	return cloud, nil
}

func (s *Service) ModelDefaultsForClouds(ctx context.Context, caller *identity.Identity, p params.Entities) (params.ModelDefaultsResults, error) {
	if !caller.Admin {
		return params.ModelDefaultsResults{}, jujuapi.ErrPerm
	}
	out := params.ModelDefaultsResults{Results: make([]params.ModelDefaultsResult, len(p.Entities))}
	for i, e := range p.Entities {
		cfg, err := s.cloudDefaults(ctx, e.Tag)
		if err != nil {
			out.Results[i].Error = jujuapi.AsError(err)
			continue
		}
		out.Results[i].Config = cfg
	}
	return out, nil
}

// cloudDefaults is a cloud's model defaults: Juju's, as a controller
// hosting the cloud reports them, and the broker's, for the cloud and for
// each region.
func (s *Service) cloudDefaults(ctx context.Context, tag string) (map[string]params.ModelDefaults, error) {
	cloud, err := s.cloudAndRegion(ctx, tag, "")
	if err != nil {
		return nil, err
	}
	out := map[string]params.ModelDefaults{}
	for k, v := range s.jujuDefaults(ctx, cloud) {
		out[k] = params.ModelDefaults{Default: v}
	}
	rows, err := s.db.ModelDefaults(ctx, cloud)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		var v any
		if err := json.Unmarshal([]byte(r.Value), &v); err != nil {
			return nil, fmt.Errorf("model default %s of cloud %q: %w", r.Key, cloud, err)
		}
		d := out[r.Key]
		if r.Region == "" {
			d.Controller = v
		} else {
			d.Regions = append(d.Regions, params.RegionDefaults{RegionName: r.Region, Value: v})
		}
		out[r.Key] = d
	}
	return out, nil
}

// jujuDefaults are Juju's built-in model defaults for a cloud, as an up
// controller hosting it reports them (none when no such controller can be
// asked).
func (s *Service) jujuDefaults(ctx context.Context, cloud string) map[string]any {
	var out map[string]any
	s.askController(ctx, cloud, "", func(c *db.Controller, client *controllers.Client) bool {
		var res params.ModelDefaultsResults
		err := client.Call(ctx, "ModelManager", 10, "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: jujuapi.CloudTag(cloud).String()}}}, &res)
		if err != nil || len(res.Results) != 1 || res.Results[0].Error != nil {
			s.log.Debug("cannot read a controller's model defaults", "controller", c.Name, "cloud", cloud, "err", err)
			return false
		}
		out = map[string]any{}
		for k, d := range res.Results[0].Config {
			if d.Default != nil {
				out[k] = d.Default
			}
		}
		return true
	})
	return out
}

func (s *Service) SetModelDefaults(ctx context.Context, caller *identity.Identity, p params.SetModelDefaults) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Config))}
	for i, arg := range p.Config {
		if err := s.setDefaults(ctx, caller, arg); err != nil {
			out.Results[i].Error = jujuapi.AsError(err)
		}
	}
	return out, nil
}

func (s *Service) setDefaults(ctx context.Context, caller *identity.Identity, arg params.ModelDefaultValues) error {
	if !caller.Admin {
		return jujuapi.ErrPerm
	}
	if _, found := arg.Config["agent-version"]; found {
		return jujuapi.Errorf(jujuapi.CodeNotValid, "agent-version cannot have a default value")
	}
	cloud, err := s.cloudAndRegion(ctx, arg.CloudTag, arg.CloudRegion)
	if err != nil {
		return err
	}
	juju := s.jujuDefaults(ctx, cloud)
	typed := make(map[string]any, len(arg.Config))
	values := make(map[string]string, len(arg.Config))
	for k, v := range arg.Config {
		if typed[k], err = jujuapi.CoerceConfig(k, v, juju[k]); err != nil {
			return err
		}
		raw, err := json.Marshal(typed[k])
		if err != nil {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "model default %q: %v", k, err)
		}
		values[k] = string(raw)
	}
	// A controller hosting the cloud checks the values first, as it would
	// its own; nothing is stored when it refuses them.
	if err := s.checkDefaults(ctx, cloud, arg.CloudRegion, typed); err != nil {
		return err
	}
	if err := s.db.SetModelDefaults(ctx, cloud, arg.CloudRegion, values, s.clock.Now()); err != nil {
		return err
	}
	s.log.Info("model defaults set", "cloud", cloud, "region", arg.CloudRegion, "keys", len(values))
	s.syncAllDefaults(ctx, cloud)
	return nil
}

// checkDefaults has an up controller hosting cloud (and region) take the
// values, returning its refusal. With no such controller up, the values
// are taken unchecked.
func (s *Service) checkDefaults(ctx context.Context, cloud, region string, values map[string]any) error {
	var refused error
	_, err := s.askController(ctx, cloud, region, func(_ *db.Controller, client *controllers.Client) bool {
		args := params.SetModelDefaults{Config: []params.ModelDefaultValues{{CloudTag: jujuapi.CloudTag(cloud).String(), CloudRegion: region, Config: values}}}
		refused = callAll(ctx, client, "SetModelDefaults", args)
		return true
	})
	if err != nil {
		return err
	}
	return refused
}

func (s *Service) UnsetModelDefaults(ctx context.Context, caller *identity.Identity, p params.UnsetModelDefaults) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Keys))}
	if !caller.Admin {
		return out, jujuapi.ErrPerm
	}
	for i, arg := range p.Keys {
		err := func() error {
			cloud, err := s.cloudAndRegion(ctx, arg.CloudTag, arg.CloudRegion)
			if err != nil {
				return err
			}
			if err := s.db.UnsetModelDefaults(ctx, cloud, arg.CloudRegion, arg.Keys); err != nil {
				return err
			}
			s.syncAllDefaults(ctx, cloud)
			return nil
		}()
		if err != nil {
			out.Results[i].Error = jujuapi.AsError(err)
		}
	}
	return out, nil
}
