//go:build unix

package localapi

import (
	"net"
	"sync"
	"syscall"
)

// umaskMu serialises the umask changes of listenPrivate.
var umaskMu sync.Mutex

// listenPrivate listens on a unix socket at path that only this user can
// connect to from the start: bind(2) creates the socket file with mode
// 0777 &^ umask, so the umask is 077 around it. Changing the mode after
// listening would leave a window in which another local user could
// connect (finding 13 of issue 14).
//
// The umask is per process: a file another goroutine creates during the
// few microseconds of the bind gets owner-only permissions too, which is
// never less safe (and no directory loses its owner's search bit).
func listenPrivate(path string) (net.Listener, error) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	return ln, err
}
