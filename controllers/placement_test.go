package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"testing"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

func TestPlace(t *testing.T) {
	t.Parallel()
	cand := func(name string, mod ...func(*Candidate)) Candidate {
		c := Candidate{Name: name, Cloud: "aws", CloudType: "ec2", Regions: []string{"eu-west-1", "us-east-1"},
			Up: true, AgentVersion: "3.5.4"}
		for _, m := range mod {
			m(&c)
		}
		return c
	}
	down := func(c *Candidate) { c.Up = false }
	deprecated := func(c *Candidate) { c.Deprecated = true }
	prio := func(p int) func(*Candidate) { return func(c *Candidate) { c.Priority = p } }
	version := func(v string) func(*Candidate) { return func(c *Candidate) { c.AgentVersion = v } }
	cloud := func(cl string, regions ...string) func(*Candidate) {
		return func(c *Candidate) { c.Cloud, c.Regions = cl, regions }
	}

	tests := []struct {
		name               string
		cands              []Candidate
		cloud, region, min string
		// want lists the tiers in order; within a tier any order.
		want [][]string
	}{{
		name:  "all eligible, one tier",
		cands: []Candidate{cand("a"), cand("b"), cand("c")},
		cloud: "aws", region: "eu-west-1",
		want: [][]string{{"a", "b", "c"}},
	}, {
		name:  "down and deprecated excluded",
		cands: []Candidate{cand("a", down), cand("b"), cand("c", deprecated)},
		cloud: "aws",
		want:  [][]string{{"b"}},
	}, {
		name:  "wrong cloud and region excluded",
		cands: []Candidate{cand("a", cloud("gce", "europe-west1")), cand("b", cloud("aws", "us-east-1")), cand("c")},
		cloud: "aws", region: "eu-west-1",
		want: [][]string{{"c"}},
	}, {
		name:   "any cloud, one region",
		cands:  []Candidate{cand("a", cloud("gce", "eu-west-1")), cand("b", cloud("aws", "us-east-1")), cand("c")},
		region: "eu-west-1",
		want:   [][]string{{"a", "c"}},
	}, {
		name:  "any cloud and region",
		cands: []Candidate{cand("a", cloud("gce", "europe-west1")), cand("b")},
		want:  [][]string{{"a", "b"}},
	}, {
		name:  "cloud names are exact",
		cands: []Candidate{cand("a", cloud("AWS", "eu-west-1"))},
		cloud: "aws",
		want:  nil,
	}, {
		name: "version floor",
		cands: []Candidate{cand("a", version("3.4.9")), cand("b", version("3.5.4")), cand("c", version("3.10.0")),
			cand("d", version("3.5.3")), cand("e", version("garbage")), cand("f", version("3.6-beta1")), cand("g", version("4.0.0"))},
		min:  "3.5.4",
		want: [][]string{{"b", "c", "f", "g"}},
	}, {
		name:  "no floor accepts any version",
		cands: []Candidate{cand("a", version("2.9.0")), cand("b", version(""))},
		want:  [][]string{{"a", "b"}},
	}, {
		name:  "unparsable floor accepts none",
		cands: []Candidate{cand("a")},
		min:   "three",
		want:  nil,
	}, {
		name:  "priority tiers, highest first",
		cands: []Candidate{cand("low1", prio(-1)), cand("mid1"), cand("high1", prio(10)), cand("mid2"), cand("high2", prio(10)), cand("low2", prio(-1))},
		want:  [][]string{{"high1", "high2"}, {"mid1", "mid2"}, {"low1", "low2"}},
	}, {
		name:  "a down high-priority controller leaves the next tier",
		cands: []Candidate{cand("high", prio(10), down), cand("mid")},
		want:  [][]string{{"mid"}},
	}, {
		name:  "none eligible",
		cands: []Candidate{cand("a", down), cand("b", deprecated), cand("c", cloud("gce", "x"))},
		cloud: "aws",
		want:  nil,
	}, {
		name: "no candidates",
		want: nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(50) {
				got := Place(tt.cands, tt.cloud, tt.region, tt.min, rand.New(rand.NewPCG(seed, 1)))
				var want []string
				for _, tier := range tt.want {
					want = append(want, tier...)
				}
				if len(got) != len(want) {
					t.Fatalf("seed %d: got %v, want tiers %v", seed, got, tt.want)
				}
				i := 0
				for _, tier := range tt.want {
					part := slices.Clone(got[i : i+len(tier)])
					slices.Sort(part)
					sorted := slices.Sorted(slices.Values(tier))
					if !slices.Equal(part, sorted) {
						t.Fatalf("seed %d: got %v, want tiers %v", seed, got, tt.want)
					}
					i += len(tier)
				}
			}
		})
	}
}

func TestPlaceUniform(t *testing.T) {
	t.Parallel()
	cands := []Candidate{
		{Name: "a", Cloud: "aws", Regions: []string{"r"}, Up: true, Priority: 1},
		{Name: "b", Cloud: "aws", Regions: []string{"r"}, Up: true, Priority: 1},
		{Name: "c", Cloud: "aws", Regions: []string{"r"}, Up: true, Priority: 1},
		{Name: "low", Cloud: "aws", Regions: []string{"r"}, Up: true, Priority: 0},
	}
	rnd := rand.New(rand.NewPCG(42, 7))
	const n = 10000
	first := map[string]int{}
	orders := map[string]int{}
	for range n {
		got := Place(cands, "aws", "r", "", rnd)
		if len(got) != 4 || got[3] != "low" {
			t.Fatalf("placement %v: the lower tier must come last", got)
		}
		first[got[0]]++
		orders[fmt.Sprint(got[:3])]++
	}
	for _, name := range []string{"a", "b", "c"} {
		share := float64(first[name]) / n
		t.Logf("%s first in %.1f%%", name, 100*share)
		if share < 0.31 || share > 0.354 {
			t.Errorf("%s first in %.1f%% of placements, want 33%% ± 2%%", name, 100*share)
		}
	}
	// Every order of the tier appears about equally (1/6 each).
	if len(orders) != 6 {
		t.Fatalf("%d distinct orders, want 6: %v", len(orders), orders)
	}
	for o, k := range orders {
		if share := float64(k) / n; share < 0.145 || share > 0.188 {
			t.Errorf("order %s in %.1f%% of placements, want 16.7%% ± 2%%", o, 100*share)
		}
	}
	// The global source works too.
	if got := Place(cands, "aws", "r", "", nil); len(got) != 4 {
		t.Fatalf("with the global source: %v", got)
	}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Version
		bad  bool
	}{
		{in: "3.5.4", want: Version{Major: 3, Minor: 5, Patch: 4}},
		{in: "3.5", want: Version{Major: 3, Minor: 5}},
		{in: "3.5.4.1", want: Version{Major: 3, Minor: 5, Patch: 4, Build: 1}},
		{in: "3.6-beta2", want: Version{Major: 3, Minor: 6, Tag: "beta", Patch: 2}},
		{in: "3.6-rc1.3", want: Version{Major: 3, Minor: 6, Tag: "rc", Patch: 1, Build: 3}},
		{in: "10.20.30", want: Version{Major: 10, Minor: 20, Patch: 30}},
		{in: "", bad: true},
		{in: "3", bad: true},
		{in: "3.x.1", bad: true},
		{in: "3.5.4.1.2", bad: true},
		{in: "3.5.-4", bad: true},
		{in: "3.6-beta", bad: true},
		{in: "3.6-2", bad: true},
		{in: "3.6-beta1.2.3", bad: true},
		{in: "v3.5.4", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseVersion(%q) = %+v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back, _ := ParseVersion(got.String()); back != got {
			t.Errorf("%q: String() %q does not parse back", tt.in, got.String())
		}
	}
}

func TestVersionCompare(t *testing.T) {
	t.Parallel()
	// In increasing order.
	ordered := []string{"2.9.45", "3.5", "3.5.3", "3.5.4", "3.5.4.1", "3.5.10", "3.6-alpha1", "3.6-beta1", "3.6-beta2", "3.6-rc1", "3.6.0", "3.6.11", "3.10.0", "4.0.0"}
	for i, a := range ordered {
		for j, b := range ordered {
			va, _ := ParseVersion(a)
			vb, _ := ParseVersion(b)
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := va.Compare(vb); got != want {
				t.Errorf("%s vs %s: %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestIsControllerFault(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf(`controller "ctl-a": create model "m": %w`, err) }
	code := func(c string) error { return wrap(jujuapi.Errorf(c, "something (%s)", c)) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"try again", code(jujuapi.CodeTryAgain), true},
		{"upgrade in progress", code(jujuapi.CodeUpgradeInProgress), true},
		{"internal error without a code", code(""), true},
		{"not implemented", code(jujuapi.CodeNotImplemented), true},
		{"deadline exceeded code", code(jujuapi.CodeDeadlineExceeded), true},
		{"already exists", code(jujuapi.CodeAlreadyExists), false},
		{"not valid", code(jujuapi.CodeNotValid), false},
		{"unauthorized access", code(jujuapi.CodeUnauthorized), false},
		{"not found", code(jujuapi.CodeNotFound), false},
		{"bad request", code(jujuapi.CodeBadRequest), false},
		{"forbidden", code(jujuapi.CodeForbidden), false},
		{"unknown code", code("some new code"), false},
		{"context deadline", wrap(context.DeadlineExceeded), true},
		{"context cancelled by the caller", wrap(context.Canceled), false},
		{"connection closed", wrap(fmt.Errorf("%w: %w", jujuapi.ErrClientClosed, io.EOF)), true},
		{"dial error", &DialError{Controller: "ctl-a", Address: "h:1", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, true},
		{"login refused", &ConnectError{Controller: "ctl-a", Err: wrap(jujuapi.ErrBadCreds)}, true},
		{"connect cancelled", &ConnectError{Controller: "ctl-a", Err: wrap(context.Canceled)}, false},
		{"wrong controller", &ConnectError{Controller: "ctl-a", Err: wrongController("x")}, true},
		{"undecodable answer", errors.New("decode response of ModelManager(10).CreateModel: unexpected EOF"), true},
		// The broker's database failing is never the controller's fault,
		// even while the broker reads the controller's own record.
		{"database unavailable", fmt.Errorf("get controller %q: %w", "ctl-a", db.ErrUnavailable), false},
		{"database unavailable while connecting", &ConnectError{Controller: "ctl-a", Err: fmt.Errorf("resolve: %w", db.ErrUnavailable)}, false},
		{"database error", fmt.Errorf("model defaults: %w", &db.Error{Code: "22001"}), false},
	}
	for _, tt := range tests {
		if got := IsControllerFault(tt.err); got != tt.want {
			t.Errorf("%s: IsControllerFault(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
