package jimmctl

import (
	"os"
	"strings"
	"testing"
)

func TestDeviceLoginSavesSession(t *testing.T) {
	path := isolate(t)
	f := newFakeBroker(t)
	caFile := writeFile(t, "ca.pem", f.caPEM)

	stdout, stderr, err := run(t, "", "login", "--url", f.url, "--ca-cert", caFile)
	if err != nil {
		t.Fatalf("login: %v\n%s", err, stderr)
	}
	if want := "To log in, visit " + fakeDeviceURI + " and enter the code " + fakeDeviceCode; !strings.Contains(stderr, want) {
		t.Errorf("login's stderr %q lacks %q", stderr, want)
	}
	if want := "logged in to " + f.url + " as " + fakeDeviceIdentity; !strings.HasPrefix(stdout, want) {
		t.Errorf("login printed %q, want prefix %q", stdout, want)
	}
	saved, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Identity != fakeDeviceIdentity || !strings.HasPrefix(saved.Token, "tok-") || strings.Contains(stdout+stderr, saved.Token) {
		t.Errorf("saved config = %+v (output %q %q)", saved, stdout, stderr)
	}
	stdout, _, err = run(t, "", "whoami")
	if err != nil || !strings.Contains(stdout, fakeDeviceIdentity) {
		t.Fatalf("whoami: %q, %v", stdout, err)
	}

	// Logout ends the session at the broker, then forgets it.
	stdout, stderr, err = run(t, "", "logout")
	if err != nil || !strings.HasPrefix(stdout, "logged out of "+f.url+": ended the session of "+fakeDeviceIdentity) {
		t.Fatalf("logout: %q, %q, %v", stdout, stderr, err)
	}
	if f.tokenValid(saved.Token) {
		t.Errorf("the broker still accepts the token after logout")
	}
	if after, err := LoadConfig(path, nil); err != nil || after.Token != "" {
		t.Errorf("after logout, config = %+v, %v", after, err)
	}
}

func TestLogoutWhenTheBrokerIsGone(t *testing.T) {
	path := isolate(t)
	f := newFakeBroker(t)
	tok := f.issueToken("alice@example.com")
	if err := SaveConfig(path, SavedConfig{URL: f.url, CACert: string(f.caPEM), Token: tok, Identity: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	f.setFail500(true)
	stdout, stderr, err := run(t, "", "logout")
	if err != nil || !strings.Contains(stdout, "forgot the session of alice@example.com") || !strings.Contains(stderr, "WARNING could not end the session at the broker") {
		t.Fatalf("logout: %q, %q, %v", stdout, stderr, err)
	}
	if strings.Contains(stdout+stderr, tok) {
		t.Errorf("logout output leaks the token")
	}
	if after, err := LoadConfig(path, nil); err != nil || after.Token != "" {
		t.Errorf("after logout, config = %+v, %v", after, err)
	}
}

func TestServiceAccountLogin(t *testing.T) {
	f := newFakeBroker(t)
	tests := []struct {
		name       string
		secretFile string // content; "" for none
		env        string // JIMM_CLIENT_SECRET
		clientID   string
		wantErr    string
	}{
		{name: "secret file", clientID: fakeClientID, secretFile: fakeClientSecret + "\n"},
		{name: "secret from env", clientID: fakeClientID, env: fakeClientSecret},
		{name: "wrong secret", clientID: fakeClientID, env: "not-the-secret", wantErr: "identity provider refused the login: invalid_client (check the client id and secret)"},
		{name: "unknown client", clientID: "nobody", secretFile: fakeClientSecret, wantErr: `service account "nobody"`},
		{name: "no secret", clientID: fakeClientID, wantErr: "no client secret given: pass --client-secret-file or set JIMM_CLIENT_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := isolate(t)
			t.Setenv(EnvURL, f.url)
			t.Setenv(EnvCACert, string(f.caPEM))
			t.Setenv(EnvClientSecret, tt.env)
			args := []string{"login", "--client-id", tt.clientID}
			if tt.secretFile != "" {
				args = append(args, "--client-secret-file", writeFile(t, "secret", []byte(tt.secretFile)))
			}
			stdout, stderr, err := run(t, "", args...)
			if strings.Contains(stdout+stderr, fakeClientSecret) || strings.Contains(stdout+stderr, "not-the-secret") {
				t.Errorf("output leaks the secret: %q %q", stdout, stderr)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(stderr, tt.wantErr) {
					t.Fatalf("login: %v, stderr %q, want %q", err, stderr, tt.wantErr)
				}
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("failed login wrote the config (%v)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("login: %v\n%s", err, stderr)
			}
			if want := "as " + fakeClientID + "@serviceaccount"; !strings.Contains(stdout, want) {
				t.Errorf("login printed %q, want %q", stdout, want)
			}
			saved, err := LoadConfig(path, nil)
			if err != nil || saved.Identity != fakeClientID+"@serviceaccount" {
				t.Errorf("saved config = %+v, %v", saved, err)
			}
		})
	}
}
