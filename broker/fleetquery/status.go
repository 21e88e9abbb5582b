package fleetquery

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/jujuapi"
)

// MaxStatusBytes bounds one model's status as its controller sends it (the
// frame of Client.FullStatus's answer): a larger one fails that model.
const MaxStatusBytes = 32 << 20

// StatusFetcher fetches a model's status from its controller: a model
// connection (resolve says how to reach and log in to the controller: the
// registry's Resolve, its admin credentials), Client.FullStatus, closed
// at once. The status is Juju's API shape (params.FullStatus as the
// controller sent it), not the juju CLI's `status --format json`.
func StatusFetcher(resolve controllers.Resolver) Fetch {
	opts := jujuapi.ConnOptions{MaxFrameSize: MaxStatusBytes}
	return func(ctx context.Context, m Model) (json.RawMessage, error) {
		ep, creds, err := resolve(ctx, m.Controller)
		if err != nil {
			return nil, err
		}
		c, err := controllers.ConnectModel(ctx, ep, m.UUID, creds, opts)
		if err != nil {
			switch jujuapi.ErrorCode(err) {
			case jujuapi.CodeModelNotFound, jujuapi.CodeNotFound, jujuapi.CodeRedirect:
				// The model's own state (gone, or moved away from the
				// controller), not the controller's fault: its other
				// models are still asked.
				return nil, fmt.Errorf("controller %q: log in to model %s: %w", m.Controller, m.UUID, jujuapi.Underlying(err))
			}
			return nil, err
		}
		defer c.Close()
		return c.FullStatus(ctx)
	}
}
