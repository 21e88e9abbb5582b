package probes_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/probes"
)

func get(t *testing.T, h http.HandlerFunc, path string) (int, probes.Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var r probes.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("GET %s: %v in %q", path, err, rec.Body.String())
	}
	return rec.Code, r
}

func checkOf(r probes.Report, name string) (probes.Result, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return probes.Result{}, false
}

// A replica is ready only once serving, while every check holds, and
// never again once draining; each report names every check, with the
// reason of those that failed.
func TestReadiness(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	var dbErr atomic.Pointer[error]
	p := probes.New(probes.Options{Now: clk.Now, Checks: []probes.Check{
		{Name: "database", Run: func(context.Context) error {
			if e := dbErr.Load(); e != nil {
				return *e
			}
			return nil
		}},
		{Name: "keys", Run: func(context.Context) error { return nil }},
	}})

	code, r := get(t, p.Readyz, "/readyz")
	if code != http.StatusServiceUnavailable || r.Ready {
		t.Fatalf("before SetServing: %d ready=%v, want 503", code, r.Ready)
	}
	if c, _ := checkOf(r, "listeners"); c.OK || !strings.Contains(c.Error, "starting") {
		t.Errorf("before SetServing: listeners %+v, want failed, starting", c)
	}

	p.SetServing()
	code, r = get(t, p.Readyz, "/readyz")
	if code != http.StatusOK || !r.Ready || len(r.Checks) != 3 {
		t.Fatalf("serving: %d %+v, want 200 with 3 checks", code, r)
	}

	err := errors.New("connection refused")
	dbErr.Store(&err)
	clk.Advance(2 * time.Second) // past the report's maximum age
	code, r = get(t, p.Readyz, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("database failing: %d, want 503", code)
	}
	if c, _ := checkOf(r, "database"); c.OK || c.Error != "connection refused" {
		t.Errorf("database check %+v, want failed with its error", c)
	}
	if c, _ := checkOf(r, "keys"); !c.OK {
		t.Errorf("keys check %+v failed with only the database down", c)
	}
	// The brief report, for the API listener, keeps which but not why.
	code, r = get(t, p.ReadyzBrief, "/readyz")
	if c, _ := checkOf(r, "database"); code != http.StatusServiceUnavailable || c.OK || c.Error != "" {
		t.Errorf("brief report: %d %+v, want 503 and the failed check without its reason", code, c)
	}

	dbErr.Store(nil)
	clk.Advance(2 * time.Second)
	if code, _ = get(t, p.Readyz, "/readyz"); code != http.StatusOK {
		t.Fatalf("database back: %d, want 200", code)
	}
	p.StartDrain()
	code, r = get(t, p.Readyz, "/readyz")
	if c, _ := checkOf(r, "listeners"); code != http.StatusServiceUnavailable || c.OK || !strings.Contains(c.Error, "draining") {
		t.Errorf("draining: %d %+v, want 503 with listeners draining", code, c)
	}
	if !p.Draining() {
		t.Error("Draining() = false after StartDrain")
	}
}

// Callers within the maximum age share one run of the checks, however
// many they are and however they arrive: readiness on the API listener
// cannot be turned into a database flood.
func TestReadinessRunsChecksOncePerMaxAge(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	var runs atomic.Int32
	p := probes.New(probes.Options{Now: clk.Now, MaxAge: time.Second, Checks: []probes.Check{
		{Name: "database", Run: func(context.Context) error {
			runs.Add(1)
			time.Sleep(20 * time.Millisecond)
			return nil
		}},
	}})
	p.SetServing()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { p.Ready(t.Context()) })
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("50 concurrent callers ran the checks %d times, want 1", n)
	}
	clk.Advance(1500 * time.Millisecond)
	p.Ready(t.Context())
	if n := runs.Load(); n != 2 {
		t.Errorf("a caller after the maximum age: %d runs, want 2", n)
	}
}

// A check that hangs is cut off at the timeout, and its failure says so.
func TestReadinessTimeout(t *testing.T) {
	p := probes.New(probes.Options{Timeout: 50 * time.Millisecond, Checks: []probes.Check{
		{Name: "database", Run: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}},
	}})
	p.SetServing()
	start := time.Now()
	r := p.Ready(t.Context())
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Ready took %s with a 50ms timeout", took)
	}
	if c, _ := checkOf(r, "database"); r.Ready || c.OK || !strings.Contains(c.Error, "timed out") {
		t.Errorf("hanging check: ready=%v %+v, want failed and timed out", r.Ready, c)
	}
}

// /healthz answers 200 whatever readiness says; jimm_ready follows it.
func TestHealthzAndMetric(t *testing.T) {
	fail := errors.New("down")
	p := probes.New(probes.Options{MaxAge: time.Nanosecond, Checks: []probes.Check{{Name: "database", Run: func(context.Context) error { return fail }}}})
	p.SetServing()
	rec := httptest.NewRecorder()
	p.Healthz(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Errorf("healthz: %d %q, want 200 ok", rec.Code, rec.Body.String())
	}
	reg := prometheus.NewRegistry()
	c := p.Collector()
	reg.MustRegister(c)
	if v := testutil.ToFloat64(c); v != 0 {
		t.Errorf("jimm_ready = %v while a check fails, want 0", v)
	}
	p2 := probes.New(probes.Options{Checks: nil})
	p2.SetServing()
	if v := testutil.ToFloat64(p2.Collector()); v != 1 {
		t.Errorf("jimm_ready = %v with every check holding, want 1", v)
	}
}

// Mount serves both endpoints on a mux, GET and HEAD.
func TestMount(t *testing.T) {
	p := probes.New(probes.Options{})
	p.SetServing()
	mux := http.NewServeMux()
	p.Mount(mux)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for _, path := range []string{"/healthz", "/readyz"} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
			if rec.Code != http.StatusOK {
				t.Errorf("%s %s: %d, want 200", method, path, rec.Code)
			}
			if method == http.MethodHead && rec.Body.Len() != 0 {
				t.Errorf("HEAD %s has a body", path)
			}
		}
	}
}
