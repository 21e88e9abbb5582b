//go:build linux

package jimmctl

import (
	"os"
	"os/signal"
	"syscall"
	"unsafe"
)

func getTermios(fd uintptr) (syscall.Termios, bool) {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TCGETS), uintptr(unsafe.Pointer(&t)))
	return t, errno == 0
}

func setTermios(fd uintptr, t *syscall.Termios) bool {
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TCSETS), uintptr(unsafe.Pointer(t)))
	return errno == 0
}

// withoutEcho runs fn with the terminal's echo off, and restores it after
// fn returns or when the process is interrupted meanwhile.
func withoutEcho(f *os.File, fn func() error) error {
	fd := f.Fd()
	old, ok := getTermios(fd)
	if !ok {
		return fn()
	}
	quiet := old
	quiet.Lflag &^= syscall.ECHO
	quiet.Lflag |= syscall.ICANON | syscall.ISIG
	if !setTermios(fd, &quiet) {
		return fn()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			setTermios(fd, &old)
			signal.Stop(sigs)
			// Die of the signal as if it had not been caught.
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				_ = p.Signal(sig)
			}
		case <-done:
		}
	}()
	defer func() {
		close(done)
		signal.Stop(sigs)
		setTermios(fd, &old)
	}()
	return fn()
}
