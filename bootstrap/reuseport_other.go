//go:build !linux

package bootstrap

import "syscall"

// haveReusePort reports whether several TURN UDP sockets can share a port.
const haveReusePort = false

// reusePort does nothing where SO_REUSEPORT is not used.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
