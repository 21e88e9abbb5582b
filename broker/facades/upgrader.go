package facades

import (
	"context"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// ModelUpgrader is served on /api and names a model: the broker passes the
// call to the model's controller, for a caller who administers the model.

func (s *session) upgradeModel(ctx context.Context, p params.UpgradeModelParams) (params.UpgradeModelResult, error) {
	var res params.UpgradeModelResult
	err := s.relayForModel(ctx, p.ModelTag, "UpgradeModel", p, &res)
	return res, err
}

func (s *session) abortModelUpgrade(ctx context.Context, p params.ModelParam) (struct{}, error) {
	return struct{}{}, s.relayForModel(ctx, p.ModelTag, "AbortModelUpgrade", p, nil)
}

// relayForModel calls ModelUpgrader.method on the controller hosting the
// model tag names.
func (s *session) relayForModel(ctx context.Context, tag, method string, args, result any) error {
	a := s.api
	m, err := s.hostedModel(ctx, tag, authz.AccessAdmin)
	if err != nil {
		return err
	}
	err = a.routes.OnController(ctx, m, func(c *controllers.Client) error {
		return c.Call(ctx, "ModelUpgrader", 1, method, args, result)
	})
	if err != nil {
		return jujuapi.Underlying(err)
	}
	return nil
}
