package jujuapi_test

import (
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/jujuapitest"
)

// BenchmarkRelayScan measures what the relay spends reading a large
// response's envelope, a FullStatus of 200 machines and 1,000 units
// (577 KB): ScanEnvelope validates the whole frame (what the relay did
// until ScanHeader); ScanHeader reads the envelope and checks the body's
// structure only.
func BenchmarkRelayScan(b *testing.B) {
	frame := jujuapitest.FullStatusFrame(7, 200, 1000)
	for _, scan := range []struct {
		name string
		fn   func([]byte, *jujuapi.Envelope) error
	}{{"ScanEnvelope", jujuapi.ScanEnvelope}, {"ScanHeader", jujuapi.ScanHeader}} {
		b.Run(scan.name, func(b *testing.B) {
			var env jujuapi.Envelope
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if err := scan.fn(frame, &env); err != nil || env.RequestID != 7 {
					b.Fatal(err, env)
				}
			}
		})
	}
}
