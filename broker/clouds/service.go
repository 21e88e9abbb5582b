package clouds

import (
	"context"
	"log/slog"
	"slices"

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

// askController calls ask with each up controller hosting cloud (and
// region, when not ""), in the registry's order, until ask reports that
// it is done; it reports whether one did. A controller that cannot be
// reached is passed over. It fails only when the registry cannot be read.
func (s *Service) askController(ctx context.Context, cloud, region string, ask func(c *db.Controller, client *controllers.Client) (done bool)) (bool, error) {
	ctls, err := s.registry.List(ctx)
	if err != nil {
		return false, err
	}
	for i := range ctls {
		c := &ctls[i]
		if c.Cloud != cloud || !s.up(c.Name) || (region != "" && !slices.Contains(c.Regions, region)) {
			continue
		}
		client, err := s.pool.Get(ctx, c.Name)
		if err != nil {
			continue
		}
		if ask(c, client) {
			return true, nil
		}
	}
	return false, nil
}
