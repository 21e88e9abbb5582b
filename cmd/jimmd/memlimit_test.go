package main

import (
	"bytes"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestApplyMemoryLimit(t *testing.T) {
	was := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(was) })
	const gib = 1 << 30
	for _, c := range []struct {
		name       string
		limit      int64
		goMemLimit string
		wantSoft   int64 // the runtime's limit after; 0: left as it was
		wantErr    string
		wantLog    string
	}{
		{name: "a container's 1 GiB", limit: gib, wantSoft: gib * 9 / 10, wantLog: "soft_limit_bytes=966367641"},
		{name: "none", limit: 0},
		{name: "GOMEMLIMIT wins", limit: gib, goMemLimit: "500MiB", wantLog: "GOMEMLIMIT=500MiB"},
		{name: "negative", limit: -1, wantErr: "--memory-limit -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			var out bytes.Buffer
			err := applyMemoryLimit(slog.New(slog.NewTextHandler(&out, nil)), c.limit, c.goMemLimit)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := c.wantSoft
			if want == 0 {
				want = math.MaxInt64
			}
			if got := debug.SetMemoryLimit(-1); got != want {
				t.Errorf("runtime's memory limit %d, want %d", got, want)
			}
			if !strings.Contains(out.String(), c.wantLog) {
				t.Errorf("logged %q, want it to hold %q", out.String(), c.wantLog)
			}
		})
	}
}
