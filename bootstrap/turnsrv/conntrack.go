package turnsrv

import (
	"errors"
	"net"
	"sync"
)

// connSet remembers the TCP connections accepted on the server's
// listeners. pion's Server.Close closes the listeners but not the
// connections already accepted, whose read goroutines would then live on
// until the client hangs up; Server.Close closes them through this set.
type connSet struct {
	mu     sync.Mutex // guards the following fields
	conns  map[*trackedConn]struct{}
	closed bool
}

func newConnSet() *connSet {
	return &connSet{conns: make(map[*trackedConn]struct{})}
}

// add registers c, or reports false if the set is already closed.
func (s *connSet) add(c *trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *connSet) remove(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// closeAll closes every registered connection and refuses new ones.
func (s *connSet) closeAll() error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	var errs []error
	for _, c := range conns {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// trackingListener registers every accepted connection in a connSet.
//
// pion looks for a *tls.Conn to pass the TLS state to its AuthHandler; the
// wrapper hides it, which is fine because authentication here uses TURN
// REST credentials, never client certificates.
type trackingListener struct {
	net.Listener
	set *connSet
}

// Accept implements net.Listener.
func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, set: l.set}
	if !l.set.add(tc) {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	return tc, nil
}

// trackedConn leaves its connSet when closed.
type trackedConn struct {
	net.Conn
	set *connSet
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.set.remove(c)
	return c.Conn.Close()
}
