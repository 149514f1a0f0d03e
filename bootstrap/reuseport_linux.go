package bootstrap

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// haveReusePort reports whether several TURN UDP sockets can share a port.
const haveReusePort = true

// reusePort is a net.ListenConfig Control function that sets SO_REUSEPORT,
// so that several sockets of this process bind the same UDP port and the
// kernel spreads clients over them by address hash. Only sockets of the
// same user can join the group.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	return errors.Join(err, serr)
}
