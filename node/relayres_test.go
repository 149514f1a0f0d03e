package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/test"
)

// TestCallableThroughRelayAtStart starts a node that has no verdict on its
// reachability (AutoNAT's first probes are some 15 s in, and on loopback it
// never gets one): it still holds a relay reservation on the bootstrap
// from the start, lists the circuit address in its status, publishes it in
// its presence record, and another node that knows nothing else dials it
// through the relay. On the old code the node published direct addresses
// only until AutoNAT found it private.
func TestCallableThroughRelayAtStart(t *testing.T) {
	bs := startBootstraps(t, 1)
	alice := startNode(t, initAccount(t, "alice"), bs)
	bob := startNode(t, initAccount(t, "bob"), bs)
	waitPublished(t, alice, bob)
	ctx := context.Background()

	isCircuit := func(a string) bool { return strings.Contains(a, "/p2p-circuit") }
	test.WaitFor(t, 10*time.Second, func() error {
		s, err := alice.Status()
		if err != nil {
			return err
		}
		for _, a := range s.Addrs {
			if isCircuit(a) {
				return nil
			}
		}
		return fmt.Errorf("alice's status lists no circuit address: %v (reachability %s)", s.Addrs, s.Reachability)
	})

	var circuit []ma.Multiaddr
	test.WaitFor(t, 10*time.Second, func() error {
		l, err := bob.Lookup(ctx, alice.account)
		if err != nil {
			return err
		}
		circuit = nil
		for _, d := range l.Devices {
			for _, a := range d.Addrs {
				if isCircuit(a) {
					circuit = append(circuit, ma.StringCast(a))
				}
			}
		}
		if len(circuit) == 0 {
			return fmt.Errorf("alice's presence has no circuit address: %+v", l.Devices)
		}
		return nil
	})

	// Bob forgets every direct address of Alice and dials the relay's.
	aid := alice.Host().ID()
	bh := bob.Host()
	if err := bh.Network().ClosePeer(aid); err != nil {
		t.Fatal(err)
	}
	bh.Peerstore().ClearAddrs(aid)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := bh.Connect(network.WithAllowLimitedConn(dctx, "test"), peer.AddrInfo{ID: aid, Addrs: circuit}); err != nil {
		t.Fatalf("dialling alice through the relay: %v", err)
	}
	relayed := false
	for _, c := range bh.Network().ConnsToPeer(aid) {
		relayed = relayed || isCircuit(c.RemoteMultiaddr().String())
	}
	if !relayed {
		t.Fatalf("bob reached alice but not through the relay: %v", bh.Network().ConnsToPeer(aid))
	}
}

// TestNoReservationWhenPublic: a node run as publicly reachable makes no
// reservation (it would only take a relay slot it never needs).
func TestNoReservationWhenPublic(t *testing.T) {
	bs := startBootstraps(t, 1)
	n := startNodeWith(t, initAccount(t, "pub"), bs, func(o *node.Options) { o.Reachability = node.ReachPublic })
	waitPublished(t, n)
	s, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range s.Addrs {
		if strings.Contains(a, "/p2p-circuit") {
			t.Fatalf("a public node lists a circuit address: %v", s.Addrs)
		}
	}
}
