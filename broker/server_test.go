package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/restapi"
)

// startReplica runs a broker on dsn until the test ends; tweak, when
// given, adjusts its configuration first.
func startReplica(t *testing.T, dsn string, key []byte, tweak ...func(*Config)) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"), DSN: dsn,
		AdminPassword: "pw", SecretsKey: key, Logger: slog.New(slog.DiscardHandler)}
	for _, f := range tweak {
		f(&cfg)
	}
	s, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// Serve listens for other replicas' notifications before it answers
	// requests: once it answers, it hears them.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CACertPEM())
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := hc.Get("https://" + s.Addr() + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica does not answer: %v", err)
		}
	}
	return s
}

// histogramCount is the sample count of the broker's histogram name.
func histogramCount(t *testing.T, s *Server, name string) uint64 {
	t.Helper()
	families, err := s.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && f.GetType() == dto.MetricType_HISTOGRAM && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no histogram %s in the broker's metrics", name)
	return 0
}

// auth sets a request's credentials.
type auth func(*http.Request)

// basicAdmin is the bootstrap admin's basic auth.
func basicAdmin(r *http.Request) { r.SetBasicAuth("admin", "pw") }

// bearer mints a session for the identity named name and returns its
// bearer auth, and the token.
func bearer(t *testing.T, s *Server, name string) (auth, string) {
	t.Helper()
	tok, _, err := s.identity.NewSession(t.Context(), &identity.Identity{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, tok
}

// rest sends a request to the broker's admin API as who, with body as
// JSON when it is not nil, and returns the status and the JSON body.
func rest(t *testing.T, s *Server, who auth, method, path string, body any) (int, string) {
	t.Helper()
	var in io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, "https://"+s.Addr()+path, in)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", restapi.ContentTypeJSON)
	}
	who(req)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CACertPEM())
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	json.NewDecoder(resp.Body).Decode(&raw)
	return resp.StatusCode, string(raw)
}
