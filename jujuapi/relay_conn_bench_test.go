package jujuapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/jujuapitest"
)

// BenchmarkConnRelayLarge is a relay's WebSocket work on a large response,
// over real TLS on loopback: a client asks a relay, which passes the
// request to a controller and the controller's answer, a FullStatus of 200
// machines and 1,000 units (577 KB), back to the client, reading its
// envelope with ScanHeader on the way as the broker does. Every side runs
// in this process, so the figures include the controller's and the
// client's reading and writing too; B/op and allocs/op are the whole
// process's.
func BenchmarkConnRelayLarge(b *testing.B) {
	frame := jujuapitest.FullStatusFrame(1, 200, 1000)
	ctl := connServer(b, jujuapi.ConnOptions{}, func(c *jujuapi.Conn) error {
		for {
			f, err := c.NextFrame()
			if err != nil {
				return err
			}
			f.Release()
			if err := c.WriteFrame(frame); err != nil {
				return err
			}
		}
	})
	relay := connServer(b, jujuapi.ConnOptions{}, func(c *jujuapi.Conn) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		up, err := jujuapi.Dial(ctx, ctl.URL, jujuapi.DialOptions{TLSConfig: ctl.TLS})
		cancel()
		if err != nil {
			return err
		}
		defer up.Close()
		var env jujuapi.Envelope
		for {
			f, err := c.NextFrame()
			if err != nil {
				return err
			}
			err = up.WriteFrame(f.Bytes())
			f.Release()
			if err != nil {
				return err
			}
			if f, err = up.NextFrame(); err != nil {
				return err
			}
			if err := jujuapi.ScanHeader(f.Bytes(), &env); err != nil {
				return err
			}
			err = c.WriteFrame(f.Bytes())
			f.Release()
			if err != nil {
				return err
			}
		}
	})
	cl := dialConn(b, relay, jujuapi.ConnOptions{})
	req := []byte(`{"request-id":1,"type":"Client","version":7,"request":"FullStatus","params":{"patterns":null}}`)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := cl.WriteFrame(req); err != nil {
			b.Fatal(err)
		}
		f, err := cl.NextFrame()
		if err != nil {
			b.Fatal(err)
		}
		if len(f.Bytes()) != len(frame) {
			b.Fatalf("got %d bytes, want %d", len(f.Bytes()), len(frame))
		}
		f.Release()
	}
}
