package jujuapi

import (
	"fmt"
	"strings"
	"testing"
)

// checkScanHeader compares ScanHeader with encoding/json on frame: on a frame
// json accepts, ScanHeader gives exactly json's envelope of the frame's
// header (scanHeaderSlow), whatever env held before; a frame ScanHeader
// rejects, json rejects too, and the error says the message is malformed.
func checkScanHeader(t *testing.T, frame []byte) {
	t.Helper()
	var want Envelope
	wantErr := scanHeaderSlow(frame, &want)
	for _, prev := range []Envelope{{}, want, {RequestID: 7, Type: "Pinger", Version: 1, Request: "Ping", ID: "3", ErrorCode: "not found", Error: "boom"}} {
		got := prev
		err := ScanHeader(frame, &got)
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("frame %.200q: ScanHeader fails (%v), json accepts it as %+v", frame, err, want)
		case wantErr == nil && got != want:
			t.Fatalf("frame %.200q (env before %+v):\n got %+v\nwant %+v", frame, prev, got, want)
		case err != nil && !strings.HasPrefix(err.Error(), "malformed message:"):
			t.Fatalf("frame %.200q: error %q does not say the message is malformed", frame, err)
		}
	}
}

// bigBody is a response body of about n bytes whose strings hold what a
// skipper must not mistake for structure: braces, brackets, quotes,
// backslashes, escapes (\u007b is '{'), and keys named like the envelope's.
func bigBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"machines":{`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d":{"request-id":%d,"error":"not \"this\" one }]","type":"x","response":{"error-code":"nope","params":[]},`+
			`"status":{"info":"ready {\"a\":[1,2]} \\\\ \\\" ] } \u007b \u005d \ud83d\ude00 é","since":null},"list":[[],[{}],[[{"id":"}"}]]],"n":-1.5e3,"ok":true}`,
			i, i+1000)
	}
	b.WriteString(`}}`)
	return b.String()
}

// unusualFrames are well-formed frames whose envelope fields come in
// orders and surroundings the usual encoders do not produce, with what
// they say.
func unusualFrames() []struct {
	frame  string
	want   Envelope
	header *Envelope // ScanHeader's reading, where it stops short of want's (at the body)
} {
	body := bigBody(64 << 10)
	return []struct {
		frame  string
		want   Envelope
		header *Envelope
	}{
		{`{"response":` + body + `,"request-id":42}`, Envelope{RequestID: 42}, nil},
		{`{"request-id":43,"response":` + body + `,"error":"boom","error-code":"not found"}`, Envelope{RequestID: 43, Error: "boom", ErrorCode: "not found"},
			&Envelope{RequestID: 43}},
		{`{"response":` + body + `,"error-info":` + body + `,"error-code":"redirection required","error":"moved","request-id":44}`,
			Envelope{RequestID: 44, Error: "moved", ErrorCode: "redirection required"}, nil},
		{`{"params":` + body + `,"request":"FullStatus","version":7,"type":"Client","request-id":45,"id":"w\"1"}`,
			Envelope{RequestID: 45, Type: "Client", Version: 7, Request: "FullStatus", ID: `w"1`}, nil},
		{` {"x":["}", "{", "]"],"request-id":46,"y":{"request-id":1,"error":"inner"},"z":"\\","response":{"a":"\\\"}"}} `, Envelope{RequestID: 46}, nil},
		{`{"request-id":47,"response":[` + body + `,"]",{"[":"}"}],"error":"\u0062oom \"x\" {}"}`, Envelope{RequestID: 47, Error: `boom "x" {}`},
			&Envelope{RequestID: 47}},
		{`{"error-info":{"servers":[[{"value":"10.0.0.1"}]],"error":"inner"},"error":"outer","request-id":48}`, Envelope{RequestID: 48, Error: "outer"}, nil},
		{`{"request-id":49,"response":"a string body with {, [, \" and \\"}`, Envelope{RequestID: 49}, nil},
		{`{"request-id":50,"response":12,"other":null,"more":false,"error-code":"c"}`, Envelope{RequestID: 50, ErrorCode: "c"}, &Envelope{RequestID: 50}},
		{`{"error-code":"c","request-id":51,"error":"e","response":` + body + `}`, Envelope{RequestID: 51, Error: "e", ErrorCode: "c"}, nil},
	}
}

// TestScanUnusualOrder: both scanners read the envelope wherever its
// fields are: after a large body, around nested objects whose keys are
// named like the envelope's, past strings holding brackets and quotes.
func TestScanUnusualOrder(t *testing.T) {
	for _, test := range unusualFrames() {
		for _, scan := range []struct {
			name string
			fn   func([]byte, *Envelope) error
		}{{"ScanEnvelope", ScanEnvelope}, {"ScanHeader", ScanHeader}} {
			want := test.want
			if scan.name == "ScanHeader" && test.header != nil {
				want = *test.header
			}
			env := Envelope{Type: "junk", Error: "junk", RequestID: 1}
			if err := scan.fn([]byte(test.frame), &env); err != nil || env != want {
				t.Errorf("%s(%.120q...) = %+v, %v; want %+v", scan.name, test.frame, env, err, want)
			}
		}
		checkEnvelope(t, []byte(test.frame))
		checkScanHeader(t, []byte(test.frame))
	}
}

func TestScanHeaderMatchesJSON(t *testing.T) {
	for _, frame := range envelopeFrames {
		checkScanHeader(t, []byte(frame))
	}
}

// TestScanHeaderLooseBodies: inside a body that comes before the
// request-id, ScanHeader checks structure only. What json rejects there
// for its grammar is passed over; what breaks the structure (an unclosed
// string or bracket, brackets that do not match) is not.
func TestScanHeaderLooseBodies(t *testing.T) {
	for _, body := range []string{
		`{"a":tru}`, `{"a":01}`, `{"a":"\x"}`, "{\"a\":\"tab\there\"}", `{"a" 1}`, `{"a":1,}`, `[1 2]`, `{"a":"\u12"}`, `{1:2}`,
	} {
		frame := []byte(`{"response":` + body + `,"request-id":5,"error":"e"}`)
		var env Envelope
		if err := ScanHeader(frame, &env); err != nil || env != (Envelope{RequestID: 5, Error: "e"}) {
			t.Errorf("ScanHeader(%s) = %+v, %v; want request 5, error e", frame, env, err)
		}
		if err := ScanEnvelope(frame, &env); err == nil {
			t.Errorf("ScanEnvelope(%s) accepts it", frame)
		}
	}
	for _, frame := range []string{
		`{"response":{"a":"unclosed},"request-id":5}`,
		`{"response":{"a":[1,2},"request-id":5}`,
		`{"response":{"a":{"b":1},"request-id":5}`,
		`{"response":{"a":1}}},"request-id":5}`,
		`{"response":{"a":1}],"request-id":5}`,
		`{"response":],"request-id":5}`,
		`{"response":},"request-id":5}`,
		`{"response":{} "request-id":5}`,
		`{"response":{"a":"\"}},"request-id":5}`,
		`{"request-id":"5","response":{}}`,
		`{"request-id":5,"error":{},"response":{}}`,
		`{"request-id":5 "response":{}}`,
		`{"request-id":5,"error":"e"} trailing`,
		`[{"request-id":5}]`,
		`{"response":{}}`,
		`{"request-id":0,"response":{}}`,
		``,
	} {
		var env Envelope
		if err := ScanHeader([]byte(frame), &env); err == nil || !strings.HasPrefix(err.Error(), "malformed message:") {
			t.Errorf("ScanHeader(%s): error %v, want a malformed message", frame, err)
		}
		checkScanHeader(t, []byte(frame))
	}
}

// TestScanHeaderStopsAtTheBody: once the request-id is known, the body
// ends the header. Nothing from the body on is read: not its structure,
// not what follows it, not a member a Juju encoder would never write
// there.
func TestScanHeaderStopsAtTheBody(t *testing.T) {
	for _, test := range []struct {
		frame string
		want  Envelope
	}{
		{`{"request-id":5,"response":{"a":"unclosed}}`, Envelope{RequestID: 5}},
		{`{"request-id":5,"response":{"a":[1,2}}`, Envelope{RequestID: 5}},
		{`{"request-id":5,"response":{"a":1}}}`, Envelope{RequestID: 5}},
		{`{"request-id":5,"response":]`, Envelope{RequestID: 5}},
		{`{"request-id":5,"response"`, Envelope{RequestID: 5}},
		{`{"request-id":5,"response":{}} trailing`, Envelope{RequestID: 5}},
		{`{"request-id":5,"response":{},"error":"after the body"}`, Envelope{RequestID: 5}},
		{`{"request-id":5,"response":{},"request-id":6}`, Envelope{RequestID: 5}},
		{` { "error" : "e" , "request-id" : 6 , "error-code" : "c" , "response" : ` + bigBody(4096), Envelope{RequestID: 6, Error: "e", ErrorCode: "c"}},
		{`{"request-id":7,"Response":{},"error":"e"}`, Envelope{RequestID: 7, Error: "e"}}, // only "response" is the body
		{`{"request-id":8,"\u0072esponse":{"x":"unclosed},"error":"e"}`, Envelope{RequestID: 8}},
	} {
		env := Envelope{Type: "junk", Error: "junk", RequestID: 1}
		if err := ScanHeader([]byte(test.frame), &env); err != nil || env != test.want {
			t.Errorf("ScanHeader(%.120q) = %+v, %v; want %+v", test.frame, env, err, test.want)
		}
		checkScanHeader(t, []byte(test.frame))
	}
}

// TestScanHeaderTruncations: a frame cut anywhere is refused, as json
// refuses it, unless the cut is in its body (see scanHeaderSlow).
func TestScanHeaderTruncations(t *testing.T) {
	for _, test := range unusualFrames() {
		if len(test.frame) > 4096 {
			continue
		}
		for i := range len(test.frame) - 1 {
			checkScanHeader(t, []byte(test.frame[:i]))
		}
	}
}

// TestScanHeaderDepth: bodies nest up to encoding/json's limit, no
// further.
func TestScanHeaderDepth(t *testing.T) {
	for _, depth := range []int{maxNestingDepth - 1, maxNestingDepth} {
		frame := []byte(`{"response":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `,"request-id":1}`)
		checkScanHeader(t, frame)
	}
	frame := []byte(`{"response":` + strings.Repeat(`{"a":`, maxNestingDepth) + "1" + strings.Repeat("}", maxNestingDepth) + `,"request-id":1}`)
	var env Envelope
	if err := ScanHeader(frame, &env); err == nil {
		t.Errorf("ScanHeader accepts a body nested %d deep", maxNestingDepth+1)
	}
}

func FuzzScanHeader(f *testing.F) {
	for _, frame := range envelopeFrames {
		f.Add([]byte(frame))
		f.Add([]byte(frame[:len(frame)/2]))
	}
	for _, test := range unusualFrames() {
		if len(test.frame) <= 4096 {
			f.Add([]byte(test.frame))
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkScanHeader(t, frame)
	})
}
