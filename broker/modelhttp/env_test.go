package modelhttp

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jimmbroker/jimm/broker/internal/brokertest"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

var quiet = brokertest.Quiet

const (
	modelUUID = "5e55c0de-0000-4000-8000-0000000000aa"
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
	parts := brokertest.New(t)
	e := &env{d: parts.DB, rel: parts.Rel, ids: parts.IDs, ctls: map[string]*fakeController{}}
	rows := parts.AddControllers(t, "ctl-a", "ctl-b")
	for _, row := range rows {
		e.ctls[row.Name] = &fakeController{name: row.Name, uuid: row.UUID}
	}
	if err := e.d.AddModel(t.Context(), &db.Model{UUID: modelUUID, Name: "m", Owner: "admin", ControllerID: rows[0].ID, Cloud: "c", Region: "r", Life: db.LifeAlive}, "user:admin"); err != nil {
		t.Fatal(err)
	}
	e.routes = parts.StartRoutes(t, nil)
	e.ep = New(Deps{Routes: e.routes, Identity: e.ids, Logger: quiet,
		DialStream: func(ctx context.Context, m *db.Model, path string) (*jujuapi.Conn, error) {
			return e.ctls[m.Controller.Name].dialStream(path)
		}})
	return e
}
