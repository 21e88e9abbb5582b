package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/clock"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// TestForgedSessionTokensNeverReachAController presents forged and
// mis-addressed session tokens to a running broker, on a model connection
// (as the Juju client's LoginWithSessionToken) and as REST bearer tokens:
// each is refused with an error that says what is wrong, and the broker
// never dials the model's controller for any of them. A genuine token, for
// contrast, gets as far as dialling it.
func TestForgedSessionTokensNeverReachAController(t *testing.T) {
	// The broker's clock is a fake, so that a token can expire without
	// waiting; failed logins are not slowed, so that they need no clock
	// moving either.
	fake := clock.NewFake(time.Now())
	s := startReplica(t, dbtest.DSN(t), authz.GenerateKey(), func(c *Config) { c.Clock, c.LoginFailureRate = fake, -1 })
	ctx := t.Context()
	ctl := &db.Controller{Name: "ctl", UUID: "5e55c0de-0000-4000-8000-000000000001", Addresses: []string{"127.0.0.1:1"},
		Regions: []string{"r"}, AdminPassword: []byte{0}}
	if err := s.db.WithContext(ctx).Create(ctl).Error; err != nil {
		t.Fatal(err)
	}
	const modelUUID = "5e55c0de-0000-4000-8000-0000000000aa"
	if err := s.db.WithContext(ctx).Create(&db.Model{UUID: modelUUID, Name: "m", Owner: "admin", ControllerID: ctl.ID, Cloud: "c", Region: "r", Life: "alive"}).Error; err != nil {
		t.Fatal(err)
	}

	admin := &identity.Identity{Name: identity.AdminName, Admin: true}
	genuine, _, err := s.identity.NewSession(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	now := fake.Now()
	mint := func(c authz.SessionClaims, at time.Time, ttl time.Duration) string {
		tok, _, err := s.identity.Keys().MintSession(at, c, ttl)
		if err != nil {
			t.Fatal(err)
		}
		// Stored like a genuine session, so that only the token's own
		// fault can refuse it.
		if err := s.db.WithContext(ctx).Create(&db.SessionToken{TokenHash: authz.HashSessionToken(tok), Identity: c.Subject, ExpiresAt: at.Add(ttl)}).Error; err != nil {
			t.Fatal(err)
		}
		return tok
	}
	right := authz.SessionClaims{Subject: identity.AdminName, Issuer: s.identity.Issuer(), Audience: s.uuid}
	wrongAud, wrongIss := right, right
	wrongAud.Audience = ctl.UUID // a controller's: a token meant for it
	wrongIss.Issuer = "someone-else"

	parts := strings.Split(genuine, ".")
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	var payload map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(raw, &payload)
	payload["sub"] = "mallory@example.com"
	var header map[string]any
	raw, _ = base64.RawURLEncoding.DecodeString(parts[0])
	json.Unmarshal(raw, &header)
	foreignKey, err := authz.GenerateSigningKey(now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := authz.NewKeySet(foreignKey).MintSession(now, right, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	shortLived := mint(right, now, time.Second)
	fake.Advance(2 * time.Second) // it expires
	cases := []struct{ name, token, want string }{
		{"alg none", enc(map[string]any{"alg": "none", "kid": header["kid"]}) + "." + parts[1] + ".", "accepted algorithm"},
		{"wrong audience", mint(wrongAud, now, time.Hour), "audience"},
		{"wrong issuer", mint(wrongIss, now, time.Hour), "issuer"},
		{"expired", shortLived, "expired"},
		{"unknown key id", foreign, "unknown key"},
		{"tampered payload", parts[0] + "." + enc(payload) + "." + parts[2], "signature does not verify"},
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CACertPEM())
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"}
	login := func(token string) error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := jujuapi.Dial(cctx, "wss://"+s.Addr()+"/model/"+modelUUID+"/api", jujuapi.DialOptions{TLSConfig: tlsConfig})
		if err != nil {
			t.Fatal(err)
		}
		c := jujuapi.NewClient(conn)
		defer c.Close()
		var res params.LoginResult
		return c.Call(cctx, "Admin", 4, "LoginWithSessionToken", params.LoginWithSessionTokenRequest{SessionToken: token}, &res)
	}
	whoami := func(token string) (int, string) {
		t.Helper()
		return rest(t, s, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, http.MethodGet, restapi.PathWhoAmI, nil)
	}
	dials := func() uint64 { return histogramCount(t, s, "jimm_proxy_controller_login_seconds") }

	for _, c := range cases {
		err := login(c.token)
		if err == nil || !strings.Contains(err.Error(), "invalid session token") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: model login: %v; want it refused saying %q", c.name, err, c.want)
		}
		if code, body := whoami(c.token); code != http.StatusUnauthorized || !strings.Contains(body, c.want) {
			t.Errorf("%s: REST: %d %s; want 401 saying %q", c.name, code, body, c.want)
		}
	}
	if n := dials(); n != 0 {
		t.Fatalf("the broker dialled the controller %d times for refused tokens", n)
	}
	// The genuine token passes the broker and is only stopped by the
	// (unreachable) controller.
	if err := login(genuine); err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("genuine token: %v; want the controller reported unavailable", err)
	}
	if n := dials(); n != 1 {
		t.Errorf("the broker dialled the controller %d times for the genuine token, want 1", n)
	}
	if code, body := whoami(genuine); code != http.StatusOK {
		t.Errorf("genuine token on REST: %d %s", code, body)
	}
	// Logging out revokes it everywhere.
	if err := s.identity.RevokeSession(ctx, genuine); err != nil {
		t.Fatal(err)
	}
	if err := login(genuine); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked token: %v", err)
	}
}
