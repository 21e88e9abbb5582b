package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/devcontroller"
)

// demoController is one development controller of the demo.
type demoController struct {
	name, region string
	port         int
}

// demo runs a broker on an embedded SQLite database with three development
// controllers in the same process, registered with it: two on one region
// of the cloud, one on another.
func demo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("jimmd demo", flag.ContinueOnError)
	dir := fs.String("data-dir", filepath.Join(os.TempDir(), "jimm-demo"), "where the demo keeps its state (reused by the next run)")
	port := fs.Int("port", 17070, "the broker's port; the controllers take the next three")
	fresh := fs.Bool("fresh", false, "start from an empty state")
	verbose := fs.Bool("verbose", false, "log everything to stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: jimmd demo [flags]\n\nRuns a broker with an embedded SQLite database and three development\ncontrollers (ctl-1 and ctl-2 on region east, ctl-3 on region west).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *fresh {
		os.RemoveAll(*dir)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	adminPassword, err := demoSecret(filepath.Join(*dir, "admin-password"), func() string {
		return strings.TrimRight(fmt.Sprintf("%x", authz.GenerateKey())[:24], "=")
	})
	if err != nil {
		return err
	}
	secretsKey, err := demoSecret(filepath.Join(*dir, "secrets.key"), func() string { return fmt.Sprintf("%x", authz.GenerateKey()) })
	if err != nil {
		return err
	}
	key, err := authz.ParseKey(secretsKey)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	defer wg.Wait()

	// The broker first: its JWKS is what the controllers trust.
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", *port)
	srv, err := broker.New(ctx, broker.Config{
		Listen: brokerAddr, DataDir: filepath.Join(*dir, "broker"), AdminPassword: adminPassword, SecretsKey: key,
		MetricsListen: fmt.Sprintf("127.0.0.1:%d", *port+9), Logger: logger,
	})
	if err != nil {
		return err
	}
	caFile := filepath.Join(*dir, "broker", "tls", "ca.crt")

	ctls := []demoController{{"ctl-1", "east", *port + 1}, {"ctl-2", "east", *port + 2}, {"ctl-3", "west", *port + 3}}
	files := make([]*devcontroller.ControllerFile, len(ctls))
	for i, dc := range ctls {
		c, err := devcontroller.New(ctx, devcontroller.Config{
			Name: dc.name, Listen: fmt.Sprintf("127.0.0.1:%d", dc.port), DataDir: filepath.Join(*dir, dc.name),
			Cloud: "localhost", Regions: []string{dc.region}, AdminPassword: adminPassword,
			TrustJWKSURL: "https://" + brokerAddr + authz.JWKSPath, TrustJWKSCA: srv.CACertPEM(), Logger: logger,
		})
		if err != nil {
			cancel()
			return err
		}
		if files[i], err = devcontroller.ReadControllerFile(c.ControllerFilePath()); err != nil {
			cancel()
			return err
		}
		wg.Go(func() { errc <- c.Serve(ctx) })
	}
	// Serve only now that the controllers listen: its first health checks
	// must find them up (on a rerun they are already registered).
	wg.Go(func() { errc <- srv.Serve(ctx) })
	for _, f := range files {
		_, err := srv.AddController(ctx, restapi.AddControllerRequest{
			Name: f.Name, UUID: f.UUID, APIAddresses: f.APIAddresses, CACert: f.CACert,
			AdminUser: f.AdminUser, AdminPassword: f.AdminPassword,
		})
		if err != nil && !errors.Is(err, controllers.ErrAlreadyExists) {
			cancel()
			return fmt.Errorf("register %s: %w", f.Name, err)
		}
	}
	jujuData, err := writeJujuData(filepath.Join(*dir, "juju"), srv, brokerAddr, adminPassword)
	if err != nil {
		cancel()
		return err
	}
	fmt.Printf(`
jimm demo is running. Ctrl-C stops everything.

  broker           https://%[1]s   (uuid %[2]s)
  admin user       admin
  admin password   %[3]s
  CA certificate   %[4]s
  metrics          http://127.0.0.1:%[7]d/metrics
  controllers      ctl-1, ctl-2 (cloud localhost, region east), ctl-3 (region west)
  state            %[5]s

Use it with jimmctl:

  export JIMM_URL=https://%[1]s JIMM_CA_CERT=%[4]s JIMM_USER=admin JIMM_PASSWORD=%[3]s
  go run ./cmd/jimmctl list-controllers

Use it with the juju CLI (controller "jimm-demo" is already set up):

  export JUJU_DATA=%[6]s
  juju add-model demo localhost/east
  juju models
  juju status -m demo

`, brokerAddr, srv.UUID(), adminPassword, caFile, *dir, jujuData, *port+9)

	select {
	case <-ctx.Done():
		fmt.Println("stopping...")
		return nil
	case err := <-errc:
		cancel()
		return err
	}
}

// demoSecret reads a secret from path, creating it the first time.
func demoSecret(path string, make func() string) (string, error) {
	if raw, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(raw)), nil
	}
	v := make()
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}

// writeJujuData writes a JUJU_DATA directory in which the juju CLI knows the
// broker as controller "jimm-demo", logged in as admin.
func writeJujuData(dir string, srv *broker.Server, addr, password string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	controllers := map[string]any{
		"controllers": map[string]any{
			"jimm-demo": map[string]any{
				"uuid": srv.UUID(), "api-endpoints": []string{addr}, "ca-cert": string(srv.CACertPEM()),
				"cloud": "localhost", "region": "east", "agent-version": broker.DefaultJujuVersion,
			},
		},
		"current-controller": "jimm-demo",
	}
	accounts := map[string]any{
		"controllers": map[string]any{
			"jimm-demo": map[string]any{"user": "admin", "password": password, "last-known-access": "superuser"},
		},
	}
	for name, doc := range map[string]any{"controllers.yaml": controllers, "accounts.yaml": accounts} {
		raw, err := yaml.Marshal(doc)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
			return "", err
		}
	}
	return dir, nil
}
