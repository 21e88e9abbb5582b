package proxy

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/jujuapitest"
)

// BenchmarkRelayFrameWork is the relay's own work on each response from
// the controller, without the sockets: reading its envelope and replacing
// the controller's UUID. "before" is what it did until ScanHeader and
// uuidRewriter (a full JSON validation and bytes.Contains).
func BenchmarkRelayFrameWork(b *testing.B) {
	frame := jujuapitest.FullStatusFrame(7, 200, 1000)
	for _, uuid := range []string{"c0c0c0c0-0000-4000-8000-000000000001", "ea1b2c3d-7d4e-4b1a-9c2f-5e6d7a8b9c0d"} {
		ctl := []byte(uuid)
		b.Run("before/"+uuid[:2], func(b *testing.B) {
			var env jujuapi.Envelope
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if jujuapi.ScanEnvelope(frame, &env) != nil || bytes.Contains(frame, ctl) {
					b.Fatal()
				}
			}
		})
		b.Run("after/"+uuid[:2], func(b *testing.B) {
			var env jujuapi.Envelope
			r := newUUIDRewriter(ctl, brokerUUID)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if jujuapi.ScanHeader(frame, &env) != nil {
					b.Fatal()
				}
				r.rewrite(frame)
			}
		})
	}
}

// TestUUIDRewriter: the rewriter replaces what bytes.ReplaceAll replaces,
// wherever the UUID is, whichever of its bytes it looks for.
func TestUUIDRewriter(t *testing.T) {
	const to = "b0b0b0b0-1111-4111-8111-111111111111"
	rng := rand.New(rand.NewPCG(1, 2))
	for _, from := range []string{"c0c0c0c0-0000-4000-8000-000000000001", "8aaaaaaa-aaaa-4aaa-aaaa-aaaaaaaaaaaa", "eeeeeeee-eeee-4eee-aeee-eeeeeeeeeee8", "3f0c8a52-7d4e-4b1a-9c2f-5e6d7a8b9c0d"} {
		r := newUUIDRewriter([]byte(from), to)
		// It looks for a rare byte: never the UUID's commonest letter
		// where a rarer one is there, as a first-byte or last-byte
		// choice would.
		if common := map[string]byte{from: 0, "8aaaaaaa-aaaa-4aaa-aaaa-aaaaaaaaaaaa": 'a', "eeeeeeee-eeee-4eee-aeee-eeeeeeeeeee8": 'e'}[from]; common != 0 && r.anchor == common {
			t.Fatalf("%s: the rewriter looks for %q, the commonest byte", from, r.anchor)
		}
		pieces := []string{from, from[:20], from[10:], from[:35], `"`, "e", "8", "a", "-", "c0c0", `{"controller-uuid":"`, from + from}
		for range 2000 {
			var b []byte
			for range rng.IntN(12) {
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			}
			want := bytes.ReplaceAll(b, []byte(from), []byte(to))
			got := r.rewrite(bytes.Clone(b))
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: rewrite(%q) = %q, want %q", from, b, got, want)
			}
		}
	}
	// A longer replacement (not a UUID) still works, by copying.
	r := newUUIDRewriter([]byte("abc"), "wxyz")
	if got := string(r.rewrite([]byte("xabcabcy"))); got != "xwxyzwxyzy" {
		t.Errorf("rewrite with a longer replacement = %q", got)
	}
	if got := string(newUUIDRewriter(nil, to).rewrite([]byte("abc"))); got != "abc" {
		t.Errorf("rewrite with no UUID = %q", got)
	}
}
