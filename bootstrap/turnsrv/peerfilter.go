package turnsrv

import (
	"net"
	"net/netip"
	"sync"
)

// whyCGNAT is the reason peerRefusal gives for shared address space, which
// Config.AllowCGNATPeers lets through on its own.
const whyCGNAT = "cgnat"

// refusedPeerRanges are the peer ranges a TURN client may not reach through
// the relay unless Config.AllowPrivatePeers is set (or, for 100.64.0.0/10
// alone, Config.AllowCGNATPeers): see the package documentation.
var refusedPeerRanges = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), whyCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-nat64"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// nat64Prefix is the NAT64 well-known prefix (RFC 6052); its addresses are
// judged by the IPv4 address in their last 32 bits.
var nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// peerRefusal reports whether ip is a peer the relay must not reach when
// private peers are not allowed, and a short reason for logs.
func peerRefusal(ip net.IP) (why string, refused bool) {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "invalid", true
	}
	return rangeRefusal(canonical(addr))
}

// canonical unmaps IPv4-mapped addresses and turns NAT64 well-known-prefix
// addresses into the IPv4 address they carry.
func canonical(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if nat64Prefix.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte(b[12:]))
	}
	return addr
}

func rangeRefusal(addr netip.Addr) (why string, refused bool) {
	for _, r := range refusedPeerRanges {
		if r.prefix.Contains(addr) {
			return r.why, true
		}
	}
	return "", false
}

// verdict is what the policy says of a peer address.
type verdict uint8

const (
	peerAllowed   verdict = iota
	peerRefused           // never
	peerRelayOnly         // only the port of a live relay socket of this server
)

// whyServer is the reason given for the server's own addresses.
const whyServer = "server address"

// peerPolicy decides which peers TURN clients may reach: not the private
// ranges (unless allowed), and not this server itself. A TURN client that
// could send to the server's own addresses would reach whatever listens
// there (the libp2p port, the metrics port if bound publicly, ssh, ...)
// from the server itself, behind any firewall rule keyed on the source. The
// relay ports of the server's own allocations are the exception: two
// clients of the same server relaying to each other (both behind NATs that
// need TURN) send to each other's relayed address, which is the server's.
type peerPolicy struct {
	allowPrivate bool
	allowCGNAT   bool
	allowServer  bool
	// loopbackPublic judges loopback like a public address, so tests on
	// 127.0.0.1 can watch the server-address rules (test only).
	loopbackPublic bool

	server   map[netip.Addr]struct{} // every address of this server
	relayIPs map[netip.Addr]struct{} // where relay sockets are reached; subset of server

	mu    sync.RWMutex   // guards ports
	ports map[uint16]int // ports of live relay sockets, with a count per family
}

// judge says what the relay may do with peer addr (canonical form).
func (p *peerPolicy) judge(addr netip.Addr) (verdict, string) {
	if p.allowPrivate {
		return peerAllowed, ""
	}
	why, refused := rangeRefusal(addr)
	switch {
	case refused && why == whyCGNAT && p.allowCGNAT:
	case refused && why == "loopback" && p.loopbackPublic:
	case refused:
		return peerRefused, why
	}
	if p.allowServer {
		return peerAllowed, ""
	}
	if _, ok := p.relayIPs[addr]; ok {
		return peerRelayOnly, ""
	}
	if _, ok := p.server[addr]; ok {
		return peerRefused, whyServer
	}
	return peerAllowed, ""
}

// sendAllowed reports whether a datagram may go from a relay socket to ap.
func (p *peerPolicy) sendAllowed(ap netip.AddrPort) bool {
	v, _ := p.judge(canonical(ap.Addr()))
	switch v {
	case peerAllowed:
		return true
	case peerRelayOnly:
		return p.relayPortLive(ap.Port())
	default:
		return false
	}
}

// relayPortLive reports whether a relay socket of this server has port.
func (p *peerPolicy) relayPortLive(port uint16) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.ports[port] > 0
}

func (p *peerPolicy) relayOpened(port uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ports[port]++
}

func (p *peerPolicy) relayClosed(port uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ports[port]--; p.ports[port] <= 0 {
		delete(p.ports, port)
	}
}

// newPeerPolicy gathers the server's addresses: the relay IP, the bind
// address, the sockets' addresses, c.ServerAddrs and every address of the
// machine's interfaces (read once, at New).
func newPeerPolicy(c Config) *peerPolicy {
	p := &peerPolicy{
		allowPrivate:   c.AllowPrivatePeers,
		allowCGNAT:     c.AllowCGNATPeers,
		allowServer:    c.AllowServerPeers,
		loopbackPublic: c.loopbackPublic,
		server:         make(map[netip.Addr]struct{}),
		relayIPs:       make(map[netip.Addr]struct{}),
		ports:          make(map[uint16]int),
	}
	add := func(m map[netip.Addr]struct{}, ip net.IP) {
		if a, ok := netip.AddrFromSlice(ip); ok && !a.IsUnspecified() {
			m[canonical(a)] = struct{}{}
		}
	}
	for _, ip := range c.ServerAddrs {
		add(p.server, ip)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				add(p.server, n.IP)
			}
		}
	}
	for _, pc := range c.PacketConns {
		if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok {
			add(p.server, ua.IP)
		}
	}
	for _, l := range c.Listeners {
		if ta, ok := l.Addr().(*net.TCPAddr); ok {
			add(p.server, ta.IP)
		}
	}
	add(p.server, c.RelayIP)
	add(p.relayIPs, c.RelayIP)
	if bind := net.ParseIP(c.RelayBindAddr); bind != nil && !bind.IsUnspecified() {
		add(p.server, bind)
		add(p.relayIPs, bind)
	} else {
		// Relay sockets bound to the wildcard are reached at every address.
		for a := range p.server {
			p.relayIPs[a] = struct{}{}
		}
	}
	return p
}
