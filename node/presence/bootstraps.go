package presence

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parleyhq/parley/internal/redial"
)

// Bootstrap reconnection backoff bounds.
const (
	minBootstrapBackoff  = 500 * time.Millisecond
	maxBootstrapBackoff  = 30 * time.Second
	bootstrapDialTimeout = 10 * time.Second
)

// bootstrapLoop keeps a connection to every configured bootstrap, redialling
// a lost one with exponential backoff so that a bootstrap that comes back is
// rejoined.
func (svc *Service) bootstrapLoop(ctx context.Context) {
	if len(svc.bootstraps) == 0 {
		svc.Log.Warn("no bootstrap servers configured: this node can only be reached by peers that already know its address")
		return
	}
	redial.Run(ctx, redial.Config{
		Host:        svc.Host,
		Peers:       svc.bootstraps,
		DialTimeout: bootstrapDialTimeout,
		MinBackoff:  minBootstrapBackoff,
		MaxBackoff:  maxBootstrapBackoff,
		Recheck:     maxBootstrapBackoff,
		Kick:        svc.bootstrapKick,
		Log:         svc.Log,
		Name:        "bootstrap",
		// libp2p's autorelay retries a static relay it failed to reserve
		// on only after a long backoff: a bootstrap that restarted would
		// hold no slot for this device, and NATed peers could not reach
		// it, until then.
		Joined: func() { go svc.RenewRelaySlots(ctx) },
	})
}

// relaySlotTimeout bounds RenewRelaySlots.
const relaySlotTimeout = 10 * time.Second

// RenewRelaySlots takes a relay slot on every bootstrap once connected
// (waiting for the connections up to relaySlotTimeout, or until ctx ends) when this device is behind
// NAT: after a network change or a bootstrap's restart the old
// reservations are gone, and until a new one is held no peer can open a
// circuit to this device. A device with a public address does nothing.
func (svc *Service) RenewRelaySlots(ctx context.Context) {
	if !svc.behindNAT() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, relaySlotTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, bs := range svc.bootstraps {
		wg.Go(func() {
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for !svc.Connected(bs.ID) {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			if _, err := client.Reserve(ctx, svc.Host, bs); err != nil {
				svc.Log.Debug("no relay slot", "bootstrap", bs.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

// behindNAT reports whether every address this host listens on is a
// private one (it can be reached only through a relay).
func (svc *Service) behindNAT() bool {
	for _, a := range svc.Host.Network().ListenAddresses() {
		if manet.IsPublicAddr(a) {
			return false
		}
	}
	for _, a := range interfaceAddrs() {
		if !a.IsPrivate() && !a.IsLoopback() {
			return false
		}
	}
	return true
}

// IsBootstrap reports whether p is a configured bootstrap.
func (svc *Service) IsBootstrap(p peer.ID) bool {
	for _, bs := range svc.bootstraps {
		if bs.ID == p {
			return true
		}
	}
	return false
}

// ParseBootstraps turns multiaddr strings into peer infos, merging addresses
// of the same peer.
func ParseBootstraps(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap %q: %w (want e.g. /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…)", s, err)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w (each address must end in /p2p/PEER-ID)", err)
	}
	return infos, nil
}

// interfaceAddrs lists the addresses of this machine's interfaces.
func interfaceAddrs() []netip.Addr {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// relayOf returns the relay peer of a circuit address (the last /p2p
// before /p2p-circuit), or "" when a is not one.
func relayOf(a ma.Multiaddr) peer.ID {
	var relay peer.ID
	for _, c := range a {
		switch c.Code() {
		case ma.P_P2P:
			if id, err := peer.Decode(c.Value()); err == nil {
				relay = id
			}
		case ma.P_CIRCUIT:
			return relay
		}
	}
	return ""
}

// DropDeadCircuits removes from the peerstore the circuit addresses of p
// through a configured bootstrap this host is not connected to, and
// returns addrs without them. libp2p's relay client lets one circuit dial
// per destination run and the others wait for it, trying a peer's
// circuits one after another: one through a bootstrap that died hangs
// until the relay dial gives up (5 s) and holds up those through the
// live bootstraps. A bootstrap that comes back is joined by the bootstrap
// loop, and the device's next presence record or our next lookup lists
// its circuit again.
func (svc *Service) DropDeadCircuits(p peer.ID, addrs []ma.Multiaddr) []ma.Multiaddr {
	dead := func(a ma.Multiaddr) bool {
		r := relayOf(a)
		return r != "" && svc.IsBootstrap(r) && !svc.Connected(r)
	}
	ps := svc.Host.Peerstore()
	for _, a := range ps.Addrs(p) {
		if dead(a) {
			ps.SetAddr(p, a, 0)
		}
	}
	return slices.DeleteFunc(slices.Clone(addrs), dead)
}
