package fleetquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
)

func TestCompile(t *testing.T) {
	for _, tc := range []struct {
		name, expr, wantErr string
	}{
		{"valid", `.applications | to_entries[] | select(.value.charm | contains("postgresql")) | .key`, ""},
		{"identity", ".", ""},
		{"syntax error", ".applications[", "bad jq expression: unexpected EOF (at byte 14)"},
		{"bad token", ".a | }", `bad jq expression: unexpected token "}" (at byte 6)`},
		{"unknown function", "nosuchfn(1)", "bad jq expression: function not defined: nosuchfn/1"},
		{"unknown variable", "$x", "bad jq expression: variable not defined: $x"},
		{"module", `import "a" as a; .`, "bad jq expression: "},
		{"input", "input", "bad jq expression: input(s)/0 is not allowed"},
		{"inputs", "[inputs]", "bad jq expression: input(s)/0 is not allowed"},
		{"debug", "debug", "bad jq expression: function not defined: debug/0"},
		{"stderr", "stderr", "bad jq expression: function not defined: stderr/0"},
		{"input_filename", "input_filename", "bad jq expression: function not defined: input_filename/0"},
		{"empty", " \n", "bad jq expression: the expression is empty (try `.` for the whole status)"},
		{"too long", strings.Repeat(" ", MaxQueryBytes) + ".", fmt.Sprintf("bad jq expression: the expression is %d bytes long, the limit is %d", MaxQueryBytes+1, MaxQueryBytes)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.expr)
			if tc.wantErr == "" {
				if err != nil || p == nil || p.String() != tc.expr {
					t.Fatalf("Compile(%q) = %v, %v; want a program", tc.expr, p, err)
				}
				return
			}
			var ce *CompileError
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("Compile(%q) = %v (%T); want a *CompileError starting %q", tc.expr, err, err, tc.wantErr)
			}
		})
	}
}

// fakeFleet answers fetches from canned statuses, by model UUID.
type fakeFleet struct {
	statuses map[string]string        // UUID → status JSON
	errs     map[string]error         // UUID → fetch error
	block    map[string]bool          // controller → fetches wait for their context to end
	delay    time.Duration            // every fetch waits this long first
	fetched  map[string]*atomic.Int32 // controller → fetches asked

	mu                    sync.Mutex
	inFlight, maxInFlight int
	perCtl, maxPerCtl     map[string]int
}

func newFakeFleet() *fakeFleet {
	return &fakeFleet{statuses: map[string]string{}, errs: map[string]error{}, block: map[string]bool{},
		fetched: map[string]*atomic.Int32{}, perCtl: map[string]int{}, maxPerCtl: map[string]int{}}
}

func (f *fakeFleet) add(ctl, uuid, status string) Model {
	f.statuses[uuid] = status
	if f.fetched[ctl] == nil {
		f.fetched[ctl] = &atomic.Int32{}
	}
	return Model{UUID: uuid, Name: "name-" + uuid, Owner: "alice", Controller: ctl}
}

func (f *fakeFleet) fetch(ctx context.Context, m Model) (json.RawMessage, error) {
	f.fetched[m.Controller].Add(1)
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.perCtl[m.Controller]++
	f.maxPerCtl[m.Controller] = max(f.maxPerCtl[m.Controller], f.perCtl[m.Controller])
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.perCtl[m.Controller]--
		f.mu.Unlock()
	}()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.block[m.Controller] {
		<-ctx.Done()
		return nil, fmt.Errorf("dial controller %q: %w", m.Controller, ctx.Err())
	}
	if err := f.errs[m.UUID]; err != nil {
		return nil, err
	}
	return json.RawMessage(f.statuses[m.UUID]), nil
}

func mustCompile(t *testing.T, expr string) *Program {
	t.Helper()
	p, err := Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// outputs renders a model's outputs as strings.
func outputs(m ModelResult) []string {
	out := []string{}
	for _, o := range m.Outputs {
		out = append(out, string(o))
	}
	return out
}

func status(apps map[string]string) string {
	a := map[string]any{}
	for name, charm := range apps {
		a[name] = map[string]any{"charm": charm, "units": map[string]any{}}
	}
	b, _ := json.Marshal(map[string]any{"model": map[string]any{"name": "on-controller", "version": "3.5.4"}, "applications": a, "machines": map[string]any{}})
	return string(b)
}

func TestRunOutputs(t *testing.T) {
	f := newFakeFleet()
	models := []Model{
		f.add("ctl-1", "u1", status(map[string]string{"db": "ch:amd64/jammy/postgresql-12", "web": "ch:amd64/jammy/nginx-3"})),
		f.add("ctl-1", "u2", status(map[string]string{"pg": "ch:amd64/jammy/postgresql-14"})),
		f.add("ctl-2", "u3", status(map[string]string{"cache": "ch:amd64/jammy/redis-1"})),
		f.add("ctl-2", "u4", `{"applications": {}, "n": 12345678901234567890}`),
	}
	r := NewRunner(f.fetch, Limits{}, nil)
	for _, tc := range []struct {
		expr string
		want map[string][]string
	}{
		{`.applications | to_entries[] | select(.value.charm | contains("postgresql")) | .key`,
			map[string][]string{"u1": {`"db"`}, "u2": {`"pg"`}, "u3": {}, "u4": {}}},
		{`.model | [.uuid, .name, .owner]`,
			map[string][]string{"u1": {`["u1","name-u1","alice"]`}, "u2": {`["u2","name-u2","alice"]`}, "u3": {`["u3","name-u3","alice"]`}, "u4": {`["u4","name-u4","alice"]`}}},
		{`.model.version // empty`, map[string][]string{"u1": {`"3.5.4"`}, "u2": {`"3.5.4"`}, "u3": {`"3.5.4"`}, "u4": {}}},
		{`.n // empty`, map[string][]string{"u1": {}, "u2": {}, "u3": {}, "u4": {`12345678901234567890`}}},
		{`1, halt, 2`, map[string][]string{"u1": {"1"}, "u2": {"1"}, "u3": {"1"}, "u4": {"1"}}},
		{`nan, "<&>"`, map[string][]string{"u1": {"null", `"<&>"`}, "u2": {"null", `"<&>"`}, "u3": {"null", `"<&>"`}, "u4": {"null", `"<&>"`}}},
		{`$ENV, env`, map[string][]string{"u1": {"{}", "{}"}, "u2": {"{}", "{}"}, "u3": {"{}", "{}"}, "u4": {"{}", "{}"}}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			res, err := r.Run(t.Context(), mustCompile(t, tc.expr), models)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Models) != len(models) || res.Omitted != 0 || res.Truncated {
				t.Fatalf("result %+v; want %d models, none omitted, not truncated", res, len(models))
			}
			for i, m := range res.Models {
				if m.Model != models[i] {
					t.Errorf("result %d is for %+v, want %+v (the order given)", i, m.Model, models[i])
				}
				if m.Err != nil || !slices.Equal(outputs(m), tc.want[m.Model.UUID]) {
					t.Errorf("%s: outputs %q, error %v; want %q", m.Model.UUID, outputs(m), m.Err, tc.want[m.Model.UUID])
				}
			}
		})
	}
}

// TestRunIsolatesErrors: a model whose status cannot be read, or on which
// the expression fails, fails alone; a controller that cannot be reached
// fails its models only, and is asked once.
func TestRunIsolatesErrors(t *testing.T) {
	f := newFakeFleet()
	models := []Model{
		f.add("ctl-1", "ok-1", `{"x": 1}`),
		f.add("ctl-1", "gone", `{}`),
		f.add("ctl-1", "ok-2", `{"x": 2}`),
		f.add("ctl-1", "string", `{"x": "two"}`),
		f.add("ctl-down", "d1", `{"x": 3}`),
		f.add("ctl-down", "d2", `{"x": 4}`),
		f.add("ctl-down", "d3", `{"x": 5}`),
	}
	f.errs["gone"] = fmt.Errorf("controller %q: get full status of model gone: %w", "ctl-1", jujuapi.Errorf(jujuapi.CodeNotFound, "model not found"))
	for _, uuid := range []string{"d1", "d2", "d3"} {
		f.errs[uuid] = fmt.Errorf("dial controller %q at 10.0.0.9:17070: connection refused", "ctl-down")
	}
	r := NewRunner(f.fetch, Limits{PerController: 1}, nil)
	res, err := r.Run(t.Context(), mustCompile(t, ".x + 1"), models)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range res.Models {
		got[m.Model.UUID] = strings.Join(outputs(m), ",") + "|" + Message(m.Err, true)
	}
	want := map[string]string{
		"ok-1":   "2|",
		"gone":   `|controller "ctl-1": get full status of model gone: model not found`,
		"ok-2":   "3|",
		"string": `|jq: error: cannot add: string ("two") and number (1)`,
		"d1":     `|controller ctl-down cannot be reached: dial controller "ctl-down" at 10.0.0.9:17070: connection refused`,
		"d2":     `|controller ctl-down cannot be reached: dial controller "ctl-down" at 10.0.0.9:17070: connection refused (for another model of this query; not asked again)`,
		"d3":     `|controller ctl-down cannot be reached: dial controller "ctl-down" at 10.0.0.9:17070: connection refused (for another model of this query; not asked again)`,
	}
	for uuid, w := range want {
		if got[uuid] != w {
			t.Errorf("%s: got %q\n want %q", uuid, got[uuid], w)
		}
	}
	if n := f.fetched["ctl-down"].Load(); n != 1 {
		t.Errorf("ctl-down was asked %d times, want once", n)
	}
	var re *RunError
	if !errors.As(res.Models[3].Err, &re) {
		t.Errorf("the failed expression's error is %T, want *RunError", res.Models[3].Err)
	}
	// Callers who may not know where models live.
	redacted := map[string]string{
		"gone":   "the controller hosting this model refused its status (not found)",
		"string": `jq: error: cannot add: string ("two") and number (1)`,
		"d1":     "the controller hosting this model cannot be reached; try again later",
		"d2":     "the controller hosting this model cannot be reached; try again later",
	}
	for i, m := range res.Models {
		if w, ok := redacted[m.Model.UUID]; ok {
			if got := Message(res.Models[i].Err, false); got != w {
				t.Errorf("%s redacted: %q, want %q", m.Model.UUID, got, w)
			}
		}
	}
	if got := Message(errors.New(`look up controller "ctl-1": database down`), false); strings.Contains(got, "ctl-1") {
		t.Errorf("an unclassified error, redacted, names the controller: %q", got)
	}
}

// TestRunTimeouts: a controller that does not answer fails its models with
// the fetch timeout, asked once; an expression that runs too long is
// stopped; a query past its time limit reports the rest as not queried.
func TestRunTimeouts(t *testing.T) {
	t.Run("controller", func(t *testing.T) {
		f := newFakeFleet()
		models := []Model{f.add("ctl-slow", "s1", `{}`), f.add("ctl-slow", "s2", `{}`), f.add("ctl-1", "ok", `{"x": 1}`)}
		f.block["ctl-slow"] = true
		r := NewRunner(f.fetch, Limits{FetchTimeout: 100 * time.Millisecond, PerController: 1}, nil)
		start := time.Now()
		res, err := r.Run(t.Context(), mustCompile(t, ".x"), models)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the query took %s: the slow controller held it", took)
		}
		var ce *ControllerError
		if !errors.As(res.Models[0].Err, &ce) || ce.Timeout != 100*time.Millisecond ||
			res.Models[0].Err.Error() != "controller ctl-slow did not answer within 100ms" {
			t.Errorf("s1: %v, want controller ctl-slow did not answer within 100ms", res.Models[0].Err)
		}
		if got := Message(res.Models[1].Err, true); got != "controller ctl-slow did not answer within 100ms (for another model of this query; not asked again)" {
			t.Errorf("s2: %q", got)
		}
		if got := Message(res.Models[1].Err, false); got != "the controller hosting this model did not answer within 100ms; try again later" {
			t.Errorf("s2 redacted: %q", got)
		}
		if res.Models[2].Err != nil || !slices.Equal(outputs(res.Models[2]), []string{"1"}) {
			t.Errorf("ok: %v %v", outputs(res.Models[2]), res.Models[2].Err)
		}
		if n := f.fetched["ctl-slow"].Load(); n != 1 {
			t.Errorf("ctl-slow was asked %d times, want once", n)
		}
	})
	t.Run("expression", func(t *testing.T) {
		f := newFakeFleet()
		models := []Model{f.add("ctl-1", "a", `{}`), f.add("ctl-1", "b", `{}`)}
		r := NewRunner(f.fetch, Limits{RunTimeout: 100 * time.Millisecond}, nil)
		start := time.Now()
		res, err := r.Run(t.Context(), mustCompile(t, `1, last(range(1e18))`), models)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the query took %s: the expression was not stopped", took)
		}
		for _, m := range res.Models {
			var re *RunError
			if !errors.As(m.Err, &re) || re.Timeout != 100*time.Millisecond || !slices.Equal(outputs(m), []string{"1"}) ||
				m.Err.Error() != "the expression ran longer than 100ms on this model's status and was stopped" {
				t.Errorf("%s: outputs %v, error %v; want 1, then stopped after 100ms", m.Model.UUID, outputs(m), m.Err)
			}
		}
	})
	t.Run("query", func(t *testing.T) {
		f := newFakeFleet()
		f.delay = 50 * time.Millisecond
		var models []Model
		for i := range 20 {
			models = append(models, f.add("ctl-1", fmt.Sprint("m", i), `{}`))
		}
		r := NewRunner(f.fetch, Limits{MaxParallel: 1, QueryTimeout: 200 * time.Millisecond}, nil)
		res, err := r.Run(t.Context(), mustCompile(t, "1"), models)
		if err != nil {
			t.Fatal(err)
		}
		done, notQueried := 0, 0
		for _, m := range res.Models {
			var nq *NotQueriedError
			switch {
			case m.Err == nil:
				done++
			case errors.As(m.Err, &nq) && m.Err.Error() == "not queried: the query's time limit of 200ms ran out":
				notQueried++
			default:
				t.Errorf("%s: %v", m.Model.UUID, m.Err)
			}
		}
		if done == 0 || notQueried == 0 || done+notQueried != 20 {
			t.Errorf("%d models done, %d not queried; want some of each, 20 in all", done, notQueried)
		}
	})
}

// TestRunBounds: fetches at once stay within the runner's and each
// controller's bounds; the models and output of a query are capped; a
// runner refuses queries beyond its bound.
func TestRunBounds(t *testing.T) {
	t.Run("parallelism", func(t *testing.T) {
		f := newFakeFleet()
		f.delay = 20 * time.Millisecond
		var models []Model
		for c := range 4 {
			for i := range 6 {
				models = append(models, f.add(fmt.Sprint("ctl-", c), fmt.Sprintf("m%d-%d", c, i), `{}`))
			}
		}
		r := NewRunner(f.fetch, Limits{MaxParallel: 3, PerController: 2}, nil)
		res, err := r.Run(t.Context(), mustCompile(t, "1"), models)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Models {
			if m.Err != nil {
				t.Errorf("%s: %v", m.Model.UUID, m.Err)
			}
		}
		if f.maxInFlight > 3 || f.maxInFlight < 2 {
			t.Errorf("%d fetches at once, want 2 or 3 (the bound is 3)", f.maxInFlight)
		}
		for ctl, n := range f.maxPerCtl {
			if n > 2 {
				t.Errorf("%d fetches at once on %s, the bound is 2", n, ctl)
			}
		}
	})
	t.Run("models", func(t *testing.T) {
		f := newFakeFleet()
		var models []Model
		for i := range 5 {
			models = append(models, f.add("ctl-1", fmt.Sprint("m", i), `{}`))
		}
		res, err := NewRunner(f.fetch, Limits{MaxModels: 2}, nil).Run(t.Context(), mustCompile(t, "1"), models)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Models) != 2 || res.Omitted != 3 || res.Models[0].Model.UUID != "m0" || res.Models[1].Model.UUID != "m1" {
			t.Errorf("queried %d models (omitted %d), want m0 and m1, 3 omitted", len(res.Models), res.Omitted)
		}
		if n := f.fetched["ctl-1"].Load(); n != 2 {
			t.Errorf("%d fetches, want 2", n)
		}
	})
	t.Run("output", func(t *testing.T) {
		f := newFakeFleet()
		models := []Model{f.add("ctl-1", "a", `{}`)}
		res, err := NewRunner(f.fetch, Limits{MaxOutputBytes: 10 * (outputOverhead + 2)}, nil).Run(t.Context(), mustCompile(t, "10 | repeat(.)"), models)
		if err != nil {
			t.Fatal(err)
		}
		m := res.Models[0]
		var ole *OutputLimitError
		if !res.Truncated || len(m.Outputs) != 10 || !errors.As(m.Err, &ole) {
			t.Errorf("truncated %v, %d outputs, error %v; want truncated after 10 outputs with an *OutputLimitError", res.Truncated, len(m.Outputs), m.Err)
		}
	})
	t.Run("queries", func(t *testing.T) {
		f := newFakeFleet()
		models := []Model{f.add("ctl-1", "a", `{}`)}
		f.block["ctl-1"] = true
		r := NewRunner(f.fetch, Limits{MaxQueries: 1, FetchTimeout: time.Minute}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan *Result)
		go func() {
			res, _ := r.Run(ctx, mustCompile(t, "1"), models)
			done <- res
		}()
		for f.fetched["ctl-1"].Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		if _, err := r.Run(t.Context(), mustCompile(t, "1"), models); !errors.Is(err, ErrBusy) {
			t.Errorf("a second query while the first runs: %v, want ErrBusy", err)
		}
		cancel()
		res := <-done
		var nq *NotQueriedError
		if !errors.As(res.Models[0].Err, &nq) || res.Models[0].Err.Error() != "not queried: the query was cancelled" {
			t.Errorf("the cancelled query's model: %v", res.Models[0].Err)
		}
		if _, err := r.Run(t.Context(), mustCompile(t, "1"), []Model{}); err != nil {
			t.Errorf("a query once the first ended: %v", err)
		}
	})
}
