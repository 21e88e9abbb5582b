//go:build linux

package jujuapi

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"unsafe"
)

// InboundBytes is how many bytes wait in the socket under c, not yet read
// by it: a test's way to know that what the peer sent has arrived.
func InboundBytes(c *Conn) (int, error) {
	rc := rawConnOf(c.nc)
	if rc == nil {
		return 0, errors.New("not a socket")
	}
	var n int32
	var ierr error
	err := rc.Control(func(fd uintptr) {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
			ierr = errno
		}
	})
	return int(n), errors.Join(err, ierr)
}

// TLSReadHeld is the memory the TLS connection under c keeps in its read
// buffers (0 without TLS).
func TLSReadHeld(c *Conn) int {
	var tc *tls.Conn
	underneath(c.nc, func(nc net.Conn) bool {
		tc, _ = nc.(*tls.Conn)
		return tc != nil
	})
	if tc == nil {
		return 0
	}
	return tlsReadHeld(tc)
}

// ParkToken is the token c is parked under (0 when it is not parked).
func ParkToken(c *Conn) int32 {
	c.park.mu.Lock()
	defer c.park.mu.Unlock()
	if !c.park.parked {
		return 0
	}
	return c.park.token
}

// WakeLate is what the poller does for a parking of c under token whose
// socket became readable (expired false) or whose idle deadline passed
// (expired true), and RecheckLate what its recheck timer does, when it
// acts late: after that parking ended.
func WakeLate(c *Conn, token int32, expired bool) { c.wake(token, expired, false) }
func RecheckLate(c *Conn, token int32)            { c.recheckDue(token) }
