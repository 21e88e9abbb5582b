package proxy

import (
	"bytes"
	"strings"
)

// uuidRewriter replaces a controller's UUID with the broker's in the
// frames relayed to the client, so that nothing the client receives names
// the controller.
//
// Every response is searched, so the search must cost little more than
// reading the bytes once. bytes.Index looks for a pattern's first byte and
// compares from there; in JSON, where the hex letters a, c, d and e are
// everywhere, a UUID beginning with one of them makes it stumble on a
// candidate every few bytes (3–4 GB/s on a FullStatus). The rewriter
// instead looks, with bytes.IndexByte (vectorised), for the UUID's byte
// that is rarest in JSON text and compares the whole UUID around each
// hit: about the speed of memchr whatever the UUID.
type uuidRewriter struct {
	from, to []byte
	anchor   byte // from[off], the byte looked for
	off      int
}

// jsonRarity ranks the bytes a UUID is made of, rarest first in Juju's
// JSON responses (counted in a FullStatus: timestamps, addresses, ids,
// words; hex letters that are common in English words come last).
const jsonRarity = "87b5396f4c20-1dae"

func newUUIDRewriter(from []byte, to string) *uuidRewriter {
	r := &uuidRewriter{from: from, to: []byte(to)}
	best := len(jsonRarity)
	for i, c := range from {
		lower := c
		if 'A' <= c && c <= 'Z' {
			lower += 'a' - 'A'
		}
		rank := strings.IndexByte(jsonRarity, lower)
		if rank < 0 {
			rank = -1 // a byte not in the table (not a UUID's): rarer still
		}
		if rank < best {
			best, r.anchor, r.off = rank, c, i
		}
	}
	return r
}

// rewrite replaces every occurrence of the controller's UUID in data, in
// place when the two have the same length (UUIDs do), and returns data.
func (r *uuidRewriter) rewrite(data []byte) []byte {
	n := len(r.from)
	switch {
	case n == 0:
		return data
	case n != len(r.to):
		if bytes.Contains(data, r.from) {
			return bytes.ReplaceAll(data, r.from, r.to)
		}
		return data
	}
	for i := r.off; i < len(data); {
		j := bytes.IndexByte(data[i:], r.anchor)
		if j < 0 {
			break
		}
		start := i + j - r.off
		if start+n <= len(data) && bytes.Equal(data[start:start+n], r.from) {
			copy(data[start:], r.to)
			i = start + n + r.off
		} else {
			i += j + 1
		}
	}
	return data
}
