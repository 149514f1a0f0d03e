package bootstrap

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/internal/ipgroup"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

const (
	// reservationTag is the connection manager tag go-libp2p's relay puts
	// on a peer while it holds a reservation (relay v2 handleReserve), and
	// removes when the reservation expires.
	reservationTag = "relay-reservation"
	// reservationGrace is how long an allowed reservation counts before
	// the relay must have tagged its peer: the relay tags right after the
	// filter allows, unless its own limits refuse the reservation.
	reservationGrace = 10 * time.Second
)

// subnetACL is a relay v2 ACLFilter that bounds the reservations held from
// one IPv4 /24 or IPv6 /48. go-libp2p's relay bounds them per IP address
// and, for IPv6 only, per autonomous system, so a few IPv4 addresses could
// hold every slot (issue 14, finding 15); a /24 is what one customer of a
// hosting provider or one site usually has.
//
// The filter sees reservation requests, not their end, so it counts a peer
// from the time it was allowed until the earliest of: the reservation TTL
// after it was allowed (refreshes restart it), the peer has no connection
// left (the relay then drops the reservation), or the relay did not tag
// the peer within reservationGrace (the relay's own limits refused it).
type subnetACL struct {
	max  int
	ttl  time.Duration
	now  func() time.Time
	host atomic.Pointer[host.Host] // set once the host exists

	mu        sync.Mutex // guards the following fields
	subnets   map[netip.Prefix]map[peer.ID]time.Time
	lastSweep time.Time
}

// sweepInterval is how often every subnet, not only the one asking, is
// cleared of ended reservations, so subnets never heard from again do not
// stay in memory.
const sweepInterval = 5 * time.Minute

func newSubnetACL(max int, ttl time.Duration) *subnetACL {
	return &subnetACL{max: max, ttl: ttl, now: time.Now, subnets: make(map[netip.Prefix]map[peer.ID]time.Time)}
}

// setHost gives the filter the relay's host, to look at connections and tags.
func (a *subnetACL) setHost(h host.Host) { a.host.Store(&h) }

// AllowReserve implements relayv2.ACLFilter.
func (a *subnetACL) AllowReserve(p peer.ID, addr ma.Multiaddr) bool {
	ip, err := manet.ToIP(addr)
	if err != nil {
		return true // the relay refuses addresses without an IP itself
	}
	nip, ok := netip.AddrFromSlice(ip)
	if !ok {
		return true
	}
	subnet := ipgroup.Of(nip, 24, 48) // an IPv4 /24, an IPv6 /48
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.lastSweep) > sweepInterval {
		a.lastSweep = now
		for sn, held := range a.subnets {
			for q, at := range held {
				if !a.holds(q, at, now) {
					delete(held, q)
				}
			}
			if len(held) == 0 {
				delete(a.subnets, sn)
			}
		}
	}
	held := a.subnets[subnet]
	if held == nil {
		held = make(map[peer.ID]time.Time)
		a.subnets[subnet] = held
	}
	for q, at := range held {
		if q != p && !a.holds(q, at, now) {
			delete(held, q)
		}
	}
	if _, refresh := held[p]; !refresh && len(held) >= a.max {
		return false
	}
	held[p] = now
	return true
}

// AllowConnect implements relayv2.ACLFilter: circuits are bounded by the
// relay's own limits.
func (a *subnetACL) AllowConnect(peer.ID, ma.Multiaddr, peer.ID) bool { return true }

// holds reports whether q, allowed at, still holds its reservation.
func (a *subnetACL) holds(q peer.ID, at, now time.Time) bool {
	if now.Sub(at) > a.ttl {
		return false
	}
	hp := a.host.Load()
	if hp == nil {
		return true
	}
	h := *hp
	if h.Network().Connectedness(q) != network.Connected {
		return false
	}
	if now.Sub(at) < reservationGrace {
		return true
	}
	ti := h.ConnManager().GetTagInfo(q)
	if ti == nil {
		return false
	}
	_, tagged := ti.Tags[reservationTag]
	return tagged
}
