package clouds

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The broker's model defaults are its own (its database is the truth),
// and every controller hosting the cloud holds a copy: so a controller
// applies them to the models it creates, reports them as their source
// ("controller", "region") in model-config, and gives a model its
// inherited value back on model-config --reset, as Juju does. A set or
// unset is copied to every controller that is up; a controller is brought
// up to date before a model is created on it, so one that was down
// catches up then. Defaults set on a controller behind the broker's back
// are replaced the next time the broker copies its own there (a change
// to them, or a new connection to the controller).

// synced records, per controller, the defaults last copied there and the
// connection they were copied over: while neither changes, the copy is
// current and creating a model costs no extra call. (A new connection may
// be to a controller that restarted, or that someone changed meanwhile.)
type synced struct {
	mu sync.Mutex
	by map[string]syncMark // by controller name
}

type syncMark struct {
	client *controllers.Client
	want   string // the defaults, encoded
}

func (y *synced) current(name string, m syncMark) bool {
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.by[name] == m
}

func (y *synced) record(name string, m syncMark) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.by == nil {
		y.by = map[string]syncMark{}
	}
	y.by[name] = m
}

// syncDefaults makes controller ctl's model defaults for its cloud the
// broker's: it sets what differs and unsets what the broker does not
// have, at the cloud level and for each of the controller's regions.
// It does nothing when they were copied over the same connection since
// they last changed.
func (s *Service) syncDefaults(ctx context.Context, ctl *db.Controller) error {
	rows, err := s.db.ModelDefaults(ctx, ctl.Cloud)
	if err != nil {
		return err
	}
	want := map[string]map[string]any{"": {}} // by region ("" the cloud)
	for _, r := range ctl.Regions {
		want[r] = map[string]any{}
	}
	for _, row := range rows {
		level, ok := want[row.Region]
		if !ok {
			continue // a region this controller does not have
		}
		var v any
		if err := json.Unmarshal([]byte(row.Value), &v); err != nil {
			return fmt.Errorf("model default %s of cloud %q: %w", row.Key, ctl.Cloud, err)
		}
		level[row.Key] = v
	}
	client, err := s.pool.Get(ctx, ctl.Name)
	if err != nil {
		return err
	}
	encoded, err := json.Marshal(want) // maps encode with sorted keys
	if err != nil {
		return err
	}
	mark := syncMark{client: client, want: string(encoded)}
	if s.synced.current(ctl.Name, mark) {
		return nil
	}
	cloudTag := jujuapi.CloudTag(ctl.Cloud).String()
	var res params.ModelDefaultsResults
	if err := client.Call(ctx, "ModelManager", 10, "ModelDefaultsForClouds", params.Entities{Entities: []params.Entity{{Tag: cloudTag}}}, &res); err != nil {
		if jujuapi.ErrorCode(err) == jujuapi.CodeNotImplemented && empty(want) {
			// A controller without model defaults has nothing to
			// unset, and the broker nothing to copy.
			s.synced.record(ctl.Name, mark)
			return nil
		}
		return err
	}
	if len(res.Results) != 1 || res.Results[0].Error != nil {
		return fmt.Errorf("controller %q: model defaults of cloud %q: %v", ctl.Name, ctl.Cloud, res.Results)
	}
	have := map[string]map[string]any{"": {}}
	for key, d := range res.Results[0].Config {
		if d.Controller != nil {
			have[""][key] = d.Controller
		}
		for _, r := range d.Regions {
			if have[r.RegionName] == nil {
				have[r.RegionName] = map[string]any{}
			}
			have[r.RegionName][key] = r.Value
		}
	}
	var sets params.SetModelDefaults
	var unsets params.UnsetModelDefaults
	for _, region := range slices.Sorted(maps.Keys(want)) {
		set := map[string]any{}
		for key, v := range want[region] {
			if cur, ok := have[region][key]; !ok || !sameValue(cur, v) {
				set[key] = v
			}
		}
		var unset []string
		for key := range have[region] {
			if _, ok := want[region][key]; !ok {
				unset = append(unset, key)
			}
		}
		if len(set) > 0 {
			sets.Config = append(sets.Config, params.ModelDefaultValues{CloudTag: cloudTag, CloudRegion: region, Config: set})
		}
		if len(unset) > 0 {
			slices.Sort(unset)
			unsets.Keys = append(unsets.Keys, params.ModelUnsetKeys{CloudTag: cloudTag, CloudRegion: region, Keys: unset})
		}
	}
	if len(sets.Config) > 0 {
		if err := callAll(ctx, client, "SetModelDefaults", sets); err != nil {
			return fmt.Errorf("controller %q: set model defaults: %w", ctl.Name, err)
		}
	}
	if len(unsets.Keys) > 0 {
		if err := callAll(ctx, client, "UnsetModelDefaults", unsets); err != nil {
			return fmt.Errorf("controller %q: unset model defaults: %w", ctl.Name, err)
		}
	}
	s.synced.record(ctl.Name, mark)
	return nil
}

// caller is a controller connection.
type caller interface {
	Call(ctx context.Context, facade string, version int, method string, args, result any) error
}

// callAll makes a ModelManager call answering ErrorResults, and returns
// the call's error or the first result's.
func callAll(ctx context.Context, c caller, method string, args any) error {
	var res params.ErrorResults
	if err := c.Call(ctx, "ModelManager", 10, method, args, &res); err != nil {
		return jujuapi.Underlying(err)
	}
	for _, r := range res.Results {
		if r.Error != nil {
			return r.Error
		}
	}
	return nil
}

// syncAllDefaults copies the broker's defaults for cloud to every
// controller hosting it that is up. A controller that cannot take them
// now is brought up to date before its next model (see Prepare).
func (s *Service) syncAllDefaults(ctx context.Context, cloud string) {
	_, err := s.askController(ctx, cloud, "", func(c *db.Controller, _ *controllers.Client) bool {
		if err := s.syncDefaults(ctx, c); err != nil {
			s.log.Warn("cannot copy model defaults to a controller; it will be brought up to date before its next model", "controller", c.Name, "cloud", cloud, "err", err)
		}
		return false // every one
	})
	if err != nil {
		s.log.Warn("cannot list controllers to copy model defaults to", "err", err)
	}
}

// sameValue reports whether two config values are the same once
// encoded (numbers decode as float64 on one side, ints on the other).
func sameValue(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// ControllerUp copies the broker's model defaults to the controller named
// name, which has just come up (or been added), so that creating a model
// there costs no extra call. A failure is logged: the copy is made again
// before the controller's next model.
func (s *Service) ControllerUp(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ctl, err := s.registry.Get(ctx, name)
	if err != nil {
		s.log.Debug("cannot copy model defaults to a controller that came up", "controller", name, "err", err)
		return
	}
	if err := s.syncDefaults(ctx, ctl); err != nil {
		s.log.Warn("cannot copy model defaults to a controller that came up; it will be brought up to date before its next model", "controller", name, "err", err)
	}
}

// empty reports whether no level of want holds a default.
func empty(want map[string]map[string]any) bool {
	for _, level := range want {
		if len(level) > 0 {
			return false
		}
	}
	return true
}
