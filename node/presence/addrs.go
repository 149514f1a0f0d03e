package presence

import (
	"fmt"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// PrivateAddrs says whether the presence record may carry the device's
// private addresses (loopback, RFC 1918, link-local, unique local
// fc00::/7, carrier-grade NAT 100.64.0.0/10 and the like).
type PrivateAddrs string

// The PrivateAddrs settings.
const (
	// PrivateAddrsAuto withholds private addresses when any bootstrap is
	// at a public address (the internet), and publishes them when every
	// bootstrap is itself at a private address, or none is configured:
	// then the whole network is private (a LAN deployment, a lab, tests
	// on one machine) and those addresses are the only ones it has.
	PrivateAddrsAuto PrivateAddrs = "auto"
	// PrivateAddrsWithhold never publishes private addresses.
	PrivateAddrsWithhold PrivateAddrs = "withhold"
	// PrivateAddrsPublish publishes every address the host has.
	PrivateAddrsPublish PrivateAddrs = "publish"
)

// Check reports whether p is a known setting ("" is PrivateAddrsAuto).
func (p PrivateAddrs) Check() error {
	switch p {
	case "", PrivateAddrsAuto, PrivateAddrsWithhold, PrivateAddrsPublish:
		return nil
	}
	return fmt.Errorf("private addresses setting %q (want auto, withhold or publish)", string(p))
}

// publishPrivate resolves setting p for the bootstraps bs.
func publishPrivate(p PrivateAddrs, bs []peer.AddrInfo) bool {
	switch p {
	case PrivateAddrsPublish:
		return true
	case PrivateAddrsWithhold:
		return false
	}
	for _, b := range bs {
		for _, a := range b.Addrs {
			if !IsPrivateAddr(a) {
				return false
			}
		}
	}
	return true
}

// cgnat is the shared address space of RFC 6598.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// IsRelayAddr reports whether a is a circuit relay address
// (…/p2p/RELAY/p2p-circuit…): it names the relay's address, never the
// device's own.
func IsRelayAddr(a ma.Multiaddr) bool {
	for _, c := range a {
		if c.Code() == ma.P_CIRCUIT {
			return true
		}
	}
	return false
}

// IsPrivateAddr reports whether a (not a relay address) is an address only
// the device's own network can use: its IP is loopback, unspecified,
// RFC 1918 or unique local (fc00::/7), link-local, multicast, or in
// 100.64.0.0/10 (carrier-grade NAT). DNS names and addresses with no IP
// are not private.
func IsPrivateAddr(a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	if err != nil {
		return false // /dns…, or nothing IP-like at its start
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	addr = addr.Unmap()
	return !addr.IsGlobalUnicast() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || cgnat.Contains(addr)
}

// publishable returns the addresses of addrs that go into the presence
// record: relay addresses always, the others unless private and private
// addresses are withheld.
func publishable(addrs []ma.Multiaddr, private bool) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		if private || IsRelayAddr(a) || !IsPrivateAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// AddrFilter is the filter the host applies to the addresses it gives out
// by any other path than presence — identify, the DHT's peer records — so
// that they withhold what presence withholds (setting p resolved for the
// bootstraps bs as for the presence record); nil when nothing is withheld.
func AddrFilter(p PrivateAddrs, bs []peer.AddrInfo) func([]ma.Multiaddr) []ma.Multiaddr {
	if publishPrivate(p, bs) {
		return nil
	}
	return func(addrs []ma.Multiaddr) []ma.Multiaddr { return publishable(addrs, false) }
}
