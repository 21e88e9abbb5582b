package broker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the broker's own Prometheus collectors, and the registry
// every part registers its collectors on. The parts share two of them:
// rpcs (calls answered on /api and relayed on model connections) and
// models (the routing table's models by controller).
type metrics struct {
	reg         *prometheus.Registry
	connections *prometheus.GaugeVec
	rpcs        *prometheus.HistogramVec
	models      *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jimm_connections_open", Help: "API connections open, by endpoint (api, model).",
		}, []string{"endpoint"}),
		rpcs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jimm_rpc_duration_seconds", Help: "RPCs served or relayed, by facade, method and error code (empty when it succeeded).",
			Buckets: prometheus.ExponentialBucketsRange(10e-6, 10, 16), // 10µs to 10s
		}, []string{"facade", "method", "code"}),
		models: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jimm_models", Help: "Models in the routing table, by controller.",
		}, []string{"controller"}),
	}
	m.reg.MustRegister(m.connections, m.rpcs, m.models,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
