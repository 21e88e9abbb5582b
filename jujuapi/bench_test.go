package jujuapi_test

import (
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
)

// BenchmarkRoundTrip: sequential calls from one client over TLS WebSocket
// on loopback.
func BenchmarkRoundTrip(b *testing.B) {
	ts := startServer(b, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	cl := dialClient(b, ts)
	params := echoParams{Text: "hello", Count: 1}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		var res echoResult
		if err := cl.Call(ctx, "Echo", 1, "Echo", params, &res); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripParallel: concurrent calls on one client, so one
// connection carries many requests at once.
func BenchmarkRoundTripParallel(b *testing.B) {
	ts := startServer(b, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	cl := dialClient(b, ts)
	params := echoParams{Text: "hello", Count: 1}
	ctx := b.Context()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var res echoResult
			if err := cl.Call(ctx, "Echo", 1, "Echo", params, &res); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDecodeMessage(b *testing.B) {
	frames := map[string][]byte{
		"login":    []byte(fuzzSeeds[1]),
		"response": []byte(`{"request-id":4,"response":{"results":[{"result":{"name":"m","uuid":"0b0e9c13-8e7a-4d37-8e2b-1f5e3c6e0d1a","type":"iaas","owner-tag":"user-admin","life":"alive","status":{"status":"available","info":"","since":"2026-11-21T09:34:12Z"},"counts":[{"entity":"machines","count":3}]}}]}}`),
	}
	for name, frame := range frames {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := jujuapi.DecodeMessage(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRoundTripLarge: sequential calls whose request and response are
// 64 KiB each, several TLS records per frame.
func BenchmarkRoundTripLarge(b *testing.B) {
	ts := startServer(b, registryHandler(testRegistry()), jujuapi.ServerOptions{})
	cl := dialClient(b, ts)
	params := echoParams{Text: strings.Repeat("x", 64<<10)}
	ctx := b.Context()
	b.ReportAllocs()
	b.SetBytes(2 * 64 << 10)
	for b.Loop() {
		var res echoResult
		if err := cl.Call(ctx, "Echo", 1, "Echo", params, &res); err != nil {
			b.Fatal(err)
		}
	}
}
