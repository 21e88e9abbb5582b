package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside the directory given to LoadOrCreate.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
	lockFile       = ".lock"
)

// renewBefore is how long before expiry a stored server certificate is
// re-issued.
const renewBefore = 30 * 24 * time.Hour

// Bundle is the TLS material of a development controller.
type Bundle struct {
	// CACertPEM is the CA certificate, PEM-encoded: what clients must trust
	// (the "ca-cert" of a controller).
	CACertPEM []byte
	// CACert is the parsed CA certificate.
	CACert *x509.Certificate
	// TLSCertificate is the server certificate (chain: the leaf only) and
	// its key, with Leaf set.
	TLSCertificate tls.Certificate
}

// TLSConfig returns a new server TLS configuration serving the bundle's
// certificate, TLS 1.2 or later.
func (b *Bundle) TLSConfig() *tls.Config {
	cert := b.TLSCertificate
	if n := len(cert.Certificate); n > 0 && !bytes.Equal(cert.Certificate[n-1], b.CACert.Raw) {
		// Send the CA with the server's certificate, as Juju's controllers
		// do: a client that does not trust it yet (juju login <address>)
		// shows it and offers to.
		cert.Certificate = append(slices.Clip(cert.Certificate), b.CACert.Raw)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
}

// CAPool returns a new certificate pool holding only the bundle's CA.
func (b *Bundle) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(b.CACert)
	return pool
}

// LoadOrCreate returns the CA and server certificate kept in dir, creating
// them on first use.
//
// On first use it creates dir (mode 0700) if needed, a self-signed CA (ECDSA
// P-256, ten years) and a server certificate signed by it (ECDSA P-256, about
// two years) whose SANs are "juju-apiserver", "localhost", 127.0.0.1, ::1 and
// every entry of hosts (IP addresses as IP SANs, names as DNS SANs). The
// files are ca.crt, ca.key, server.crt and server.key, written atomically;
// keys have mode 0600.
//
// Later calls reuse the files. The server certificate alone is re-issued from
// the existing CA when it lacks a SAN for one of hosts, is within 30 days of
// expiry, or is missing, unreadable or not signed by the CA. A CA that is
// missing its key, unreadable, expired or does not match its key is an error
// naming the file: the CA is never silently replaced, since clients trust it.
//
// Concurrent callers using the same directory (in this or other processes)
// are serialised with a lock file where the platform supports it.
func LoadOrCreate(dir string, hosts []string) (*Bundle, error) {
	want, err := serverSANs(hosts)
	if err != nil {
		return nil, err
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	unlock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, err
	}
	defer unlock()

	ca, err := loadOrCreateCA(dir)
	if err != nil {
		return nil, err
	}
	cert, err := loadOrIssueServer(dir, ca, want, hosts)
	if err != nil {
		return nil, err
	}
	return &Bundle{CACertPEM: ca.CertPEM(), CACert: ca.Cert, TLSCertificate: cert}, nil
}

func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil:
		if !fi.IsDir() {
			return fmt.Errorf("pki: %s is not a directory", dir)
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("pki: creating %s: %w", dir, err)
		}
		// MkdirAll is subject to the umask; be exact about the leaf.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("pki: %w", err)
	}
}

func loadOrCreateCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, CACertFile)
	keyPath := filepath.Join(dir, CAKeyFile)
	certExists, err := exists(certPath)
	if err != nil {
		return nil, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return nil, err
	}
	switch {
	case certExists && !keyExists:
		return nil, fmt.Errorf("pki: CA key %s is missing but %s exists; restore the key, or remove %s to create a new CA (clients will then need the new CA certificate)",
			keyPath, certPath, certPath)
	case !certExists:
		// ca.crt is written last, so a ca.key without it is left over from an
		// interrupted first run: no client can trust a CA whose certificate
		// was never written, so it is safe to start again.
		ca, err := GenerateCA(DefaultCACommonName)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		keyPEM, err := encodeKeyPEM(ca.Key)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(certPath, ca.certPEM, 0o644); err != nil {
			return nil, err
		}
		slog.Info("created development CA", "cert", certPath)
		return ca, nil
	}

	certPEM, cert, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certPath)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("pki: %s is not a valid self-signed CA certificate: %w", certPath, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("pki: CA key %s does not match CA certificate %s", keyPath, certPath)
	}
	if now := time.Now(); now.After(cert.NotAfter) {
		return nil, fmt.Errorf("pki: CA certificate %s expired at %s; remove %s and %s to create a new CA",
			certPath, cert.NotAfter.UTC().Format(time.RFC3339), certPath, keyPath)
	}
	return &CA{Cert: cert, Key: key, certPEM: certPEM}, nil
}

func loadOrIssueServer(dir string, ca *CA, want sanSet, hosts []string) (tls.Certificate, error) {
	certPath := filepath.Join(dir, ServerCertFile)
	keyPath := filepath.Join(dir, ServerKeyFile)
	cert, reason := loadServer(certPath, keyPath, ca, want)
	if reason == "" {
		return cert, nil
	}
	issued, err := ca.issueServer(hosts)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	// The key goes first: if we are interrupted between the two renames the
	// pair no longer matches and the next call issues a fresh one.
	if err := writeFileAtomic(keyPath, issued.keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, issued.certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	slog.Info("issued development server certificate", "cert", certPath, "reason", reason,
		"dns", issued.tlsCert.Leaf.DNSNames, "ips", issued.tlsCert.Leaf.IPAddresses)
	return issued.tlsCert, nil
}

// loadServer loads the stored server certificate; reason is non-empty when
// it must be (re-)issued.
func loadServer(certPath, keyPath string, ca *CA, want sanSet) (tls.Certificate, string) {
	_, leaf, err := readCert(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, "no server certificate"
	}
	if err != nil {
		return tls.Certificate{}, err.Error()
	}
	key, err := readKey(keyPath)
	if err != nil {
		return tls.Certificate{}, err.Error()
	}
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return tls.Certificate{}, "server key does not match server certificate"
	}
	if err := leaf.CheckSignatureFrom(ca.Cert); err != nil {
		return tls.Certificate{}, "server certificate not signed by the CA"
	}
	if time.Until(leaf.NotAfter) < renewBefore {
		return tls.Certificate{}, "server certificate expires soon"
	}
	if !coversSANs(leaf, want) {
		return tls.Certificate{}, "server certificate lacks a requested host"
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, ""
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("pki: %w", err)
}

func readCert(path string) ([]byte, *x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: reading certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("pki: %s does not hold a PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parsing certificate %s: %w", path, err)
	}
	return encodeCertPEM(block.Bytes), cert, nil
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: reading private key: %w", err)
	}
	signer, err := parseKeyPEM(data)
	if err != nil {
		// The parse error never quotes key material.
		return nil, fmt.Errorf("pki: private key %s: %w", path, err)
	}
	return signer, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	switch a := a.(type) {
	case *ecdsa.PublicKey:
		return a.Equal(b)
	case *rsa.PublicKey:
		return a.Equal(b)
	case ed25519.PublicKey:
		return a.Equal(b)
	}
	return false
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, synced before it is renamed over path, so that path always holds
// either the old or the new content in full.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	// Make the rename itself durable. Not every platform can sync a
	// directory; the file content is already safe, so ignore failures.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
