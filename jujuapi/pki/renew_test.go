package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestServerCertRenewedBeforeExpiry(t *testing.T) {
	dir := t.TempDir()
	b1, err := LoadOrCreate(dir, []string{"192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	_, caCert, err := readCert(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := readKey(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	// Replace the server certificate with one, otherwise fine, that expires
	// in ten days.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sans, err := serverSANs([]string{"192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: b1.TLSCertificate.Leaf.SerialNumber,
		Subject:      pkix.Name{CommonName: ServerName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     sans.dns,
		IPAddresses:  sans.ipSlice(),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ServerKeyFile), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ServerCertFile), encodeCertPEM(der), 0o644); err != nil {
		t.Fatal(err)
	}

	b2, err := LoadOrCreate(dir, []string{"192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(b2.TLSCertificate.Certificate[0], der) {
		t.Fatal("server certificate close to expiry was not renewed")
	}
	if time.Until(b2.TLSCertificate.Leaf.NotAfter) < 365*24*time.Hour {
		t.Errorf("renewed certificate expires at %v", b2.TLSCertificate.Leaf.NotAfter)
	}
	if !bytes.Equal(b1.CACertPEM, b2.CACertPEM) {
		t.Error("CA changed")
	}
}
