package broker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
			Name: "jimm_logins_total", Help: "Logins, by method (password, session-token) and result (ok, refused, error).",
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
	reg.MustRegister(m.upstreams, m.reattaches, m.connections, m.rpcs, m.logins, m.models, m.placements, m.proxyDialDur,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
