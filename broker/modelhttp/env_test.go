package modelhttp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
	"github.com/jimmbroker/jimm/jujuapi"
)

var quiet = slog.New(slog.DiscardHandler)

const (
	brokerUUID = "b0b0b0b0-0000-4000-8000-000000000000"
	modelUUID  = "5e55c0de-0000-4000-8000-0000000000aa"
)

// fakeController plays a controller's stream endpoints on in-memory
// connections.
type fakeController struct {
	name, uuid string
	mu         sync.Mutex
	down       bool
	conns      []*jujuapi.Conn
	// streams is what the controller's stream endpoint does with each
	// stream dialled to it (nil: it answers "not found").
	streams func(path string, conn *jujuapi.Conn)
	paths   []string // the stream paths dialled
}

func (f *fakeController) dialStream(path string) (*jujuapi.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, fmt.Errorf("dial controller %q: connection refused", f.name)
	}
	f.paths = append(f.paths, path)
	client, server := jujuapi.Pipe(StreamConnOptions)
	f.conns = append(f.conns, server)
	serve := f.streams
	if serve == nil {
		serve = func(string, *jujuapi.Conn) {
			server.WriteFrame([]byte(`{"error":{"message":"endpoint not found","code":"not found"}}`))
			server.CloseWith(jujuapi.CloseNormal, "")
		}
	}
	go serve(path, server)
	return client, nil
}

// kill closes every connection to the controller and refuses new ones.
func (f *fakeController) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = true
	for _, c := range f.conns {
		c.Close()
	}
}

type env struct {
	d      *db.DB
	rel    *authz.Relations
	ids    *identity.Service
	routes *routing.Table
	ep     *Endpoints
	ctls   map[string]*fakeController
}

// newEnv is a broker's model HTTP endpoints over two fake controllers,
// ctl-a hosting model m (modelUUID), owned by the bootstrap admin.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{d: dbtest.SQLite(t), ctls: map[string]*fakeController{}}
	var ctlA *db.Controller
	for i, name := range []string{"ctl-a", "ctl-b"} {
		uuid := fmt.Sprintf("c0c0c0c0-0000-4000-8000-00000000000%d", i+1)
		row := &db.Controller{Name: name, UUID: uuid, Addresses: []string{"127.0.0.1:1"}, Cloud: "c", Regions: []string{"r"}, AdminPassword: []byte{0}}
		if err := e.d.WithContext(ctx).Create(row).Error; err != nil {
			t.Fatal(err)
		}
		if ctlA == nil {
			ctlA = row
		}
		e.ctls[name] = &fakeController{name: name, uuid: uuid}
	}
	if err := e.d.AddModel(ctx, &db.Model{UUID: modelUUID, Name: "m", Owner: "admin", ControllerID: ctlA.ID, Cloud: "c", Region: "r", Life: db.LifeAlive}, "user:admin"); err != nil {
		t.Fatal(err)
	}
	e.rel = authz.NewRelations(e.d, quiet)
	t.Cleanup(e.rel.Close)
	cipher, err := authz.NewCipher(authz.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	if e.ids, err = identity.New(ctx, identity.Config{
		BrokerUUID: brokerUUID, AdminPassword: "pw", SessionTTL: time.Hour, ControllerTokenTTL: 5 * time.Minute,
		KeyRotation: 24 * time.Hour, KeyPrepublish: 5 * time.Minute, LoginFailureRate: -1,
	}, identity.Deps{DB: e.d, Cipher: cipher, Relations: e.rel, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if e.routes, err = routing.New(routing.Deps{DB: e.d, Relations: e.rel, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if err := e.routes.Run(ctx); err != nil {
		t.Fatal(err)
	}
	e.ep = New(Deps{Routes: e.routes, Identity: e.ids, Logger: quiet,
		DialStream: func(ctx context.Context, m *db.Model, path string) (*jujuapi.Conn, error) {
			return e.ctls[m.Controller.Name].dialStream(path)
		}})
	return e
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing within 10s", what)
		panic("unreachable")
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}
