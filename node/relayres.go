package node

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
)

const (
	// reserveTimeout bounds one reservation request to a bootstrap.
	reserveTimeout = 10 * time.Second
	// reserveRefreshSlack is how long before a reservation expires it is
	// renewed (the relay grants an hour by default; a shorter grant is
	// renewed at half its life).
	reserveRefreshSlack = 2 * time.Minute
	// reserveMaxRetry caps the wait between failed reservation attempts.
	reserveMaxRetry = time.Minute
)

// relayReservations holds a circuit relay reservation on every connected
// bootstrap from the moment the connection is up, so a device behind any
// NAT is callable through the relay a round trip or two after it starts.
//
// libp2p's autorelay does the same only after AutoNAT has found the device
// private (its first probes are some 15 s in) and then refreshes the host's
// addresses on its own schedule; in the NAT lab that made a NATed daemon
// callable 10–17 s after start. The reservations here do not wait for any
// verdict: a device later found public keeps them (one slot per bootstrap,
// renewed hourly), and callers still prefer its direct addresses, which
// libp2p dials first. A device run with --reachability public makes none.
type relayReservations struct {
	mu    sync.Mutex
	addrs map[peer.ID][]ma.Multiaddr // circuit addresses per relay held now
}

// Addrs are the circuit addresses of the reservations held now, sorted.
func (r *relayReservations) Addrs() []ma.Multiaddr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ma.Multiaddr
	for _, as := range r.addrs {
		out = append(out, as...)
	}
	slices.SortFunc(out, func(a, b ma.Multiaddr) int { return slices.Compare(a.Bytes(), b.Bytes()) })
	return out
}

func (r *relayReservations) set(p peer.ID, addrs []ma.Multiaddr) (changed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.addrs[p]
	if addrs == nil {
		delete(r.addrs, p)
		return had
	}
	if r.addrs == nil {
		r.addrs = make(map[peer.ID][]ma.Multiaddr)
	}
	r.addrs[p] = addrs
	return !had || !slices.EqualFunc(old, addrs, ma.Multiaddr.Equal)
}

// circuitAddrs are the addresses through relay bs at which this host can be
// dialled: each of the relay's configured addresses with
// /p2p/RELAY/p2p-circuit appended (the dialler adds /p2p/US).
func circuitAddrs(bs peer.AddrInfo) []ma.Multiaddr {
	suffix, err := ma.NewMultiaddr("/p2p/" + bs.ID.String() + "/p2p-circuit")
	if err != nil {
		return nil
	}
	out := make([]ma.Multiaddr, 0, len(bs.Addrs))
	for _, a := range bs.Addrs {
		out = append(out, a.Encapsulate(suffix))
	}
	return out
}

// reserveRelays keeps a reservation on each bootstrap until ctx is done.
func (n *Node) reserveRelays(ctx context.Context) error {
	if n.o.Reachability == ReachPublic || len(n.bootstraps) == 0 {
		return nil
	}
	var wg sync.WaitGroup
	for _, bs := range n.bootstraps {
		wg.Go(func() { n.reserveOn(ctx, bs) })
	}
	wg.Wait()
	return nil
}

// reserveOn keeps a reservation on one bootstrap: it reserves as soon as
// the bootstrap is connected (the presence service keeps that connection),
// renews it before it expires, and drops its addresses when the connection
// goes (the relay forgets a reservation with its connection).
func (n *Node) reserveOn(ctx context.Context, bs peer.AddrInfo) {
	sub, err := n.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		n.log.Warn("relay reservations off: subscribing to host events failed", "err", err)
		return
	}
	defer sub.Close()
	retry := n.o.RetryInterval
	var renew <-chan time.Time
	held := false
	drop := func() {
		if n.relays.set(bs.ID, nil) {
			n.presenceSvc.PublishNow()
		}
		held, renew = false, nil
	}
	for {
		if !held && n.h.Network().Connectedness(bs.ID) == network.Connected {
			rctx, cancel := context.WithTimeout(ctx, reserveTimeout)
			rsvp, err := client.Reserve(rctx, n.h, peer.AddrInfo{ID: bs.ID})
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				n.log.Debug("relay reservation failed; retrying", "relay", bs.ID, "err", err, "in", retry)
				renew = time.After(retry)
				retry = min(2*retry, reserveMaxRetry)
			} else {
				retry = n.o.RetryInterval
				held = true
				left := time.Until(rsvp.Expiration)
				renew = time.After(max(left-min(reserveRefreshSlack, left/2), 5*time.Second))
				if n.relays.set(bs.ID, circuitAddrs(bs)) {
					n.log.Debug("relay reservation held", "relay", bs.ID, "until", rsvp.Expiration)
					n.presenceSvc.PublishNow()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-renew:
			held = false // renew: reserve again (the relay extends it)
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev := e.(event.EvtPeerConnectednessChanged)
			if ev.Peer != bs.ID {
				continue
			}
			if ev.Connectedness != network.Connected {
				drop()
			}
		}
	}
}
