package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	"github.com/jimmbroker/jimm/integration/internal/proc"
)

// estimator runs the broker's estimate (estimator.go, built from the jimm
// module: this module does not depend on it).
type estimator struct {
	bin string
}

// estimate is the broker's answer for one model and one target config.
type estimate struct {
	Estimate time.Duration `json:"estimate"`
	Fits     bool          `json:"fits"`
	Advice   string        `json:"advice,omitempty"`
}

// buildEstimator builds estimator.go from the jimm module's root into dir.
func buildEstimator(ctx context.Context, dir string) (*estimator, error) {
	bin, err := proc.Build(ctx, dir, "./integration/cmd/migbench/estimator.go")
	if err != nil {
		return nil, err
	}
	return &estimator{bin: bin}, nil
}

// estimate asks for the estimate of a model of agents against a
// controller config, as Controller.ControllerConfig answered it.
func (e *estimator) estimate(ctx context.Context, agents int, cfg map[string]any) (estimate, error) {
	var out estimate
	in, err := json.Marshal(cfg)
	if err != nil {
		return out, fmt.Errorf("controller config: %w", err)
	}
	cmd := exec.CommandContext(ctx, e.bin, "-agents", fmt.Sprint(agents))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("estimator for %d agents: %w: %s", agents, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("estimator for %d agents answered %q: %w", agents, raw, err)
	}
	return out, nil
}
