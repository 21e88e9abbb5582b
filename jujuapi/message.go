package jujuapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// Message is the envelope of every frame, request or response. Bodies stay
// raw so that a relay can route a frame after reading only its envelope.
//
// A request carries Type and Request (the facade and method); a response
// carries neither, and has either Response or Error set.
type Message struct {
	RequestID uint64          `json:"request-id"`
	Type      string          `json:"type,omitempty"`
	Version   int             `json:"version,omitempty"`
	ID        string          `json:"id,omitempty"`
	Request   string          `json:"request,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Error     string          `json:"error,omitempty"`
	ErrorCode string          `json:"error-code,omitempty"`
	ErrorInfo json.RawMessage `json:"error-info,omitempty"`
	Response  json.RawMessage `json:"response,omitempty"`
}

// IsRequest reports whether m is a request (as opposed to a response).
func (m *Message) IsRequest() bool { return m.Type != "" || m.Request != "" }

// Method names a request's method as Juju writes it in messages: Facade(V).Method.
func (m *Message) Method() string {
	if m.Version == 0 {
		return m.Type + "." + m.Request
	}
	return fmt.Sprintf("%s(%d).%s", m.Type, m.Version, m.Request)
}

// Err returns the error a response carries, or nil.
func (m *Message) Err() error {
	if m.Error == "" && m.ErrorCode == "" {
		return nil
	}
	e := &Error{Message: m.Error, Code: m.ErrorCode}
	if len(m.ErrorInfo) > 0 && string(m.ErrorInfo) != "null" {
		// Info that does not decode is dropped rather than hiding the error.
		_ = json.Unmarshal(m.ErrorInfo, &e.Info)
	}
	return e
}

var emptyObject = json.RawMessage("{}")

// DecodeMessage parses one frame. It fails on anything that is not a single
// JSON object with a positive request-id.
func DecodeMessage(data []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("malformed message: %w", err)
	}
	if m.RequestID == 0 {
		return nil, fmt.Errorf("malformed message: missing request-id")
	}
	return &m, nil
}

// EncodeResponse builds the response frame for a request id, from a result
// or an error.
func EncodeResponse(id uint64, result any, err error) ([]byte, error) {
	m := Message{RequestID: id}
	if err != nil {
		e := AsError(err)
		m.Error, m.ErrorCode, m.Response = e.Message, e.Code, emptyObject
		if len(e.Info) > 0 {
			info, ierr := json.Marshal(e.Info)
			if ierr != nil {
				return nil, fmt.Errorf("encode error info of response %d: %w", id, ierr)
			}
			m.ErrorInfo = info
		}
		return json.Marshal(&m)
	}
	switch r := result.(type) {
	case nil:
		m.Response = emptyObject
	case *ResultBuffer:
		return r.frame(id), nil
	case json.RawMessage:
		m.Response = r
		if len(r) == 0 || string(r) == "null" {
			m.Response = emptyObject
		}
	default:
		body, merr := json.Marshal(result)
		if merr != nil {
			return nil, fmt.Errorf("encode response %d: %w", id, merr)
		}
		if string(body) == "null" {
			body = emptyObject
		}
		// body is compact, valid JSON already: frame it here rather than
		// have json.Marshal scan it all again (a big result is most of
		// the cost of a response).
		return frameResponse(id, body), nil
	}
	return json.Marshal(&m)
}

// ResultBuffer is a result a handler encodes itself, as compact, valid
// JSON appended to B (NewResultBuffer), for a result too large to be
// copied lightly (a listing of 100,000 models is 59 MB). EncodeResponse
// frames it as it is, where a json.RawMessage is checked and compacted
// byte by byte, and in place: B keeps room for the envelope before the
// result. Serve puts the buffer back in a pool once the response is
// written, for the next large result: one is not allocated, cleared and
// grown each time.
type ResultBuffer struct {
	// B is the room for the envelope (resultRoom bytes), then the result.
	B []byte
}

// resultRoom is the room a ResultBuffer keeps for the envelope before the
// result: the longest `{"request-id":N,"response":`.
const resultRoom = len(`{"request-id":18446744073709551615,"response":`)

var resultBufs sync.Pool // *ResultBuffer

// maxPooledResult is the largest ResultBuffer kept for reuse.
const maxPooledResult = 256 << 20

// NewResultBuffer returns a buffer to append a result to: one used
// before, or a new one with room for capacity bytes.
func NewResultBuffer(capacity int) *ResultBuffer {
	if x := resultBufs.Get(); x != nil {
		r := x.(*ResultBuffer)
		r.B = r.B[:resultRoom]
		return r
	}
	return &ResultBuffer{B: make([]byte, resultRoom, resultRoom+capacity)}
}

// Result is the result appended to the buffer.
func (r *ResultBuffer) Result() []byte { return r.B[resultRoom:] }

// frame frames the result as the response to request id, in the buffer.
func (r *ResultBuffer) frame(id uint64) []byte {
	if len(r.B) <= resultRoom {
		r.B = append(r.B[:resultRoom], emptyObject...)
	}
	var head [resultRoom]byte
	h := appendResponseHead(head[:0], id)
	start := resultRoom - len(h)
	copy(r.B[start:], h)
	r.B = append(r.B, '}')
	return r.B[start:]
}

// release puts the buffer back in the pool, its frame written.
func (r *ResultBuffer) release() {
	if cap(r.B) <= maxPooledResult {
		resultBufs.Put(r)
	}
}

// frameResponse frames body, compact and valid JSON, as the response to
// request id.
func frameResponse(id uint64, body []byte) []byte {
	out := appendResponseHead(make([]byte, 0, len(body)+resultRoom+1), id)
	out = append(out, body...)
	return append(out, '}')
}

// appendResponseHead appends the start of the response to request id, up
// to its result: `{"request-id":N,"response":`.
func appendResponseHead(b []byte, id uint64) []byte {
	b = append(b, `{"request-id":`...)
	b = strconv.AppendUint(b, id, 10)
	return append(b, `,"response":`...)
}
