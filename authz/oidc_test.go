package authz_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/authz"
)

func TestIdentityFromClaims(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name    string
		claim   string
		claims  authz.IDClaims
		want    string
		wantErr string
	}{
		{name: "verified email", claim: authz.ClaimEmail, claims: authz.IDClaims{Subject: "s1", Email: "alice@example.com", EmailVerified: &yes}, want: "alice@example.com"},
		{name: "default claim is email", claim: "", claims: authz.IDClaims{Subject: "s1", Email: "bob@example.com", EmailVerified: &yes}, want: "bob@example.com"},
		{name: "unverified email", claim: authz.ClaimEmail, claims: authz.IDClaims{Subject: "s1", Email: "alice@example.com", EmailVerified: &no}, wantErr: "not verified"},
		{name: "email_verified missing", claim: authz.ClaimEmail, claims: authz.IDClaims{Subject: "s1", Email: "alice@example.com"}, wantErr: "not verified"},
		{name: "no email", claim: authz.ClaimEmail, claims: authz.IDClaims{Subject: "s1"}, wantErr: "no email claim"},
		{name: "subject", claim: authz.ClaimSubject, claims: authz.IDClaims{Subject: "CiQwOGE4Njg0Yi1kYjg4"}, want: "CiQwOGE4Njg0Yi1kYjg4"},
		{name: "no subject", claim: authz.ClaimSubject, claims: authz.IDClaims{Email: "alice@example.com", EmailVerified: &yes}, wantErr: "no sub claim"},
		{name: "service account name", claim: authz.ClaimEmail, claims: authz.IDClaims{Email: "ci@serviceaccount", EmailVerified: &yes}, wantErr: "reserved for service accounts"},
		{name: "service account name, any case", claim: authz.ClaimSubject, claims: authz.IDClaims{Subject: "ci@ServiceAccount"}, wantErr: "reserved for service accounts"},
		{name: "admin", claim: authz.ClaimSubject, claims: authz.IDClaims{Subject: "admin"}, wantErr: "reserved for the bootstrap admin"},
		{name: "Admin", claim: authz.ClaimSubject, claims: authz.IDClaims{Subject: "Admin"}, wantErr: "reserved for the bootstrap admin"},
		{name: "space", claim: authz.ClaimSubject, claims: authz.IDClaims{Subject: "a b"}, wantErr: "cannot"},
		{name: "unknown claim", claim: "name", claims: authz.IDClaims{Subject: "s"}, wantErr: "unknown identity claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := authz.IdentityFromClaims(tt.claim, tt.claims)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("IdentityFromClaims = %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				if tt.claim != "name" && !errors.Is(err, authz.ErrOIDCRefused) {
					t.Errorf("error %v does not wrap ErrOIDCRefused", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("IdentityFromClaims = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNewOIDCConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     authz.OIDCConfig
		wantErr string
	}{
		{name: "ok", cfg: authz.OIDCConfig{Issuer: "https://idp.example.com", ClientID: "jimm"}},
		{name: "no issuer", cfg: authz.OIDCConfig{ClientID: "jimm"}, wantErr: "issuer URL is required"},
		{name: "not a URL", cfg: authz.OIDCConfig{Issuer: "idp.example.com", ClientID: "jimm"}, wantErr: "want an https:// URL"},
		{name: "no client", cfg: authz.OIDCConfig{Issuer: "https://idp.example.com"}, wantErr: "client id is required"},
		{name: "bad claim", cfg: authz.OIDCConfig{Issuer: "https://idp.example.com", ClientID: "jimm", IdentityClaim: "name"}, wantErr: "identity claim"},
		{name: "bad CA", cfg: authz.OIDCConfig{Issuer: "https://idp.example.com", ClientID: "jimm", CACertPEM: []byte("nope")}, wantErr: "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authz.NewOIDC(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewOIDC: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
