package controllers

import (
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
)

// TestControllerConfigCalls: ControllerConfig reads what the controller
// reports; SetControllerConfig changes it (all keys or none), and a
// refusal carries the controller's code and message, with the keys named.
func TestControllerConfigCalls(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	c := mustConnect(t, a)
	ctx := t.Context()

	cfg, err := c.ControllerConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["controller-uuid"] != a.uuid() || cfg["controller-name"] != "ctl-a" || cfg["agent-ratelimit-rate"] != "250ms" {
		t.Fatalf("config %v: want ctl-a's UUID and name, and the default rate 250ms", cfg)
	}

	if err := c.SetControllerConfig(ctx, map[string]any{"agent-ratelimit-max": 7, "agent-ratelimit-rate": "100ms", "migration-agent-wait-time": "20m"}); err != nil {
		t.Fatal(err)
	}
	cfg, err = c.ControllerConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["agent-ratelimit-max"] != 7.0 || cfg["agent-ratelimit-rate"] != "100ms" || cfg["migration-agent-wait-time"] != "20m0s" {
		t.Errorf("config after the change: %v", cfg)
	}

	err = c.SetControllerConfig(ctx, map[string]any{"agent-ratelimit-max": 3, "agent-ratelimit-rate": "2m"})
	if jujuapi.ErrorCode(err) != jujuapi.CodeNotValid {
		t.Fatalf("a rate over 1m: %v (code %q), want code %q", err, jujuapi.ErrorCode(err), jujuapi.CodeNotValid)
	}
	want := `controller "ctl-a": set controller config agent-ratelimit-max, agent-ratelimit-rate: agent-ratelimit-rate must be between 0..1m`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if cfg, err := c.ControllerConfig(ctx); err != nil || cfg["agent-ratelimit-max"] != 7.0 {
		t.Errorf("a refused change took effect: %v, %v", cfg, err)
	}

	// A key the controller does not know: refused, named.
	err = c.SetControllerConfig(ctx, map[string]any{"no-such-key": "x"})
	if code := jujuapi.ErrorCode(err); code != jujuapi.CodeNotSupported || !strings.Contains(err.Error(), "no-such-key") {
		t.Errorf("an unknown key: %v (code %q)", err, code)
	}
}
