package pki_test

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi/pki"
)

// Servers given the same shared material serve certificates from one CA:
// the shared server certificate where it names the server's host, one of
// their own from the shared CA where it does not.
func TestSharedBundle(t *testing.T) {
	sh, err := pki.NewShared(nil, []string{"broker.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	a, why, err := sh.Bundle([]string{"broker.example.com"})
	if err != nil || why != "" {
		t.Fatalf("bundle for the shared host: %v (reissued: %q)", err, why)
	}
	b, _, err := sh.Bundle([]string{"broker.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.TLSCertificate.Certificate[0], b.TLSCertificate.Certificate[0]) || !bytes.Equal(a.CACertPEM, b.CACertPEM) {
		t.Error("two servers on the same host serve different certificates")
	}
	other, why, err := sh.Bundle([]string{"replica-2.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if why == "" {
		t.Error("a host the shared certificate lacks was served the shared certificate")
	}
	if !bytes.Equal(other.CACertPEM, a.CACertPEM) {
		t.Error("a replica on another host has another CA")
	}
	for _, c := range []struct {
		b    *pki.Bundle
		name string
	}{{a, "juju-apiserver"}, {a, "broker.example.com"}, {other, "replica-2.example.com"}, {other, "juju-apiserver"}} {
		if _, err := c.b.TLSCertificate.Leaf.Verify(x509.VerifyOptions{Roots: a.CAPool(), DNSName: c.name}); err != nil {
			t.Errorf("certificate for %s does not verify against the shared CA: %v", c.name, err)
		}
	}
}

// The first replica seeds the shared material with the CA already in its
// data directory, so that clients trusting it keep doing so.
func TestSharedSeededFromDataDir(t *testing.T) {
	dir := t.TempDir()
	old, err := pki.LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(dir)
	if err != nil || ca == nil {
		t.Fatalf("LoadCA: %v, %v", ca, err)
	}
	sh, err := pki.NewShared(ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := sh.Bundle(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.CACertPEM, old.CACertPEM) {
		t.Error("the shared CA is not the data directory's")
	}
	if ca, err := pki.LoadCA(t.TempDir()); ca != nil || err != nil {
		t.Errorf("LoadCA of an empty directory: %v, %v; want none", ca, err)
	}
	out := filepath.Join(t.TempDir(), "tls")
	if err := pki.WriteCACert(out, b.CACertPEM); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, pki.CACertFile)); !bytes.Equal(got, b.CACertPEM) {
		t.Error("ca.crt does not hold the shared CA")
	}
}
