package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Shared is TLS material several servers share (the replicas of a
// broker): one CA, and a server certificate it signed, as PEM. It is
// what a broker stores (encrypted) in its database, so that every replica
// serves a certificate from the same CA.
type Shared struct {
	CACert     []byte `json:"ca-cert"`
	CAKey      []byte `json:"ca-key"`
	ServerCert []byte `json:"server-cert"`
	ServerKey  []byte `json:"server-key"`
}

// NewShared makes shared TLS material: ca (a fresh CA when nil) and a
// server certificate it signs for hosts (see IssueServerCert).
func NewShared(ca *CA, hosts []string) (*Shared, error) {
	if ca == nil {
		var err error
		if ca, err = GenerateCA(DefaultCACommonName); err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
	}
	issued, err := ca.issueServer(hosts)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	caKey, err := encodeKeyPEM(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return &Shared{CACert: ca.CertPEM(), CAKey: caKey, ServerCert: issued.certPEM, ServerKey: issued.keyPEM}, nil
}

// LoadCA loads the CA kept in dir by LoadOrCreate (ca.crt and ca.key);
// nil, nil when dir holds none.
func LoadCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, CACertFile)
	if ok, err := exists(certPath); err != nil || !ok {
		return nil, err
	}
	certPEM, cert, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	key, err := readKey(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, Key: key, certPEM: certPEM}
	if err := ca.check(certPath); err != nil {
		return nil, err
	}
	return ca, nil
}

// check verifies that ca is a usable CA: self-signed, its key matching,
// not expired. what names it in errors.
func (ca *CA) check(what string) error {
	cert := ca.Cert
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return fmt.Errorf("pki: %s is not a CA certificate", what)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return fmt.Errorf("pki: %s is not a valid self-signed CA certificate: %w", what, err)
	}
	if !publicKeysEqual(cert.PublicKey, ca.Key.Public()) {
		return fmt.Errorf("pki: the key of CA %s does not match its certificate", what)
	}
	if time.Now().After(cert.NotAfter) {
		return fmt.Errorf("pki: CA certificate %s expired at %s", what, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Bundle returns the bundle to serve for hosts: the shared CA and server
// certificate. When the shared server certificate lacks a SAN for one of
// hosts, expires within 30 days, or is not usable, a server certificate is
// issued from the shared CA for this server alone (in memory), and
// reissued says why: clients trusting the CA trust it just the same.
func (s *Shared) Bundle(hosts []string) (b *Bundle, reissued string, err error) {
	want, err := serverSANs(hosts)
	if err != nil {
		return nil, "", err
	}
	caCert, err := parseCertPEM(s.CACert)
	if err != nil {
		return nil, "", fmt.Errorf("pki: shared CA certificate: %w", err)
	}
	caKey, err := parseKeyPEM(s.CAKey)
	if err != nil {
		return nil, "", fmt.Errorf("pki: shared CA key: %w", err)
	}
	ca := &CA{Cert: caCert, Key: caKey, certPEM: encodeCertPEM(caCert.Raw)}
	if err := ca.check("shared CA"); err != nil {
		return nil, "", err
	}
	cert, why := s.server(ca, want)
	if why != "" {
		if cert, err = ca.IssueServerCert(hosts); err != nil {
			return nil, "", fmt.Errorf("pki: %w", err)
		}
	}
	return &Bundle{CACertPEM: ca.CertPEM(), CACert: caCert, TLSCertificate: cert}, why, nil
}

// server is the shared server certificate when it serves want; otherwise
// why not.
func (s *Shared) server(ca *CA, want sanSet) (tls.Certificate, string) {
	leaf, err := parseCertPEM(s.ServerCert)
	if err != nil {
		return tls.Certificate{}, "shared server certificate: " + err.Error()
	}
	key, err := parseKeyPEM(s.ServerKey)
	switch {
	case err != nil:
		return tls.Certificate{}, "shared server key: " + err.Error()
	case !publicKeysEqual(leaf.PublicKey, key.Public()):
		return tls.Certificate{}, "the shared server key does not match its certificate"
	case leaf.CheckSignatureFrom(ca.Cert) != nil:
		return tls.Certificate{}, "the shared server certificate is not signed by the shared CA"
	case time.Until(leaf.NotAfter) < renewBefore:
		return tls.Certificate{}, "the shared server certificate expires soon"
	case !coversSANs(leaf, want):
		return tls.Certificate{}, "the shared server certificate lacks a SAN for this server's public address"
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, ""
}

// WriteCACert writes the CA certificate into dir as ca.crt (atomically,
// mode 0644), for operators and clients to find, creating dir if needed.
func WriteCACert(dir string, certPEM []byte) error {
	if err := ensureDir(dir); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, CACertFile), certPEM, 0o644)
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// parseKeyPEM parses a PEM private key (PKCS#8, SEC 1 or PKCS#1). Its
// errors never quote key material.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM block of type %q, not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return signer, nil
}
