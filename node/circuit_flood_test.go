package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/test"
)

// TestCircuitFloodLeavesRoomForContacts: throwaway peers from one address
// open circuits to a NATed device through its bootstrap; the relay lets
// at most 4 of one /24 through to one device, so a peer from elsewhere
// still reaches it. Before, the relay's per-peer cap (16, counted for the
// destination too) was filled by 16 throwaway peer IDs from one address,
// and the device could not be reached through that relay while they
// renewed their circuits (attacker review, fourth session).
func TestCircuitFloodLeavesRoomForContacts(t *testing.T) {
	target, _, circuit := relayedTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tid := target.Host().ID()
	newHost := func(listen ...string) host.Host {
		opts := []libp2p.Option{libp2p.EnableRelay()}
		if len(listen) == 0 {
			opts = append(opts, libp2p.NoListenAddrs)
		} else {
			opts = append(opts, libp2p.ListenAddrStrings(listen...))
		}
		h, err := libp2p.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		return h
	}
	// The target takes its relay slot at connect: wait for it.
	test.WaitFor(t, 20*time.Second, func() error {
		return newHost().Connect(ctx, peer.AddrInfo{ID: tid, Addrs: []ma.Multiaddr{circuit}})
	})
	opened := 0
	for range 20 {
		if newHost().Connect(ctx, peer.AddrInfo{ID: tid, Addrs: []ma.Multiaddr{circuit}}) == nil {
			opened++
		}
	}
	if opened > 4 {
		t.Errorf("%d throwaway peers of one address hold circuits to the device, want at most 4", opened)
	}
	friend := newHost("/ip4/127.0.1.1/tcp/0") // another /24
	if err := friend.Connect(ctx, peer.AddrInfo{ID: tid, Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("a peer of another network cannot reach the device through the relay after the flood: %v", err)
	}
}

// relayedTarget starts one bootstrap and a published node using it, and
// returns the node, the bootstrap and the circuit address through it.
func relayedTarget(t *testing.T) (target *testNode, boot *peer.AddrInfo, circuit ma.Multiaddr) {
	t.Helper()
	bs := startBootstraps(t, 1)
	target = startNode(t, initAccount(t, "target"), bs)
	waitPublished(t, target)
	boot, err := peer.AddrInfoFromString(bs[0].addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	return target, boot, boot.Addrs[0].Encapsulate(ma.StringCast("/p2p/" + boot.ID.String() + "/p2p-circuit"))
}
