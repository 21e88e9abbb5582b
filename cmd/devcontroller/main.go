// Command devcontroller runs a Juju-compatible development controller.
//
// Every flag can also be given as an environment variable: --data-dir as
// DEVCONTROLLER_DATA_DIR, and so on. See devcontroller --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jimmbroker/jimm/devcontroller"
	"github.com/jimmbroker/jimm/jujuapi"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "devcontroller:", err)
			os.Exit(1)
		}
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("devcontroller", flag.ContinueOnError)
	var (
		cfg                   devcontroller.Config
		regions               listFlag
		jwksCA, logLevel      string
		maxFrame              int64
		destroyDelay, idleFor time.Duration
	)
	fs.StringVar(&cfg.Name, "name", "", "controller name (required), e.g. ctl-a")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:17070", "address to serve the API on (port 0 picks one)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for certificates, state and controller.yaml (required)")
	fs.StringVar(&cfg.Cloud, "cloud", "localhost", "name of the cloud this controller hosts models on")
	fs.StringVar(&cfg.CloudType, "cloud-type", devcontroller.DefaultCloudType, "type (substrate) of the cloud")
	fs.Var(&regions, "region", "a region of the cloud (repeatable; default \"default\")")
	fs.StringVar(&cfg.CloudEndpoint, "cloud-endpoint", "", "the cloud's API endpoint, as clients are shown it (default "+devcontroller.DefaultLXDEndpoint+" for an lxd cloud)")
	fs.StringVar(&cfg.AgentVersion, "agent-version", devcontroller.DefaultAgentVersion, "Juju version the controller reports")
	fs.Func("agent-versions", "comma-separated agent versions the controller has, to which models may be upgraded (default: --agent-version alone)", func(v string) error {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				cfg.AgentVersions = append(cfg.AgentVersions, x)
			}
		}
		return nil
	})
	fs.IntVar(&cfg.ModelLogRecords, "model-log-records", 10000, "how many records each model's log keeps (the newest)")
	fs.StringVar(&cfg.AdminPassword, "admin-password", "", "password of the admin user (default: generated on first start, kept after)")
	fs.StringVar(&cfg.TrustJWKSURL, "trust-jwks-url", "", "URL of a JWKS whose keys may sign login tokens (e.g. the broker's /.well-known/jwks.json)")
	fs.StringVar(&jwksCA, "trust-jwks-ca", "", "PEM file of a CA to trust for --trust-jwks-url, besides the system's")
	fs.Int64Var(&maxFrame, "max-frame-size", jujuapi.DefaultMaxFrameSize, "largest API frame accepted, in bytes")
	fs.DurationVar(&idleFor, "idle-timeout", jujuapi.DefaultIdleTimeout, "close an API connection that sends nothing for this long")
	fs.DurationVar(&destroyDelay, "model-destroy-delay", time.Second, "how long a destroyed model stays dying")
	fs.DurationVar(&cfg.ModelCreateDelay, "model-create-delay", 0, "how long creating a model takes to answer, after the model exists (a real controller takes seconds)")
	fs.Int64Var(&cfg.MaxCharmSize, "max-charm-size", devcontroller.DefaultMaxCharmSize, "largest charm archive accepted for upload, in bytes")
	fs.DurationVar(&cfg.HookDuration, "hook-duration", devcontroller.DefaultHookDuration, "how long a unit's simulated agent is executing the hooks a config or relation change starts")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: devcontroller --name NAME --data-dir DIR [flags]\n\n"+
			"Runs a Juju-compatible development controller. Each flag may also be set by\n"+
			"an environment variable: DEVCONTROLLER_ and the flag name in upper case with\n"+
			"underscores, e.g. DEVCONTROLLER_DATA_DIR. --region repeats; its variable\n"+
			"takes a comma-separated list.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	devcontroller.RegisterFlags(fs, &cfg)
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.Regions = regions
	cfg.ModelDestroyDelay = destroyDelay
	cfg.Conn = jujuapi.ConnOptions{MaxFrameSize: maxFrame, IdleTimeout: idleFor}
	if jwksCA != "" {
		pem, err := os.ReadFile(jwksCA)
		if err != nil {
			return fmt.Errorf("--trust-jwks-ca: %w", err)
		}
		cfg.TrustJWKSCA = pem
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctl, err := devcontroller.New(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("controller %s (%s) listening on %s; details in %s\n", cfg.Name, ctl.UUID(), ctl.Addr(), ctl.ControllerFilePath())
	return ctl.Serve(ctx)
}

// applyEnv sets each flag from DEVCONTROLLER_<NAME> when that is set, so that
// flags given on the command line still win.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "DEVCONTROLLER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok || err != nil {
			return
		}
		values := []string{v}
		if _, repeatable := f.Value.(*listFlag); repeatable {
			values = strings.Split(v, ",")
		}
		for _, x := range values {
			if serr := fs.Set(f.Name, strings.TrimSpace(x)); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	return err
}
