package devcontroller

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
)

// Config says how to run a development controller.
type Config struct {
	// Name is the controller's name, e.g. "ctl-a".
	Name string
	// Listen is the TCP address to serve on, e.g. "127.0.0.1:17070".
	// Port 0 picks a free port.
	Listen string
	// DataDir holds the certificates, the state file and controller.yaml.
	DataDir string
	// Cloud, CloudType and Regions describe the one cloud this controller
	// hosts models on.
	Cloud     string
	CloudType string
	Regions   []string
	// CloudEndpoint is the cloud's API endpoint, as Clouds shows it.
	// Default for an lxd cloud DefaultLXDEndpoint (a client adding a
	// certificate credential checks it against an endpoint, not a local
	// LXD), else none.
	CloudEndpoint string
	// AgentVersion is the Juju version the controller reports.
	AgentVersion string
	// AdminPassword is the password of the "admin" user. Empty on first
	// start generates one (written to controller.yaml); empty later keeps
	// the stored one.
	AdminPassword string
	// TrustJWKSURL, when set, is where the keys that may sign login tokens
	// are published; TrustJWKSCA is an extra CA (PEM) trusted for that URL.
	TrustJWKSURL string
	TrustJWKSCA  []byte
	// ModelDestroyDelay is how long a destroyed model stays dying before it
	// is gone. Default 1s.
	ModelDestroyDelay time.Duration
	// ModelCreateDelay is how long CreateModel takes to answer after the
	// model is stored, as a real controller takes seconds to start a
	// model's workers: the model exists before its creator hears of it.
	// Default 0.
	ModelCreateDelay time.Duration
	// ModelLogRecords bounds each model's log (the newest records are
	// kept). Default modellog.DefaultMaxRecords.
	ModelLogRecords int
	// AgentVersions lists the agent versions the controller has, to
	// which models may be upgraded (ModelUpgrader.UpgradeModel). Default:
	// AgentVersion alone.
	AgentVersions []string
	// MaxCharmSize bounds an uploaded charm archive, in bytes. Default
	// DefaultMaxCharmSize.
	MaxCharmSize int64
	// HookDuration is how long a unit's simulated agent takes to run the
	// hooks a change starts (config-changed, relation hooks): its agent
	// status is "executing" for that long. Default DefaultHookDuration.
	HookDuration time.Duration
	// Conn bounds each API connection.
	Conn jujuapi.ConnOptions
	// Logger receives the controller's logs. Default slog.Default().
	Logger *slog.Logger

	// AgentRateLimitMax, AgentRateLimitRate and MigrationAgentWaitTime,
	// when set, set the controller config keys agent-ratelimit-max,
	// agent-ratelimit-rate and migration-agent-wait-time at start (see
	// controllerconfig.go; RegisterFlags adds them as flags). Unset (nil,
	// 0) keeps the stored setting, else Juju's default.
	AgentRateLimitMax      *int
	AgentRateLimitRate     time.Duration
	MigrationAgentWaitTime time.Duration

	// migrationHook, for tests, is called by a migration's runner each
	// time it is about to run a committed phase (and on reaching DONE),
	// and may block until ctx ends.
	migrationHook func(ctx context.Context, modelUUID, phase string)
}

// Defaults for Config fields.
const (
	DefaultCloudType    = "lxd"
	DefaultAgentVersion = "3.5.4"
	DefaultRegion       = "default"
	DefaultLXDEndpoint  = "https://127.0.0.1:8443"
)

func (c *Config) validate() error {
	if c.Name == "" {
		return fmt.Errorf("controller name is required")
	}
	if c.DataDir == "" {
		return fmt.Errorf("data directory is required")
	}
	if c.Cloud == "" {
		return fmt.Errorf("cloud name is required")
	}
	if c.CloudType == "" {
		c.CloudType = DefaultCloudType
	}
	if len(c.Regions) == 0 {
		c.Regions = []string{DefaultRegion}
	}
	if c.CloudEndpoint == "" && c.CloudType == "lxd" {
		c.CloudEndpoint = DefaultLXDEndpoint
	}
	if c.AgentVersion == "" {
		c.AgentVersion = DefaultAgentVersion
	}
	if _, err := parseVersion(c.AgentVersion); err != nil {
		return err
	}
	for _, v := range c.AgentVersions {
		if _, err := parseVersion(v); err != nil {
			return fmt.Errorf("agent versions: %w", err)
		}
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:17070"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if c.MaxCharmSize <= 0 {
		c.MaxCharmSize = DefaultMaxCharmSize
	}
	if c.HookDuration <= 0 {
		c.HookDuration = DefaultHookDuration
	}
	if c.ModelDestroyDelay <= 0 {
		c.ModelDestroyDelay = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// parseVersion checks a Juju version "major.minor.patch".
func parseVersion(v string) ([3]int, error) {
	var out [3]int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &out[0], &out[1], &out[2]); err != nil {
		return out, fmt.Errorf("agent version %q is not major.minor.patch", v)
	}
	return out, nil
}
