package turnstream

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
)

// DefaultDialTimeout bounds Dialer.Dial when Timeout is zero.
const DefaultDialTimeout = 5 * time.Second

// Dialer is a proxy dialer for pion/ice (golang.org/x/net/proxy.Dialer):
// pion uses it for every TURN URL over TCP. An address whose host is
// HostFor(p) opens a stream of protocol ID to peer p on Host, over a
// connection that already exists or one libp2p dials; any other address is
// dialled directly over TCP.
type Dialer struct {
	// Host is the device's libp2p host. Required.
	Host host.Host
	// Timeout bounds each dial. Default DefaultDialTimeout (pion gives
	// the dialer no context).
	Timeout time.Duration
}

// Dial implements proxy.Dialer.
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	if !strings.HasPrefix(network, "tcp") {
		return nil, fmt.Errorf("turnstream: dial %s %s: only TCP", network, addr)
	}
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("turnstream: dial %s: %w", addr, err)
	}
	p, ok := PeerOf(h)
	if !ok {
		nd := net.Dialer{Timeout: timeout}
		return nd.Dial(network, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := d.Host.NewStream(ctx, p, ID)
	if err != nil {
		return nil, fmt.Errorf("turnstream: open a TURN stream to %s: %w", p, err)
	}
	// The TURN server closes what it does not want; the client needs no
	// idle timeout of its own.
	return newConn(s, tcpAddr(s.Conn().LocalMultiaddr()), tcpAddr(s.Conn().RemoteMultiaddr()), 0, nil), nil
}
