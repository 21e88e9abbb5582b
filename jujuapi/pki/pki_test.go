package pki_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi/pki"
)

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestLoadOrCreateCreatesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "pki")
	b, err := pki.LoadOrCreate(dir, []string{"10.1.2.3", "ctl.example.com", "  ", "0.0.0.0", "[fd00::7]:17070"})
	if err != nil {
		t.Fatal(err)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
	for _, name := range []string{pki.CAKeyFile, pki.ServerKeyFile} {
		if got := mode(t, filepath.Join(dir, name)); got != 0o600 {
			t.Errorf("%s mode = %o, want 600", name, got)
		}
	}
	for _, name := range []string{pki.CACertFile, pki.ServerCertFile} {
		if got := mode(t, filepath.Join(dir, name)); got&0o077&^0o044 != 0 {
			t.Errorf("%s mode = %o, want no group/other write", name, got)
		}
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}

	if !bytes.Equal(b.CACertPEM, readFile(t, dir, pki.CACertFile)) {
		t.Error("CACertPEM differs from ca.crt")
	}
	ca := b.CACert
	if !ca.IsCA || ca.Subject.CommonName != "jimm development CA" {
		t.Errorf("CA: IsCA=%v CN=%q", ca.IsCA, ca.Subject.CommonName)
	}
	if d := ca.NotAfter.Sub(ca.NotBefore); d < 9*365*24*time.Hour {
		t.Errorf("CA validity %v, want ~10 years", d)
	}
	leaf := b.TLSCertificate.Leaf
	if leaf == nil || len(b.TLSCertificate.Certificate) != 1 {
		t.Fatalf("server certificate: leaf %v, chain length %d", leaf, len(b.TLSCertificate.Certificate))
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 700*24*time.Hour || d > 740*24*time.Hour {
		t.Errorf("server validity %v, want ~2 years", d)
	}
	for _, name := range []string{"juju-apiserver", "localhost", "ctl.example.com"} {
		if !slices.Contains(leaf.DNSNames, name) {
			t.Errorf("server DNS SANs %v lack %q", leaf.DNSNames, name)
		}
	}
	for _, want := range []string{"127.0.0.1", "::1", "10.1.2.3", "fd00::7"} {
		if !slices.ContainsFunc(leaf.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP(want)) }) {
			t.Errorf("server IP SANs %v lack %s", leaf.IPAddresses, want)
		}
	}
	if slices.ContainsFunc(leaf.IPAddresses, func(ip net.IP) bool { return ip.IsUnspecified() }) {
		t.Errorf("server IP SANs %v include an unspecified address", leaf.IPAddresses)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.CAPool(), DNSName: "juju-apiserver"}); err != nil {
		t.Errorf("server certificate does not verify against the CA: %v", err)
	}
	if cfg := b.TLSConfig(); cfg.MinVersion != tls.VersionTLS12 || len(cfg.Certificates) != 1 {
		t.Errorf("TLSConfig: MinVersion %x, %d certificates", cfg.MinVersion, len(cfg.Certificates))
	}
}

func TestLoadOrCreateReuses(t *testing.T) {
	dir := t.TempDir() // exists already: its mode is left alone
	hosts := []string{"192.0.2.1", "ctl.example.com"}
	b1, err := pki.LoadOrCreate(dir, hosts)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, name := range []string{pki.CACertFile, pki.CAKeyFile, pki.ServerCertFile, pki.ServerKeyFile} {
		files[name] = readFile(t, dir, name)
	}
	// Same hosts, a subset of them, and a differently spelled equivalent.
	for _, h := range [][]string{hosts, {"192.0.2.1"}, nil, {"CTL.example.com.", "192.0.2.1:17070"}} {
		b2, err := pki.LoadOrCreate(dir, h)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range files {
			if !bytes.Equal(readFile(t, dir, name), want) {
				t.Errorf("hosts %q: %s was rewritten", h, name)
			}
		}
		if !bytes.Equal(b1.CACertPEM, b2.CACertPEM) {
			t.Errorf("hosts %q: CA changed", h)
		}
		if !bytes.Equal(b1.TLSCertificate.Certificate[0], b2.TLSCertificate.Certificate[0]) {
			t.Errorf("hosts %q: server certificate changed", h)
		}
	}
}

func TestLoadOrCreateReissuesServerOnNewHost(t *testing.T) {
	dir := t.TempDir()
	b1, err := pki.LoadOrCreate(dir, []string{"192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	caKey := readFile(t, dir, pki.CAKeyFile)
	b2, err := pki.LoadOrCreate(dir, []string{"192.0.2.2", "new.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.CACertPEM, b2.CACertPEM) || !bytes.Equal(caKey, readFile(t, dir, pki.CAKeyFile)) {
		t.Error("CA changed when only the hosts did")
	}
	if bytes.Equal(b1.TLSCertificate.Certificate[0], b2.TLSCertificate.Certificate[0]) {
		t.Fatal("server certificate not re-issued for a new host")
	}
	leaf := b2.TLSCertificate.Leaf
	if !slices.Contains(leaf.DNSNames, "new.example.com") || !slices.Contains(leaf.DNSNames, "juju-apiserver") {
		t.Errorf("re-issued DNS SANs %v", leaf.DNSNames)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b1.CAPool(), DNSName: "new.example.com"}); err != nil {
		t.Errorf("re-issued certificate does not verify against the old CA: %v", err)
	}
	// The re-issued certificate is what the next call loads.
	b3, err := pki.LoadOrCreate(dir, []string{"new.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b2.TLSCertificate.Certificate[0], b3.TLSCertificate.Certificate[0]) {
		t.Error("re-issued server certificate not reused")
	}
}

func handshake(t *testing.T, b *pki.Bundle, serverName string) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", b.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err == nil {
			io.WriteString(c, "hello")
		}
	}()
	defer wg.Wait()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: b.CAPool(), ServerName: serverName})
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return err
	}
	if string(buf) != "hello" {
		t.Fatalf("read %q", buf)
	}
	return nil
}

func TestTLSHandshake(t *testing.T) {
	b, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, b, "juju-apiserver"); err != nil {
		t.Errorf("handshake with server name juju-apiserver: %v", err)
	}
	err = handshake(t, b, "other")
	var hostErr x509.HostnameError
	if !errors.As(err, &hostErr) {
		t.Errorf("handshake with server name other: got %v, want a hostname error", err)
	}
	// The server sends its certificate and the CA, which a client that
	// does not trust it yet can show (juju login <address>).
	var chain []*x509.Certificate
	probe := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		chain = cs.PeerCertificates
		return nil
	}}
	ln0, err := tls.Listen("tcp", "127.0.0.1:0", b.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if c, err := ln0.Accept(); err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	if c, err := tls.Dial("tcp", ln0.Addr().String(), probe); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	ln0.Close()
	if len(chain) != 2 || !chain[1].Equal(b.CACert) || !chain[1].IsCA {
		t.Errorf("the server's chain has %d certificates; want the server's, then the CA", len(chain))
	}
	// A client trusting another CA refuses the server.
	other, err := pki.GenerateCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", b.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: other.CertPool(), ServerName: "juju-apiserver"})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("handshake trusting another CA: got %v, want unknown authority", err)
	}
}

func TestCorruptCAKey(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.LoadOrCreate(dir, nil); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, pki.CAKeyFile)
	key := readFile(t, dir, pki.CAKeyFile)
	for name, content := range map[string][]byte{
		"truncated": key[:len(key)/2],
		"garbage":   []byte("not a key at all\n"),
		"empty":     nil,
		"bad der":   bytes.Replace(key, []byte("MI"), []byte("XX"), 1),
	} {
		if err := os.WriteFile(keyPath, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := pki.LoadOrCreate(dir, nil)
		if err == nil || !strings.Contains(err.Error(), keyPath) {
			t.Errorf("%s ca.key: got %v, want an error naming %s", name, err, keyPath)
		}
	}
}

func TestMismatchedCAKey(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.LoadOrCreate(dir, nil); err != nil {
		t.Fatal(err)
	}
	// Replace ca.key with the (valid, but different) server key.
	if err := os.WriteFile(filepath.Join(dir, pki.CAKeyFile), readFile(t, dir, pki.ServerKeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := pki.LoadOrCreate(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "does not match") || !strings.Contains(err.Error(), pki.CAKeyFile) {
		t.Errorf("got %v, want a mismatch error naming ca.key", err)
	}
}

func TestCorruptCACert(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.LoadOrCreate(dir, nil); err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(dir, pki.CACertFile)
	if err := os.WriteFile(certPath, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadOrCreate(dir, nil); err == nil || !strings.Contains(err.Error(), certPath) {
		t.Errorf("got %v, want an error naming %s", err, certPath)
	}
	// The server certificate is not a CA.
	if err := os.WriteFile(certPath, readFile(t, dir, pki.ServerCertFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadOrCreate(dir, nil); err == nil || !strings.Contains(err.Error(), certPath) {
		t.Errorf("got %v, want an error naming %s", err, certPath)
	}
}

func TestMissingCAKeyIsAnError(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.LoadOrCreate(dir, nil); err != nil {
		t.Fatal(err)
	}
	ca := readFile(t, dir, pki.CACertFile)
	if err := os.Remove(filepath.Join(dir, pki.CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	_, err := pki.LoadOrCreate(dir, nil)
	if err == nil || !strings.Contains(err.Error(), pki.CAKeyFile) {
		t.Errorf("got %v, want an error naming ca.key", err)
	}
	if !bytes.Equal(ca, readFile(t, dir, pki.CACertFile)) {
		t.Error("ca.crt was replaced")
	}
}

func TestInterruptedFirstRunRecovers(t *testing.T) {
	// A kill between writing ca.key and ca.crt leaves only ca.key.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, pki.CAKeyFile), []byte("-----BEGIN PRIVATE KEY-----\nAAAA"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := pki.LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatalf("recovering from an orphan ca.key: %v", err)
	}
	if err := handshake(t, b, "juju-apiserver"); err != nil {
		t.Error(err)
	}
}

func TestBrokenServerFilesAreReissued(t *testing.T) {
	dir := t.TempDir()
	b1, err := pki.LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(){
		"corrupt server.key": func() {
			os.WriteFile(filepath.Join(dir, pki.ServerKeyFile), []byte("junk"), 0o600)
		},
		"missing server.crt": func() { os.Remove(filepath.Join(dir, pki.ServerCertFile)) },
		"mismatched pair (kill between renames)": func() {
			other, err := pki.GenerateCA("x")
			if err != nil {
				t.Fatal(err)
			}
			c, err := other.IssueServerCert(nil)
			if err != nil {
				t.Fatal(err)
			}
			// Server cert from another CA: not signed by ours.
			os.WriteFile(filepath.Join(dir, pki.ServerCertFile), pemCert(c), 0o644)
		},
	} {
		mutate()
		b2, err := pki.LoadOrCreate(dir, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(b1.CACertPEM, b2.CACertPEM) {
			t.Errorf("%s: CA changed", name)
		}
		if err := handshake(t, b2, "juju-apiserver"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConcurrentFirstCalls(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	bundles := make([]*pki.Bundle, 8)
	errs := make([]error, 8)
	for i := range bundles {
		wg.Go(func() { bundles[i], errs[i] = pki.LoadOrCreate(dir, []string{"192.0.2.9"}) })
	}
	wg.Wait()
	for i := range bundles {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(bundles[0].CACertPEM, bundles[i].CACertPEM) {
			t.Error("concurrent first calls made different CAs")
		}
	}
	if _, err := pki.LoadOrCreate(dir, nil); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateCAIssueServerCert(t *testing.T) {
	ca, err := pki.GenerateCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	if ca.Cert.Subject.CommonName != "test CA" {
		t.Errorf("CN %q", ca.Cert.Subject.CommonName)
	}
	cert, err := ca.IssueServerCert([]string{"svc.test"})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.CertPEM()) {
		t.Fatal("CertPEM does not parse")
	}
	for _, name := range []string{"svc.test", "juju-apiserver", "localhost", "127.0.0.1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ca.IssueServerCert([]string{"bad host/name"}); err == nil {
		t.Error("invalid host name accepted")
	}
}

func pemCert(c tls.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
}
