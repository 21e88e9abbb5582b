package devcontroller

import (
	"context"
	"flag"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Controller config: the settings Juju keeps per controller, of which a
// development controller knows three, with Juju's names, defaults and
// rules:
//
//	agent-ratelimit-max        burst of the token bucket that admits agent
//	                           logins (default 10; 0 disables the limit)
//	agent-ratelimit-rate       one token is added per this interval
//	                           (default 250ms; more than 0, at most 1m)
//	migration-agent-wait-time  how long a migration's VALIDATION waits for
//	                           every agent of the model to report from the
//	                           target (default 15m)
//
// They are set at start by Config (the devcontroller flags
// --agent-ratelimit-max, --agent-ratelimit-rate and
// --migration-agent-wait-time, see RegisterFlags), and at run time by
// Controller.ConfigSet (superusers; `juju controller-config key=value`);
// Controller.ControllerConfig shows them. Settings are stored with the
// controller's state and survive restarts; a flag given at start
// overrides the stored value. A change to the rate limit takes effect at
// once, with a full bucket, as in Juju.

// Controller config keys.
const (
	cfgAgentRateLimitMax      = "agent-ratelimit-max"
	cfgAgentRateLimitRate     = "agent-ratelimit-rate"
	cfgMigrationAgentWaitTime = "migration-agent-wait-time"
)

// Defaults of the controller config, Juju's.
const (
	DefaultAgentRateLimitMax      = 10
	DefaultAgentRateLimitRate     = 250 * time.Millisecond
	DefaultMigrationAgentWaitTime = 15 * time.Minute
)

// controllerSettings is the controller config in effect.
type controllerSettings struct {
	agentRateLimitMax      int
	agentRateLimitRate     time.Duration
	migrationAgentWaitTime time.Duration
}

func defaultSettings() controllerSettings {
	return controllerSettings{
		agentRateLimitMax:      DefaultAgentRateLimitMax,
		agentRateLimitRate:     DefaultAgentRateLimitRate,
		migrationAgentWaitTime: DefaultMigrationAgentWaitTime,
	}
}

// apply sets one key from a value as it comes from JSON (or the store),
// checking it as Juju does.
func (s *controllerSettings) apply(key string, v any) error {
	switch key {
	case cfgAgentRateLimitMax:
		n, err := intValue(v)
		if err != nil {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "%s: %v", key, err)
		}
		if n < 0 {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "negative %s (%d) not valid", key, n)
		}
		s.agentRateLimitMax = n
	case cfgAgentRateLimitRate:
		d, err := durationValue(v)
		if err != nil {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "%s: %v", key, err)
		}
		switch {
		case d == 0:
			return jujuapi.Errorf(jujuapi.CodeNotValid, "%s cannot be zero", key)
		case d < 0:
			return jujuapi.Errorf(jujuapi.CodeNotValid, "%s cannot be negative", key)
		case d > time.Minute:
			return jujuapi.Errorf(jujuapi.CodeNotValid, "%s must be between 0..1m", key)
		}
		s.agentRateLimitRate = d
	case cfgMigrationAgentWaitTime:
		d, err := durationValue(v)
		if err != nil || d <= 0 {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "%s value %v must be a valid positive duration", key, v)
		}
		s.migrationAgentWaitTime = d
	default:
		return jujuapi.Errorf(jujuapi.CodeNotSupported, "controller config %q cannot be set on a development controller (it knows %s)", key, strings.Join(settableKeys, ", "))
	}
	return nil
}

// settableKeys are the controller config keys ConfigSet takes.
var settableKeys = []string{cfgAgentRateLimitMax, cfgAgentRateLimitRate, cfgMigrationAgentWaitTime}

// stored renders the settings for the store and for ControllerConfig:
// numbers for counts, Go duration strings for durations.
func (s controllerSettings) stored() map[string]any {
	return map[string]any{
		cfgAgentRateLimitMax:      s.agentRateLimitMax,
		cfgAgentRateLimitRate:     s.agentRateLimitRate.String(),
		cfgMigrationAgentWaitTime: s.migrationAgentWaitTime.String(),
	}
}

func intValue(v any) (int, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int(x), nil
	case int:
		return x, nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("expected an integer, got %T", v)
}

// durationValue reads a duration: a Go duration string ("250ms"), or a
// number of nanoseconds (time.Duration's JSON form).
func durationValue(v any) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", x)
		}
		return d, nil
	case float64:
		return time.Duration(x), nil
	case time.Duration:
		return x, nil
	}
	return 0, fmt.Errorf("expected a duration, got %T", v)
}

// initSettings reads the stored controller config, applies Config's
// overrides, stores the result if it changed, and sets up the agent
// login bucket.
func (c *Controller) initSettings(ctx context.Context) error {
	s := defaultSettings()
	meta := c.store.Meta()
	for _, k := range sortedKeys(meta.Config) {
		if err := s.apply(k, meta.Config[k]); err != nil {
			c.log.Warn("ignoring stored controller config", "key", k, "err", err)
		}
	}
	overrides := map[string]any{}
	if c.cfg.AgentRateLimitMax != nil {
		overrides[cfgAgentRateLimitMax] = *c.cfg.AgentRateLimitMax
	}
	if c.cfg.AgentRateLimitRate != 0 {
		overrides[cfgAgentRateLimitRate] = c.cfg.AgentRateLimitRate
	}
	if c.cfg.MigrationAgentWaitTime != 0 {
		overrides[cfgMigrationAgentWaitTime] = c.cfg.MigrationAgentWaitTime
	}
	for _, k := range sortedKeys(overrides) {
		if err := s.apply(k, overrides[k]); err != nil {
			return fmt.Errorf("controller %q: %w", c.cfg.Name, err)
		}
	}
	if len(overrides) > 0 {
		if err := c.storeSettings(ctx, s); err != nil {
			return err
		}
	}
	c.setSettings(s)
	return nil
}

func (c *Controller) storeSettings(ctx context.Context, s controllerSettings) error {
	_, err := c.store.UpdateMeta(ctx, func(m *store.Meta) error {
		m.Config = s.stored()
		return nil
	})
	if err != nil {
		return fmt.Errorf("controller %q: store controller config: %w", c.cfg.Name, err)
	}
	return nil
}

// setSettings makes s the config in effect, with a new (full) agent login
// bucket.
func (c *Controller) setSettings(s controllerSettings) {
	c.settingsV.Store(&s)
	c.agentBucket.Store(newTokenBucket(s.agentRateLimitMax, s.agentRateLimitRate, time.Now()))
	c.log.Info("controller config", cfgAgentRateLimitMax, s.agentRateLimitMax,
		cfgAgentRateLimitRate, s.agentRateLimitRate, cfgMigrationAgentWaitTime, s.migrationAgentWaitTime)
}

// settings returns the controller config in effect.
func (c *Controller) settings() controllerSettings { return *c.settingsV.Load() }

// settingsHolder and bucketHolder are the atomically replaced config and
// agent login bucket.
type (
	settingsHolder = atomic.Pointer[controllerSettings]
	bucketHolder   = atomic.Pointer[tokenBucket]
)

// controllerConfig answers Controller.ControllerConfig: the controller's
// identity and the settings in effect. Any logged-in user may read it.
func (s *session) controllerConfig(context.Context) (params.ControllerConfigResult, error) {
	cfg := s.ctl.settings().stored()
	cfg["controller-uuid"] = s.ctl.UUID()
	cfg["controller-name"] = s.ctl.cfg.Name
	cfg["api-port"] = s.ctl.servers[0][0].Port
	cfg["ca-cert"] = string(s.ctl.CACertPEM())
	return params.ControllerConfigResult{Config: cfg}, nil
}

// configSet answers Controller.ConfigSet: superusers change the settings;
// every key is checked before any takes effect.
func (s *session) configSet(ctx context.Context, p params.ControllerConfigSet) (struct{}, error) {
	if err := s.requireSuperuser(); err != nil {
		return struct{}{}, err
	}
	c := s.ctl
	c.settingsMu.Lock()
	defer c.settingsMu.Unlock()
	next := c.settings()
	keys := make([]string, 0, len(p.Config))
	for k := range p.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := next.apply(k, p.Config[k]); err != nil {
			return struct{}{}, err
		}
	}
	if err := c.storeSettings(ctx, next); err != nil {
		return struct{}{}, err
	}
	c.setSettings(next)
	c.log.Info("controller config changed", "by", s.identity(), "keys", keys)
	return struct{}{}, nil
}

// RegisterFlags adds the controller config flags to fs, setting cfg's
// fields when given:
//
//	--agent-ratelimit-max N          (default 10; 0 disables the limit)
//	--agent-ratelimit-rate DURATION  (default 250ms)
//	--migration-agent-wait-time DURATION (default 15m)
//
// A flag not given keeps the stored setting (or the default).
func RegisterFlags(fs *flag.FlagSet, cfg *Config) {
	fs.Func(cfgAgentRateLimitMax, fmt.Sprintf("burst of the token bucket admitting agent logins; 0 disables the limit (default %d, or the stored setting)", DefaultAgentRateLimitMax),
		func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("want a non-negative integer, got %q", v)
			}
			cfg.AgentRateLimitMax = &n
			return nil
		})
	durationFlag := func(name, usage string, to *time.Duration) {
		fs.Func(name, usage, func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("want a positive duration, got %q", v)
			}
			*to = d
			return nil
		})
	}
	durationFlag(cfgAgentRateLimitRate, fmt.Sprintf("one agent login token is added per this interval, at most 1m (default %v, or the stored setting)", DefaultAgentRateLimitRate), &cfg.AgentRateLimitRate)
	durationFlag(cfgMigrationAgentWaitTime, fmt.Sprintf("how long a migration waits for the model's agents to report from the target (default %v, or the stored setting)", DefaultMigrationAgentWaitTime), &cfg.MigrationAgentWaitTime)
}
