package jujuapi_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

// rawServer is a TLS WebSocket server that runs script on each connection
// with a plain gorilla connection.
func rawServer(t *testing.T, script func(ws *websocket.Conn)) *testServer {
	t.Helper()
	return rawServerWith(t, websocket.Upgrader{}, script)
}

func rawServerWith(t *testing.T, up websocket.Upgrader, script func(ws *websocket.Conn)) *testServer {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		script(ws)
	}))
	t.Cleanup(srv.Close)
	return &testServer{
		srv: srv,
		URL: "wss://" + strings.TrimPrefix(srv.URL, "https://") + "/api",
		TLS: srv.Client().Transport.(*http.Transport).TLSClientConfig,
	}
}

// TestConnReadFrame checks what Conn.NextFrame returns for what a peer
// sends, with a 1024-byte limit.
func TestConnReadFrame(t *testing.T) {
	const limit = 1024
	tests := []struct {
		name    string
		send    func(ws *websocket.Conn) error
		want    string
		wantErr error
		// wantClose is the close code the reading side sends back; 0 to
		// not check.
		wantClose int
		// writeBuf is the sender's write buffer size: the largest frame it sends.
		writeBuf int
	}{{
		name: "text",
		send: func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.TextMessage, []byte(`{"request-id":1}`))
		},
		want: `{"request-id":1}`,
	}, {
		name: "empty text",
		send: func(ws *websocket.Conn) error { return ws.WriteMessage(websocket.TextMessage, nil) },
		want: ``,
	}, {
		name: "at the limit",
		send: func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("a"), limit))
		},
		want: strings.Repeat("a", limit),
	}, {
		name: "fragmented, within the limit",
		send: func(ws *websocket.Conn) error {
			w, err := ws.NextWriter(websocket.TextMessage)
			if err != nil {
				return err
			}
			for _, part := range []string{"ab", "cd", "ef"} {
				w.Write([]byte(part))
			}
			return w.Close()
		},
		writeBuf: 2, // one frame per part
		want:     "abcdef",
	}, {
		name: "fragmented, over the limit",
		send: func(ws *websocket.Conn) error {
			w, err := ws.NextWriter(websocket.TextMessage)
			if err != nil {
				return err
			}
			for range 3 {
				w.Write(bytes.Repeat([]byte("a"), limit/2))
			}
			return w.Close()
		},
		writeBuf:  limit / 2, // one frame per write: the first is within the limit
		wantErr:   jujuapi.ErrFrameTooLarge,
		wantClose: websocket.CloseMessageTooBig,
	}, {
		name: "one byte over the limit",
		send: func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("a"), limit+1))
		},
		wantErr:   jujuapi.ErrFrameTooLarge,
		wantClose: websocket.CloseMessageTooBig,
	}, {
		name: "far over the limit",
		send: func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("a"), 100*limit))
		},
		wantErr:   jujuapi.ErrFrameTooLarge,
		wantClose: websocket.CloseMessageTooBig,
	}, {
		name: "binary",
		send: func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.BinaryMessage, []byte(`{"request-id":1}`))
		},
		wantErr: jujuapi.ErrBinaryFrame,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peerClose := make(chan int, 1)
			ts := rawServerWith(t, websocket.Upgrader{WriteBufferSize: tt.writeBuf}, func(ws *websocket.Conn) {
				// Sending may fail when the reader gives up early.
				if err := tt.send(ws); err != nil && tt.wantErr == nil {
					t.Errorf("send: %v", err)
				}
				ws.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, _, err := ws.ReadMessage()
				peerClose <- peerCloseCode(err)
			})
			c := dialConn(t, ts, jujuapi.ConnOptions{MaxFrameSize: limit})
			frame, err := c.NextFrame()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("NextFrame: %v", err)
				}
				if got := string(frame.Bytes()); got != tt.want {
					t.Errorf("NextFrame = %q, want %q", got, tt.want)
				}
				frame.Release()
				c.CloseWith(jujuapi.CloseNormal, "")
				if code := <-peerClose; code != websocket.CloseNormalClosure {
					t.Errorf("peer saw close %d, want 1000", code)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NextFrame error = %T %v, want %v", err, err, tt.wantErr)
			}
			if jujuapi.IsClosed(err) {
				t.Errorf("IsClosed(%v) = true for a protocol violation", err)
			}
			code := jujuapi.CloseFor(err)
			c.CloseWith(code, err.Error())
			if tt.wantClose != 0 {
				if got := <-peerClose; got != tt.wantClose {
					t.Errorf("peer saw close %d, want %d", got, tt.wantClose)
				}
			}
		})
	}
}

// TestConnNextFrameIsPooled: released frames' buffers are reused, so a
// connection between frames holds none; a frame's bytes stay valid until
// it is released.
func TestConnNextFrameIsPooled(t *testing.T) {
	ts := rawServer(t, func(ws *websocket.Conn) {
		ws.WriteMessage(websocket.TextMessage, []byte("first frame"))
		ws.WriteMessage(websocket.TextMessage, []byte("second"))
		ws.ReadMessage()
	})
	c := dialConn(t, ts, jujuapi.ConnOptions{})
	first, err := c.NextFrame()
	if err != nil || string(first.Bytes()) != "first frame" {
		t.Fatalf("first NextFrame: %v", err)
	}
	held := first.Bytes()
	second, err := c.NextFrame()
	if err != nil || string(second.Bytes()) != "second" {
		t.Fatalf("second NextFrame: %v", err)
	}
	if string(held) != "first frame" {
		t.Fatalf("an unreleased frame changed under its holder: %q", held)
	}
	first.Release()
	second.Release()
}

// TestConnPeerClose: what NextFrame returns when the peer closes, and how
// IsClosed and CloseCode read it.
func TestConnPeerClose(t *testing.T) {
	tests := []struct {
		name     string
		close    func(ws *websocket.Conn)
		wantCode int
	}{
		{"going away", func(ws *websocket.Conn) {
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second))
		}, websocket.CloseGoingAway},
		{"normal", func(ws *websocket.Conn) {
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		}, websocket.CloseNormalClosure},
		{"no close frame", func(ws *websocket.Conn) { ws.NetConn().Close() }, websocket.CloseAbnormalClosure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The peer stays until the test has read what it sent.
			read := make(chan struct{})
			readDone := sync.OnceFunc(func() { close(read) })
			t.Cleanup(readDone)
			ts := rawServer(t, func(ws *websocket.Conn) {
				tt.close(ws)
				<-read
			})
			c := dialConn(t, ts, jujuapi.ConnOptions{})
			_, err := c.NextFrame()
			readDone()
			if err == nil {
				t.Fatal("NextFrame succeeded")
			}
			if !jujuapi.IsClosed(err) {
				t.Errorf("IsClosed(%v) = false", err)
			}
			if got := jujuapi.CloseCode(err); got != tt.wantCode {
				t.Errorf("CloseCode(%v) = %d, want %d", err, got, tt.wantCode)
			}
		})
	}
}

func TestCloseForIsClosedCloseCode(t *testing.T) {
	tests := []struct {
		err       error
		closeFor  int
		isClosed  bool
		closeCode int
	}{
		{fmt.Errorf("%w: over", jujuapi.ErrFrameTooLarge), 1009, false, 0},
		{jujuapi.ErrBinaryFrame, 1003, false, 0},
		{errors.New("malformed message: x"), 1007, false, 0},
		{io.EOF, 1007, true, 1006},
		{io.ErrUnexpectedEOF, 1007, true, 1006},
		{net.ErrClosed, 1007, true, 0},
		{fmt.Errorf("write: %w", io.ErrClosedPipe), 1007, true, 0},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), 1007, true, 0},
		{&jujuapi.CloseError{Code: 1001, Text: "bye"}, 1007, true, 1001},
		{fmt.Errorf("wrapped: %w", &jujuapi.CloseError{Code: 4000}), 1007, true, 4000},
		{fmt.Errorf("%w: unmasked frame", jujuapi.ErrProtocol), 1002, false, 0},
	}
	for _, tt := range tests {
		if got := jujuapi.CloseFor(tt.err); got != tt.closeFor {
			t.Errorf("CloseFor(%v) = %d, want %d", tt.err, got, tt.closeFor)
		}
		if got := jujuapi.IsClosed(tt.err); got != tt.isClosed {
			t.Errorf("IsClosed(%v) = %v, want %v", tt.err, got, tt.isClosed)
		}
		if got := jujuapi.CloseCode(tt.err); got != tt.closeCode {
			t.Errorf("CloseCode(%v) = %d, want %d", tt.err, got, tt.closeCode)
		}
	}
	// The constants are the RFC 6455 status codes.
	for got, want := range map[int]int{
		jujuapi.CloseNormal: 1000, jujuapi.CloseGoingAway: 1001, jujuapi.CloseUnsupportedData: 1003,
		jujuapi.CloseInvalidPayload: 1007, jujuapi.CloseTooBig: 1009, jujuapi.CloseInternalError: 1011,
	} {
		if got != want {
			t.Errorf("close constant %d, want %d", got, want)
		}
	}
}

// TestConnCloseWithLongReason: a reason longer than a close frame can carry
// is cut, and the peer still gets the code. A close frame whose reason is
// not valid UTF-8 is a protocol error for the peer (RFC 6455 7.1.6), so the
// cut must not split a character.
func TestConnCloseWithLongReason(t *testing.T) {
	tests := []struct {
		name   string
		reason string
	}{
		{"short", "bye"},
		{"ASCII", strings.Repeat("r", 300)},
		{"multi-byte characters", "a" + strings.Repeat("é", 100)},
		{"multi-byte characters, other offset", "ab" + strings.Repeat("€", 60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan error, 1)
			ts := rawServer(t, func(ws *websocket.Conn) {
				ws.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, _, err := ws.ReadMessage()
				got <- err
			})
			c := dialConn(t, ts, jujuapi.ConnOptions{})
			c.CloseWith(jujuapi.CloseInvalidPayload, tt.reason)
			err := <-got
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("peer got %v, want a close frame", err)
			}
			if ce.Code != 1007 || !strings.HasPrefix(tt.reason, ce.Text) || len(ce.Text) == 0 || len(ce.Text) > 123 {
				t.Errorf("peer got close %d with a %d-byte reason %q", ce.Code, len(ce.Text), ce.Text)
			}
			if len(tt.reason) > 123 && len(ce.Text) < 110 {
				t.Errorf("reason cut to %d bytes: more was possible", len(ce.Text))
			}
		})
	}
}

// TestConnWriteFrameConcurrent: WriteFrame is safe from many goroutines;
// every frame arrives whole.
func TestConnWriteFrameConcurrent(t *testing.T) {
	const writers, frames = 8, 50
	got := make(chan map[string]int, 1)
	ts := rawServer(t, func(ws *websocket.Conn) {
		seen := map[string]int{}
		for range writers * frames {
			typ, data, err := ws.ReadMessage()
			if err != nil || typ != websocket.TextMessage {
				break
			}
			seen[string(data)]++
		}
		got <- seen
	})
	c := dialConn(t, ts, jujuapi.ConnOptions{})
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range frames {
				if err := c.WriteFrame(fmt.Appendf(nil, "w%d-%d-%s", w, i, strings.Repeat("x", 300))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range writers {
		<-done
	}
	seen := <-got
	if len(seen) != writers*frames {
		t.Fatalf("peer got %d distinct frames, want %d", len(seen), writers*frames)
	}
	for f, n := range seen {
		if n != 1 {
			t.Errorf("frame %.10s... arrived %d times", f, n)
		}
	}
}
