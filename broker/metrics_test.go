package broker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jimmbroker/jimm/db"
)

// TestModelsCollector: jimm_models shows what the count says at each
// scrape, and the last figures when counting fails.
func TestModelsCollector(t *testing.T) {
	var counts map[string]db.Load
	var countErr error
	calls := 0
	c := newModelsCollector(func(ctx context.Context) (map[string]db.Load, error) {
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
	counts, countErr = map[string]db.Load{"ctl-1": {Models: 3, Machines: 2, Units: 5}, "ctl-2": {}}, nil
	expect("first count", head+"jimm_models{controller=\"ctl-1\"} 3\njimm_models{controller=\"ctl-2\"} 0\n")
	counts = map[string]db.Load{"ctl-1": {Models: 4}}
	expect("a controller removed, a model added", head+"jimm_models{controller=\"ctl-1\"} 4\n")
	counts, countErr = nil, errors.New("database unavailable")
	expect("count failed: the last figures", head+"jimm_models{controller=\"ctl-1\"} 4\n")
	loadHead := "# HELP jimm_controller_load The size of the models on each controller, by measure (machines, units, agents), as last read from its model summaries.\n# TYPE jimm_controller_load gauge\n"
	counts, countErr = map[string]db.Load{"ctl-1": {Models: 3, Machines: 2, Units: 5}}, nil
	if err := testutil.GatherAndCompare(reg, strings.NewReader(loadHead+
		"jimm_controller_load{controller=\"ctl-1\",measure=\"agents\"} 7\n"+
		"jimm_controller_load{controller=\"ctl-1\",measure=\"machines\"} 2\n"+
		"jimm_controller_load{controller=\"ctl-1\",measure=\"units\"} 5\n"), "jimm_controller_load"); err != nil {
		t.Fatalf("load: %v", err)
	}
	if calls != 5 {
		t.Fatalf("%d counts for 4 scrapes", calls)
	}
}
