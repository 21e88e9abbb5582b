package jimmctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// EnvClientSecret holds a service account's client secret for
// `jimmctl login --client-id`.
const EnvClientSecret = "JIMM_CLIENT_SECRET"

// defaultDevicePoll is how long jimmctl waits between polls of a device
// login the broker says is pending, when the broker names no interval.
const defaultDevicePoll = 2 * time.Second

// LoginDevice starts a device login through the broker's identity
// provider: the person visits the verification URI and enters the user
// code, and the client waits with WaitDeviceLogin.
func (c *Client) LoginDevice(ctx context.Context) (restapi.DeviceLoginResponse, error) {
	var resp restapi.DeviceLoginResponse
	op := fmt.Sprintf("start a device login at %s", c.base)
	err := c.do(ctx, op, http.MethodPost, restapi.PathLoginDevice, nil, false, struct{}{}, &resp)
	if err == nil && (resp.Handle == "" || resp.UserCode == "" || resp.VerificationURI == "") {
		err = fmt.Errorf("%s: the broker's answer lacks the verification URI, user code or handle", op)
	}
	return resp, err
}

// LoginDeviceToken asks once for the session token of a device login; the
// broker waits a while for the person. An error with code
// restapi.CodeAuthorizationPending means: ask again.
func (c *Client) LoginDeviceToken(ctx context.Context, handle string) (restapi.LoginResponse, error) {
	var resp restapi.LoginResponse
	op := fmt.Sprintf("finish the device login at %s", c.base)
	err := c.do(ctx, op, http.MethodPost, restapi.PathLoginDeviceToken, nil, false, restapi.DeviceTokenRequest{Handle: handle}, &resp)
	if err == nil && resp.Token == "" {
		err = fmt.Errorf("%s: the broker returned no session token", op)
	}
	return resp, err
}

// WaitDeviceLogin asks for the session token of a device login until the
// person has approved it, refused it, the code expired, or ctx ends.
func (c *Client) WaitDeviceLogin(ctx context.Context, d restapi.DeviceLoginResponse) (restapi.LoginResponse, error) {
	poll := defaultDevicePoll
	if d.Interval > 0 {
		poll = time.Duration(d.Interval) * time.Second
	}
	for {
		resp, err := c.LoginDeviceToken(ctx, d.Handle)
		if ErrorCode(err) != restapi.CodeAuthorizationPending {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return restapi.LoginResponse{}, fmt.Errorf("device login at %s: interrupted while waiting for code %s to be entered: %w", c.base, d.UserCode, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// LoginClientCredentials logs a service account in with its client id and
// secret, and returns a session token for "<client-id>@serviceaccount".
func (c *Client) LoginClientCredentials(ctx context.Context, clientID, clientSecret string) (restapi.LoginResponse, error) {
	var resp restapi.LoginResponse
	op := fmt.Sprintf("log in to %s as service account %q", c.base, clientID)
	err := c.do(ctx, op, http.MethodPost, restapi.PathLogin, nil, false,
		restapi.ClientCredentialsRequest{ClientID: clientID, ClientSecret: clientSecret}, &resp)
	if err == nil && resp.Token == "" {
		err = fmt.Errorf("%s: the broker returned no session token", op)
	}
	return resp, err
}

// Logout revokes the client's session token at the broker.
func (c *Client) Logout(ctx context.Context) (restapi.LogoutResponse, error) {
	var resp restapi.LogoutResponse
	err := c.do(ctx, "log out of "+c.base, http.MethodPost, restapi.PathLogout, nil, true, struct{}{}, &resp)
	return resp, err
}

// identityProviderLogin logs in through the broker's identity provider: a
// service account with client credentials when clientID is set, else a
// person with the device flow (the verification URL and code go to stderr).
func (a *app) identityProviderLogin(cmd *cobra.Command, s Settings, ca []byte, clientID, secretFile string) (restapi.LoginResponse, error) {
	if clientID != "" {
		secret, err := a.clientSecret(secretFile)
		if err != nil {
			return restapi.LoginResponse{}, err
		}
		c, err := a.loginClient(s, ca, 0)
		if err != nil {
			return restapi.LoginResponse{}, err
		}
		resp, err := c.LoginClientCredentials(cmd.Context(), clientID, secret)
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized {
				err = fmt.Errorf("%w (check the client id and secret)", err)
			}
			return restapi.LoginResponse{}, err
		}
		return resp, nil
	}
	// Each poll may wait for the person for a while at the broker.
	c, err := a.loginClient(s, ca, 2*DefaultTimeout)
	if err != nil {
		return restapi.LoginResponse{}, err
	}
	d, err := c.LoginDevice(cmd.Context())
	if err != nil {
		return restapi.LoginResponse{}, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "To log in, visit %s and enter the code %s\nWaiting for the login to be approved...\n", d.VerificationURI, d.UserCode)
	return c.WaitDeviceLogin(cmd.Context(), d)
}

// loginClient is a client for logging in: no credentials, the given CA.
func (a *app) loginClient(s Settings, ca []byte, timeout time.Duration) (*Client, error) {
	c, err := NewClient(Config{URL: s.URL, CACertPEM: ca, Timeout: timeout})
	if err != nil && s.CACertSource != "" {
		err = fmt.Errorf("%w (CA certificate from %s)", err, s.CACertSource)
	}
	return c, err
}

// clientSecret finds a service account's secret: --client-secret-file,
// else $JIMM_CLIENT_SECRET.
func (a *app) clientSecret(file string) (string, error) {
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read --client-secret-file: %w", err)
		}
		secret := strings.TrimSpace(string(raw))
		if secret == "" {
			return "", fmt.Errorf("--client-secret-file %s is empty", file)
		}
		return secret, nil
	}
	if secret := strings.TrimSpace(a.getenv(EnvClientSecret)); secret != "" {
		return secret, nil
	}
	return "", fmt.Errorf("no client secret given: pass --client-secret-file or set %s", EnvClientSecret)
}

// saveLogin saves a new session and says who is logged in.
func (a *app) saveLogin(cmd *cobra.Command, s Settings, ca []byte, resp restapi.LoginResponse) error {
	saved := SavedConfig{URL: s.URL, CACert: string(ca), Token: resp.Token, Identity: resp.Identity, ExpiresAt: resp.ExpiresAt}
	if err := SaveConfig(s.Path, saved); err != nil {
		return fmt.Errorf("logged in, but could not save the session: %w", err)
	}
	switch {
	case strings.TrimSpace(a.getenv(EnvToken)) != "":
		fmt.Fprintf(cmd.ErrOrStderr(), "WARNING %s is set: later commands use it, not this session\n", EnvToken)
	case strings.TrimSpace(a.getenv(EnvUser)) != "" && a.getenv(EnvPassword) != "":
		fmt.Fprintf(cmd.ErrOrStderr(), "WARNING %s and %s are set: later commands use them, not this session\n", EnvUser, EnvPassword)
	}
	result := loginResult{URL: s.URL, Identity: resp.Identity, ExpiresAt: resp.ExpiresAt, ConfigFile: s.Path}
	if a.format.String() == FormatTabular {
		expires := "session expires " + formatTime(resp.ExpiresAt)
		if resp.ExpiresAt.IsZero() {
			expires = "session expiry unknown"
		}
		_, err := fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s as %s (%s)\n", s.URL, resp.Identity, expires)
		return err
	}
	return write(cmd.OutOrStdout(), a.format.String(), result, nil)
}

// revokeSaved ends a saved session at the broker it was issued by.
func (a *app) revokeSaved(cmd *cobra.Command, saved SavedConfig) error {
	c, err := NewClient(Config{URL: saved.URL, CACertPEM: []byte(saved.CACert), Token: saved.Token})
	if err != nil {
		return err
	}
	_, err = c.Logout(cmd.Context())
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized {
		return nil // already ended, or expired
	}
	return err
}
