package integration

import (
	"slices"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/modelconfig"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"
)

// TestTokenLogin checks logins with a JWT signed by a trusted JWKS, as a
// broker makes them: the token's access claims are the whole authorization
// decision, and bad tokens are refused.
func TestTokenLogin(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	c := startController(t, "ctl-jwt", iss.flags()...)

	adminConn := c.admin(t, "")
	mm := modelmanager.NewClient(adminConn)
	var uuids []string
	for _, name := range []string{"granted", "other"} {
		info, err := mm.CreateModel(name, "admin", "", "", names.CloudCredentialTag{}, nil)
		if err != nil {
			t.Fatalf("CreateModel %s: %v", name, err)
		}
		uuids = append(uuids, info.UUID)
	}
	granted, other := uuids[0], uuids[1]
	ctlTag := names.NewControllerTag(c.UUID).String()
	modelTag := names.NewModelTag(granted).String()

	claims := func(ctlAccess, modelAccess string) tokenClaims {
		now := time.Now()
		access := map[string]string{ctlTag: ctlAccess}
		if modelAccess != "" {
			access[modelTag] = modelAccess
		}
		return tokenClaims{
			Subject: "user-bob", Audience: c.UUID, Issuer: "integration",
			IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(), Access: access,
		}
	}
	open := func(t *testing.T, token, modelUUID string) api.Connection {
		t.Helper()
		conn, err := c.tryOpenToken("bob", token, modelUUID)
		if err != nil {
			t.Fatalf("token login (model %q): %v", modelUUID, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	t.Run("read", func(t *testing.T) {
		token := iss.token(t, claims("login", "read"))
		conn := open(t, token, "")
		if conn.AuthTag().String() != "user-bob" || conn.ControllerAccess() != "login" {
			t.Errorf("logged in as %s with controller access %q, want user-bob with login", conn.AuthTag(), conn.ControllerAccess())
		}
		if got := conn.ControllerTag().Id(); got != c.UUID {
			t.Errorf("controller tag %s, want %s", got, c.UUID)
		}
		bmm := modelmanager.NewClient(conn)
		ms := listModels(t, bmm, "bob")
		if len(ms) != 1 || ms[0].UUID != granted {
			t.Errorf("bob with read on %s lists %+v", granted, ms)
		}
		sums, err := bmm.ListModelSummaries("bob", false)
		if err != nil || len(sums) != 1 || sums[0].UUID != granted || sums[0].ModelUserAccess != "read" {
			t.Errorf("bob's summaries = %+v, %v; want %s with read", sums, err, granted)
		}
		_, err = bmm.ListModelSummaries("bob", true)
		wantErr(t, "ListModelSummaries(all) with login", err, params.CodeUnauthorized, "permission denied")

		mconn := open(t, token, granted)
		if st := fullStatus(t, mconn); st.Model.Name != "granted" {
			t.Errorf("status of model %q, want granted", st.Model.Name)
		}
		mc := modelconfig.NewClient(mconn)
		if _, err := mc.ModelGet(); err != nil {
			t.Errorf("ModelGet with read: %v", err)
		}
		err = mc.ModelSet(map[string]any{"logging-config": "<root>=TRACE"})
		wantErr(t, "ModelSet with a read token", err, params.CodeUnauthorized, "permission denied")

		// The token grants nothing on the other model.
		if conn, err := c.tryOpenToken("bob", token, other); err == nil {
			conn.Close()
			t.Errorf("a token for model %s opened model %s", granted, other)
		} else if errCode(err) != params.CodeUnauthorized {
			t.Errorf("token login to an ungranted model: %v (code %q), want code %q", err, errCode(err), params.CodeUnauthorized)
		}
	})

	t.Run("write", func(t *testing.T) {
		mconn := open(t, iss.token(t, claims("login", "write")), granted)
		mc := modelconfig.NewClient(mconn)
		if err := mc.ModelSet(map[string]any{"logging-config": "<root>=TRACE"}); err != nil {
			t.Fatalf("ModelSet with a write token: %v", err)
		}
		cfg, err := mc.ModelGetWithMetadata()
		if err != nil {
			t.Fatalf("ModelGet: %v", err)
		}
		if v := cfg["logging-config"]; v.Value != "<root>=TRACE" || v.Source != "model" {
			t.Errorf("logging-config = %+v after ModelSet", v)
		}
	})

	t.Run("superuser", func(t *testing.T) {
		conn := open(t, iss.token(t, claims("superuser", "")), "")
		if conn.ControllerAccess() != "superuser" {
			t.Errorf("controller access %q, want superuser", conn.ControllerAccess())
		}
		sums, err := modelmanager.NewClient(conn).ListModelSummaries("bob", true)
		if err != nil {
			t.Fatalf("ListModelSummaries(all): %v", err)
		}
		var got []string
		for _, s := range sums {
			got = append(got, s.UUID)
		}
		for _, want := range []string{c.UUID, granted, other} {
			if !slices.Contains(got, want) {
				t.Errorf("superuser's ListModelSummaries(all) = %v, lacks %s", got, want)
			}
		}
		// A superuser administers every model.
		mconn := open(t, iss.token(t, claims("superuser", "")), other)
		if err := modelconfig.NewClient(mconn).ModelSet(map[string]any{"logging-config": "<root>=WARNING"}); err != nil {
			t.Errorf("superuser's ModelSet: %v", err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		stranger := newSigningKey(t)
		for _, tc := range []struct {
			name  string
			token func() string
			model string
			msg   string
		}{{
			name: "expired",
			token: func() string {
				cl := claims("login", "read")
				cl.Expiry = time.Now().Add(-time.Minute).Unix()
				cl.IssuedAt = time.Now().Add(-10 * time.Minute).Unix()
				return iss.token(t, cl)
			},
		}, {
			name: "other audience",
			token: func() string {
				cl := claims("superuser", "admin")
				cl.Audience = "6f1b0a47-2f0e-4c7b-9a3e-0d9c1f2e3a4b"
				return iss.token(t, cl)
			},
		}, {
			name:  "unknown key id",
			token: func() string { return sign(t, stranger, "not-in-the-jwks", claims("superuser", "admin")) },
		}, {
			name:  "known key id, wrong key",
			token: func() string { return sign(t, stranger, iss.kid, claims("superuser", "admin")) },
		}, {
			name: "subject is not the auth-tag",
			token: func() string {
				cl := claims("superuser", "admin")
				cl.Subject = "user-admin"
				return iss.token(t, cl)
			},
		}, {
			name:  "not base64",
			token: func() string { return "%%%" },
		}} {
			for _, model := range []string{"", granted} {
				conn, err := c.tryOpenToken("bob", tc.token(), model)
				if err == nil {
					conn.Close()
					t.Errorf("%s token (model %q): login succeeded", tc.name, model)
					continue
				}
				if code := errCode(err); code != params.CodeUnauthorized {
					t.Errorf("%s token (model %q): error %q has code %q, want %q", tc.name, model, err, code, params.CodeUnauthorized)
				}
				if tc.msg != "" {
					wantErr(t, tc.name+" token", err, params.CodeUnauthorized, tc.msg)
				}
			}
		}
	})

	t.Run("cloud access", func(t *testing.T) {
		// add-model on the cloud lets bob create a model of his own;
		// without it he may not.
		cl := claims("login", "")
		_, err := modelmanager.NewClient(open(t, iss.token(t, cl), "")).CreateModel("bobs", "bob", "", "", names.CloudCredentialTag{}, nil)
		wantErr(t, "CreateModel without cloud access", err, params.CodeUnauthorized, "permission denied")
		cl.Access[names.NewCloudTag("localhost").String()] = "add-model"
		bmm := modelmanager.NewClient(open(t, iss.token(t, cl), ""))
		info, err := bmm.CreateModel("bobs", "bob", "", "", names.CloudCredentialTag{}, nil)
		if err != nil {
			t.Fatalf("CreateModel with add-model: %v", err)
		}
		if info.Owner != "bob" || info.Name != "bobs" {
			t.Errorf("CreateModel returned %+v, want bobs owned by bob", info)
		}
		_, err = bmm.CreateModel("alices", "alice", "", "", names.CloudCredentialTag{}, nil)
		wantErr(t, "CreateModel for another owner", err, params.CodeUnauthorized, "permission denied")
	})

	t.Run("key rotation", func(t *testing.T) {
		// The issuer publishes a second key; a token signed with it is
		// accepted once the controller re-fetches the key set for the
		// unknown key id (after its short cooldown).
		newKey := newSigningKey(t)
		iss.publish(publicJWK(&iss.key.PublicKey, iss.kid), publicJWK(&newKey.PublicKey, "integration-key-2"))
		before := iss.fetchCount()
		token := sign(t, newKey, "integration-key-2", claims("login", "read"))
		eventually(t, 10*time.Second, "login with a token signed by a newly published key", func() error {
			conn, err := c.tryOpenToken("bob", token, granted)
			if err != nil {
				return err
			}
			conn.Close()
			return nil
		})
		if iss.fetchCount() == before {
			t.Errorf("the controller accepted a token with a new key id without fetching the key set")
		}
		// The old key still works.
		open(t, iss.token(t, claims("login", "read")), granted)
	})

	t.Run("no controller access", func(t *testing.T) {
		token := iss.token(t, claims("", "admin"))
		conn, err := c.tryOpenToken("bob", token, "")
		if err == nil {
			conn.Close()
		}
		wantErr(t, "controller login with a token granting no controller access", err, params.CodeUnauthorized, "permission denied")
	})

	// Password logins still work beside token logins.
	if err := adminConn.APICall("Pinger", 1, "", "Ping", nil, nil); err != nil {
		t.Errorf("admin Ping: %v", err)
	}
}

// TestTokenModelLoginNeedsControllerAccess checks that a token granting a
// model but nothing on the controller cannot open that model: Juju 3.5
// (allow-model-access false, the default) refuses a model login without
// controller access with "permission denied".
func TestTokenModelLoginNeedsControllerAccess(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	c := startController(t, "ctl-jwt-noctl", iss.flags()...)
	info, err := modelmanager.NewClient(c.admin(t, "")).CreateModel("m", "admin", "", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	now := time.Now()
	token := iss.token(t, tokenClaims{
		Subject: "user-bob", Audience: c.UUID, IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(),
		Access: map[string]string{names.NewModelTag(info.UUID).String(): "admin"},
	})
	conn, err := c.tryOpenToken("bob", token, info.UUID)
	if err == nil {
		conn.Close()
	}
	wantErr(t, "model login with a token granting the model but not the controller", err, params.CodeUnauthorized, "permission denied")
}
