//go:build !unix

package localapi

import "net"

// listenPrivate listens on a unix socket at path. Without umask the mode
// is fixed by Listen's chmod, after the fact.
func listenPrivate(path string) (net.Listener, error) {
	return net.Listen("unix", path)
}
