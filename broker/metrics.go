package broker

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/db"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the broker's own Prometheus collectors, and the registry
// every part registers its collectors on. The parts share one of them:
// rpcs (calls answered on /api and relayed on model connections).
// jimm_models is a modelsCollector, registered once the registry exists.
type metrics struct {
	reg         *prometheus.Registry
	connections *prometheus.GaugeVec
	rpcs        *prometheus.HistogramVec
}

// buildInfo is jimm_build_info: always 1, labelled with the build.
func buildInfo(version, revision string) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "jimm_build_info", Help: "The running jimmd's build: version, VCS revision and Go version (always 1).",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(version, revision, runtime.Version()).Set(1)
	return g
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
	}
	m.reg.MustRegister(m.connections, m.rpcs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// modelsCountTimeout bounds the query of one scrape of jimm_models.
const modelsCountTimeout = 2 * time.Second

// modelsCollector is jimm_models{controller}: the models the database
// records on each registered controller, counted when the metrics are
// scraped. Counting in the database, rather than keeping a gauge up to
// date as this replica places, migrates and removes models, makes every
// replica show the same figure, whoever made the change, and a figure
// that cannot drift. The query is one GROUP BY over indexed columns, run
// once per scrape. When it fails (the database is unreachable, or slower
// than modelsCountTimeout) the last figures are shown again.
type modelsCollector struct {
	count   func(ctx context.Context) (map[string]db.Load, error)
	timeout time.Duration
	log     *slog.Logger
	desc    *prometheus.Desc
	// load is jimm_controller_load{controller,measure}: the sizes of the
	// models on each controller (machines, units, agents), as last read
	// from its model summaries.
	load *prometheus.Desc

	mu   sync.Mutex
	last map[string]db.Load
}

func newModelsCollector(count func(ctx context.Context) (map[string]db.Load, error), log *slog.Logger) *modelsCollector {
	return &modelsCollector{
		count: count, timeout: modelsCountTimeout, log: log,
		desc: prometheus.NewDesc("jimm_models", "Models the broker's database records on each controller.", []string{"controller"}, nil),
		load: prometheus.NewDesc("jimm_controller_load", "The size of the models on each controller, by measure (machines, units, agents), as last read from its model summaries.",
			[]string{"controller", "measure"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *modelsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.load }

// Collect implements prometheus.Collector.
func (c *modelsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts, err := c.count(ctx)
	c.mu.Lock()
	if err != nil {
		counts = c.last
	} else {
		c.last = counts
	}
	c.mu.Unlock()
	if err != nil {
		c.log.Warn("cannot count models by controller for jimm_models; showing the last counts", "err", err)
	}
	for name, l := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(l.Models), name)
		for _, m := range []struct {
			measure string
			n       int
		}{{"machines", l.Machines}, {"units", l.Units}, {"agents", l.Agents()}} {
			ch <- prometheus.MustNewConstMetric(c.load, prometheus.GaugeValue, float64(m.n), name, m.measure)
		}
	}
}
