package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// startReplica runs a broker on dsn until the test ends.
func startReplica(t *testing.T, dsn string, key []byte) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"), DSN: dsn,
		AdminPassword: "pw", SecretsKey: key, Logger: slog.New(slog.DiscardHandler)})
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

// TestRouteChangesReachOtherReplicas: a replica that drops a route tells
// the others, which drop it from their caches within a second.
func TestRouteChangesReachOtherReplicas(t *testing.T) {
	dsn := dbtest.DSN(t)
	key := authz.GenerateKey()
	a, b := startReplica(t, dsn, key), startReplica(t, dsn, key)
	if a.UUID() != b.UUID() {
		t.Fatalf("replicas of one database present different UUIDs: %s and %s", a.UUID(), b.UUID())
	}
	ctx := t.Context()
	ctl := &db.Controller{Name: "ctl", UUID: "ctl-uuid", Addresses: []string{"127.0.0.1:1"}, Regions: []string{"r"}, AdminPassword: []byte{0}}
	if err := a.db.WithContext(ctx).Create(ctl).Error; err != nil {
		t.Fatal(err)
	}
	m := &db.Model{UUID: "m-uuid", Name: "m", Owner: "admin", ControllerID: ctl.ID, Cloud: "c", Region: "r", Life: "alive"}
	if err := a.db.WithContext(ctx).Create(m).Error; err != nil {
		t.Fatal(err)
	}
	// Replica b routes the model, and caches the route.
	if _, err := b.routes.get(ctx, m.UUID); err != nil {
		t.Fatal(err)
	}
	cached := func() bool {
		b.routes.mu.RLock()
		defer b.routes.mu.RUnlock()
		return b.routes.m[m.UUID] != nil
	}
	if !cached() {
		t.Fatal("replica b did not cache the route")
	}
	a.forgetModel(ctx, m.UUID)
	deadline := time.Now().Add(time.Second)
	for cached() {
		if time.Now().After(deadline) {
			t.Fatal("replica b still routes the model 1s after replica a dropped it")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := b.routes.get(ctx, m.UUID); err == nil {
		t.Fatal("replica b still finds the dropped model")
	}
}
