// Command jimmd runs the jimm broker.
//
//	jimmd serve [flags]   run the broker (every flag also reads JIMM_<FLAG>)
//	jimmd demo            run a self-contained demo: broker, embedded
//	                      database and three development controllers
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

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker"
	"github.com/jimmbroker/jimm/jujuapi"
)

const usage = `Usage:
  jimmd serve [flags]   run the broker
  jimmd version         print the version (also: jimmd --version)
  jimmd demo [flags]    run a demo: broker, embedded SQLite database and three
                        development controllers, ready for jimmctl and juju

Run "jimmd serve --help" or "jimmd demo --help" for flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "demo":
		err = demo(ctx, os.Args[2:])
	case "version", "--version", "-version":
		fmt.Println(versionString())
		return
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "jimmd: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "jimmd:", err)
		os.Exit(1)
	}
}

// serveFlags declares the broker's flags on fs, returning the config they
// fill and a function that finishes it after parsing.
func serveFlags(fs *flag.FlagSet) (*broker.Config, func() error) {
	cfg := &broker.Config{}
	var secretsKey, secretsKeyFile, logLevel string
	var maxFrame int64
	fs.StringVar(&cfg.Listen, "listen", ":17070", "API address (TLS WebSockets and the /v1 admin API)")
	fs.StringVar(&cfg.PublicAddress, "public-address", "", "host:port clients reach the broker at (default: the listen port on 127.0.0.1)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "server certificate (PEM); with --tls-key. Default: a CA and certificate generated into the data dir")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "server certificate's private key (PEM)")
	fs.StringVar(&cfg.DataDir, "data-dir", "/var/lib/jimm", "directory for generated certificates and the default SQLite database")
	fs.StringVar(&cfg.DSN, "dsn", "", "database: postgres://user:pass@host/db, or an SQLite file path (default <data-dir>/jimm.db)")
	fs.StringVar(&cfg.AdminPassword, "admin-password", "", "password of the bootstrap admin user \"admin\" (prefer JIMM_ADMIN_PASSWORD)")
	fs.StringVar(&secretsKey, "secrets-key", "", "32-byte key (64 hex chars) that encrypts controller credentials and signing keys at rest (prefer JIMM_SECRETS_KEY)")
	fs.StringVar(&secretsKeyFile, "secrets-key-file", "", "file holding the secrets key, instead of --secrets-key")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", ":9090", "Prometheus metrics address (plain HTTP); empty disables")
	fs.StringVar(&cfg.JujuVersion, "juju-version", broker.DefaultJujuVersion, "Juju version the broker reports to clients")
	fs.StringVar(&cfg.ControllerName, "controller-name", broker.DefaultControllerName, "the broker's name where clients are shown a controller's (model summaries, controller config)")
	fs.DurationVar(&cfg.ControllerTokenTTL, "controller-token-ttl", broker.DefaultControllerTokenTTL, "lifetime of the tokens the broker signs to log in to controllers")
	fs.DurationVar(&cfg.SessionTTL, "session-ttl", broker.DefaultSessionTTL, "lifetime of session tokens from jimmctl login")
	fs.DurationVar(&cfg.HealthInterval, "health-interval", broker.DefaultHealthInterval, "how often each controller is pinged (at most 5s)")
	fs.DurationVar(&cfg.SigningKeyRotation, "signing-key-rotation", broker.DefaultKeyRotation, "how long a controller-token signing key signs before the next one takes over")
	fs.DurationVar(&cfg.SigningKeyPrepublish, "signing-key-prepublish", broker.DefaultKeyPrepublish, "how long a new signing key is published before it starts signing (shorter than the rotation; negative: not at all)")
	fs.IntVar(&cfg.LoginFailureBurst, "login-failure-burst", broker.DefaultLoginFailureBurst, "failed logins a source address may make before it is slowed down")
	fs.Float64Var(&cfg.LoginFailureRate, "login-failure-rate", broker.DefaultLoginFailureRate, "failed logins per second a source address may make once its burst is spent (negative: no slowdown)")
	fs.IntVar(&cfg.LoginFailureUserBurst, "login-failure-user-burst", broker.DefaultLoginFailureUserBurst, "failed logins of one user (from every address), and from one address (over every user), before they are slowed down")
	fs.Float64Var(&cfg.LoginFailureUserRate, "login-failure-user-rate", broker.DefaultLoginFailureUserRate, "failed logins per second of one user, and from one address, once that burst is spent (negative: no such slowdown)")
	fs.IntVar(&cfg.LoginVerifyConcurrency, "login-verify-concurrency", broker.DefaultLoginVerifyConcurrency, "credential checks (passwords, session tokens, identity provider calls) that run at once; others wait their turn")
	fs.Int64Var(&cfg.MaxRequestBody, "max-request-body", broker.DefaultMaxRequestBody, "largest body of an authenticated /v1 request, in bytes (413 past it)")
	fs.Int64Var(&cfg.MaxRequestBodyUnauthenticated, "max-request-body-unauthenticated", broker.DefaultMaxRequestBodyUnauth, "largest body of a login request (anyone may send one), in bytes (413 past it)")
	fs.IntVar(&cfg.DeviceLoginBurst, "device-login-burst", broker.DefaultDeviceLoginBurst, "device logins (POST /v1/login/device, or Admin.LoginDevice on a WebSocket) a source address may start at once")
	fs.Float64Var(&cfg.DeviceLoginRate, "device-login-rate", broker.DefaultDeviceLoginRate, "device logins per second a source address may start once its burst is spent (429 with Retry-After past it)")
	fs.IntVar(&cfg.MaxConnsPerIdentity, "max-conns-per-identity", broker.DefaultMaxConnsPerIdentity, "connections (/api, model, debug-log) one user or service account may hold open on one replica; negative: no limit")
	fs.DurationVar(&cfg.ModelCreateTimeout, "model-create-timeout", broker.DefaultModelCreateTimeout, "how long a controller may take to create a model before the next candidate is tried")
	fs.DurationVar(&cfg.LoadInterval, "load-interval", broker.DefaultLoadInterval, "time between two readings of every model's size (machines, units, agents) from its controller's model summaries, for list-controllers and fleet planning (one replica at a time)")
	fs.DurationVar(&cfg.ReconcileInterval, "reconcile-interval", broker.DefaultReconcileInterval, "time between reconciliation passes (one replica at a time compares the broker's models with every controller's and finishes what crashes left)")
	fs.DurationVar(&cfg.AuditRetention, "audit-retention", broker.DefaultAuditRetention, "how long audit events are kept before they are purged (0: forever)")
	fs.Int64Var(&cfg.AuditSpoolMaxBytes, "audit-spool-max-bytes", broker.DefaultAuditSpoolMaxBytes, "bound of <data-dir>/audit-spool.jsonl, which keeps audit events while the database cannot take them; past it they are dropped and counted")
	fs.DurationVar(&cfg.ProxyDetachAfter, "proxy-detach-after", broker.DefaultProxyDetachAfter, "close the controller side of a model connection idle this long (it logs in again on the next call); negative never")
	fs.Int64Var(&maxFrame, "max-frame-size", jujuapi.DefaultMaxFrameSize, "largest API frame accepted from a client, in bytes")
	writeTimeout := broker.DefaultWriteTimeout
	fs.DurationVar(&writeTimeout, "write-timeout", broker.DefaultWriteTimeout, "close a client connection (/api, model, log stream) that leaves a response unread this long: it stopped reading")
	fs.IntVar(&cfg.MaxCallsInFlight, "max-calls-in-flight", broker.DefaultMaxCallsInFlight, "calls one model connection may have in flight at its controller (watcher Next calls and pings apart, up to 10 times as many); past it the broker stops reading from that client until one is answered")
	fs.IntVar(&cfg.MaxCallBytesInFlight, "max-call-bytes-in-flight", broker.DefaultMaxCallBytesInFlight, "bytes of requests one model connection may have in flight (one request always goes through); past it the broker stops reading from that client until one is answered")
	fs.DurationVar(&cfg.CallTimeout, "call-timeout", broker.DefaultCallTimeout, "how long a call relayed on a model connection waits for its controller before the broker answers \"try again\" (watcher Next calls wait for good; a controller seen down has its calls answered at once); negative: no bound")
	fs.DurationVar(&cfg.LoginTimeout, "login-timeout", broker.DefaultLoginTimeout, "close a WebSocket connection (/api, model, log stream) that has not logged in this long after the upgrade; pings do not extend it (negative: never)")
	fs.IntVar(&cfg.MaxConnsPerAddress, "max-conns-per-address", broker.DefaultMaxConnsPerAddress, "WebSocket connections one source address may have open; more are refused with HTTP 429 (negative: no bound)")
	fs.IntVar(&cfg.FDReserve, "fd-reserve", 0, "file descriptors kept for the broker's own use: with fewer left new WebSocket connections get HTTP 503, with half as many new TCP connections are closed at once (0: 5% of the open-file limit, at least 64; negative: none)")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", broker.DefaultShutdownGrace, "on SIGTERM, how long connections may take to finish their calls before they are closed; meanwhile the replica is not ready and accepts no connection, and each idle one is handed back to its client to reconnect (negative: close at once)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	var oidcScopes string
	fs.StringVar(&cfg.OIDC.Issuer, "oidc-issuer", "", "OpenID Connect issuer URL of the identity provider for people and service accounts; empty: none (only the bootstrap admin can log in)")
	fs.StringVar(&cfg.OIDC.ClientID, "oidc-client-id", "", "the broker's client id at the identity provider")
	fs.StringVar(&cfg.OIDC.ClientSecret, "oidc-client-secret", "", "the broker's client secret at the identity provider (prefer JIMM_OIDC_CLIENT_SECRET)")
	fs.StringVar(&oidcScopes, "oidc-scopes", "openid,email,profile", "comma-separated scopes requested at login")
	fs.StringVar(&cfg.OIDC.CACertFile, "oidc-ca-cert", "", "PEM file of the CA to trust for the identity provider's certificate (default: the system roots)")
	fs.StringVar(&cfg.OIDC.IdentityClaim, "oidc-identity-claim", "email", "ID token claim that names people: email (must be verified) or sub")
	return cfg, func() error {
		var level slog.Level
		if err := level.UnmarshalText([]byte(logLevel)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
		cfg.Version, cfg.Revision = buildVersion()
		cfg.Conn = jujuapi.ConnOptions{MaxFrameSize: maxFrame}
		cfg.Conn.WriteTimeout = writeTimeout
		for _, sc := range strings.Split(oidcScopes, ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				cfg.OIDC.Scopes = append(cfg.OIDC.Scopes, sc)
			}
		}
		if secretsKeyFile != "" {
			raw, err := os.ReadFile(secretsKeyFile)
			if err != nil {
				return fmt.Errorf("--secrets-key-file: %w", err)
			}
			secretsKey = strings.TrimSpace(string(raw))
		}
		if secretsKey != "" {
			key, err := authz.ParseKey(secretsKey)
			if err != nil {
				return fmt.Errorf("secrets key: %w", err)
			}
			cfg.SecretsKey = key
		}
		return nil
	}
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("jimmd serve", flag.ContinueOnError)
	cfg, finish := serveFlags(fs)
	var memoryLimit int64
	fs.Int64Var(&memoryLimit, "memory-limit", 0, "memory this process may use, in bytes (a container's limit; the Helm chart passes it): the Go runtime's soft memory limit is set to 90% of it, so that garbage is collected harder before the kernel kills the process. 0: none. GOMEMLIMIT, when set, wins")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: jimmd serve [flags]\n\nRuns the broker. Every flag can also be set by an environment variable:\n"+
			"JIMM_ and the flag's name in upper case with underscores, e.g. JIMM_DSN,\nJIMM_ADMIN_PASSWORD, JIMM_SECRETS_KEY. Flags win over the environment.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := finish(); err != nil {
		return err
	}
	if err := applyMemoryLimit(cfg.Logger, memoryLimit, os.Getenv("GOMEMLIMIT")); err != nil {
		return err
	}
	srv, err := broker.New(ctx, *cfg)
	if err != nil {
		return err
	}
	fmt.Printf("jimmd %s listening on %s (public address %s)\n", srv.UUID(), srv.Addr(), srv.PublicAddress())
	return srv.Serve(ctx)
}

// parse applies JIMM_* environment variables, then the arguments.
func parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "JIMM_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}
