package jujuapi

import (
	"errors"
	"testing"
	"time"
)

// TestWriteTimeoutCloses: a peer that takes no frame within the write
// timeout has its connection closed: the write fails with
// ErrWriteTimeout, Done is closed, and the connection's own reader,
// waiting for a frame, finds it closed.
func TestWriteTimeoutCloses(t *testing.T) {
	const timeout = 200 * time.Millisecond
	client, server := Pipe(ConnOptions{WriteTimeout: timeout})
	defer client.Close()
	read := make(chan error, 1)
	go func() {
		_, err := server.NextFrame()
		read <- err
	}()
	select {
	case <-server.Done():
		t.Fatal("Done is closed before the connection is")
	default:
	}
	start := time.Now()
	err := server.WriteFrame([]byte(`{"request-id":1,"response":{}}`)) // the client never reads
	took := time.Since(start)
	if !errors.Is(err, ErrWriteTimeout) || !IsClosed(err) {
		t.Fatalf("a write nobody reads: %v; want ErrWriteTimeout", err)
	}
	if took < timeout || took > timeout+time.Second {
		t.Errorf("the write failed after %s, want about %s", took, timeout)
	}
	select {
	case <-server.Done():
	case <-time.After(time.Second):
		t.Fatal("Done is not closed after a write timed out")
	}
	select {
	case err := <-read:
		if !IsClosed(err) {
			t.Errorf("the reader's error: %v; want the connection closed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the reader still waits after a write timed out")
	}
	if err := server.WriteFrame([]byte(`{}`)); err == nil {
		t.Error("a write after the timeout succeeded")
	}
	// Done made after the close is closed too.
	_, s2 := Pipe(ConnOptions{})
	s2.Close()
	select {
	case <-s2.Done():
	default:
		t.Error("Done of a connection closed before it was asked for is not closed")
	}
}

// TestFrameTrim: a frame kept while its call is in flight holds no more
// than its bytes (plus a little), not its pooled buffer's size.
func TestFrameTrim(t *testing.T) {
	f := &Frame{b: make([]byte, 10, 32<<10)}
	copy(f.b, "0123456789")
	f.Trim()
	if string(f.Bytes()) != "0123456789" || f.Size() > 10+trimSlack {
		t.Fatalf("after Trim: %q in %d bytes", f.Bytes(), f.Size())
	}
	f.Release()
}
