package jujuapi_test

import (
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
)

func TestCoerceConfig(t *testing.T) {
	for _, c := range []struct {
		key     string
		v, like any
		want    any
		err     string
	}{
		{"automatically-retry-hooks", "false", true, false, ""},
		{"automatically-retry-hooks", "TRUE", false, true, ""},
		{"automatically-retry-hooks", false, true, false, ""},
		{"automatically-retry-hooks", "maybe", true, nil, `automatically-retry-hooks: expected bool, got string("maybe")`},
		{"num-provision-workers", "16", float64(16), int64(16), ""},
		{"ratio", "0.5", 1.0, 0.5, ""},
		{"num-provision-workers", "lots", 16, nil, `num-provision-workers: expected number, got string("lots")`},
		{"update-status-hook-interval", "7m", "5m", "7m", ""},
		{"unknown-key", "false", nil, "false", ""},
	} {
		got, err := jujuapi.CoerceConfig(c.key, c.v, c.like)
		if c.err != "" {
			if err == nil || err.Error() != c.err || jujuapi.ErrorCode(err) != jujuapi.CodeNotValid {
				t.Errorf("CoerceConfig(%s, %v): %v, want %q", c.key, c.v, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("CoerceConfig(%s, %#v, %#v) = %#v, %v; want %#v", c.key, c.v, c.like, got, err, c.want)
		}
	}
}
