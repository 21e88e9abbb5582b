package brokertest

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// The broker the parts describe.
const (
	BrokerUUID    = "b0b0b0b0-0000-4000-8000-000000000000"
	AdminPassword = "pw" // the bootstrap admin's, user "admin"
)

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.DiscardHandler)

// Parts are a broker's parts below its endpoints.
type Parts struct {
	DB     *db.DB
	Rel    *authz.Relations
	Cipher *authz.Cipher
	IDs    *identity.Service
	Routes *routing.Table // set by StartRoutes
}

// New makes an SQLite database, its relations (told of access changes at
// once) and an identity service with the bootstrap admin; all close when
// the test ends.
func New(t *testing.T) *Parts {
	t.Helper()
	p := &Parts{DB: dbtest.SQLite(t)}
	p.Rel = authz.NewRelations(p.DB, Quiet)
	t.Cleanup(p.Rel.Close)
	var err error
	if p.Cipher, err = authz.NewCipher(authz.GenerateKey()); err != nil {
		t.Fatal(err)
	}
	if p.IDs, err = identity.New(t.Context(), identity.Config{
		BrokerUUID: BrokerUUID, AdminPassword: AdminPassword, SessionTTL: time.Hour, ControllerTokenTTL: 5 * time.Minute,
		KeyRotation: 24 * time.Hour, KeyPrepublish: 5 * time.Minute, LoginFailureRate: -1,
	}, identity.Deps{DB: p.DB, Cipher: p.Cipher, Relations: p.Rel, Logger: Quiet}); err != nil {
		t.Fatal(err)
	}
	return p
}

// StartRoutes builds and runs the routing table (pool may be nil when the
// test asks no controller anything) and has it follow access changes.
func (p *Parts) StartRoutes(t *testing.T, pool *controllers.Pool) *routing.Table {
	t.Helper()
	var err error
	if p.Routes, err = routing.New(routing.Deps{DB: p.DB, Pool: pool, Relations: p.Rel, Logger: Quiet}); err != nil {
		t.Fatal(err)
	}
	if err := p.Routes.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.Rel.OnChange(p.Routes.AccessChanged)
	return p.Routes
}

// AddControllers records controllers named names (on cloud "c", region
// "r", UUIDs c0c0c0c0-…-00000000000<n> in order), reachable nowhere.
func (p *Parts) AddControllers(t *testing.T, names ...string) []*db.Controller {
	t.Helper()
	out := make([]*db.Controller, len(names))
	for i, name := range names {
		out[i] = &db.Controller{Name: name, UUID: fmt.Sprintf("c0c0c0c0-0000-4000-8000-00000000000%d", i+1), Addresses: []string{"127.0.0.1:1"},
			Cloud: "c", Regions: []string{"r"}, AdminPassword: []byte{0}}
		if err := p.DB.WithContext(t.Context()).Create(out[i]).Error; err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Recv waits, up to a generous deadline, for what a channel sends.
func Recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10s", what)
	}
	var zero T
	return zero
}

// Eventually waits, up to a generous deadline, until cond holds.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}
