package turnsrv

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/turn/v5"
)

// guardedGen wraps the relay address generator of every socket the server
// serves on: the peer policy learns the port of each relay socket while it
// lives, and the socket refuses to send where the policy says no.
type guardedGen struct {
	turn.RelayAddressGenerator
	policy  *peerPolicy
	metrics *Metrics
}

// AllocatePacketConn implements turn.RelayAddressGenerator.
func (g guardedGen) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	pc, addr, err := g.RelayAddressGenerator.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	ap, ok := udpAddrPort(addr)
	if !ok {
		_ = pc.Close()
		return nil, nil, errBadAddr
	}
	g.policy.relayOpened(ap.Port())
	return &guardedConn{PacketConn: pc, policy: g.policy, metrics: g.metrics, port: ap.Port()}, addr, nil
}

// guardedConn is a relay socket as pion sees it. pion writes to it for Send
// indications and for the ChannelData the batched data path leaves to it
// (all of it with PionDataPath or on other platforms).
type guardedConn struct {
	net.PacketConn
	policy  *peerPolicy
	metrics *Metrics
	port    uint16
	once    sync.Once
}

// WriteTo implements net.PacketConn: a datagram for an address the policy
// refuses (the server itself, not one of its relays) is dropped and
// counted, as the data path drops it.
func (c *guardedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ap, ok := udpAddrPort(addr); ok && !c.policy.sendAllowed(ap) {
		c.metrics.Dropped.Add(1)
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// Close implements net.PacketConn.
func (c *guardedConn) Close() error {
	c.once.Do(func() { c.policy.relayClosed(c.port) })
	return c.PacketConn.Close()
}

// udpAddrPort returns a *net.UDPAddr as an unmapped netip.AddrPort.
func udpAddrPort(a net.Addr) (netip.AddrPort, bool) {
	ua, ok := a.(*net.UDPAddr)
	if !ok || ua == nil {
		return netip.AddrPort{}, false
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}

// errBadAddr means an address is not a UDP address of the socket's family.
var errBadAddr = errors.New("not a UDP address of the socket's family")
