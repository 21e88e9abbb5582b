package jujuapi

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi/pki"
)

// TestNextFrameWithinReadsABegunFrameWhole: a frame that has begun when
// NextFrameWithin's wait runs out is read whole, once the rest comes; on a
// plain connection and under TLS (where the read that times out is in the
// middle of a record).
//
// The test ends the wait itself, at the moment it wants: once the frame's
// first bytes have been read, it sets the read deadline of the connection
// under the Conn in the past, which is what the wait running out is.
func TestNextFrameWithinReadsABegunFrameWhole(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		name := "plain"
		if withTLS {
			name = "TLS"
		}
		t.Run(name, func(t *testing.T) {
			rawPeer, raw := net.Pipe()
			var peer, nc net.Conn = rawPeer, raw
			if withTLS {
				peer, nc = tlsPipe(t, rawPeer, raw)
			}
			// The wait and the idle timeout are long: only the test
			// ends the wait.
			c := newConn(nc, false, ConnOptions{IdleTimeout: 2 * time.Hour})
			defer c.Close()
			defer rawPeer.Close() // first: nothing reads what closing c sends

			payload := []byte("straddles")
			key := [4]byte{1, 2, 3, 4}
			frame := appendHeader(nil, opText, len(payload), true, key)
			start := len(frame)
			frame = append(frame, payload...)
			maskBytes(key, 0, frame[start:])

			wrote := make(chan error, 1)
			go func() {
				// A pipe's write returns once the Conn has read it:
				// the frame has begun, within the wait.
				if _, err := peer.Write(frame[:3]); err != nil {
					wrote <- err
					return
				}
				raw.SetReadDeadline(time.Unix(1, 0)) // the wait runs out
				_, err := peer.Write(frame[3:])
				wrote <- err
			}()
			f, err := c.NextFrameWithin(time.Hour)
			if err != nil {
				t.Fatalf("NextFrameWithin of a frame begun in time = %v", err)
			}
			if !bytes.Equal(f.Bytes(), payload) {
				t.Errorf("NextFrameWithin read %q, want %q", f.Bytes(), payload)
			}
			f.Release()
			if err := <-wrote; err != nil {
				t.Fatalf("write: %v", err)
			}
		})
	}
}

// tlsPipe runs a TLS handshake over a pipe and returns its client and
// server ends.
func tlsPipe(t *testing.T, client, server net.Conn) (net.Conn, net.Conn) {
	t.Helper()
	ca, err := pki.GenerateCA("test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServerCert([]string{"juju-apiserver"})
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(client, &tls.Config{RootCAs: ca.CertPool(), ServerName: "juju-apiserver"})
	ts := tls.Server(server, &tls.Config{Certificates: []tls.Certificate{cert}})
	done := make(chan error, 1)
	go func() { done <- tc.Handshake() }()
	if err := ts.Handshake(); err != nil {
		t.Fatalf("TLS handshake (server): %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("TLS handshake (client): %v", err)
	}
	return tc, ts
}
