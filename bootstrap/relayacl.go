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

	circuitTTL time.Duration // the relay's circuit duration

	mu               sync.Mutex // guards the following fields
	subnets          map[netip.Prefix]map[peer.ID]time.Time
	lastSweep        time.Time
	circuits         map[circuitKey]map[peer.ID]time.Time // when each source was allowed
	lastCircuitSweep time.Time
}

// sweepInterval is how often every subnet, not only the one asking, is
// cleared of ended reservations, so subnets never heard from again do not
// stay in memory.
const sweepInterval = 5 * time.Minute

func newSubnetACL(max int, ttl, circuitTTL time.Duration) *subnetACL {
	return &subnetACL{max: max, ttl: ttl, circuitTTL: circuitTTL, now: time.Now,
		subnets: make(map[netip.Prefix]map[peer.ID]time.Time), circuits: make(map[circuitKey]map[peer.ID]time.Time)}
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

// maxCircuitsFromSubnet bounds the circuits one IPv4 /24 or IPv6 /48 may
// open to one destination within a circuit's lifetime. The relay counts
// circuits per peer, for the destination too (MaxCircuits, 16): without
// this, 16 throwaway peer IDs from one address held every circuit to a
// NATed device, renewing them as they expired, and nobody else could reach
// it through this relay (attacker review, fourth session). A device's
// contacts open one or two at a time.
const maxCircuitsFromSubnet = 4

// circuitKey names the circuits of one source subnet to one destination.
type circuitKey struct {
	subnet netip.Prefix
	dest   peer.ID
}

// AllowConnect implements relayv2.ACLFilter: at most
// maxCircuitsFromSubnet circuits from one source subnet to one destination
// count at once. A circuit counts from when it was allowed until the
// circuit duration has passed or its source has no connection left to the
// relay (the filter sees no circuit's end).
func (a *subnetACL) AllowConnect(src peer.ID, srcAddr ma.Multiaddr, dest peer.ID) bool {
	ip, err := manet.ToIP(srcAddr)
	if err != nil {
		return true
	}
	nip, ok := netip.AddrFromSlice(ip)
	if !ok {
		return true
	}
	k := circuitKey{ipgroup.Of(nip, 24, 48), dest}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.lastCircuitSweep) > sweepInterval {
		a.lastCircuitSweep = now
		for ck, open := range a.circuits {
			a.pruneCircuitsLocked(open, now)
			if len(open) == 0 {
				delete(a.circuits, ck)
			}
		}
	}
	open := a.circuits[k]
	if open == nil {
		open = make(map[peer.ID]time.Time)
		a.circuits[k] = open
	}
	a.pruneCircuitsLocked(open, now)
	if _, again := open[src]; !again && len(open) >= maxCircuitsFromSubnet {
		return false
	}
	open[src] = now
	return true
}

// pruneCircuitsLocked drops the circuits that have ended for sure; a.mu
// is held.
func (a *subnetACL) pruneCircuitsLocked(open map[peer.ID]time.Time, now time.Time) {
	hp := a.host.Load()
	for q, at := range open {
		if now.Sub(at) > a.circuitTTL || (hp != nil && (*hp).Network().Connectedness(q) != network.Connected) {
			delete(open, q)
		}
	}
}

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
