package jujucli

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// TraceFlags make the CLI log every frame it sends and receives (the
// juju.rpc.jsoncodec logger at TRACE) and what it connects to, on stderr.
var TraceFlags = []string{"--debug", "--logging-config", "<root>=DEBUG;juju.rpc.jsoncodec=TRACE"}

// Call is one RPC the CLI made: its request and the answer it got.
type Call struct {
	// Endpoint is the URL of the connection it went on, as the CLI logged
	// it; "" when the log cannot tell (several connections were open: the
	// log does not say which connection a frame is on).
	Endpoint string
	Facade   string
	Version  int
	Method   string
	Params   json.RawMessage
	// Response is the answer's "response"; Error and ErrorCode its error.
	Response  json.RawMessage
	Error     string
	ErrorCode string
	// Answered is false when no answer was logged (the CLI gave up, or
	// the connection closed first).
	Answered bool
}

// Name is Facade(version).Method, or Facade.Method for a call made
// without a version.
func (c Call) Name() string {
	if c.Version == 0 {
		return c.Facade + "." + c.Method
	}
	return fmt.Sprintf("%s(%d).%s", c.Facade, c.Version, c.Method)
}

func (c Call) String() string {
	s := fmt.Sprintf("%s %s", c.Name(), c.Params)
	switch {
	case !c.Answered:
		s += " → (no answer)"
	case c.Error != "":
		s += fmt.Sprintf(" → error %q (code %q)", c.Error, c.ErrorCode)
	default:
		s += " → " + string(c.Response)
	}
	return s
}

var (
	frameLine = regexp.MustCompile(`\bTRACE juju\.rpc\.jsoncodec \S+ (->|<-) (\{.*\})\s*$`)
	// What the API client logs once a connection is open.
	establishedLine = regexp.MustCompile(`connection established to "((?:wss|https)://[^"]+)"`)
)

type frame struct {
	RequestID int             `json:"request-id"`
	Type      string          `json:"type"`
	Version   int             `json:"version"`
	Request   string          `json:"request"`
	Params    json.RawMessage `json:"params"`
	Response  json.RawMessage `json:"response"`
	Error     string          `json:"error"`
	ErrorCode string          `json:"error-code"`
}

// ParseTrace reads the calls from a traced command's stderr (see
// TraceFlags), in the order the CLI sent them, and the URLs of the
// connections it opened. The log names no connection on a frame: a login
// (request id 1) goes on the connection opened last, and a later call is
// given an endpoint only while one connection is open; an answer is
// matched to the oldest unanswered request with its id.
func ParseTrace(stderr string) (calls []Call, endpoints []string) {
	var (
		notLoggedIn []string          // established, login not yet sent
		open        []string          // logged in
		pending     = map[int][]int{} // request id → unanswered calls
	)
	for _, line := range strings.Split(stderr, "\n") {
		if m := establishedLine.FindStringSubmatch(line); m != nil {
			endpoints = append(endpoints, m[1])
			notLoggedIn = append(notLoggedIn, m[1])
			continue
		}
		m := frameLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var f frame
		if err := json.Unmarshal([]byte(m[2]), &f); err != nil {
			continue
		}
		if m[1] == "->" {
			c := Call{Facade: f.Type, Version: f.Version, Method: f.Request, Params: f.Params}
			switch {
			case f.RequestID == 1 && len(notLoggedIn) > 0:
				c.Endpoint = notLoggedIn[len(notLoggedIn)-1]
				notLoggedIn = notLoggedIn[:len(notLoggedIn)-1]
				open = append(open, c.Endpoint)
			case len(open) == 1:
				c.Endpoint = open[0]
			}
			pending[f.RequestID] = append(pending[f.RequestID], len(calls))
			calls = append(calls, c)
			continue
		}
		if q := pending[f.RequestID]; len(q) > 0 {
			c := &calls[q[0]]
			pending[f.RequestID] = q[1:]
			c.Answered, c.Response, c.Error, c.ErrorCode = true, f.Response, f.Error, f.ErrorCode
		}
	}
	return calls, endpoints
}

// Trace runs a command with TraceFlags and returns its result and the
// calls it made.
func (c *CLI) Trace(ctx context.Context, stdin string, args ...string) (Result, []Call, error) {
	res, err := c.Run(ctx, stdin, append(append([]string{}, args...), TraceFlags...)...)
	calls, _ := ParseTrace(res.Stderr)
	return res, calls, err
}

// WithoutLogin drops the login and ping calls from calls, leaving what the
// command itself asked for.
func WithoutLogin(calls []Call) []Call {
	var out []Call
	for _, c := range calls {
		if c.Facade == "Admin" || c.Facade == "Pinger" {
			continue
		}
		out = append(out, c)
	}
	return out
}
