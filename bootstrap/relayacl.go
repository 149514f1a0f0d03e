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
	ncircuits        int                                  // entries in circuits
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
	subnet, ok := subnetOf(addr)
	if !ok {
		return true // the relay refuses addresses without an IP itself
	}
	now := a.now()
	gone := func(q peer.ID, at time.Time) bool { return !a.holds(q, at, now) }
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.lastSweep) > sweepInterval {
		a.lastSweep = now
		sweepGroups(a.subnets, gone)
	}
	held := a.subnets[subnet]
	if held == nil {
		held = make(map[peer.ID]time.Time)
		a.subnets[subnet] = held
	}
	pruneGroup(held, func(q peer.ID, at time.Time) bool { return q != p && gone(q, at) })
	if _, refresh := held[p]; !refresh && len(held) >= a.max {
		return false
	}
	held[p] = now
	return true
}

// subnetOf is the IPv4 /24 or IPv6 /48 of an address's IP (false when
// it has none).
func subnetOf(addr ma.Multiaddr) (netip.Prefix, bool) {
	ip, err := manet.ToIP(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	nip, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	return ipgroup.Of(nip, 24, 48), true
}

// pruneGroup deletes the entries of one group that gone says have ended,
// and returns how many it deleted.
func pruneGroup(g map[peer.ID]time.Time, gone func(peer.ID, time.Time) bool) int {
	n := 0
	for q, at := range g {
		if gone(q, at) {
			delete(g, q)
			n++
		}
	}
	return n
}

// sweepGroups prunes every group and drops the empty ones, and returns
// how many entries it deleted.
func sweepGroups[K comparable](groups map[K]map[peer.ID]time.Time, gone func(peer.ID, time.Time) bool) int {
	n := 0
	for k, g := range groups {
		n += pruneGroup(g, gone)
		if len(g) == 0 {
			delete(groups, k)
		}
	}
	return n
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

// maxTrackedCircuits bounds the circuits the filter remembers. A peer may
// ask for circuits to any number of destinations, each remembered for a
// circuit's lifetime; past the bound the filter sweeps (at most once a
// second, a sweep walks every entry), and if
// that frees nothing it lets the request through without remembering it
// (the relay's own limits per peer and in total still apply), rather than
// refuse everyone.
const maxTrackedCircuits = 16384

// AllowConnect implements relayv2.ACLFilter: at most
// maxCircuitsFromSubnet circuits from one source subnet to one destination
// count at once. A circuit counts from when it was allowed until the
// circuit duration has passed or its source has no connection left to the
// relay (the filter sees no circuit's end).
func (a *subnetACL) AllowConnect(src peer.ID, srcAddr ma.Multiaddr, dest peer.ID) bool {
	subnet, ok := subnetOf(srcAddr)
	if !ok {
		return true
	}
	k := circuitKey{subnet, dest}
	now := a.now()
	hp := a.host.Load()
	gone := func(q peer.ID, at time.Time) bool {
		return now.Sub(at) > a.circuitTTL || (hp != nil && (*hp).Network().Connectedness(q) != network.Connected)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.lastCircuitSweep) > sweepInterval || (a.ncircuits >= maxTrackedCircuits && now.Sub(a.lastCircuitSweep) > time.Second) {
		a.lastCircuitSweep = now
		a.ncircuits -= sweepGroups(a.circuits, gone)
	}
	open := a.circuits[k]
	if open != nil {
		a.ncircuits -= pruneGroup(open, gone)
	}
	if _, again := open[src]; again {
		open[src] = now
		return true
	}
	if len(open) >= maxCircuitsFromSubnet {
		return false
	}
	if a.ncircuits >= maxTrackedCircuits {
		return true
	}
	if open == nil {
		open = make(map[peer.ID]time.Time)
		a.circuits[k] = open
	}
	open[src] = now
	a.ncircuits++
	return true
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
