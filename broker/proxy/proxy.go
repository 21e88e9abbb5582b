package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Deps are the parts a Proxy works with.
type Deps struct {
	Routes   *routing.Table
	Identity *identity.Service
	Audit    *audit.Log // nil: relayed calls are not audited
	// Dial opens a model connection to the controller hosting m. Default:
	// the controller's endpoint (its addresses, pinned CA and TLS server
	// name).
	Dial func(ctx context.Context, m *db.Model) (*jujuapi.Conn, error)
	// BrokerUUID is the broker's controller UUID, which clients see in
	// place of the controller's.
	BrokerUUID string
	// Servers is the broker's own address, the only one clients are told.
	Servers [][]params.HostPort
	// JujuVersion is the client version the broker names when it logs in
	// to a controller.
	JujuVersion string
	// DetachAfter is how long a connection with no call in flight keeps
	// its controller connection (0 or negative: for good).
	DetachAfter time.Duration
	// RPCs is jimm_rpc_duration_seconds, which relayed calls are timed in.
	RPCs *prometheus.HistogramVec
	// Metrics registers the proxy's own metrics (nil: not registered).
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	Clock   clock.Clock // nil: the system clock
}

// loginTimeout bounds dialling and logging in to a model's controller, so
// that a dead controller gives the client an error promptly.
const loginTimeout = 4 * time.Second

// Proxy serves model connections.
type Proxy struct {
	routes      *routing.Table
	identity    *identity.Service
	audit       *audit.Log
	dial        func(ctx context.Context, m *db.Model) (*jujuapi.Conn, error)
	brokerUUID  string
	servers     [][]params.HostPort
	jujuVersion string
	detachAfter time.Duration
	log         *slog.Logger
	clock       clock.Clock
	// adminVersions are the Admin versions a client may log in with.
	adminVersions []int

	rpcs       *prometheus.HistogramVec
	dialDur    prometheus.Histogram
	upstreams  prometheus.Gauge
	reattaches prometheus.Counter
}

// New builds a proxy.
func New(deps Deps) (*Proxy, error) {
	p := &Proxy{
		routes: deps.Routes, identity: deps.Identity, audit: deps.Audit, dial: deps.Dial,
		brokerUUID: deps.BrokerUUID, servers: deps.Servers, jujuVersion: deps.JujuVersion, detachAfter: max(deps.DetachAfter, 0),
		log: deps.Logger, clock: clock.Or(deps.Clock), rpcs: deps.RPCs,
		adminVersions: append(jujuapi.Juju35.Versions("Admin"), jujuapi.AdminSessionLoginVersion),
		dialDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jimm_proxy_controller_login_seconds", Help: "Time to dial and log in to a controller for a model connection.",
			Buckets: prometheus.ExponentialBucketsRange(10e-6, 10, 16),
		}),
		upstreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jimm_proxy_controller_connections", Help: "Controller connections held for proxied model connections (detached idle ones hold none).",
		}),
		reattaches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_proxy_reattaches_total", Help: "Times an idle, detached model connection logged in to its controller again.",
		}),
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.dial == nil {
		p.dial = func(ctx context.Context, m *db.Model) (*jujuapi.Conn, error) {
			return controllers.EndpointOf(&m.Controller).Dial(ctx, "/model/"+m.UUID+"/api", jujuapi.ConnOptions{})
		}
	}
	if p.rpcs == nil {
		p.rpcs = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jimm_rpc_duration_seconds"}, []string{"facade", "method", "code"})
	}
	if deps.Metrics != nil {
		for _, c := range []prometheus.Collector{p.dialDur, p.upstreams, p.reattaches,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "jimm_proxy_parked_connections", Help: "Idle, detached model connections parked: waiting for their client with no goroutine.",
			}, func() float64 { return float64(jujuapi.ParkedConns()) }),
		} {
			if err := deps.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register proxy metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Serve serves one client's connection to the model modelUUID from the
// remote address remote. It answers the login on the calling goroutine,
// then hands the connection to goroutines of its own and returns: an idle
// connection keeps only their small stacks, or none once parked. done is
// called exactly once, when the connection has ended; when ctx ends,
// the connection is closed.
func (p *Proxy) Serve(ctx context.Context, conn *jujuapi.Conn, modelUUID, remote string, done func()) {
	c := &modelConn{px: p, client: conn, modelUUID: modelUUID, remote: remote, ctx: ctx}
	c.run(done)
}
