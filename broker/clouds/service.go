package clouds

import (
	"log/slog"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
)

// Deps are the parts a Service works with.
type Deps struct {
	DB        *db.DB
	Identity  *identity.Service
	Relations *authz.Relations
	Registry  *controllers.Registry
	Pool      *controllers.Pool
	// Up reports whether the controller named name is up (health).
	Up func(name string) bool
	// Sealer seals credentials at rest.
	Sealer controllers.Sealer
	Logger *slog.Logger
	Clock  clock.Clock // nil: the system clock
}

// Service answers for clouds, credentials and model defaults.
type Service struct {
	db       *db.DB
	identity *identity.Service
	rel      *authz.Relations
	registry *controllers.Registry
	pool     *controllers.Pool
	up       func(name string) bool
	sealer   controllers.Sealer
	log      *slog.Logger
	clock    clock.Clock
	synced   synced // the model defaults copied to each controller
}

// New builds the service.
func New(deps Deps) *Service {
	s := &Service{db: deps.DB, identity: deps.Identity, rel: deps.Relations, registry: deps.Registry, pool: deps.Pool,
		up: deps.Up, sealer: deps.Sealer, log: deps.Logger, clock: clock.Or(deps.Clock)}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}
