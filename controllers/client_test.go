package controllers

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func TestConnect(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	b := startController(t, "ctl-b")

	tests := []struct {
		name     string
		endpoint func() Endpoint
		creds    Credentials
		wantCode string   // jujuapi error code of the failure
		wantErr  []string // substrings of the failure; none: success
	}{{
		name:     "admin password",
		endpoint: a.endpoint,
		creds:    adminCreds(),
	}, {
		name:     "no UUID to check",
		endpoint: func() Endpoint { e := a.endpoint(); e.UUID = ""; return e },
		creds:    adminCreds(),
	}, {
		name:     "wrong password",
		endpoint: a.endpoint,
		creds:    Credentials{User: "admin", Password: "wrong"},
		wantCode: jujuapi.CodeUnauthorized,
		wantErr:  []string{`log in to controller "ctl-a" at ` + a.addr() + ` as "admin": invalid entity name or password`},
	}, {
		name:     "unknown user",
		endpoint: a.endpoint,
		creds:    Credentials{User: "nobody", Password: adminPassword},
		wantCode: jujuapi.CodeUnauthorized,
		wantErr:  []string{"invalid entity name or password"},
	}, {
		name:     "no user",
		endpoint: a.endpoint,
		creds:    Credentials{Password: adminPassword},
		wantErr:  []string{`connect to controller "ctl-a": no user name`},
	}, {
		name: "address of another controller",
		endpoint: func() Endpoint {
			e := b.endpoint()
			e.Name, e.UUID = "ctl-a", a.uuid()
			return e
		},
		creds: adminCreds(),
		wantErr: []string{fmt.Sprintf(`controller "ctl-a" at %s reports UUID %s, but it is registered with UUID %s`,
			b.addr(), b.uuid(), a.uuid())},
	}, {
		name:     "controller down",
		endpoint: func() Endpoint { e := a.endpoint(); e.Addresses = []string{deadAddr(t)}; return e },
		creds:    adminCreds(),
		wantErr:  []string{`dial controller "ctl-a" at 127.0.0.1:`, "connection refused"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Connect(t.Context(), tt.endpoint(), tt.creds, jujuapi.ConnOptions{})
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if c.UUID() != a.uuid() || c.LoginResult().ControllerTag != "controller-"+a.uuid() {
					t.Fatalf("UUID %q, login result %+v; want %s", c.UUID(), c.LoginResult(), a.uuid())
				}
				if u := c.LoginResult().UserInfo; u == nil || u.Identity != "user-admin" || u.ControllerAccess != "superuser" {
					t.Fatalf("user info %+v", u)
				}
				if c.Addr() != a.addr() || c.User() != "admin" {
					t.Fatalf("addr %q user %q", c.Addr(), c.User())
				}
				if err := c.Ping(t.Context()); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("connect succeeded, want an error")
			}
			t.Logf("error: %v", err)
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Controller != "ctl-a" {
				t.Errorf("error %v is not a *ConnectError for ctl-a", err)
			}
			if !IsControllerFault(err) {
				t.Errorf("IsControllerFault(%v) = false, want true: the broker's login failed", err)
			}
			if got := jujuapi.ErrorCode(err); got != tt.wantCode {
				t.Errorf("code %q, want %q", got, tt.wantCode)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), adminPassword) {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestClientCalls(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a", "r1", "r2")
	c := mustConnect(t, a)
	ctx := t.Context()

	t.Run("ControllerVersion", func(t *testing.T) {
		v, err := c.ControllerVersion(ctx)
		if err != nil || v != "3.5.4" {
			t.Fatalf("version %q, %v; want 3.5.4", v, err)
		}
	})
	t.Run("Clouds", func(t *testing.T) {
		clouds, err := c.Clouds(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cl, ok := clouds["localhost"]
		if len(clouds) != 1 || !ok {
			t.Fatalf("clouds %v, want only localhost", clouds)
		}
		var regions []string
		for _, r := range cl.Regions {
			regions = append(regions, r.Name)
		}
		if cl.Type != "lxd" || !slices.Equal(regions, []string{"r1", "r2"}) {
			t.Fatalf("cloud %+v (regions %v), want lxd with r1, r2", cl, regions)
		}
	})

	var uuid string
	t.Run("CreateModel", func(t *testing.T) {
		info, err := c.CreateModel(ctx, params.ModelCreateArgs{Name: "m1", OwnerTag: "user-admin", CloudTag: "cloud-localhost", CloudRegion: "r2"})
		if err != nil {
			t.Fatal(err)
		}
		if info.Name != "m1" || info.UUID == "" || info.ControllerUUID != a.uuid() || info.CloudRegion != "r2" || info.Life != params.LifeAlive {
			t.Fatalf("created %+v", info)
		}
		uuid = info.UUID
	})
	if uuid == "" {
		t.FailNow()
	}
	t.Run("CreateModel again", func(t *testing.T) {
		_, err := c.CreateModel(ctx, params.ModelCreateArgs{Name: "m1", OwnerTag: "user-admin"})
		if jujuapi.ErrorCode(err) != jujuapi.CodeAlreadyExists {
			t.Fatalf("got %v (code %q), want code %q", err, jujuapi.ErrorCode(err), jujuapi.CodeAlreadyExists)
		}
		if want := `controller "ctl-a": create model "m1": `; !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("error %q does not start with %q", err, want)
		}
		if IsControllerFault(err) {
			t.Fatalf("IsControllerFault(%v) = true, want false", err)
		}
	})
	t.Run("CreateModel in unknown region", func(t *testing.T) {
		_, err := c.CreateModel(ctx, params.ModelCreateArgs{Name: "m2", OwnerTag: "user-admin", CloudRegion: "nowhere"})
		if jujuapi.ErrorCode(err) != jujuapi.CodeNotFound || IsControllerFault(err) {
			t.Fatalf("got %v (code %q), want a not found that is the caller's fault", err, jujuapi.ErrorCode(err))
		}
	})
	t.Run("ModelInfo", func(t *testing.T) {
		info, err := c.ModelInfo(ctx, uuid)
		if err != nil {
			t.Fatal(err)
		}
		if info.UUID != uuid || info.Name != "m1" || info.OwnerTag != "user-admin" {
			t.Fatalf("info %+v", info)
		}
	})
	t.Run("ModelInfo of unknown model", func(t *testing.T) {
		const unknown = "00000000-0000-4000-8000-000000000000"
		_, err := c.ModelInfo(ctx, unknown)
		if jujuapi.ErrorCode(err) != jujuapi.CodeNotFound {
			t.Fatalf("got %v (code %q), want code %q", err, jujuapi.ErrorCode(err), jujuapi.CodeNotFound)
		}
		if !strings.Contains(err.Error(), `controller "ctl-a": get info of model `+unknown+": ") {
			t.Fatalf("error %q does not name the controller and the call", err)
		}
	})
	t.Run("ModelStatus", func(t *testing.T) {
		st, err := c.ModelStatus(ctx, uuid)
		if err != nil {
			t.Fatal(err)
		}
		if st.ModelTag != "model-"+uuid || st.Life != params.LifeAlive || st.OwnerTag != "user-admin" {
			t.Fatalf("status %+v", st)
		}
	})
	t.Run("ListModelSummaries", func(t *testing.T) {
		for _, all := range []bool{false, true} {
			res, err := c.ListModelSummaries(ctx, "", all)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range res {
				if r.Error != nil || r.Result == nil {
					t.Fatalf("result %+v", r)
				}
				names = append(names, r.Result.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"controller", "m1"}) {
				t.Fatalf("all=%v: models %v, want controller, m1", all, names)
			}
		}
	})
	t.Run("DestroyModel", func(t *testing.T) {
		maxWait := time.Second
		if err := c.DestroyModel(ctx, uuid, true, &maxWait); err != nil {
			t.Fatal(err)
		}
		st, err := c.ModelStatus(ctx, uuid)
		if err != nil {
			t.Fatal(err)
		}
		if st.Life != params.LifeDying {
			t.Fatalf("life %q after destroy, want dying", st.Life)
		}
		info, err := c.ModelInfo(ctx, uuid)
		if err != nil || info.Life != params.LifeDying {
			t.Fatalf("info life %q, %v; want dying", info.Life, err)
		}
	})
	t.Run("DestroyModel of the controller model", func(t *testing.T) {
		err := c.DestroyModel(ctx, a.uuid(), false, nil)
		if jujuapi.ErrorCode(err) != jujuapi.CodeNotSupported {
			t.Fatalf("got %v, want code %q", err, jujuapi.CodeNotSupported)
		}
	})
	t.Run("Call", func(t *testing.T) {
		var res params.ControllerVersionResults
		if err := c.Call(ctx, "Controller", 11, "ControllerVersion", nil, &res); err != nil || res.Version != "3.5.4" {
			t.Fatalf("version %q, %v", res.Version, err)
		}
		err := c.Call(ctx, "Nope", 1, "Nothing", nil, nil)
		if jujuapi.ErrorCode(err) != jujuapi.CodeNotImplemented || !strings.HasPrefix(err.Error(), `controller "ctl-a": Nope(1).Nothing: `) {
			t.Fatalf("got %v (code %q)", err, jujuapi.ErrorCode(err))
		}
	})
	t.Run("Close", func(t *testing.T) {
		c2 := mustConnect(t, a)
		c2.Close()
		select {
		case <-c2.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed after Close")
		}
		err := c2.Ping(ctx)
		if err == nil || !errors.Is(err, jujuapi.ErrClientClosed) || !IsControllerFault(err) {
			t.Fatalf("ping after close: %v", err)
		}
	})
}

func TestClientDoneWhenControllerStops(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	c := mustConnect(t, a)
	a.stop()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the controller stopped")
	}
	if c.Err() == nil {
		t.Fatal("Err is nil after the connection died")
	}
	if _, err := c.ControllerVersion(t.Context()); err == nil || !IsControllerFault(err) {
		t.Fatalf("call on a dead connection: %v", err)
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a", "eu-1", "eu-2", "us-1")
	b := startController(t, "ctl-b")
	// A model so that the count is not trivially zero.
	if _, err := mustConnect(t, a).CreateModel(t.Context(), params.ModelCreateArgs{Name: "m1", OwnerTag: "user-admin"}); err != nil {
		t.Fatal(err)
	}

	t.Run("controller file", func(t *testing.T) {
		t.Parallel()
		info, err := Probe(t.Context(), a.endpoint(), adminCreds())
		if err != nil {
			t.Fatal(err)
		}
		want := Info{UUID: a.uuid(), Address: a.addr(), AgentVersion: "3.5.4", ControllerAccess: "superuser",
			Cloud: "localhost", CloudType: "lxd", Regions: []string{"eu-1", "eu-2", "us-1"}, ModelCount: 1}
		got := *info
		got.Clouds = nil
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("probe:\n got %+v\nwant %+v", got, want)
		}
		if _, ok := info.Clouds["localhost"]; !ok || len(info.Clouds) != 1 {
			t.Fatalf("clouds %v", info.Clouds)
		}
	})
	t.Run("wrong UUID", func(t *testing.T) {
		t.Parallel()
		e := a.endpoint()
		e.UUID = b.uuid()
		_, err := Probe(t.Context(), e, adminCreds())
		want := fmt.Sprintf(`controller "ctl-a" at %s reports UUID %s, the controller file says %s`, a.addr(), a.uuid(), b.uuid())
		if err == nil || err.Error() != want {
			t.Fatalf("got %v, want %q", err, want)
		}
		if !errors.Is(err, ErrWrongController) {
			t.Fatalf("%v does not wrap ErrWrongController", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		_, err := Probe(t.Context(), a.endpoint(), Credentials{User: "admin", Password: "nope"})
		if jujuapi.ErrorCode(err) != jujuapi.CodeUnauthorized {
			t.Fatalf("got %v, want code %q", err, jujuapi.CodeUnauthorized)
		}
	})
	t.Run("wrong CA", func(t *testing.T) {
		t.Parallel()
		e := a.endpoint()
		e.CACert = b.endpoint().CACert
		_, err := Probe(t.Context(), e, adminCreds())
		if err == nil || !strings.Contains(err.Error(), `dial controller "ctl-a" at `+a.addr()) {
			t.Fatalf("got %v, want a dial error naming ctl-a", err)
		}
	})
}

func TestCredentialsNotPrinted(t *testing.T) {
	t.Parallel()
	creds := Credentials{User: "admin", Password: "hunter2", Token: "eyJ.secret.token"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, creds); strings.Contains(s, "hunter2") || strings.Contains(s, "secret") {
			t.Errorf("%s prints %q", format, s)
		}
	}
	var b strings.Builder
	log := slogToBuilder(&b)
	log.Info("x", "creds", creds)
	if strings.Contains(b.String(), "hunter2") || strings.Contains(b.String(), "secret") || !strings.Contains(b.String(), "admin") {
		t.Errorf("log line %q", b.String())
	}
}
