package turnsrv

import (
	"net"
	"net/netip"
)

// refusedPeerRanges are the peer ranges a TURN client may not reach through
// the relay unless Config.AllowPrivatePeers is set. 100.64.0.0/10 (CGNAT)
// is deliberately absent: see the package documentation.
var refusedPeerRanges = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
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
	addr = addr.Unmap()
	if nat64Prefix.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, r := range refusedPeerRanges {
		if r.prefix.Contains(addr) {
			return r.why, true
		}
	}
	return "", false
}
