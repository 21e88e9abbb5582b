package jujuapi

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// envelopeFrames are frames, good and bad, for the table test and the fuzz
// corpus.
var envelopeFrames = append(typicalFrames, exoticFrames...)

// typicalFrames are frames the fast scanner handles without encoding/json.
var typicalFrames = []string{
	// From PROTOCOL.md.
	`{"request-id":1,"type":"Facade","version":2,"id":"","request":"Method","params":{}}`,
	`{"request-id":1,"response":{}}`,
	`{"request-id":1,"error":"message","error-code":"code","error-info":{},"response":{}}`,
	`{"request-id":1,"type":"Admin","version":3,"request":"Login","params":{
 "auth-tag":"user-admin","credentials":"secret","nonce":"","macaroons":null,
 "bakery-version":3,"cli-args":"juju models","user-data":"","client-version":"3.5.4"}}`,
	`{"request-id":2,"response":{"controller-tag":"controller-6b0e9c13","model-tag":"model-0b0e9c13","server-version":"3.5.4",
 "public-dns-name":"","servers":[[{"value":"127.0.0.1","type":"ipv4","scope":"public","port":17070}]],
 "user-info":{"display-name":"admin","identity":"user-admin","controller-access":"superuser",
              "model-access":"admin","last-connection":"2026-11-21T09:34:12Z"},
 "facades":[{"name":"Pinger","versions":[1]},{"name":"ModelManager","versions":[9,10]}]}}`,
	`{"request-id":3,"error":"no such request - method ModelManager(10).Foo is not implemented","error-code":"not implemented","response":{}}`,
	`{"request-id":4,"error":"unknown object type \"Foo\"","error-code":"not implemented","response":{}}`,
	`{"request-id":5,"error":"redirection to alternative server required","error-code":"redirection required","error-info":{"servers":[[{"value":"10.1.2.3","type":"ipv4","scope":"public","port":17070}]],"controller-alias":"dst"},"response":{}}`,
	`{"request-id":6,"response":{"results":[{"error":{"message":"model \"m\" not found","code":"not found","info":null}},{"result":{"name":"m"}}]}}`,

	// Nesting, arrays, every kind of value in skipped bodies.
	`{"request-id":7,"params":{"a":[[[[[[[[[[{"b":[{"c":{}}]}]]]]]]]]]]},"response":[{"x":{"y":[null,true,false,-0.0e-0,1E+9,0.5,12e3,-7]}}]}`,
	`{"request-id":8,"params":[],"response":[[],{},"",0]}`,
	`{"request-id":9,"params":"a string","response":12.5e-3,"x":true,"y":false,"z":null}`,

	// Escapes.
	`{"request-id":10,"type":"\u0041dmin","request":"Lo\u0067in"}`,
	`{"request-id":11,"type":"Pinger","request":"P\u0069ng","error":"tab\there \"quoted\" back\\slash sl\/ash \b\f\n\r"}`,
	`{"request-id":12,"error":"pair \ud83d\ude00 lone \ud800 \udc00 high-high \ud800\ud800 hex \u00e9\u00E9 null \u0000"}`,
	`{"request-id":13,"params":{"k\"ey":"v\\","\u00e9":"\ud800","esc":"\/\b\f\n\r\t\u1234"}}`,
	`{"request-id":14,"type":"h\u00e9llo","request":"\u2028\u2029"}`,
	"{\"request-id\":15,\"type\":\"héllo wörld ☃\",\"request\":\"\xf0\x9f\x98\x80\"}",

	// Invalid UTF-8 is accepted and replaced.
	"{\"request-id\":16,\"type\":\"\xff\xfe\",\"request\":\"Ping\",\"params\":{\"\xc3\x28\":\"\xed\xa0\x80\"}}",
	"{\"request-id\":17,\"error\":\"a\xc3\",\"error-code\":\"\xed\xa0\x80\\n\"}",

	// White space everywhere.
	" \t\r\n{ \"request-id\" : 18 , \"type\" :\t\"Pinger\"\n,\r\"version\": 1 ,\"request\":\"Ping\" , \"params\" : { \"a\" : [ 1 , 2 , { } , [ ] ] } } \n\t\r ",
	"{\n}",

	// Duplicate keys: the last one wins; null leaves the field as it is.
	`{"request-id":1,"request-id":19,"type":"A","type":"Pinger","request":"Ping","request":"Pong"}`,
	`{"request-id":20,"type":"Pinger","type":null,"request":null,"version":3,"version":null}`,
	`{"request-id":21,"request-id":null}`,
	`{"request-id":null,"request-id":22}`,

	// Case-insensitive keys.
	`{"REQUEST-ID":23,"Type":"Pinger","REQUEST":"Ping","VerSion":2,"Error-Code":"c","ERROR":"e"}`,
	`{"Request-Id":24,"tYPE":"X"}`,
	`{"request_id":25}`,
	`{"requestid":26}`,
	`{"request-id ":27}`,

	// Null fields.
	`{"request-id":34,"type":null,"version":null,"request":null,"error-code":null,"error":null}`,
}

// exoticFrames are frames the fast scanner may leave to encoding/json, and
// malformed ones.
var exoticFrames = []string{

	// Non-ASCII and escaped keys: left to encoding/json.
	`{"request-\u0069d":28}`,
	`{"\u0072equest-id":29,"typ\u0065":"T"}`,
	"{\"request-id\":30,\"ver\u017Fion\":4}",  // long s folds to s
	"{\"request-id\":31,\"\u212Aey\":4}",      // Kelvin sign
	"{\"request-id\":32,\"t\xffype\":\"T\"}",  // invalid UTF-8 in a key
	"{\"request-id\":33,\"vers\\u0131on\":5}", // dotless i does not fold to i

	// Numbers.
	`{"request-id":18446744073709551615,"version":9223372036854775807,"response":{}}`,
	`{"request-id":18446744073709551616}`,
	`{"request-id":99999999999999999999}`,
	`{"request-id":100000000000000000000}`,
	`{"request-id":1,"version":-9223372036854775808}`,
	`{"request-id":1,"version":-9223372036854775809}`,
	`{"request-id":1,"version":9223372036854775808}`,
	`{"request-id":1,"version":-0}`,
	`{"request-id":1,"version":-1}`,
	`{"request-id":1,"version":1.0}`,
	`{"request-id":1,"version":1e3}`,
	`{"request-id":1e3}`,
	`{"request-id":1E0}`,
	`{"request-id":1.0}`,
	`{"request-id":1.5}`,
	`{"request-id":-1}`,
	`{"request-id":-0}`,
	`{"request-id":0}`,
	`{"request-id":01}`,
	`{"request-id":1e400}`,
	`{"request-id":+1}`,
	`{"request-id":.5}`,
	`{"request-id":1.}`,
	`{"request-id":1e}`,
	`{"request-id":1e+}`,
	`{"request-id":-}`,
	`{"request-id":1,"p":01}`,
	`{"request-id":1,"p":-01}`,
	`{"request-id":1,"p":1.e5}`,
	`{"request-id":1,"p":0x10}`,
	`{"request-id":1,"p":NaN}`,

	// Wrong types for known fields.
	`{"request-id":"1"}`,
	`{"request-id":true}`,
	`{"request-id":{}}`,
	`{"request-id":[1]}`,
	`{"request-id":1,"type":5}`,
	`{"request-id":1,"type":true}`,
	`{"request-id":1,"type":{"a":1}}`,
	`{"request-id":1,"type":["a"]}`,
	`{"request-id":1,"version":"3"}`,
	`{"request-id":1,"version":false}`,
	`{"request-id":1,"error":{"message":"m"}}`,
	`{"request-id":1,"error-code":404}`,
	`{"request-id":1,"type":nul}`,
	`{"request-id":1,"type":nulll}`,
	`{"request-id":1,"type":Null}`,

	// Missing request-id.
	`{}`,
	`{"type":"Pinger","request":"Ping"}`,
	`{"request-id":0,"type":"Pinger"}`,

	// Not an object, or not only one.
	``,
	` `,
	`null`,
	`[]`,
	`[{"request-id":1}]`,
	`"str"`,
	`1`,
	`true`,
	"\xef\xbb\xbf{\"request-id\":1}",
	`{"request-id":1,"type":"Pinger","version":1,"request":"Ping"}{}`,
	`{"request-id":1} x`,
	`{"request-id":1}}`,
	`{"request-id":1},`,
	"{\"request-id\":1}\x00",
	"{\"request-id\":1}\f",

	// Malformed JSON, including inside skipped bodies.
	`{"request-id":1,"type":"Pin`,
	`{"request-id":1,"type":"Pinger"`,
	`{"request-id":1,"type":"Pinger",}`,
	`{"request-id":1,,"type":"Pinger"}`,
	`{,"request-id":1}`,
	`{"request-id" 1}`,
	`{"request-id":1 "type":"P"}`,
	`{request-id:1}`,
	`{'request-id':1}`,
	`{"request-id":1,"params":{"a":1,}}`,
	`{"request-id":1,"params":[1,]}`,
	`{"request-id":1,"params":[1 2]}`,
	`{"request-id":1,"params":{"a" 1}}`,
	`{"request-id":1,"params":{"a":}}`,
	`{"request-id":1,"params":{1:2}}`,
	`{"request-id":1,"params":[}`,
	`{"request-id":1,"params":{]}`,
	`{"request-id":1,"params":[{]}]}`,
	`{"request-id":1,"params":{"a":[1,2}]}`,
	`{"request-id":1,"params":{"a":tru}}`,
	`{"request-id":1,"params":{"a":True}}`,
	`{"request-id":1,"params":{"a":truefalse}}`,
	`{"request-id":1,"params":{"a":"\x"}}`,
	`{"request-id":1,"params":{"a":"\u12"}}`,
	`{"request-id":1,"params":{"a":"\u12G4"}}`,
	`{"request-id":1,"params":{"a":"\u123x"}}`,
	`{"request-id":1,"params":{"a":"\uG234"}}`,
	`{"request-id":1,"params":{"a":"\u1x34"}}`,
	`{"request-id":1,"type":"\u004G"}`,
	`{"request-id":1,"type":"\u004"}`,
	`{"request-id":1,"type":"\U0041"}`,
	`{"request-id":1,"params":{"a":"\'"}}`,
	`{"request-id":1,"params":"unterminated}`,
	`{"request-id":1,"params":"\`,
	"{\"request-id\":1,\"params\":\"tab\there\"}",
	"{\"request-id\":1,\"type\":\"new\nline\"}",
	"{\"request-id\":1,\"ty\x01pe\":\"T\"}",
	"{\"request-id\":1,\"params\":{\"\x1f\":1}}",
	"{\"request-id\":1,\"params\":\"\x7f\"}",
	`{"request-id":1,"error":"\uD83D"}`,
	`{"request-id":1,"error":"\uDE00\uD83D\uDE00\uD83D"}`,
	`{"request-id":1,"error":"\uD83D\u0041"}`,
	`{"request-id":1,"error":"\uD83D\\"}`,
}

func scanBoth(frame []byte, prev Envelope) (fast, slow Envelope, fastErr, slowErr error) {
	fast = prev
	fastErr = ScanEnvelope(frame, &fast)
	slow = Envelope{Type: "junk", Request: "junk", RequestID: 99, Version: 9, ErrorCode: "junk", Error: "junk"}
	slowErr = scanEnvelopeSlow(frame, &slow)
	return fast, slow, fastErr, slowErr
}

// checkEnvelope compares ScanEnvelope with scanEnvelopeSlow on frame, with
// env starting out zero, as the slow result, and holding other values.
func checkEnvelope(t *testing.T, frame []byte) {
	t.Helper()
	var want Envelope
	wantErr := scanEnvelopeSlow(frame, &want)
	prevs := []Envelope{
		{},
		want,
		{RequestID: 7, Type: "Pinger", Version: 1, Request: "Ping", ErrorCode: "not found", Error: "boom"},
		{RequestID: want.RequestID, Type: want.Type + "x", Version: want.Version + 1, Request: strings.ToUpper(want.Request), ErrorCode: "x" + want.ErrorCode, Error: want.Error + want.Error},
	}
	for _, prev := range prevs {
		got := prev
		err := ScanEnvelope(frame, &got)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("frame %q (env before %+v):\n got error %v\nwant error %v", frame, prev, err, wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "malformed message:") {
			t.Fatalf("frame %q: error %q does not start with \"malformed message:\"", frame, err)
		}
		if got != want {
			t.Fatalf("frame %q (env before %+v):\n got %+v\nwant %+v (error %v)", frame, prev, got, want, wantErr)
		}

		// The fast scanner on its own: what it accepts, json accepts
		// alike; what it rejects, json rejects.
		fast := prev
		switch r := scanEnvelopeFast(frame, &fast, false); r {
		case scanOK:
			if fast != want {
				t.Fatalf("frame %q: fast scan gives %+v, want %+v (error %v)", frame, fast, want, wantErr)
			}
			if (fast.RequestID == 0) != (wantErr != nil) {
				t.Fatalf("frame %q: fast scan accepts it, json says %v", frame, wantErr)
			}
		case scanBad:
			if wantErr == nil {
				t.Fatalf("frame %q: fast scan rejects it, json accepts it as %+v", frame, want)
			}
		case scanSlow:
		default:
			t.Fatalf("frame %q: fast scan returns %d", frame, r)
		}
	}
}

func TestScanEnvelopeMatchesJSON(t *testing.T) {
	for _, frame := range envelopeFrames {
		checkEnvelope(t, []byte(frame))
	}
}

func TestScanEnvelopeResults(t *testing.T) {
	// A few results spelled out, so that a change to both scanners (or
	// to encoding/json) shows.
	tests := []struct {
		frame string
		want  Envelope
		err   string
	}{{
		frame: `{"request-id":1,"type":"Admin","version":3,"request":"Login","params":{"auth-tag":"user-admin"}}`,
		want:  Envelope{RequestID: 1, Type: "Admin", Version: 3, Request: "Login"},
	}, {
		frame: `{"request-id":5,"error":"unknown object type \"Foo\"","error-code":"not implemented","error-info":{"a":[1]},"response":{}}`,
		want:  Envelope{RequestID: 5, Error: `unknown object type "Foo"`, ErrorCode: "not implemented"},
	}, {
		frame: `{"REQUEST-ID":2,"Type":"\u0050inger","REQUEST":"Ping","type":null,"request-id":3}`,
		want:  Envelope{RequestID: 3, Type: "Pinger", Request: "Ping"},
	}, {
		frame: `{"request-id":4,"error":"\ud83d\ude00 \ud800x \u00e9","version":-2}`,
		want:  Envelope{RequestID: 4, Error: "\U0001F600 \uFFFDx é", Version: -2},
	}, {
		frame: "{\"request-id\":6,\"type\":\"a\xffb\"}",
		want:  Envelope{RequestID: 6, Type: "a\uFFFDb"},
	}, {
		frame: `{"request-id":18446744073709551615}`,
		want:  Envelope{RequestID: 18446744073709551615},
	}, {
		frame: `{"type":"Pinger"}`,
		want:  Envelope{Type: "Pinger"},
		err:   "malformed message: missing request-id",
	}, {
		frame: `{"request-id":1,"params":{"a":[1,2}]}`,
		err:   "malformed message: invalid character '}' after array element",
	}}
	for _, test := range tests {
		env := Envelope{Type: "junk", Version: 42}
		err := ScanEnvelope([]byte(test.frame), &env)
		if test.err == "" && err != nil || test.err != "" && (err == nil || err.Error() != test.err) {
			t.Errorf("ScanEnvelope(%s): error %v, want %q", test.frame, err, test.err)
		}
		if env != test.want {
			t.Errorf("ScanEnvelope(%s) = %+v, want %+v", test.frame, env, test.want)
		}
	}
}

// TestScanEnvelopeFastPath: the typical frames do not fall back to
// encoding/json, and the exotic ones this test names do.
func TestScanEnvelopeFastPath(t *testing.T) {
	for _, frame := range typicalFrames {
		var env Envelope
		if r := scanEnvelopeFast([]byte(frame), &env, false); r != scanOK {
			t.Errorf("fast scan of %q: %d, want scanOK", frame, r)
		}
	}
	for _, frame := range []string{
		`{"request-\u0069d":28}`,
		"{\"request-id\":30,\"ver\u017Fion\":4}",
		`{"request-id":1e3}`,
		`{"request-id":-1}`,
		`{"request-id":18446744073709551616}`,
		`{"request-id":1,"version":9223372036854775808}`,
		`{"request-id":1,"version":1.0}`,
	} {
		var env Envelope
		if r := scanEnvelopeFast([]byte(frame), &env, false); r != scanSlow {
			t.Errorf("fast scan of %q: %d, want scanSlow", frame, r)
		}
	}
}

func TestScanEnvelopeDepth(t *testing.T) {
	// encoding/json allows 10000 nested objects and arrays, the frame
	// itself included.
	for _, test := range []struct {
		open, close string
		levels      int // per repetition
	}{{"[", "]", 1}, {`{"a":`, "}", 1}, {`[{"a":`, "}]", 2}} {
		for _, depth := range []int{63, 64, 65, 66, 67, 255, 256, 257, 258, 259, 1000, 9998, 9999, 10000, 10001, 10002, 10003} {
			k := (depth - 1) / test.levels
			depth = 1 + k*test.levels
			frame := []byte(`{"request-id":1,"params":` + strings.Repeat(test.open, k) + "1" + strings.Repeat(test.close, k) + `,"type":"T"}`)
			checkEnvelope(t, frame)
			var env Envelope
			err := ScanEnvelope(frame, &env)
			if (err == nil) != (depth <= 10000) {
				t.Errorf("depth %d (%s): error %v", depth, test.open, err)
			}
			if r := scanEnvelopeFast(frame, &env, false); r != scanOK && r != scanBad {
				t.Errorf("depth %d (%s): fast scan falls back", depth, test.open)
			}
		}
	}
	// Mixed containers deeper than the inline bit stack, closed rightly
	// and wrongly.
	deep := strings.Repeat(`[{"a":`, 200)
	checkEnvelope(t, []byte(`{"request-id":1,"p":`+deep+"1"+strings.Repeat("}]", 200)+`}`))
	checkEnvelope(t, []byte(`{"request-id":1,"p":`+deep+"1"+strings.Repeat("}]", 199)+"]}"+`}`))
	checkEnvelope(t, []byte(`{"request-id":1,"p":`+deep+"1"+strings.Repeat("}]", 199)+"}}"+`}`))
	checkEnvelope(t, []byte(`{"request-id":1,"p":`+deep+"1"+strings.Repeat("}]", 199)+"}"+`}`))

	// Patterns of objects and arrays that differ 64 levels apart, closed
	// rightly, and with one container closed by the wrong bracket.
	for _, depth := range []int{3, 63, 64, 65, 66, 100, 128, 129, 130, 256, 257, 300, 600} {
		for seed := range 4 {
			var open, close []string
			for d := range depth {
				if (d*d+seed*d/3+d/64)%3 == 0 {
					open, close = append(open, `{"k":`), append(close, "}")
				} else {
					open, close = append(open, "["), append(close, "]")
				}
			}
			build := func(wrong int) []byte {
				var b strings.Builder
				b.WriteString(`{"request-id":1,"params":`)
				for _, o := range open {
					b.WriteString(o)
				}
				b.WriteString("true")
				for d := depth - 1; d >= 0; d-- {
					c := close[d]
					if d == wrong {
						c = map[string]string{"}": "]", "]": "}"}[c]
					}
					b.WriteString(c)
				}
				b.WriteString(`,"type":"T"}`)
				return []byte(b.String())
			}
			frame := build(-1)
			checkEnvelope(t, frame)
			var env Envelope
			if r := scanEnvelopeFast(frame, &env, false); r != scanOK || env.Type != "T" {
				t.Errorf("depth %d, seed %d: fast scan gives %d, %+v", depth, seed, r, env)
			}
			for _, wrong := range []int{0, depth / 2, depth - 64, depth - 1} {
				if wrong >= 0 {
					frame := build(wrong)
					checkEnvelope(t, frame)
					if r := scanEnvelopeFast(frame, &env, false); r != scanBad {
						t.Errorf("depth %d, seed %d, wrong bracket at %d: fast scan gives %d", depth, seed, wrong, r)
					}
				}
			}
		}
	}
}

func TestScanEnvelopeTruncations(t *testing.T) {
	for _, frame := range typicalFrames {
		for i := range len(frame) {
			checkEnvelope(t, []byte(frame[:i]))
		}
	}
}

func TestScanEnvelopeCopiesStrings(t *testing.T) {
	// A relay reuses its read buffer: env must not alias it.
	frame := []byte(`{"request-id":1,"type":"Pinger","request":"Ping","error-code":"code","error":"message"}`)
	var env Envelope
	if err := ScanEnvelope(frame, &env); err != nil {
		t.Fatal(err)
	}
	want := env
	for i := range frame {
		frame[i] = 'x'
	}
	if env != want {
		t.Fatalf("envelope changed with the frame: %+v", env)
	}
}

func TestScanEnvelopeAllocs(t *testing.T) {
	frames := map[string]string{
		"request":  `{"request-id":1,"type":"ModelManager","version":10,"request":"ListModels","params":{"tag":"user-admin","deep":[[[[{"a":[1,2.5e3,true,null]}]]]]}}`,
		"response": `{"request-id":2,"response":{"results":[{"result":{"name":"m","uuid":"0b0e9c13"}}]}}`,
		"error":    `{"request-id":3,"error":"unknown object type \"Foo\"","error-code":"not implemented","error-info":{},"response":{}}`,
		"unicode":  `{"request-id":4,"type":"Fa\u00e7ade","request":"h\u00e9llo","error":"caf` + "\u00e9" + `"}`,
		"deep":     `{"request-id":5,"params":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
	}
	for name, frame := range frames {
		data := []byte(frame)
		var env Envelope
		if err := ScanEnvelope(data, &env); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Frames from another connection go through a copy.
		id := env.RequestID
		allocs := testing.AllocsPerRun(100, func() {
			if err := ScanEnvelope(data, &env); err != nil || env.RequestID != id {
				t.Fatalf("%s: %v", name, err)
			}
		})
		want := 0.0
		if name == "deep" {
			want = 1 // the bit stack outgrows its 256 inline levels
		}
		if allocs != want {
			t.Errorf("%s: %v allocations per scan into a reused envelope, want %v", name, allocs, want)
		}
	}

	// A different method costs one string; a new facade and method two.
	var env Envelope
	a := []byte(`{"request-id":1,"type":"Client","version":8,"request":"FullStatus","params":{}}`)
	b := []byte(`{"request-id":2,"type":"Client","version":8,"request":"Status","params":{}}`)
	c := []byte(`{"request-id":3,"type":"Pinger","version":1,"request":"Ping","params":{}}`)
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		f := a
		if i++; i%2 == 0 {
			f = b
		}
		if err := ScanEnvelope(f, &env); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Errorf("%v allocations per scan with alternating methods, want 1", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		f := a
		if i++; i%2 == 0 {
			f = c
		}
		if err := ScanEnvelope(f, &env); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 2 {
		t.Errorf("%v allocations per scan with alternating facades, want 2", allocs)
	}
}

func FuzzScanEnvelope(f *testing.F) {
	for _, frame := range envelopeFrames {
		f.Add([]byte(frame))
		if len(frame) > 2 {
			// Truncated, and with a byte changed.
			f.Add([]byte(frame[:len(frame)/2]))
			f.Add([]byte(frame[:len(frame)-1]))
		}
	}
	for _, n := range []string{"1e3", "-1", "18446744073709551616", "18446744073709551615", "1.0", "01", "-0", "0", "1E+2", "1e-2", "9223372036854775808", "-9223372036854775808", "1.5e300", "-", "1.", "2e"} {
		f.Add([]byte(`{"request-id":` + n + `,"type":"Pinger","request":"Ping"}`))
		f.Add([]byte(`{"request-id":1,"version":` + n + `}`))
		f.Add([]byte(`{"request-id":1,"params":[` + n + `]}`))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkEnvelope(t, frame)
	})
}

// envelopeBenchFrames: typical relay traffic, small and with a 4 KB body.
func envelopeBenchFrames() map[string][]byte {
	var big bytes.Buffer
	big.WriteString(`{"results":[`)
	for i := 0; big.Len() < 4000; i++ {
		if i > 0 {
			big.WriteByte(',')
		}
		fmt.Fprintf(&big, `{"model":{"name":"model-%d","uuid":"0b0e9c13-8e7a-4d37-8e2b-1f5e3c6e%04d","type":"iaas","owner-tag":"user-admin","life":"alive","status":{"status":"available","info":"","since":"2026-11-21T09:34:12Z"},"counts":[{"entity":"machines","count":%d},{"entity":"cores","count":%d.5}],"agent-version":"3.5.4","sla":null,"is-controller":false}}`, i, i, i*3, i*7)
	}
	big.WriteString(`]}`)
	return map[string][]byte{
		"request-200B":  []byte(`{"request-id":1234,"type":"ModelManager","version":10,"request":"ListModelSummaries","params":{"user-tag":"user-admin","all":true,"filter":{"owner":"admin","life":["alive","dying"]}}}`),
		"response-200B": []byte(`{"request-id":1234,"response":{"results":[{"result":{"name":"m","uuid":"0b0e9c13-8e7a-4d37-8e2b-1f5e3c6e0d1a","type":"iaas","owner-tag":"user-admin","life":"alive"}}]}}`),
		"request-4KB":   []byte(`{"request-id":1234,"type":"ModelManager","version":10,"request":"ImportModels","params":` + big.String() + `}`),
		"response-4KB":  []byte(`{"request-id":1234,"response":` + big.String() + `}`),
	}
}

func BenchmarkScanEnvelope(b *testing.B) {
	frames := envelopeBenchFrames()
	for _, name := range []string{"request-200B", "response-200B", "request-4KB", "response-4KB"} {
		frame := frames[name]
		for _, impl := range []struct {
			name string
			scan func([]byte, *Envelope) error
		}{{"slow", scanEnvelopeSlow}, {"fast", ScanEnvelope}} {
			b.Run(name+"/"+impl.name, func(b *testing.B) {
				var env Envelope
				b.ReportAllocs()
				b.SetBytes(int64(len(frame)))
				for b.Loop() {
					if err := impl.scan(frame, &env); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
