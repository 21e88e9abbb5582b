package modelhttp

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jimmbroker/jimm/broker/audit"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/routing"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Deps are the parts the endpoints work with.
type Deps struct {
	Routes   *routing.Table
	Identity *identity.Service
	Audit    *audit.Log // nil: uploads are not audited
	// DialStream opens one of the HTTP WebSocket endpoints of the
	// controller hosting m (path, e.g. "/model/<uuid>/log?replay=true")
	// with the controller's own credentials.
	DialStream func(ctx context.Context, m *db.Model, path string) (*jujuapi.Conn, error)
	// HTTPEndpoint says how to reach the plain HTTP endpoints of the
	// controller hosting m, and with which credentials.
	HTTPEndpoint HTTPEndpointOf
	Logger       *slog.Logger
	Clock        clock.Clock // nil: the system clock
}

// dialTimeout bounds opening a stream on a model's controller, so that a
// dead controller gives the client an error promptly.
const dialTimeout = 4 * time.Second

// Endpoints serves a model's HTTP endpoints.
type Endpoints struct {
	routes        *routing.Table
	identity      *identity.Service
	audit         *audit.Log
	dialStreamTo  func(ctx context.Context, m *db.Model, path string) (*jujuapi.Conn, error)
	httpEndpoint  HTTPEndpointOf
	httpUpstreams httpUpstreams
	log           *slog.Logger
	clock         clock.Clock
}

// New builds the endpoints.
func New(deps Deps) *Endpoints {
	p := &Endpoints{routes: deps.Routes, identity: deps.Identity, audit: deps.Audit, dialStreamTo: deps.DialStream,
		httpEndpoint: deps.HTTPEndpoint, log: deps.Logger, clock: clock.Or(deps.Clock)}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.dialStreamTo == nil {
		p.dialStreamTo = func(context.Context, *db.Model, string) (*jujuapi.Conn, error) {
			return nil, errors.New("no way to reach controllers' streams is configured")
		}
	}
	if p.httpEndpoint == nil {
		p.httpEndpoint = func(context.Context, *db.Model) (controllers.Endpoint, controllers.Credentials, error) {
			return controllers.Endpoint{}, controllers.Credentials{}, errors.New("no way to reach controllers' HTTP endpoints is configured")
		}
	}
	return p
}
