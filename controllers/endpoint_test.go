package controllers

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func TestEndpointDial(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	b := startController(t, "ctl-b")
	dead1, dead2 := deadAddr(t), deadAddr(t)

	tests := []struct {
		name    string
		mod     func(e *Endpoint)
		wantErr []string // substrings of the error; none: success
	}{{
		name: "right CA",
		mod:  func(*Endpoint) {},
	}, {
		name:    "wrong CA",
		mod:     func(e *Endpoint) { e.CACert = b.endpoint().CACert },
		wantErr: []string{`dial controller "ctl-a" at ` + a.addr() + ": ", "certificate signed by unknown authority"},
	}, {
		name:    "wrong TLS server name",
		mod:     func(e *Endpoint) { e.TLSServerName = "not-juju" },
		wantErr: []string{`dial controller "ctl-a" at ` + a.addr() + ": ", "not-juju"},
	}, {
		name:    "explicit default TLS server name",
		mod:     func(e *Endpoint) { e.TLSServerName = "juju-apiserver" },
		wantErr: nil,
	}, {
		name: "first address dead, second alive",
		mod:  func(e *Endpoint) { e.Addresses = []string{dead1, a.addr()} },
	}, {
		name:    "all addresses dead",
		mod:     func(e *Endpoint) { e.Addresses = []string{dead1, dead2} },
		wantErr: []string{`dial controller "ctl-a" at ` + dead2 + ": ", "connection refused", "also failed: " + dead1 + ": "},
	}, {
		name:    "no addresses",
		mod:     func(e *Endpoint) { e.Addresses = nil },
		wantErr: []string{`dial controller "ctl-a": no API addresses`},
	}, {
		name:    "CA not PEM",
		mod:     func(e *Endpoint) { e.CACert = "not a certificate" },
		wantErr: []string{`controller "ctl-a": CA certificate: no PEM certificate found`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := a.endpoint()
			tt.mod(&e)
			conn, err := e.Dial(t.Context(), "/api", jujuapi.ConnOptions{})
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				// The connection is to a live controller: Admin answers.
				cl := jujuapi.NewClient(conn)
				defer cl.Close()
				var res params.LoginResult
				if err := cl.Call(t.Context(), "Admin", 3, "Login", params.LoginRequest{AuthTag: "user-admin", Credentials: adminPassword}, &res); err != nil {
					t.Fatalf("login over dialled connection: %v", err)
				}
				if res.ControllerTag != "controller-"+a.uuid() {
					t.Fatalf("controller tag %q, want controller-%s", res.ControllerTag, a.uuid())
				}
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded, want an error")
			}
			t.Logf("error: %v", err)
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestEndpointDialContext(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-a")
	t.Run("cancelled before dialling", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := a.endpoint().Dial(ctx, "/api", jujuapi.ConnOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
	t.Run("deadline bounds a silent address", func(t *testing.T) {
		t.Parallel()
		// A listener that accepts and never answers the TLS handshake.
		silent := silentListener(t)
		e := a.endpoint()
		e.Addresses = []string{silent, a.addr()}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.Dial(ctx, "/api", jujuapi.ConnOptions{})
		if err == nil {
			t.Fatal("dial succeeded, want deadline error")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("dial took %s, want it bounded by the 200ms context", d)
		}
		if !strings.Contains(err.Error(), `dial controller "ctl-a" at `+silent) {
			t.Fatalf("error %q does not name the silent address", err)
		}
		if !IsControllerFault(err) {
			t.Fatalf("IsControllerFault(%v) = false", err)
		}
	})
}

// TestEndpointDialAs: an HTTP WebSocket endpoint of a controller is
// dialled with basic auth, the user's tag and password, and the path's
// query string.
func TestEndpointDialAs(t *testing.T) {
	t.Parallel()
	type seen struct{ user, password, query string }
	got := make(chan seen, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, _ := r.BasicAuth()
		got <- seen{user, password, r.URL.RawQuery}
		conn, err := jujuapi.Upgrade(w, r, jujuapi.ConnOptions{})
		if err != nil {
			return
		}
		conn.WriteFrame([]byte(`{}`))
		conn.CloseWith(jujuapi.CloseNormal, "")
	}))
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	e := Endpoint{Name: "ctl-h", Addresses: []string{srv.Listener.Addr().String()}, CACert: string(caPEM), TLSServerName: "example.com"}
	conn, err := e.DialAs(t.Context(), "/model/5c4b1a2e-0000-4000-8000-000000000001/log?replay=true&level=INFO", Credentials{User: "admin", Password: "s3cret"}, jujuapi.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := <-got
	if s.user != "user-admin" || s.password != "s3cret" || s.query != "replay=true&level=INFO" {
		t.Fatalf("the controller saw user %q, password %q, query %q", s.user, s.password, s.query)
	}
	f, err := conn.NextFrame()
	if err != nil || string(f.Bytes()) != "{}" {
		t.Fatalf("the first frame: %v", err)
	}
}

func TestEndpointHTTPTransport(t *testing.T) {
	t.Parallel()
	type seen struct{ auth, method, uri, body string }
	got := make(chan seen, 4)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Get("Authorization"), r.Method, r.RequestURI, string(body)}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"charm-url":"local:demo-0"}`)
	}))
	defer srv.Close()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	dead := deadAddr(t)
	e := Endpoint{Name: "ctl-h", Addresses: []string{dead, srv.Listener.Addr().String()}, CACert: caPEM, TLSServerName: "example.com"}

	tr, err := e.HTTPTransport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.HTTPURL("/model/5c4b1a2e-0000-4000-8000-000000000001/charms?schema=local"), strings.NewReader("zip bytes"))
	req.Header.Set("Authorization", Credentials{User: "admin", Password: "s3cret"}.BasicAuth())
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"charm-url":"local:demo-0"}` {
		t.Fatalf("answer %d %s", resp.StatusCode, body)
	}
	s := <-got
	want := seen{"Basic " + base64.StdEncoding.EncodeToString([]byte("user-admin:s3cret")), "POST", "/model/5c4b1a2e-0000-4000-8000-000000000001/charms?schema=local", "zip bytes"}
	if s != want {
		t.Fatalf("the controller saw %+v, want %+v", s, want)
	}

	// A controller whose certificate is not for the pinned server name is
	// refused (httptest's servers share one certificate, so the name is what
	// differs), and the error names the controller and each address tried.
	bad := e
	bad.TLSServerName = "not-juju"
	tr2, err := bad.HTTPTransport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.CloseIdleConnections()
	req, _ = http.NewRequestWithContext(t.Context(), "GET", bad.HTTPURL("charms"), nil)
	_, err = tr2.RoundTrip(req)
	for _, want := range []string{`dial controller "ctl-h" at ` + srv.Listener.Addr().String(), "not-juju", "also failed: " + dead} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want it to say %q", err, want)
		}
	}
	if len(got) != 0 {
		t.Fatal("a controller with the wrong certificate was sent the request")
	}

	if _, err := (Endpoint{Name: "ctl-none", CACert: caPEM}).HTTPTransport(); err == nil || !strings.Contains(err.Error(), `controller "ctl-none": no API addresses`) {
		t.Fatalf("no addresses: %v", err)
	}
}

// Every connection to a controller shares one TLS configuration (its CA
// parsed once), which each would otherwise keep for its lifetime; another
// CA or server name has its own.
func TestEndpointTLSConfigShared(t *testing.T) {
	t.Parallel()
	a := startController(t, "ctl-tls-a").endpoint()
	b := startController(t, "ctl-tls-b").endpoint()
	first, err := a.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Error("two dials of one controller parsed its CA twice: the TLS configuration is not shared")
	}
	other, err := b.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	renamed := a
	renamed.TLSServerName = "other-name"
	named, err := renamed.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case other == first:
		t.Error("controllers with different CAs share a TLS configuration")
	case named == first:
		t.Error("different TLS server names share a TLS configuration")
	case named.ServerName != "other-name":
		t.Errorf("ServerName = %q, want other-name", named.ServerName)
	case first.ClientSessionCache == nil || first.ClientSessionCache == other.ClientSessionCache:
		t.Error("controllers with different CAs share a TLS session cache, or have none")
	}
	// One configuration per controller name: the renamed one replaced the first.
	if x, _ := tlsConfigs.Load(a.Name); x == nil || x.(*tlsEntry).cfg != named {
		t.Error("a controller's changed server name left its old configuration in place")
	}
}

// TestEndpointResumesTLSSessions: a second connection to a controller
// resumes the TLS session of the first, rather than being sent the
// certificate and verifying it again.
func TestEndpointResumesTLSSessions(t *testing.T) {
	t.Parallel()
	e := startController(t, "ctl-resume").endpoint()
	tr, err := e.HTTPTransport()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true, true} {
		resp, err := (&http.Client{Transport: tr}).Get("https://" + e.Addresses[0] + "/no-such-page")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.TLS == nil || resp.TLS.DidResume != want {
			t.Fatalf("connection %d: resumed %v, want %v", i, resp.TLS != nil && resp.TLS.DidResume, want)
		}
		tr.CloseIdleConnections() // the next request opens a new connection
	}
}
