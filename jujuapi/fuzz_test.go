package jujuapi_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

// fuzzSeeds are frames, good and bad, shared by the fuzz targets.
var fuzzSeeds = []string{
	`{"request-id":1,"type":"Pinger","version":1,"request":"Ping","params":{}}`,
	`{"request-id":2,"type":"Admin","version":3,"request":"Login","params":{"auth-tag":"user-admin","credentials":"secret","nonce":"","macaroons":null,"bakery-version":3,"cli-args":"juju models","user-data":"","client-version":"3.5.4"}}`,
	`{"request-id":3,"type":"Echo","version":2,"id":"w1","request":"Echo","params":{"text":"<héllo & \u2028>","count":7}}`,
	`{"request-id":4,"response":{"results":[{"result":{"name":"m"}}]}}`,
	`{"request-id":5,"error":"redirection to alternative server required","error-code":"redirection required","error-info":{"servers":[[{"value":"10.1.2.3","type":"ipv4","scope":"public","port":17070}]],"controller-alias":"dst"},"response":{}}`,
	`{"request-id":6,"error":"boom","response":{}}`,
	`{"request-id":7}`,
	`{"request-id":8,"type":"Test","version":1,"request":"Panic"}`,
	`{"request-id":9,"type":"Test","version":1,"request":"Fail","params":{"message":"m","code":"c","info":{"a":[1,{"b":null}]}}}`,
	`{"request-id":10,"type":"Echo","version":1,"request":"Echo","params":null}`,
	`{"request-id":11,"type":"Echo","version":1,"request":"Echo","params":{"text":5}}`,
	`{"request-id":12,"type":"Nope","version":0,"request":"X","params":  { "a" : [ 1 , 2 ] } }`,
	`{"request-id":1,"type":"Pin`,
	`{"request-id":1,"params":{"a":[[[[[[[[[[{"b":[{"c":{}}]}]]]]]]]]]]},"response":[{"x":{"y":[null,true,false,-0.0e-0]}}]}`,
	`{"request-id":1e400}`,
	`{"request-id":18446744073709551615,"version":9223372036854775807,"response":{}}`,
	`{"request-id":18446744073709551616}`,
	`{"request-id":1,"version":-9223372036854775809}`,
	`{"request-id":-1}`,
	`{"request-id":0}`,
	`{"request-id":"1"}`,
	`{"REQUEST-ID":3,"Type":"Pinger","REQUEST":"Ping"}`,
	`{"request-id":1,"request-id":2,"type":"Pinger","request":"Ping"}`,
	"{\"request-id\":1,\"type\":\"\xff\xfe\",\"request\":\"Ping\",\"params\":{\"\xc3\x28\":\"\xed\xa0\x80\"}}",
	"\xff\xfe\xfd",
	`[]`,
	`null`,
	`"str"`,
	``,
	` {"request-id":1,"type":"Pinger","version":1,"request":"Ping"} `,
	`{"request-id":1,"type":"Pinger","version":1,"request":"Ping"}{}`,
}

// FuzzDecodeMessage: DecodeMessage never panics, and what it accepts
// survives encoding and decoding again.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := jujuapi.DecodeMessage(data)
		if err != nil {
			if m != nil {
				t.Fatalf("DecodeMessage returned %+v with error %v", m, err)
			}
			if !strings.HasPrefix(err.Error(), "malformed message") {
				t.Fatalf("error %q does not say the message is malformed", err)
			}
			return
		}
		if m.RequestID == 0 {
			t.Fatalf("DecodeMessage accepted request-id 0: %q", data)
		}
		if !json.Valid(data) {
			t.Fatalf("DecodeMessage accepted invalid JSON %q", data)
		}
		// Touch every accessor: none may panic.
		_ = m.IsRequest()
		_ = m.Method()
		if err := m.Err(); err != nil {
			_ = jujuapi.AsError(err).Error()
		}

		b1, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", m, err)
		}
		m2, err := jujuapi.DecodeMessage(b1)
		if err != nil {
			t.Fatalf("DecodeMessage(Marshal(m)) of %s: %v", b1, err)
		}
		// Raw bodies come back as Marshal writes them: compact, with
		// HTML characters escaped.
		want := *m
		want.Params = normalizeRaw(t, m.Params)
		want.ErrorInfo = normalizeRaw(t, m.ErrorInfo)
		want.Response = normalizeRaw(t, m.Response)
		if !reflect.DeepEqual(*m2, want) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", data, *m2, want)
		}
		// And from there on, nothing changes.
		b2, err := json.Marshal(m2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("second encoding differs:\n%s\n%s", b1, b2)
		}
		if m2.Err() == nil != (m.Err() == nil) {
			t.Fatalf("Err() changed in the round trip: %v vs %v", m.Err(), m2.Err())
		}
	})
}

func normalizeRaw(t *testing.T, raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatalf("raw field %q is not valid JSON: %v", raw, err)
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, compact.Bytes())
	return json.RawMessage(escaped.Bytes())
}

// FuzzServe sends each input as a text frame to one server and checks
// the server's answer: a response for a frame that decodes, a close with
// the right code for one that does not. A fresh connection must answer
// afterwards.
func FuzzServe(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"request-id":1,"type":"Pinger","version":1,"request":"Ping","params":"` + strings.Repeat("x", 5000) + `"}`))

	// Every iteration goes through TLS handshakes and goroutine
	// scheduling, so coverage differs a little from run to run, and the
	// fuzzer takes that for new behaviour and spends its time minimizing
	// (60 s by default, more than a short -fuzztime). Bound minimizing,
	// unless the command line sets -fuzzminimizetime.
	minimizeSet := false
	flag.Visit(func(fl *flag.Flag) { minimizeSet = minimizeSet || fl.Name == "test.fuzzminimizetime" })
	if !minimizeSet && flag.Lookup("test.fuzzminimizetime") != nil {
		flag.Set("test.fuzzminimizetime", "50x")
	}

	const limit = 4096
	ts := startServer(f, registryHandler(quickRegistry()), jujuapi.ServerOptions{
		ConnOptions: jujuapi.ConnOptions{MaxFrameSize: limit, IdleTimeout: 5 * time.Second},
	})

	// Resumed TLS sessions make each iteration cheaper.
	ts.TLS.ClientSessionCache = tls.NewLRUClientSessionCache(4)

	// waitServed waits for Serve to return for one connection.
	waitServed := func(t *testing.T) error {
		select {
		case err := <-ts.served:
			return err
		case <-time.After(2 * time.Second):
			t.Fatal("Serve did not return within 2 s of the connection's end")
			return nil
		}
	}

	f.Fuzz(func(t *testing.T, frame []byte) {
		a, err := dialRawErr(t.Context(), ts)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer a.Close()
		if err := a.WriteMessage(websocket.TextMessage, frame); err != nil {
			t.Fatalf("write: %v", err)
		}
		a.SetReadDeadline(time.Now().Add(2 * time.Second))
		typ, got, rerr := a.ReadMessage()

		want, derr := jujuapi.DecodeMessage(frame)
		if derr == nil && !utf8.Valid(frame) {
			derr = jujuapi.ErrInvalidUTF8 // RFC 6455 8.1: closed with 1007
		}
		switch {
		case len(frame) > limit:
			if code := peerCloseCode(rerr); code != websocket.CloseMessageTooBig {
				t.Fatalf("frame of %d bytes: read %q, %v; want close 1009", len(frame), got, rerr)
			}
		case derr != nil:
			if code := peerCloseCode(rerr); code != websocket.CloseInvalidFramePayloadData {
				t.Fatalf("malformed frame %q: read %q, %v; want close 1007", frame, got, rerr)
			}
		default:
			if rerr != nil || typ != websocket.TextMessage {
				t.Fatalf("frame %q: read type %d, %v; want a response", frame, typ, rerr)
			}
			resp, err := jujuapi.DecodeMessage(got)
			if err != nil {
				t.Fatalf("response %q does not decode: %v", got, err)
			}
			if resp.RequestID != want.RequestID || resp.IsRequest() {
				t.Fatalf("frame %q answered with %s", frame, got)
			}
			if resp.Response == nil {
				t.Fatalf("response %s has no response field", got)
			}
			if !want.IsRequest() && resp.ErrorCode != jujuapi.CodeBadRequest {
				t.Fatalf("non-request %q answered with %s, want bad request", frame, got)
			}
			// The connection still serves.
			if err := a.WriteMessage(websocket.TextMessage, []byte(`{"request-id":1,"type":"Pinger","version":1,"request":"Ping"}`)); err != nil {
				t.Fatal(err)
			}
			if _, got, err := a.ReadMessage(); err != nil || string(got) != `{"request-id":1,"response":{}}` {
				t.Fatalf("after %q, ping answered %q, %v", frame, got, err)
			}
		}

		// A's Serve has ended (for a bad frame, with an error), or ends
		// now that A goes away.
		a.Close()
		if err := waitServed(t); (err != nil) != (len(frame) > limit || derr != nil) {
			t.Fatalf("Serve of the connection that got %q returned %v", frame, err)
		}

		b, err := dialRawErr(t.Context(), ts)
		if err != nil {
			t.Fatalf("dial after %q: %v", frame, err)
		}
		defer b.Close()
		b.WriteMessage(websocket.TextMessage, []byte(`{"request-id":42,"type":"Pinger","version":1,"request":"Ping"}`))
		b.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, got, err := b.ReadMessage(); err != nil || string(got) != `{"request-id":42,"response":{}}` {
			t.Fatalf("fresh connection after %q: %q, %v", frame, got, err)
		}
		b.Close()
		if err := waitServed(t); err != nil {
			t.Fatalf("Serve of the fresh connection returned %v", err)
		}
	})
}
