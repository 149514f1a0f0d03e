package presence

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/node/service"
)

// TestDropDeadCircuits: a peer's circuit addresses through a configured
// bootstrap this host is not connected to leave the peerstore and the
// returned list; those through a connected bootstrap, through a relay that
// is no bootstrap, and direct ones stay. (libp2p lets one circuit dial per
// peer run at a time: one through a bootstrap that died held up the others
// for 5 s, and a relayed call whose TURN server died with its bootstrap
// could not signal its ICE restart in time: the NAT lab's relay failover.)
func TestDropDeadCircuits(t *testing.T) {
	newHost := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		return h
	}
	a, live, dead, other, p := newHost(), newHost(), newHost(), newHost(), newHost()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: live.ID(), Addrs: live.Addrs()}); err != nil {
		t.Fatal(err)
	}
	svc := &Service{Env: service.Env{Host: a}, bootstraps: []peer.AddrInfo{
		{ID: live.ID(), Addrs: live.Addrs()}, {ID: dead.ID(), Addrs: dead.Addrs()},
	}}
	circuit := func(relay host.Host) ma.Multiaddr {
		return relay.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + relay.ID().String() + "/p2p-circuit"))
	}
	viaLive, viaDead, viaOther, direct := circuit(live), circuit(dead), circuit(other), p.Addrs()[0]
	addrs := []ma.Multiaddr{viaDead, viaLive, viaOther, direct}
	a.Peerstore().AddAddrs(p.ID(), addrs, peerstore.TempAddrTTL)

	got := svc.DropDeadCircuits(p.ID(), addrs)
	want := []ma.Multiaddr{viaLive, viaOther, direct}
	if !slices.EqualFunc(got, want, ma.Multiaddr.Equal) {
		t.Errorf("DropDeadCircuits returned %v, want %v", got, want)
	}
	if !slices.EqualFunc(addrs, []ma.Multiaddr{viaDead, viaLive, viaOther, direct}, ma.Multiaddr.Equal) {
		t.Error("DropDeadCircuits changed its argument")
	}
	stored := a.Peerstore().Addrs(p.ID())
	if slices.ContainsFunc(stored, viaDead.Equal) {
		t.Errorf("the peerstore still holds the circuit through the unconnected bootstrap: %v", stored)
	}
	for _, w := range want {
		if !slices.ContainsFunc(stored, w.Equal) {
			t.Errorf("the peerstore lost %v: %v", w, stored)
		}
	}
}
