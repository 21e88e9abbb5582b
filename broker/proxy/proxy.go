package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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
	// MaxCalls is how many calls one connection may have in flight at its
	// controller; past it the broker reads nothing more from the client
	// until one is answered. Watcher Next calls (which wait until
	// something changes) and pings are counted apart, up to
	// WaitingCallsFactor times as many. Default DefaultMaxCalls.
	MaxCalls int
	// MaxCallBytes bounds the memory of the requests one connection has
	// in flight (each is kept until answered, to be replayed if the model
	// moves); past it the broker reads nothing more from the client. A
	// request is always let through when none is in flight, whatever its
	// size. Default DefaultMaxCallBytes.
	MaxCallBytes int
	// CallTimeout bounds how long a relayed call may wait for its
	// controller's answer before the broker answers "try again" itself
	// (watcher Next calls are not bounded: they wait for a change).
	// Default DefaultCallTimeout; negative: no bound.
	CallTimeout time.Duration
	// RPCs is jimm_rpc_duration_seconds, which relayed calls are timed in.
	RPCs *prometheus.HistogramVec
	// Metrics registers the proxy's own metrics (nil: not registered).
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	Clock   clock.Clock // nil: the system clock
}

// Defaults of the bounds on a connection's calls in flight.
const (
	DefaultMaxCalls     = 10
	DefaultMaxCallBytes = 8 << 20
	DefaultCallTimeout  = 5 * time.Minute
	// WaitingCallsFactor: a connection may have this many times MaxCalls
	// watcher Next calls and pings in flight, besides its other calls.
	WaitingCallsFactor = 10
)

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
	maxCalls    int
	maxBytes    int
	callTimeout time.Duration
	log         *slog.Logger
	clock       clock.Clock
	// adminVersions are the Admin versions a client may log in with.
	adminVersions []int

	// conns are the connections logged in, for ControllerDown and Drain.
	connsMu  sync.Mutex
	conns    map[*modelConn]struct{}
	draining bool // Drain was called: connections logging in now are drained too

	rpcs       *prometheus.HistogramVec
	dialDur    prometheus.Histogram
	upstreams  prometheus.Gauge
	reattaches prometheus.Counter
	paused     prometheus.Counter
	unanswered *prometheus.CounterVec
}

// New builds a proxy.
func New(deps Deps) (*Proxy, error) {
	p := &Proxy{
		routes: deps.Routes, identity: deps.Identity, audit: deps.Audit, dial: deps.Dial,
		brokerUUID: deps.BrokerUUID, servers: deps.Servers, jujuVersion: deps.JujuVersion, detachAfter: max(deps.DetachAfter, 0),
		maxCalls: deps.MaxCalls, maxBytes: deps.MaxCallBytes, callTimeout: deps.CallTimeout,
		conns: map[*modelConn]struct{}{},
		log:   deps.Logger, clock: clock.Or(deps.Clock), rpcs: deps.RPCs,
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
		paused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_proxy_reads_paused_total", Help: "Times a model connection stopped reading its client, at its limit of calls or bytes in flight, until a call was answered.",
		}),
		unanswered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_proxy_calls_unanswered_total", Help: "Relayed calls the broker answered \"try again\" itself because their controller did not: it went down (reason controller-down) or the call outlasted --call-timeout (reason timeout).",
		}, []string{"reason"}),
	}
	if p.maxCalls <= 0 {
		p.maxCalls = DefaultMaxCalls
	}
	if p.maxBytes <= 0 {
		p.maxBytes = DefaultMaxCallBytes
	}
	if p.callTimeout == 0 {
		p.callTimeout = DefaultCallTimeout
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
		for _, c := range []prometheus.Collector{p.dialDur, p.upstreams, p.reattaches, p.paused, p.unanswered,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "jimm_proxy_parked_connections", Help: "Connections parked, waiting for their peer with no goroutine: model connections' client sides quiet for a second (and all detached ones), and attached ones' controller sides quiet for a second.",
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
