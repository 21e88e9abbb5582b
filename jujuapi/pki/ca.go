package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ServerName is the TLS server name Juju clients verify a controller's
// certificate against. Every server certificate issued here carries it.
const ServerName = "juju-apiserver"

// DefaultCACommonName is the subject common name of CAs made by LoadOrCreate.
const DefaultCACommonName = "jimm development CA"

const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 2 * 365 * 24 * time.Hour
	// backdate tolerates clocks that are a little behind the issuer's.
	backdate = time.Hour
)

// CA is a certificate authority: a self-signed certificate and its key.
type CA struct {
	// Cert is the parsed CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key crypto.Signer

	certPEM []byte
}

// GenerateCA creates a new in-memory CA with an ECDSA P-256 key, valid for
// ten years.
func GenerateCA(commonName string) (*CA, error) {
	if commonName == "" {
		commonName = DefaultCACommonName
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"jimm"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing new CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, certPEM: encodeCertPEM(der)}, nil
}

// CertPEM returns the CA certificate, PEM-encoded.
func (ca *CA) CertPEM() []byte {
	return slices.Clone(ca.certPEM)
}

// CertPool returns a pool holding only this CA's certificate.
func (ca *CA) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// IssueServerCert issues a server certificate (ECDSA P-256, about two
// years) for the given hosts, plus "juju-apiserver", "localhost", 127.0.0.1
// and ::1. Hosts that parse as IP addresses become IP SANs, others DNS SANs.
// The returned certificate's chain holds the leaf only, and Leaf is set.
func (ca *CA) IssueServerCert(hosts []string) (tls.Certificate, error) {
	issued, err := ca.issueServer(hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	return issued.tlsCert, nil
}

type issuedCert struct {
	tlsCert tls.Certificate
	certPEM []byte
	keyPEM  []byte
}

func (ca *CA) issueServer(hosts []string) (*issuedCert, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("pki: CA is not initialised")
	}
	sans, err := serverSANs(hosts)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(serverValidity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: ServerName, Organization: []string{"jimm"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              sans.dns,
		IPAddresses:           sans.ipSlice(),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("creating server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing new server certificate: %w", err)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &issuedCert{
		tlsCert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		certPEM: encodeCertPEM(der),
		keyPEM:  keyPEM,
	}, nil
}

// sanSet is the normalised set of SANs a server certificate must carry.
type sanSet struct {
	dns []string
	ips []netip.Addr
}

func (s sanSet) ipSlice() []net.IP {
	out := make([]net.IP, 0, len(s.ips))
	for _, ip := range s.ips {
		out = append(out, ip.AsSlice())
	}
	return out
}

// serverSANs normalises hosts and adds the names every server certificate
// carries. Entries may be names, IP addresses, "[v6]" or "host:port" (the port
// is dropped). Unspecified addresses (0.0.0.0, ::) and empty entries are
// ignored, since no client dials them.
func serverSANs(hosts []string) (sanSet, error) {
	var s sanSet
	addDNS := func(name string) {
		if !slices.Contains(s.dns, name) {
			s.dns = append(s.dns, name)
		}
	}
	addIP := func(ip netip.Addr) {
		if !slices.Contains(s.ips, ip) {
			s.ips = append(s.ips, ip)
		}
	}
	addDNS(ServerName)
	addDNS("localhost")
	addIP(netip.MustParseAddr("127.0.0.1"))
	addIP(netip.IPv6Loopback())
	for _, h := range hosts {
		name, ip, ok, err := normaliseHost(h)
		if err != nil {
			return sanSet{}, err
		}
		switch {
		case !ok:
		case ip.IsValid():
			addIP(ip)
		default:
			addDNS(name)
		}
	}
	return s, nil
}

// normaliseHost turns one hosts entry into either a DNS name or an IP
// address; ok is false for entries to ignore.
func normaliseHost(h string) (name string, ip netip.Addr, ok bool, err error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", netip.Addr{}, false, nil
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		h = ap.Addr().String()
	} else if strings.Count(h, ":") == 1 {
		// name:port
		h = h[:strings.IndexByte(h, ':')]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if addr, err := netip.ParseAddr(h); err == nil {
		addr = addr.WithZone("").Unmap()
		if addr.IsUnspecified() {
			return "", netip.Addr{}, false, nil
		}
		return "", addr, true, nil
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" || strings.ContainsAny(h, " /\\@:[]") {
		return "", netip.Addr{}, false, fmt.Errorf("pki: invalid host name %q", h)
	}
	return h, netip.Addr{}, true, nil
}

// coversSANs reports whether cert carries every SAN in want.
func coversSANs(cert *x509.Certificate, want sanSet) bool {
	for _, name := range want.dns {
		if !slices.ContainsFunc(cert.DNSNames, func(n string) bool { return strings.EqualFold(n, name) }) {
			return false
		}
	}
	for _, ip := range want.ips {
		found := false
		for _, have := range cert.IPAddresses {
			if a, ok := netip.AddrFromSlice(have); ok && a.Unmap() == ip {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

func encodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
