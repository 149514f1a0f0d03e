package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/test"
)

// TestStrangerOverRelayLearnsNoAddress: a stranger (any libp2p host that is
// no device of the account nor of a contact) that reaches a device through
// the bootstrap's circuit relay learns none of its addresses: the device
// refuses identify with it over the relayed connection, so the stranger's
// peerstore holds the circuit address alone, and every connection between
// the two runs through the relay. (The device refuses hole punching, DCUtR,
// with strangers too; on loopback DCUtR never starts, as neither side has
// a public address, so this test cannot show that part.)
func TestStrangerOverRelayLearnsNoAddress(t *testing.T) {
	bs := startBootstraps(t, 1)
	target := startNode(t, initAccount(t, "target"), bs)
	waitPublished(t, target)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	boot, err := peer.AddrInfoFromString(bs[0].addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, target.Host(), *boot); err != nil {
		t.Fatalf("target's relay reservation: %v", err)
	}

	stranger, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.EnableRelay(), libp2p.EnableHolePunching())
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	circuit := boot.Addrs[0].Encapsulate(ma.StringCast("/p2p/" + boot.ID.String() + "/p2p-circuit"))
	tid := target.Host().ID()
	if err := stranger.Connect(ctx, peer.AddrInfo{ID: tid, Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("stranger → target through the relay: %v", err)
	}
	conns := stranger.Network().ConnsToPeer(tid)
	if len(conns) != 1 || !conns[0].Stat().Limited {
		t.Fatalf("stranger's connections to the target: %v", conns)
	}
	ids := stranger.(interface{ IDService() identify.IDService }).IDService()
	select {
	case <-ids.IdentifyWait(conns[0]):
	case <-ctx.Done():
		t.Fatal("identify did not end")
	}
	for _, a := range stranger.Peerstore().Addrs(tid) {
		if !strings.Contains(a.String(), "/p2p-circuit") {
			t.Errorf("the stranger learnt the target's address %s", a)
		}
	}
	// Hole punching is refused as well (the guard's decision is checked
	// directly: on loopback DCUtR never starts), the contact protocol
	// is not.
	for proto, want := range map[protocol.ID]bool{holepunch.Protocol: true, identify.IDPush: true, identify.ID: true, contacts.ContactProtocol: false} {
		if got := target.ArmsLengthRefusesForTest(stranger.ID(), proto); got != want {
			t.Errorf("the target refuses %s with the stranger: %v, want %v", proto, got, want)
		}
	}
	if ps, _ := stranger.Peerstore().GetProtocols(tid); len(ps) > 0 {
		t.Errorf("the stranger learnt the target's protocols through identify: %v", ps)
	}
	for _, c := range append(stranger.Network().ConnsToPeer(tid), target.Host().Network().ConnsToPeer(stranger.ID())...) {
		if !c.Stat().Limited {
			t.Errorf("a direct connection between the stranger and the target: %s", c.RemoteMultiaddr())
		}
	}
}

// TestContactOverRelayIdentifies: the guard leaves accepted contacts
// alone: two devices that hold each other's account as an accepted
// contact (and its record) run identify over a relayed connection (and so
// may hole-punch).
func TestContactOverRelayIdentifies(t *testing.T) {
	bs := startBootstraps(t, 1)
	target := startNode(t, initAccount(t, "target"), bs)
	friend := startNode(t, initAccount(t, "friend"), bs)
	waitPublished(t, target, friend)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, p := range [][2]*testNode{{target, friend}, {friend, target}} {
		if err := p[0].Store().PutContact(store.Contact{AccountID: p[1].account, Name: "contact", State: store.Accepted}); err != nil {
			t.Fatal(err)
		}
		if _, err := p[0].ResolveAccount(ctx, p[1].account); err != nil {
			t.Fatal(err)
		}
	}
	boot, err := peer.AddrInfoFromString(bs[0].addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, target.Host(), *boot); err != nil {
		t.Fatalf("target's relay reservation: %v", err)
	}
	tid := target.Host().ID()
	if len(friend.Host().Network().ConnsToPeer(tid)) > 0 {
		t.Fatal("friend already connected to the target")
	}
	circuit := boot.Addrs[0].Encapsulate(ma.StringCast("/p2p/" + boot.ID.String() + "/p2p-circuit"))
	if err := friend.Host().Connect(ctx, peer.AddrInfo{ID: tid, Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 10*time.Second, func() error {
		for _, a := range friend.Host().Peerstore().Addrs(tid) {
			if !strings.Contains(a.String(), "/p2p-circuit") {
				return nil
			}
		}
		return fmt.Errorf("the contact has only %v", friend.Host().Peerstore().Addrs(tid))
	})
	if target.ArmsLengthRefusesForTest(friend.Host().ID(), holepunch.Protocol) {
		t.Error("the target refuses hole punching with its contact")
	}
}

// TestStrangerRequestOnlyThroughRelay: a contact request from a stranger
// reaches a device through the circuit relay only. While the device holds
// no relay reservation a stranger (carol) has no way in: its presence
// record seals its direct addresses (issue 18 item 2), so she learns
// none; given one anyway (as a DHT routing table could), she can dial it
// directly, and the device refuses her request ("relay-only";
// StrangersRelayOnly is set because it runs as public and so publishes no
// relay address). Once it holds one,
// another stranger's (alice's) request goes through the relay and is
// taken, and neither side learns an address of the other: every
// connection between them is relayed and both peerstores hold circuit
// addresses only.
func TestStrangerRequestOnlyThroughRelay(t *testing.T) {
	bs := startBootstraps(t, 1)
	// Run as public: no relay reservation at start (see relayres.go), so
	// the first stranger has no relayed way in.
	target := startNodeWith(t, initAccount(t, "target"), bs, func(o *node.Options) {
		o.StrangersRelayOnly = true
		o.Reachability = node.ReachPublic
	})
	carol := startNode(t, initAccount(t, "carol"), bs)
	alice := startNode(t, initAccount(t, "alice"), bs)
	waitPublished(t, target, carol, alice)

	// The stranger finds no address of the target but the relay's.
	l, err := carol.Lookup(context.Background(), target.account)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range l.Devices {
		for _, a := range d.Addrs {
			if !strings.Contains(a, "/p2p-circuit") {
				t.Errorf("the stranger's lookup shows the target's address %s", a)
			}
		}
	}
	ctx0, cancel0 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel0()
	if err := carol.Host().Connect(ctx0, peer.AddrInfo{ID: target.Host().ID(), Addrs: target.Host().Addrs()}); err != nil {
		t.Fatalf("carol dialling the target directly: %v", err)
	}
	if _, err := carol.AddContact(target.account, "Target", "hello, directly"); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 20*time.Second, func() error {
		items, err := carol.Store().Outbox()
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.To == target.account && strings.Contains(it.LastError, contacts.CodeRelayOnly) {
				return nil
			}
		}
		return fmt.Errorf("outbox %+v", items)
	})
	if _, ok := contactState(t, target, carol.account); ok {
		t.Fatal("the target took a stranger's request over a direct connection")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	boot, err := peer.AddrInfoFromString(bs[0].addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, target.Host(), *boot); err != nil {
		t.Fatalf("target's relay reservation: %v", err)
	}
	if _, err := alice.AddContact(target.account, "Target", "hello through the relay"); err != nil {
		t.Fatal(err)
	}
	waitState(t, target, alice.account, "request-received")

	tid, aid := target.Host().ID(), alice.Host().ID()
	for _, a := range alice.Host().Peerstore().Addrs(tid) {
		if !strings.Contains(a.String(), "/p2p-circuit") {
			t.Errorf("the stranger's peerstore holds the target's address %s", a)
		}
	}
	for _, a := range target.Host().Peerstore().Addrs(aid) {
		if !strings.Contains(a.String(), "/p2p-circuit") {
			t.Errorf("the target's peerstore holds the stranger's address %s", a)
		}
	}
	conns := append(alice.Host().Network().ConnsToPeer(tid), target.Host().Network().ConnsToPeer(aid)...)
	if len(conns) == 0 {
		t.Fatal("no connection between the stranger and the target")
	}
	for _, c := range conns {
		if !c.Stat().Limited {
			t.Errorf("a direct connection between the stranger and the target: %s", c.RemoteMultiaddr())
		}
	}
}
