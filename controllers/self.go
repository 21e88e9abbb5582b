package controllers

import (
	"context"
	"net"
	"slices"
	"strings"
	"time"
)

// resolveTimeout bounds the name lookups of one self-address check.
const resolveTimeout = 2 * time.Second

// isSelfAddress reports whether addr (host:port) reaches one of the
// broker's own addresses, and which. Ports must be equal; hosts are equal
// when they are the same name, or resolve to a common IP address, every
// IPv4 loopback address (and "localhost") being the same. An own address
// whose host is empty or unspecified (0.0.0.0, ::) stands for every
// address of this machine: loopback and its interfaces'. A name that
// cannot be resolved is compared as it is written.
func isSelfAddress(ctx context.Context, addr string, own []string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	var ips []net.IP // addr's, resolved once it is needed
	resolved := false
	for _, o := range own {
		ohost, oport, err := net.SplitHostPort(o)
		if err != nil || oport != port || port == "0" {
			continue
		}
		if strings.EqualFold(strings.TrimSuffix(ohost, "."), strings.TrimSuffix(host, ".")) {
			return o, true
		}
		if !resolved {
			ips, resolved = lookupHost(ctx, host), true
		}
		if len(ips) == 0 {
			continue
		}
		if oip := net.ParseIP(ohost); ohost == "" || (oip != nil && oip.IsUnspecified()) {
			local := localIPs()
			for _, ip := range ips {
				if ip.IsLoopback() || ip.IsUnspecified() || slices.ContainsFunc(local, ip.Equal) {
					return o, true
				}
			}
			continue
		}
		for _, oip := range lookupHost(ctx, ohost) {
			if slices.ContainsFunc(ips, func(ip net.IP) bool { return sameIP(ip, oip) }) {
				return o, true
			}
		}
	}
	return "", false
}

// sameIP reports whether a and b are the same address, every IPv4
// loopback address being the same.
func sameIP(a, b net.IP) bool {
	if a.Equal(b) {
		return true
	}
	a4, b4 := a.To4(), b.To4()
	return a4 != nil && b4 != nil && a4.IsLoopback() && b4.IsLoopback()
}

// lookupHost returns host's IP addresses: host itself when it is one,
// loopback for "localhost", else what the resolver says (none when it
// fails).
func lookupHost(ctx context.Context, host string) []net.IP {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil
	}
	out := make([]net.IP, len(addrs))
	for i, a := range addrs {
		out[i] = a.IP
	}
	return out
}

// localIPs returns the addresses of this machine's interfaces.
func localIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP)
		}
	}
	return out
}
