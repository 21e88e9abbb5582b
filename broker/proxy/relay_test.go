package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// rawController is a controller that writes its responses byte for byte
// as a test makes them, split into WebSocket fragments of at most
// fragment bytes (with a ping between fragments): what the relay must
// take apart only as far as it needs to.
type rawController struct {
	uuid     string
	fragment int
	// respond makes the response frame to a request (after the login).
	respond func(req *jujuapi.Message) []byte
}

// serve answers one WebSocket connection on nc, whose upgrade request
// has been read.
func (rc *rawController) serve(t *testing.T, nc net.Conn, br *bufio.Reader, key string) {
	defer nc.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	for {
		op, payload, err := readClientFrame(br)
		if err != nil {
			return
		}
		if op == 0xA {
			continue // the pong to our ping
		}
		req, err := jujuapi.DecodeMessage(payload)
		if err != nil {
			t.Errorf("the controller got a malformed request %q: %v", payload, err)
			return
		}
		var out []byte
		if req.Type == "Admin" && req.Request == "Login" {
			out, _ = jujuapi.EncodeResponse(req.RequestID, params.LoginResult{
				ControllerTag: jujuapi.ControllerTag(rc.uuid).String(), ModelTag: jujuapi.ModelTag(modelUUID).String(),
				UserInfo: &params.AuthUserInfo{Identity: "user-admin", ControllerAccess: "login", ModelAccess: "admin"},
			}, nil)
		} else {
			out = rc.respond(req)
		}
		if err := writeFragmented(nc, out, rc.fragment); err != nil {
			return
		}
	}
}

// readClientFrame reads one masked, unfragmented frame: its opcode and
// payload.
func readClientFrame(r io.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	op := h[0] & 0x0f
	if op == 0x8 { // close
		return op, nil, io.EOF
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return 0, nil, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= key[i%4]
	}
	return op, p, nil
}

// writeFragmented writes msg as a text message in fragments of at most
// size bytes, with a ping between the first two.
func writeFragmented(w io.Writer, msg []byte, size int) error {
	var out []byte
	frame := func(fin bool, op byte, p []byte) {
		b0 := op
		if fin {
			b0 |= 0x80
		}
		out = append(out, b0)
		switch n := len(p); {
		case n < 126:
			out = append(out, byte(n))
		case n < 1<<16:
			out = append(out, 126)
			out = binary.BigEndian.AppendUint16(out, uint16(n))
		default:
			out = append(out, 127)
			out = binary.BigEndian.AppendUint64(out, uint64(n))
		}
		out = append(out, p...)
	}
	for i := 0; ; i++ {
		n := min(size, len(msg))
		op := byte(0x0) // continuation
		if i == 0 {
			op = 0x1 // text
		}
		frame(n == len(msg), op, msg[:n])
		if i == 0 && n < len(msg) {
			frame(true, 0x9, []byte("ping")) // a control frame between fragments
		}
		msg = msg[n:]
		if len(msg) == 0 {
			break
		}
	}
	_, err := w.Write(out)
	return err
}

// newRawEnv is an env whose controller ctl-a is rc, reached over TCP.
func newRawEnv(t *testing.T, rc *rawController) *env {
	e := newEnv(t, 0)
	rc.uuid = e.ctls["ctl-a"].uuid
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, br, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		rc.serve(t, nc, br.Reader, r.Header.Get("Sec-WebSocket-Key"))
	}))
	t.Cleanup(srv.Close)
	e.ctls["ctl-a"].dialHook = dialModelAt(srv)
	return e
}

// dialModelAt dials the model's API on srv, a test server speaking
// WebSocket over real TCP.
func dialModelAt(srv *httptest.Server) func(context.Context) (*jujuapi.Conn, error) {
	return func(ctx context.Context) (*jujuapi.Conn, error) {
		return jujuapi.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/model/"+modelUUID+"/api", jujuapi.DialOptions{})
	}
}

// rawCall sends a request on a logged-in client connection and returns
// the response frame as it arrived.
func rawCall(t *testing.T, c *jujuapi.Conn, id uint64, facade, method string) []byte {
	t.Helper()
	req := fmt.Appendf(nil, `{"request-id":%d,"type":%q,"version":7,"request":%q,"params":{}}`, id, facade, method)
	if err := c.WriteFrame(req); err != nil {
		t.Fatalf("send %s.%s: %v", facade, method, err)
	}
	f, err := c.NextFrame()
	if err != nil {
		t.Fatalf("the response to %s.%s: %v", facade, method, err)
	}
	defer f.Release()
	return bytes.Clone(f.Bytes())
}

// TestRelayUnusualFrames: responses whose envelope fields come in unusual
// orders (the request id after a large body, the error after the
// response), with nested keys named like the envelope's and strings full
// of brackets, quotes and escapes, arriving in many WebSocket fragments,
// reach the client whole and as they were sent, but for the controller's
// UUID, which becomes the broker's wherever it is; and the relay matched
// each to its call (the calls' metrics carry the right error codes).
func TestRelayUnusualFrames(t *testing.T) {
	var ctlUUID string
	body := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"machines":{`)
		for i := 0; b.Len() < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%d":{"request-id":%d,"error":"x","error-code":"not found","status":{"info":"on %s: \"}]\" \\ \u007b {[","since":null},"list":[[],[{}]]}`,
				i, 9000+i, ctlUUID)
		}
		b.WriteString(`}}`)
		return b.String()
	}
	frames := map[string]func(id uint64) string{
		// The request id after a 300 KB body.
		"Client.FullStatus": func(id uint64) string { return fmt.Sprintf(`{"response":%s,"request-id":%d}`, body(300<<10), id) },
		// The error after the response, naming the controller.
		"Client.Broken": func(id uint64) string {
			return fmt.Sprintf(`{"response":{"error":"inner","request-id":1},"request-id":%d,"error":"controller %s says \"no\" {}","error-code":"not implemented"}`, id, ctlUUID)
		},
		// Everything after a body that is one long string.
		"Application.Get": func(id uint64) string {
			return fmt.Sprintf(`{"response":"%s","error-info":{"error":"e"},"error":"boom","request-id":%d,"error-code":"bad request"}`, strings.Repeat(`{[\"\\`, 20000), id)
		},
	}
	rc := &rawController{fragment: 1000}
	var sent [][]byte
	rc.respond = func(req *jujuapi.Message) []byte {
		out := []byte(frames[req.Type+"."+req.Request](req.RequestID))
		sent = append(sent, out)
		return out
	}
	e := newRawEnv(t, rc)
	ctlUUID = rc.uuid
	c := e.connect(t)
	if err := c.raw.WriteFrame([]byte(`{"request-id":1,"type":"Admin","version":3,"request":"Login","params":{"auth-tag":"user-admin","credentials":"pw"}}`)); err != nil {
		t.Fatal(err)
	}
	f, err := c.raw.NextFrame()
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	var env jujuapi.Envelope
	if err := jujuapi.ScanEnvelope(f.Bytes(), &env); err != nil || env.Error != "" {
		t.Fatalf("login: %s", f.Bytes())
	}
	f.Release()

	for i, call := range []struct{ facade, method, code string }{
		{"Client", "FullStatus", ""},
		{"Client", "Broken", "not implemented"},
		{"Application", "Get", "bad request"},
		{"Client", "FullStatus", ""},
	} {
		id := uint64(10 + i)
		got := rawCall(t, c.raw, id, call.facade, call.method)
		want := bytes.ReplaceAll(sent[len(sent)-1], []byte(ctlUUID), []byte(brokerUUID))
		if !bytes.Equal(got, want) {
			t.Fatalf("%s.%s: the client got %d bytes that differ from the controller's %d with the UUID replaced", call.facade, call.method, len(got), len(want))
		}
		if bytes.Contains(got, []byte(ctlUUID)) {
			t.Fatalf("%s.%s: the response names the controller", call.facade, call.method)
		}
		if err := jujuapi.ScanEnvelope(got, &env); err != nil || env.RequestID != id || env.ErrorCode != call.code {
			t.Fatalf("%s.%s: the client read %+v, %v; want request %d, code %q", call.facade, call.method, env, err, id, call.code)
		}
	}
	// Each call was matched to its response: one series per method and
	// code, and none for a request id the relay did not know.
	if n := testutil.CollectAndCount(e.rpcs); n != 3 {
		t.Errorf("%d series of jimm_rpc_duration_seconds, want 3 (FullStatus ok, Broken not implemented, Get bad request)", n)
	}
	for _, s := range []struct {
		facade, method, code string
		calls                uint64
	}{{"Client", "FullStatus", "", 2}, {"Client", "Broken", "not implemented", 1}, {"Application", "Get", "bad request", 1}} {
		var m dto.Metric
		if err := e.rpcs.WithLabelValues(s.facade, s.method, s.code).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		if n := m.GetHistogram().GetSampleCount(); n != s.calls {
			t.Errorf("jimm_rpc_duration_seconds{%s.%s, code %q} counts %d calls, want %d", s.facade, s.method, s.code, n, s.calls)
		}
	}
}
