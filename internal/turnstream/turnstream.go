package turnstream

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// ID is the stream protocol.
const ID protocol.ID = "/parley/turn-stream/1"

// hostSuffix ends the host part of a stream TURN URL. ".invalid" (RFC
// 6761) never resolves, so a URL of this form can never be dialled over
// the network by mistake.
const hostSuffix = ".p2p.invalid"

// nominalPort is the port in a stream TURN URL. It is never dialled; 443
// says where the traffic goes on the wire.
const nominalPort = 443

// HostFor is the host of the stream TURN URL for peer p.
func HostFor(p peer.ID) string { return p.String() + hostSuffix }

// URL is the TURN URL that reaches peer p's TURN server over a stream.
func URL(p peer.ID) string {
	return fmt.Sprintf("turn:%s:%d?transport=tcp", HostFor(p), nominalPort)
}

// PeerOf returns the peer of a host made by HostFor.
func PeerOf(host string) (peer.ID, bool) {
	s, ok := strings.CutSuffix(host, hostSuffix)
	if !ok {
		return "", false
	}
	p, err := peer.Decode(s)
	return p, err == nil
}

// Errors.
var (
	// ErrTooManyStreams means a peer, or all peers together, hold as
	// many TURN streams as the listener allows; the stream is reset.
	ErrTooManyStreams = errors.New("turnstream: too many TURN streams")
	// ErrNotStreamAddr means an address given to Dialer names no peer.
	ErrNotStreamAddr = errors.New("turnstream: not a TURN stream address")
)

// conn is a stream as a net.Conn: TCP addresses (pion/ice reads a
// *net.TCPAddr from LocalAddr), reads that fail after idle of silence
// (0: none), writes bounded by writeTimeout.
type conn struct {
	network.Stream
	local, remote *net.TCPAddr
	idle          time.Duration
	release       func() // called on Close; may be nil
	closeOnce     sync.Once
}

func newConn(s network.Stream, local, remote *net.TCPAddr, idle time.Duration, release func()) *conn {
	return &conn{Stream: s, local: local, remote: remote, idle: idle, release: release}
}

// writeTimeout bounds one Write: a peer that stops reading must not hold
// the TURN server's relay goroutine (or the client's) for long.
const writeTimeout = 10 * time.Second

// Read implements net.Conn.
func (c *conn) Read(b []byte) (int, error) {
	if c.idle > 0 {
		_ = c.Stream.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.Stream.Read(b)
}

// Write implements net.Conn.
func (c *conn) Write(b []byte) (int, error) {
	_ = c.Stream.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.Stream.Write(b)
}

// Close implements net.Conn: it closes the stream both ways, or resets
// it if that fails (the peer went away first: its stream close gives EOF),
// and gives its place back. The stream is gone either way, so that is
// not an error: a bootstrap stopping after its daemons had hung up exited
// 1 with "turnsrv: close: EOF" (the quick start, in CI).
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		if err := c.Stream.Close(); err != nil {
			_ = c.Stream.Reset()
		}
		if c.release != nil {
			c.release()
		}
	})
	return nil
}

// LocalAddr implements net.Conn.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline, SetReadDeadline and SetWriteDeadline come from the stream;
// Read and Write replace the deadlines they set themselves.

// tcpAddr returns a multiaddr's IP address and port as a TCP address
// (0.0.0.0:0 when it has none, for example a relayed connection's).
func tcpAddr(m ma.Multiaddr) *net.TCPAddr {
	na, err := manet.ToNetAddr(m)
	if err == nil {
		switch v := na.(type) {
		case *net.TCPAddr:
			return &net.TCPAddr{IP: v.IP, Port: v.Port}
		case *net.UDPAddr:
			return &net.TCPAddr{IP: v.IP, Port: v.Port}
		}
	}
	return &net.TCPAddr{IP: net.IPv4zero}
}
