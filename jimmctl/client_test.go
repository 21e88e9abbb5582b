package jimmctl

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// otherCAPEM returns a CA certificate that did not sign the fake broker's.
func otherCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{CommonName: "some other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func sampleControllers() []restapi.Controller {
	return []restapi.Controller{
		{
			Name: "ctl-b", UUID: "bbbbbbbb-0000-4000-8000-000000000002", Status: restapi.StatusUp,
			AgentVersion: "3.5.4", Cloud: "localhost", CloudType: "lxd", Regions: []string{"r1", "r2"},
			Addresses: []string{"10.0.0.6:17070", "10.0.0.7:17070"}, Priority: 5, AddedAt: fakeTime,
		},
		{
			Name: "ctl-a", UUID: "aaaaaaaa-0000-4000-8000-000000000001", Status: restapi.StatusDown,
			StatusSince: fakeTime, StatusMessage: "connection refused", Deprecated: true,
			AgentVersion: "3.4.0", Cloud: "aws", CloudType: "ec2", Regions: []string{"eu-west-1"},
			Addresses: []string{"10.0.0.5:17070"}, Priority: 1, AddedAt: fakeTime,
		},
	}
}

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "https://Jimm.Example.com:443/", want: "https://jimm.example.com:443"},
		{in: "  https://127.0.0.1:8443  ", want: "https://127.0.0.1:8443"},
		{in: "https://jimm.example.com/prefix/", want: "https://jimm.example.com/prefix"},
		{in: "", wantErr: "no broker configured: run `jimmctl login --url https://...` or set JIMM_URL"},
		{in: "jimm.example.com:443", wantErr: "want https://host[:port]"},
		{in: "http://jimm.example.com", wantErr: "served over https"},
		{in: "https://admin:hunter2@jimm.example.com", wantErr: "credentials do not belong in the URL"},
		{in: "https://jimm.example.com/?x=1", wantErr: "without query"},
		{in: "https://", wantErr: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NormalizeURL(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestClientCalls(t *testing.T) {
	f := newFakeBroker(t)
	for _, c := range sampleControllers() {
		f.putController(c)
	}
	f.addModel(restapi.Model{UUID: "m-1", Name: "prod", Owner: "alice", Controller: "ctl-a", Cloud: "aws", Region: "eu-west-1", Life: "alive"})
	token := f.issueToken("alice")
	ctx := context.Background()
	c, err := NewClient(Config{URL: f.url, CACertPEM: f.caPEM, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	addReq := restapi.AddControllerRequest{
		Name: "ctl-c", UUID: "cccc", APIAddresses: []string{"10.0.0.9:17070"}, CACert: "pem",
		AdminUser: "admin", AdminPassword: "ctl-admin-pw", Priority: 3,
	}

	tests := []struct {
		name     string
		call     func() (any, error)
		wantCode string // restapi error code; "" for success
		wantMsg  string // whole error message, or a check on the result
		check    func(t *testing.T, v any)
	}{{
		name: "whoami",
		call: func() (any, error) { return c.WhoAmI(ctx) },
		check: func(t *testing.T, v any) {
			if got := v.(restapi.WhoAmI); got.Identity != "alice" || !got.Admin {
				t.Errorf("whoami = %+v", got)
			}
		},
	}, {
		name: "list controllers",
		call: func() (any, error) { return c.ListControllers(ctx) },
		check: func(t *testing.T, v any) {
			if got := v.([]restapi.Controller); len(got) != 2 {
				t.Errorf("got %d controllers, want 2", len(got))
			}
		},
	}, {
		name: "get controller",
		call: func() (any, error) { return c.GetController(ctx, "ctl-a") },
		check: func(t *testing.T, v any) {
			if got := v.(restapi.Controller); got.UUID != sampleControllers()[1].UUID || got.ModelCount != 1 {
				t.Errorf("got %+v", got)
			}
		},
	}, {
		name:     "get unknown controller",
		call:     func() (any, error) { return c.GetController(ctx, "nope") },
		wantCode: restapi.CodeNotFound,
		wantMsg:  `get controller "nope": controller "nope" not found`,
	}, {
		name: "add controller",
		call: func() (any, error) { return c.AddController(ctx, addReq) },
		check: func(t *testing.T, v any) {
			if got := v.(restapi.Controller); got.Name != "ctl-c" || got.Priority != 3 {
				t.Errorf("got %+v", got)
			}
		},
	}, {
		name:     "add duplicate controller",
		call:     func() (any, error) { return c.AddController(ctx, addReq) },
		wantCode: restapi.CodeAlreadyExists,
		wantMsg:  `add controller "ctl-c": controller "ctl-c" already exists`,
	}, {
		name:     "remove controller hosting models",
		call:     func() (any, error) { return nil, c.RemoveController(ctx, "ctl-a", false) },
		wantCode: restapi.CodeConflict,
		wantMsg:  `remove controller "ctl-a": controller "ctl-a" hosts 1 models`,
	}, {
		name: "remove controller hosting models, forced",
		call: func() (any, error) { return nil, c.RemoveController(ctx, "ctl-a", true) },
	}, {
		name:     "remove unknown controller",
		call:     func() (any, error) { return nil, c.RemoveController(ctx, "ctl-a", true) },
		wantCode: restapi.CodeNotFound,
		wantMsg:  `remove controller "ctl-a": controller "ctl-a" not found`,
	}, {
		name: "deprecate",
		call: func() (any, error) { return c.SetDeprecated(ctx, "ctl-b", true) },
		check: func(t *testing.T, v any) {
			if !v.(restapi.Controller).Deprecated {
				t.Error("not deprecated")
			}
		},
	}, {
		name: "get model",
		call: func() (any, error) { return c.GetModel(ctx, "m-1") },
		check: func(t *testing.T, v any) {
			if got := v.(restapi.Model); got.Name != "prod" {
				t.Errorf("got %+v", got)
			}
		},
	}, {
		name:     "get unknown model",
		call:     func() (any, error) { return c.GetModel(ctx, "m-9") },
		wantCode: restapi.CodeNotFound,
		wantMsg:  `get model "m-9": model "m-9" not found`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.call()
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tt.check != nil {
					tt.check(t, v)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tt.wantMsg)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error = %q, want %q", err, tt.wantMsg)
			}
			var re *restapi.Error
			if !errors.As(err, &re) || re.Code != tt.wantCode {
				t.Errorf("error %v carries no *restapi.Error with code %q", err, tt.wantCode)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.added) != 1 || f.added[0].AdminPassword != "ctl-admin-pw" {
		t.Errorf("broker received add requests %+v", f.added)
	}
}

func TestClientAuthentication(t *testing.T) {
	f := newFakeBroker(t)
	token := f.issueToken(fakeAdmin)
	tests := []struct {
		name     string
		cfg      Config
		wantAuth string
		wantErr  string
	}{
		{name: "bearer token", cfg: Config{Token: token}, wantAuth: "bearer " + token},
		{name: "token wins over basic", cfg: Config{Token: token, User: "x", Password: "y"}, wantAuth: "bearer " + token},
		{name: "basic auth", cfg: Config{User: fakeAdmin, Password: fakeAdminPassword}, wantAuth: "basic " + fakeAdmin},
		{name: "bad token", cfg: Config{Token: "tok-bogus"}, wantAuth: "bearer tok-bogus", wantErr: "whoami: unauthorized: missing or invalid credentials"},
		{name: "bad password", cfg: Config{User: fakeAdmin, Password: "wrong-pw"}, wantAuth: "basic " + fakeAdmin, wantErr: "whoami: unauthorized"},
		{name: "no credentials", cfg: Config{}, wantAuth: "", wantErr: "whoami: unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URL, cfg.CACertPEM = f.url, f.caPEM
			c, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.WhoAmI(context.Background())
			if got := f.lastAuth(); got != tt.wantAuth {
				t.Errorf("broker saw auth %q, want %q", got, tt.wantAuth)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if ErrorCode(err) != restapi.CodeUnauthorized {
				t.Errorf("code = %q, want %q", ErrorCode(err), restapi.CodeUnauthorized)
			}
			for _, secret := range []string{cfg.Password, cfg.Token} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}

	t.Run("login", func(t *testing.T) {
		c, err := NewClient(Config{URL: f.url, CACertPEM: f.caPEM, Token: "tok-not-sent"})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Login(context.Background(), fakeAdmin, fakeAdminPassword)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Token == "" || resp.Identity != fakeAdmin || resp.ExpiresAt.IsZero() {
			t.Errorf("login response %+v", resp)
		}
		_, err = c.Login(context.Background(), fakeAdmin, "wrong-pw")
		if err == nil || ErrorCode(err) != restapi.CodeUnauthorized || strings.Contains(err.Error(), "wrong-pw") {
			t.Errorf("login with a wrong password: %v", err)
		}
	})
}

func TestClientTransportErrors(t *testing.T) {
	f := newFakeBroker(t)
	closed := httptest.NewTLSServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		panic(http.ErrAbortHandler) // answer nothing at all
	}))
	slow.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(slow.Close)
	slowCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: slow.Certificate().Raw})

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		cfg     Config
		ctx     context.Context
		fail500 bool
		wantErr []string
		wantIs  error
		status  int
	}{{
		name:    "wrong CA",
		cfg:     Config{URL: f.url, CACertPEM: otherCAPEM(t)},
		wantErr: []string{"cannot verify the TLS certificate of broker at " + f.url, "certificate signed by unknown authority", "--ca-cert"},
	}, {
		name:    "system roots do not know the broker's CA",
		cfg:     Config{URL: f.url},
		wantErr: []string{"cannot verify the TLS certificate of broker at " + f.url},
	}, {
		name:    "nothing listening",
		cfg:     Config{URL: closedURL},
		wantErr: []string{"list controllers: cannot reach broker at " + closedURL, "JIMM_URL", "jimmctl login"},
	}, {
		name:    "timeout",
		cfg:     Config{URL: slow.URL, CACertPEM: slowCA, Timeout: 100 * time.Millisecond},
		wantErr: []string{"no answer from broker at " + slow.URL + " within 100ms"},
		wantIs:  context.DeadlineExceeded,
	}, {
		name:    "canceled context",
		cfg:     Config{URL: f.url, CACertPEM: f.caPEM},
		ctx:     canceled,
		wantErr: []string{"interrupted"},
		wantIs:  context.Canceled,
	}, {
		name:    "HTTP 500 with a non-JSON body",
		cfg:     Config{URL: f.url, CACertPEM: f.caPEM},
		fail500: true,
		wantErr: []string{"list controllers: broker answered HTTP 500 Internal Server Error to GET /v1/controllers: upstream exploded"},
		status:  http.StatusInternalServerError,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.setFail500(tt.fail500)
			defer f.setFail500(false)
			cfg := tt.cfg
			cfg.Token = "tok-secret-value"
			c, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			_, err = c.ListControllers(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if tt.status != 0 {
				var ae *APIError
				if !errors.As(err, &ae) || ae.StatusCode != tt.status {
					t.Errorf("error %v: want an *APIError with status %d", err, tt.status)
				}
			}
			if strings.Contains(err.Error(), "tok-secret-value") {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestNewClientConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "no URL", cfg: Config{}, wantErr: "no broker configured"},
		{name: "CA is not PEM", cfg: Config{URL: "https://x", CACertPEM: []byte("not a cert")}, wantErr: "holds no PEM certificate"},
		{name: "CA with own HTTP client", cfg: Config{URL: "https://x", CACertPEM: otherCAPEM(t), HTTPClient: http.DefaultClient}, wantErr: "exclusive"},
		{name: "user without password", cfg: Config{URL: "https://x", User: "bob"}, wantErr: `user "bob" given without a password`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewClient error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
