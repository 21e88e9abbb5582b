package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// ConnectModel dials the model connection (/model/<uuid>/api) of model
// uuid on the controller and logs in with creds, as Connect does for the
// controller connection: the same checks, every failure a *ConnectError.
// The Client it returns is for the model's calls (FullStatus); the
// controller-level calls fail on it. It is the caller's to Close.
func ConnectModel(ctx context.Context, e Endpoint, uuid string, creds Credentials, opts jujuapi.ConnOptions) (*Client, error) {
	c, err := connectAt(ctx, e, "/model/"+uuid+"/api", creds, opts)
	if err != nil {
		return nil, err
	}
	c.model = uuid
	return c, nil
}

// FullStatus returns the status of the model the client is connected to
// (Client.FullStatus with no patterns: everything), as the controller
// sent it, so that no field is lost that params.FullStatus does not name;
// decode it into params.FullStatus for a typed view. A client of a
// controller connection (Connect) gets an error.
func (c *Client) FullStatus(ctx context.Context) (json.RawMessage, error) {
	if c.model == "" {
		return nil, c.errorf("get full status", errors.New("not a model connection (use ConnectModel)"))
	}
	var res json.RawMessage
	if err := c.facadeCall(ctx, fmt.Sprintf("get full status of model %s", c.model), "Client", "FullStatus", params.StatusParams{}, &res); err != nil {
		return nil, err
	}
	if len(res) == 0 || res[0] != '{' {
		return nil, c.errorf(fmt.Sprintf("get full status of model %s", c.model), errors.New("the answer is not a JSON object"))
	}
	return res, nil
}

// ModelConfig returns the config of the model the client is connected to
// (ModelConfig.ModelGet), values only. A client of a controller
// connection gets an error.
func (c *Client) ModelConfig(ctx context.Context) (map[string]any, error) {
	what := fmt.Sprintf("get config of model %s", c.model)
	if c.model == "" {
		return nil, c.errorf(what, errors.New("not a model connection (use ConnectModel)"))
	}
	var res params.ModelConfigResults
	if err := c.facadeCall(ctx, what, "ModelConfig", "ModelGet", nil, &res); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(res.Config))
	for k, v := range res.Config {
		out[k] = v.Value
	}
	return out, nil
}
