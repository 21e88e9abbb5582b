package jujuapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
)

// waitLong bounds how long a pipe test waits for something that should
// happen at once: generous, so that a slow machine does not fail a test.
const waitLong = 30 * time.Second

// pipe returns both ends of a Pipe, closed when the test ends.
func pipe(t *testing.T, opts jujuapi.ConnOptions) (client, server *jujuapi.Conn) {
	t.Helper()
	client, server = jujuapi.Pipe(opts)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// goWrite writes frames on c from another goroutine (a pipe's write waits
// for the peer's read) and returns what the writes returned.
func goWrite(c *jujuapi.Conn, frames ...[]byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		for _, f := range frames {
			if err := c.WriteFrame(f); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// readFrame reads the next frame of c and returns a copy of its bytes.
func readFrame(c *jujuapi.Conn) ([]byte, error) {
	f, err := c.NextFrame()
	if err != nil {
		return nil, err
	}
	defer f.Release()
	return bytes.Clone(f.Bytes()), nil
}

// goRead reads frames of c from another goroutine until one fails, and
// returns that error.
func goRead(c *jujuapi.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := readFrame(c); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

func waitErr(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitLong):
		t.Fatalf("%s: nothing after %s", what, waitLong)
		return nil
	}
}

// Frames go both ways whole and in order, of every length encoding.
// Each end checks the masking of what it reads (a server refuses an
// unmasked frame, a client a masked one), so reading at all shows that
// the client end masks and the server end does not.
func TestPipeFramesBothWays(t *testing.T) {
	client, server := pipe(t, jujuapi.ConnOptions{})
	frames := [][]byte{
		[]byte(`{"request-id":1}`),
		{},
		bytes.Repeat([]byte("a"), 125),
		bytes.Repeat([]byte("b"), 126),
		bytes.Repeat([]byte("c"), 70_000), // a 64-bit length
	}
	for _, dir := range []struct {
		name     string
		from, to *jujuapi.Conn
	}{{"client to server", client, server}, {"server to client", server, client}} {
		written := goWrite(dir.from, frames...)
		for i, want := range frames {
			got, err := readFrame(dir.to)
			if err != nil {
				t.Fatalf("%s: frame %d: %v", dir.name, i, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: frame %d is %d bytes %.20q, want %d bytes %.20q", dir.name, i, len(got), got, len(want), want)
			}
		}
		if err := waitErr(t, dir.name+": writes", written); err != nil {
			t.Fatalf("%s: write: %v", dir.name, err)
		}
	}
}

// A close frame reaches the peer with its status and reason; a peer that
// goes without one reads as 1006; a frame over the limit is refused with
// 1009 and the writer is not left waiting.
func TestPipeClose(t *testing.T) {
	t.Run("server closes", func(t *testing.T) {
		client, server := pipe(t, jujuapi.ConnOptions{})
		read := goRead(client)
		if err := server.CloseWith(jujuapi.CloseGoingAway, "bye"); err != nil {
			t.Errorf("CloseWith: %v", err)
		}
		err := waitErr(t, "client read", read)
		var ce *jujuapi.CloseError
		if !errors.As(err, &ce) || ce.Code != jujuapi.CloseGoingAway || ce.Text != "bye" {
			t.Errorf("client read %v, want close 1001 \"bye\"", err)
		}
		if _, err := server.NextFrame(); !jujuapi.IsClosed(err) {
			t.Errorf("server NextFrame after CloseWith = %v, want a closed error", err)
		}
	})
	t.Run("client closes", func(t *testing.T) {
		client, server := pipe(t, jujuapi.ConnOptions{})
		read := goRead(server)
		if err := client.CloseWith(jujuapi.CloseNormal, ""); err != nil {
			t.Errorf("CloseWith: %v", err)
		}
		err := waitErr(t, "server read", read)
		if !jujuapi.IsClosed(err) || jujuapi.CloseCode(err) != jujuapi.CloseNormal {
			t.Errorf("server read %v, want close 1000", err)
		}
		if err := client.WriteFrame([]byte("late")); !jujuapi.IsClosed(err) {
			t.Errorf("WriteFrame after CloseWith = %v, want a closed error", err)
		}
	})
	t.Run("no close frame", func(t *testing.T) {
		client, server := pipe(t, jujuapi.ConnOptions{})
		read := goRead(server)
		client.Close()
		err := waitErr(t, "server read", read)
		if !jujuapi.IsClosed(err) || jujuapi.CloseCode(err) != jujuapi.CloseAbnormal {
			t.Errorf("server read %v, want a closed error with code 1006", err)
		}
		if err := server.WriteFrame([]byte("to nobody")); !jujuapi.IsClosed(err) {
			t.Errorf("WriteFrame to a closed peer = %v, want a closed error", err)
		}
		if _, err := client.NextFrame(); !jujuapi.IsClosed(err) {
			t.Errorf("NextFrame on the closed end = %v, want a closed error", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		client, server := pipe(t, jujuapi.ConnOptions{MaxFrameSize: 1024})
		clientRead := goRead(client)
		written := goWrite(client, bytes.Repeat([]byte("x"), 2000))
		_, err := server.NextFrame()
		if !errors.Is(err, jujuapi.ErrFrameTooLarge) {
			t.Fatalf("server NextFrame of 2000 bytes = %v, want ErrFrameTooLarge", err)
		}
		// As the docs ask of a caller; it reads the rest of the frame,
		// which lets the writer finish.
		server.CloseWith(jujuapi.CloseFor(err), err.Error())
		if err := waitErr(t, "client read", clientRead); jujuapi.CloseCode(err) != jujuapi.CloseTooBig {
			t.Errorf("client read %v, want close 1009", err)
		}
		waitErr(t, "client write", written)
	})
}

// NextFrameWithin gives up with ErrIdle when nothing comes (a pipe has
// deadlines), and the connection then works on.
func TestPipeNextFrameWithin(t *testing.T) {
	client, server := pipe(t, jujuapi.ConnOptions{})
	for i := range 2 {
		if _, err := server.NextFrameWithin(10 * time.Millisecond); err != jujuapi.ErrIdle {
			t.Fatalf("NextFrameWithin %d with nothing sent = %v, want ErrIdle", i, err)
		}
	}
	written := goWrite(client, []byte("after idle"))
	f, err := server.NextFrameWithin(waitLong)
	if err != nil || string(f.Bytes()) != "after idle" {
		t.Fatalf("NextFrameWithin with a frame sent = %v, %v", f, err)
	}
	f.Release()
	waitErr(t, "write", written)
	// The other way too.
	written = goWrite(server, []byte("to the client"))
	f, err = client.NextFrameWithin(waitLong)
	if err != nil || string(f.Bytes()) != "to the client" {
		t.Fatalf("client NextFrameWithin = %v, %v", f, err)
	}
	f.Release()
	waitErr(t, "write", written)
}

// Park reports false on a pipe, never resumes, and the connection keeps
// working.
func TestPipePark(t *testing.T) {
	client, server := pipe(t, jujuapi.ConnOptions{})
	resumed := make(chan struct{}, 1)
	if server.Park(func() { resumed <- struct{}{} }, time.Time{}) {
		t.Fatal("a pipe's end parked")
	}
	written := goWrite(client, []byte("still here"))
	got, err := readFrame(server)
	if err != nil || string(got) != "still here" {
		t.Fatalf("NextFrame after Park = %q, %v", got, err)
	}
	waitErr(t, "write", written)
	// With a frame on the way, Park refuses too, and the frame is read
	// whole.
	written = goWrite(client, []byte("while parking"))
	if server.Park(func() { resumed <- struct{}{} }, time.Time{}) {
		t.Fatal("a pipe's end parked with a frame on the way")
	}
	got, err = readFrame(server)
	if err != nil || string(got) != "while parking" {
		t.Fatalf("NextFrame after the second Park = %q, %v", got, err)
	}
	waitErr(t, "write", written)
	select {
	case <-resumed:
		t.Error("resume was called though Park reported false")
	default:
	}
}

// Serve and NewClient work over a pipe: calls, concurrent calls, errors,
// and both ways of ending.
func TestPipeServeAndClient(t *testing.T) {
	// Test(1).Block waits for the test to end, whatever its ctx says.
	blocked := make(chan struct{}, 1)
	reg := registryHandler(testRegistry())
	h := jujuapi.HandlerFunc(func(ctx context.Context, req *jujuapi.Message) (any, error) {
		if req.Type == "Test" && req.Request == "Block" {
			blocked <- struct{}{}
			<-t.Context().Done()
			return nil, nil
		}
		return reg.ServeRequest(ctx, req)
	})
	serve := func(t *testing.T, ctx context.Context) (*jujuapi.Client, <-chan error) {
		client, server := pipe(t, jujuapi.ConnOptions{})
		served := make(chan error, 1)
		go func() {
			served <- jujuapi.Serve(ctx, server, h, jujuapi.ServerOptions{Logger: quietLogger})
		}()
		cl := jujuapi.NewClient(client)
		t.Cleanup(func() { cl.Close() })
		return cl, served
	}

	t.Run("calls, then the client closes", func(t *testing.T) {
		cl, served := serve(t, t.Context())
		ping(t, cl)
		echo(t, cl, "over a pipe")
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Go(func() {
				var res echoResult
				text := fmt.Sprintf("call %d", i)
				if err := cl.Call(t.Context(), "Echo", 2, "Echo", echoParams{Text: text}, &res); err != nil {
					errs <- err
				} else if res.Text != text || res.Version != 2 {
					errs <- fmt.Errorf("%s answered %+v", text, res)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		err := cl.Call(t.Context(), "Test", 1, "Fail", failParams{Message: `model "m" not found`, Code: jujuapi.CodeNotFound}, nil)
		if jujuapi.ErrorCode(err) != jujuapi.CodeNotFound || !strings.Contains(err.Error(), `model "m" not found`) {
			t.Errorf("failing call = %v, want the server's not found error", err)
		}
		if err := cl.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := waitErr(t, "Serve", served); err != nil {
			t.Errorf("Serve after the client closed = %v, want nil", err)
		}
	})

	t.Run("the server shuts down", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		cl, served := serve(t, ctx)
		ping(t, cl)
		pending := make(chan error, 1)
		go func() { pending <- cl.Call(t.Context(), "Test", 1, "Block", nil, nil) }()
		<-blocked
		cancel()
		if err := waitErr(t, "pending call", pending); !errors.Is(err, jujuapi.ErrClientClosed) {
			t.Errorf("pending call = %v, want ErrClientClosed", err)
		}
		<-cl.Done()
		if err := cl.Err(); jujuapi.CloseCode(err) != jujuapi.CloseGoingAway {
			t.Errorf("client Err() = %v, want close 1001", err)
		}
		// Serve waits for its handler, which returns when the test ends.
		select {
		case err := <-served:
			t.Errorf("Serve returned %v with a handler still running", err)
		default:
		}
	})

	t.Run("a frame that is not JSON", func(t *testing.T) {
		client, server := pipe(t, jujuapi.ConnOptions{})
		served := make(chan error, 1)
		go func() {
			served <- jujuapi.Serve(t.Context(), server, registryHandler(testRegistry()), jujuapi.ServerOptions{Logger: quietLogger})
		}()
		read := goRead(client)
		written := goWrite(client, []byte("not json"))
		if err := waitErr(t, "client read", read); jujuapi.CloseCode(err) != jujuapi.CloseInvalidPayload {
			t.Errorf("client read %v, want close 1007", err)
		}
		if err := waitErr(t, "Serve", served); err == nil {
			t.Error("Serve of a bad frame returned nil, want its error")
		}
		waitErr(t, "write", written)
	})
}
