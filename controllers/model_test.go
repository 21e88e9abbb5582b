package controllers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// TestConnectModelFullStatus: a model connection gives the model's full
// status as the controller sent it; a controller connection, an unknown
// model and wrong credentials do not.
func TestConnectModelFullStatus(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a", "r1")
	ctx := t.Context()
	info, err := mustConnect(t, a).CreateModel(ctx, params.ModelCreateArgs{Name: "m1", OwnerTag: "user-admin", CloudTag: "cloud-localhost", CloudRegion: "r1"})
	if err != nil {
		t.Fatal(err)
	}

	mc, err := ConnectModel(ctx, a.endpoint(), info.UUID, adminCreds(), jujuapi.ConnOptions{})
	if err != nil {
		t.Fatalf("ConnectModel: %v", err)
	}
	defer mc.Close()
	var res params.ErrorResults
	if err := mc.Call(ctx, "Application", 19, "Deploy", params.ApplicationsDeploy{Applications: []params.ApplicationDeploy{{
		ApplicationName: "db", CharmURL: "ch:amd64/jammy/postgresql-12", NumUnits: 1,
		CharmOrigin: &params.CharmOrigin{Source: "charm-hub", Type: "charm", Risk: "stable", Architecture: "amd64",
			Base: params.Base{Name: "ubuntu", Channel: "22.04/stable"}},
	}}}, &res); err != nil || len(res.Results) != 1 || res.Results[0].Error != nil {
		t.Fatalf("deploy: %v %+v", err, res)
	}
	raw, err := mc.FullStatus(ctx)
	if err != nil {
		t.Fatalf("FullStatus: %v", err)
	}
	var st params.FullStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("the status does not decode as params.FullStatus: %v\n%s", err, raw)
	}
	if st.Model.Name != "m1" || st.Applications["db"].Charm != "ch:amd64/jammy/postgresql-12" || len(st.Applications["db"].Units) != 1 {
		t.Errorf("FullStatus of m1 = model %+v, applications %+v; want m1 with db (postgresql-12, one unit)", st.Model, st.Applications)
	}

	t.Run("controller connection", func(t *testing.T) {
		_, err := mustConnect(t, a).FullStatus(ctx)
		if err == nil || !strings.Contains(err.Error(), "not a model connection") {
			t.Errorf("FullStatus on a controller connection: %v, want a refusal saying it is not a model connection", err)
		}
	})
	t.Run("unknown model", func(t *testing.T) {
		const unknown = "00000000-0000-4000-8000-000000000000"
		c, err := ConnectModel(ctx, a.endpoint(), unknown, adminCreds(), jujuapi.ConnOptions{})
		if err == nil {
			c.Close()
			t.Fatal("ConnectModel to an unknown model succeeded")
		}
		var ce *ConnectError
		if !errors.As(err, &ce) || ce.Controller != "ctl-a" || jujuapi.ErrorCode(err) != jujuapi.CodeModelNotFound {
			t.Errorf("ConnectModel to an unknown model: %v (%T, code %q), want a *ConnectError naming ctl-a, code %q",
				err, err, jujuapi.ErrorCode(err), jujuapi.CodeModelNotFound)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		creds := adminCreds()
		creds.Password = "wrong"
		c, err := ConnectModel(ctx, a.endpoint(), info.UUID, creds, jujuapi.ConnOptions{})
		if err == nil {
			c.Close()
			t.Fatal("ConnectModel with a wrong password succeeded")
		}
		if jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized || !IsControllerFault(err) {
			t.Errorf("ConnectModel with a wrong password: %v (code %q), want unauthorized, the controller's fault (the broker's credentials)", err, jujuapi.ErrorCode(err))
		}
	})
}
