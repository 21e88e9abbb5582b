package broker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestModelsCollector: jimm_models shows what the count says at each
// scrape, and the last figures when counting fails.
func TestModelsCollector(t *testing.T) {
	var counts map[string]int
	var countErr error
	calls := 0
	c := newModelsCollector(func(ctx context.Context) (map[string]int, error) {
		calls++
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the count runs without a deadline")
		}
		return counts, countErr
	}, slog.New(slog.DiscardHandler))
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	expect := func(what, want string) {
		t.Helper()
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "jimm_models"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	const head = "# HELP jimm_models Models the broker's database records on each controller.\n# TYPE jimm_models gauge\n"

	countErr = errors.New("database unavailable")
	expect("nothing counted yet", "")
	counts, countErr = map[string]int{"ctl-1": 3, "ctl-2": 0}, nil
	expect("first count", head+"jimm_models{controller=\"ctl-1\"} 3\njimm_models{controller=\"ctl-2\"} 0\n")
	counts = map[string]int{"ctl-1": 4}
	expect("a controller removed, a model added", head+"jimm_models{controller=\"ctl-1\"} 4\n")
	counts, countErr = nil, errors.New("database unavailable")
	expect("count failed: the last figures", head+"jimm_models{controller=\"ctl-1\"} 4\n")
	if calls != 4 {
		t.Fatalf("%d counts for 4 scrapes", calls)
	}
}
