package broker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/jimmbroker/jimm/jujuapi"
)

// metrics are the broker's Prometheus collectors, on a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	connections  *prometheus.GaugeVec
	rpcs         *prometheus.HistogramVec
	logins       *prometheus.CounterVec
	models       *prometheus.GaugeVec
	placements   *prometheus.CounterVec
	proxyDialDur prometheus.Histogram
	upstreams    prometheus.Gauge
	reattaches   prometheus.Counter

	migrations        *prometheus.CounterVec
	migrationDuration prometheus.Histogram
	migrationPhases   *prometheus.CounterVec
	routeFlips        prometheus.Counter
	cutoverWait       prometheus.Histogram
	redirects         prometheus.Counter
}

// rpcBuckets span 10µs to 10s.
var rpcBuckets = prometheus.ExponentialBucketsRange(10e-6, 10, 16)

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jimm_connections_open", Help: "API connections open, by endpoint (api, model).",
		}, []string{"endpoint"}),
		rpcs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jimm_rpc_duration_seconds", Help: "RPCs served or relayed, by facade, method and error code (empty when it succeeded).",
			Buckets: rpcBuckets,
		}, []string{"facade", "method", "code"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_logins_total", Help: "Logins, by method (password, session-token, device, browser, client-credentials) and result (ok, refused, error, throttled).",
		}, []string{"method", "result"}),
		models: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jimm_models", Help: "Models in the routing table, by controller.",
		}, []string{"controller"}),
		placements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_placements_total", Help: "Model placements, by controller and result (ok, controller-error, refused).",
		}, []string{"controller", "result"}),
		proxyDialDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jimm_proxy_controller_login_seconds", Help: "Time to dial and log in to a controller for a model connection.",
			Buckets: rpcBuckets,
		}),
		upstreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jimm_proxy_controller_connections", Help: "Controller connections held for proxied model connections (detached idle ones hold none).",
		}),
		reattaches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_proxy_reattaches_total", Help: "Times an idle, detached model connection logged in to its controller again.",
		}),
	}
	m.migrations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jimm_migrations_total", Help: "Model migrations ended, by result (succeeded, failed).",
	}, []string{"result"})
	m.migrationDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "jimm_migration_duration_seconds", Help: "Time from the start of a migration to its end.",
		Buckets: prometheus.ExponentialBucketsRange(0.1, 3600, 16),
	})
	m.migrationPhases = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jimm_migration_phase_changes_total", Help: "Migration phase changes seen, by phase entered.",
	}, []string{"phase"})
	m.routeFlips = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jimm_route_flips_total", Help: "Models whose route moved to another controller (migrations, update-migrated-model, followed redirects).",
	})
	m.cutoverWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "jimm_cutover_wait_seconds", Help: "Time new model connections waited for a migration's cutover.", Buckets: rpcBuckets,
	})
	m.redirects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jimm_redirects_followed_total", Help: "Controller redirects the broker followed for a client, healing the route.",
	})
	reg.MustRegister(m.migrations, m.migrationDuration, m.migrationPhases, m.routeFlips, m.cutoverWait, m.redirects,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jimm_proxy_parked_connections", Help: "Idle, detached model connections parked: waiting for their client with no goroutine.",
		}, func() float64 { return float64(jujuapi.ParkedConns()) }),
		m.upstreams, m.reattaches, m.connections, m.rpcs, m.logins, m.models, m.placements, m.proxyDialDur,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
