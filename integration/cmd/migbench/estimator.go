//go:build ignore

// This program is the broker's side of migbench's table: it answers with
// what github.com/jimmbroker/jimm/broker/migration estimates for a model's
// agents against a target controller's config. The integration module does
// not depend on the jimm module (it builds the jimm programs it runs), so
// migbench builds this file from the jimm module's root:
//
//	go build -o estimator ./integration/cmd/migbench/estimator.go
//	estimator -agents 223 < controller-config.json
//
// The controller config is a JSON object as Controller.ControllerConfig
// answers it. The answer is one JSON object (durations in nanoseconds).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jimmbroker/jimm/broker/migration"
)

type answer struct {
	Estimate time.Duration `json:"estimate"`
	Fits     bool          `json:"fits"`
	Advice   string        `json:"advice,omitempty"`
}

func main() {
	agents := flag.Int("agents", 0, "agents in the model (machines + units)")
	flag.Parse()
	var cfg map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, "estimator: reading the controller config from stdin:", err)
		os.Exit(1)
	}
	l, err := migration.LimitsFromConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "estimator: controller config:", err)
		os.Exit(1)
	}
	est := migration.Estimate(*agents, l)
	_, advice, _ := migration.Advise(*agents, l)
	a := answer{Estimate: est, Fits: migration.Fits(est, l), Advice: advice}
	if err := json.NewEncoder(os.Stdout).Encode(a); err != nil {
		fmt.Fprintln(os.Stderr, "estimator:", err)
		os.Exit(1)
	}
}
