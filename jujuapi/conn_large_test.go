package jujuapi_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/jimmbroker/jimm/jujuapi"
)

// echoServer echoes every frame it reads, releasing each after writing it.
func echoServer(t *testing.T) *testServer {
	return connServer(t, jujuapi.ConnOptions{}, func(c *jujuapi.Conn) error {
		for {
			f, err := c.NextFrame()
			if err != nil {
				return err
			}
			err = c.WriteFrame(f.Bytes())
			f.Release()
			if err != nil {
				return err
			}
		}
	})
}

// randomText is n bytes of printable ASCII.
func randomText(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(' ' + rng.IntN(95))
	}
	return b
}

// TestConnLargeFrames: frames of every size around a TLS record and far
// beyond it go through whole, in both directions (a client's writes are
// masked, a server's not), in an order that has each pooled buffer reused
// for a frame of another size, smaller or larger; a frame held is not
// changed by the ones read after it.
func TestConnLargeFrames(t *testing.T) {
	ts := echoServer(t)
	c := dialConn(t, ts, jujuapi.ConnOptions{})
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := []int{0, 1, 125, 126, 16370, 16371, 16372, 16384, 16385, 65535, 65536, 65537, 70000, 577000, 200000, 1<<20 + 3, 81920, 81921, 577000, 300, 900000}
	var held *jujuapi.Frame
	var heldWant []byte
	for i, n := range sizes {
		want := randomText(rng, n)
		if err := c.WriteFrame(want); err != nil {
			t.Fatalf("WriteFrame of %d bytes: %v", n, err)
		}
		f, err := c.NextFrame()
		if err != nil {
			t.Fatalf("NextFrame after a frame of %d bytes: %v", n, err)
		}
		if !bytes.Equal(f.Bytes(), want) {
			t.Fatalf("a frame of %d bytes came back as %d bytes, different", n, len(f.Bytes()))
		}
		if f.Size() < n || f.Size() > n+n/4+64<<10 {
			t.Errorf("a frame of %d bytes holds %d bytes of memory", n, f.Size())
		}
		if i == 13 { // 577000 bytes: hold it while the next ones are read
			held, heldWant = f, want
			continue
		}
		f.Release()
	}
	if !bytes.Equal(held.Bytes(), heldWant) {
		t.Fatal("a held frame changed while later frames were read")
	}
	held.Release()
}

// TestConnLargeFragmented: a large message sent in many small fragments
// is read whole, growing through the pools' sizes as it comes.
func TestConnLargeFragmented(t *testing.T) {
	ts := echoServer(t)
	ws, err := dialRawWith(t.Context(), ts, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{100 << 10, 700 << 10, 90 << 10} {
		want := randomText(rng, n)
		if err := ws.WriteMessage(websocket.TextMessage, want); err != nil {
			t.Fatalf("write a message of %d bytes in fragments: %v", n, err)
		}
		op, got, err := ws.ReadMessage()
		if err != nil || op != websocket.TextMessage || !bytes.Equal(got, want) {
			t.Fatalf("a message of %d bytes in fragments came back as %d bytes (op %d, %v)", n, len(got), op, err)
		}
	}
}
