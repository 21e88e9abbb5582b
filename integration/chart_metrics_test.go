package integration

// The chart's PromQL (alerts and dashboard) against the metrics a live
// jimmd exports: see TestChart.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api/client/modelmanager"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaIntervals are the interval variables Grafana fills in before a
// query reaches Prometheus; they stand where PromQL wants a duration.
var grafanaIntervals = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// labelValues is a Grafana variable query: label_values(<selector>, label).
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`)

// dashboardExprs are the PromQL expressions of the Grafana dashboard: each
// target's expr, and the selectors of its variables' label_values queries.
func dashboardExprs(t *testing.T, file string) []promExpr {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: not JSON: %v", file, err)
	}
	var out []promExpr
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			here := path
			if title, ok := v["title"].(string); ok {
				here = path + fmt.Sprintf(" %q", title)
			}
			if name, ok := v["name"].(string); ok {
				here = path + " $" + name
			}
			if e, ok := v["expr"].(string); ok {
				out = append(out, promExpr{where: "dashboard" + here, expr: grafanaIntervals.Replace(e)})
			}
			for _, k := range []string{"query", "definition"} {
				if q, ok := v[k].(string); ok {
					if m := labelValues.FindStringSubmatch(strings.TrimSpace(q)); m != nil {
						out = append(out, promExpr{where: "dashboard" + here + " " + k, expr: m[1]})
					}
				}
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(here, v[k])
			}
		case []any:
			for _, e := range v {
				walk(path, e)
			}
		}
	}
	walk("", dash)
	var targets, variables int
	for _, e := range out {
		if strings.Contains(e.where, " $") {
			variables++
		} else {
			targets++
		}
	}
	if targets < 10 || variables < 2 {
		t.Fatalf("%s: %d panel queries and %d variable queries found; the dashboard has more", file, targets, variables)
	}
	return out
}

// parsePromQL parses every expression and returns the metric names they
// select, each with where it is used. An expression that does not parse,
// or a selector without a metric name, fails the test.
func parsePromQL(t *testing.T, exprs []promExpr) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, e := range exprs {
		expr, err := parser.ParseExpr(e.expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", e.where, e.expr, err)
			continue
		}
		n := 0
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			vs, ok := node.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name == "" {
				t.Errorf("%s: selector %s in %q names no metric", e.where, vs, e.expr)
				return nil
			}
			n++
			if !slices.Contains(used[name], e.where) {
				used[name] = append(used[name], e.where)
			}
			return nil
		})
		if n == 0 {
			t.Errorf("%s: %q selects no metric", e.where, e.expr)
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d expressions use %d metrics: %s", len(exprs), len(names), strings.Join(names, ", "))
	return used
}

// checkLiveMetrics starts a broker with three controllers and makes the
// series the chart looks at exist (a controller added, logins that succeed
// and one refused, calls on /api and on a model connection, a migration),
// then checks that its /metrics has every metric the chart uses, and that
// the probes' paths answer 200 on the metrics listener.
func checkLiveMetrics(t *testing.T, bins *brokerBins, used map[string][]string, probePaths map[string]bool) {
	t.Helper()
	serverDSN(t)
	// The memory limit the chart passes from the container's (1 GiB by
	// default): the runtime's soft limit is 90% of it.
	e := newBrokerEnv(t, bins, "--memory-limit=1073741824")
	metrics := e.metricsAddr()
	if v := bmMetric(t, metrics, "go_gc_gomemlimit_bytes"); v != 966367641 {
		t.Errorf("go_gc_gomemlimit_bytes = %v with --memory-limit=1073741824, want 966367641 (90%%; is GOMEMLIMIT set in the test's environment? %q)", v, os.Getenv("GOMEMLIMIT"))
	}

	mm := modelmanager.NewClient(e.open(t, ""))
	uuid := bmModelOn(t, e, mm, "charted", "ctl-1")
	fullStatus(t, e.open(t, uuid))
	if res := e.run(t, "migrate", "ctl-2", uuid, "--wait"); res.ExitCode != 0 {
		t.Fatalf("migrate --wait: %s", res)
	}
	if status, body := e.restDo(t, "", "POST", "/v1/login", map[string]string{"user": "admin", "password": "not-the-password"}); status != http.StatusUnauthorized {
		t.Fatalf("POST /v1/login with a wrong password: %d %s, want 401", status, body)
	}

	// The values the alerts and panels read.
	for series, check := range map[string]func(float64) bool{
		`jimm_logins_total{method="password",result="refused"}`: func(v float64) bool { return v >= 1 },
		`jimm_migrations_total{result="succeeded"}`:             func(v float64) bool { return v >= 1 },
		`jimm_migrations_total{result="failed"}`:                func(v float64) bool { return v == 0 },
		`jimm_audit_dropped_total{reason="queue-full"}`:         func(v float64) bool { return v == 0 },
		`jimm_controller_up{controller="ctl-2"}`:                func(v float64) bool { return v == 1 },
		`jimm_connections_open{endpoint="model"}`:               func(v float64) bool { return v >= 1 },
	} {
		if v := bmMetric(t, metrics, series); !check(v) {
			t.Errorf("%s = %v after the scenario", series, v)
		}
	}

	families := scrapeFamilies(t, metrics)
	var missing []string
	for name, where := range used {
		if !familyHas(families, name) {
			missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(where, "; ")))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the chart uses metrics a live jimmd does not export (%d families exported):\n  %s", len(families), strings.Join(missing, "\n  "))
	}

	client := &http.Client{Timeout: 10 * time.Second}
	for path := range probePaths {
		resp, err := client.Get("http://" + metrics + path)
		if err != nil {
			t.Errorf("probe path %s: %v", path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s on the metrics listener (a probe of the chart): %s %s", path, resp.Status, body)
		}
	}
	if len(probePaths) == 0 {
		t.Error("no probe paths to check: no Deployment was rendered")
	}
}

// scrapeFamilies reads /metrics and returns each family's type (from the
// "# TYPE" lines: a family without series has none).
func scrapeFamilies(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", addr, resp.Status)
	}
	families := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	return families
}

// familyHas reports whether a series name belongs to a family exported:
// the family itself, or a histogram's _bucket, _sum or _count (a
// summary's _sum or _count).
func familyHas(families map[string]string, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch families[base] {
		case "histogram":
			return true
		case "summary":
			return suffix != "_bucket"
		}
	}
	return false
}
