package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/adversary"
)

// TestStrangerOwnRelayLearnsNoAddress: a stranger publishes a presence
// record whose only address is a circuit through a relay he runs, sends a
// contact request through the bootstrap, and waits for the victim to
// decline: the victim answers through its own bootstraps' relay only, and
// never connects to the stranger's relay (it did, 7 ms after the decline,
// from its listening port: attacker review, fourth session).
func TestStrangerOwnRelayLearnsNoAddress(t *testing.T) {
	target, boot, bootCircuit := relayedTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tid := target.Host().ID()

	// the attacker's relay
	rh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.9/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Close()
	rl, err := relayv2.New(rh)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	seen := make(chan ma.Multiaddr, 16)
	rh.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if c.RemotePeer() == tid {
			seen <- c.RemoteMultiaddr()
		}
	}})
	myCircuit := rh.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + rh.ID().String() + "/p2p-circuit"))

	// the attacker's account and device
	acct, err := adversary.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := acct.NewDevice()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := lcrypto.UnmarshalEd25519PrivateKey(dev.Key.Ed25519())
	dh, err := libp2p.New(libp2p.Identity(k), libp2p.ListenAddrStrings("/ip4/127.0.0.8/tcp/0"), libp2p.EnableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer dh.Close()
	if err := dh.Connect(ctx, peer.AddrInfo{ID: rh.ID(), Addrs: rh.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, dh, peer.AddrInfo{ID: rh.ID()}); err != nil {
		t.Fatal(err)
	}
	if err := dh.Connect(ctx, *boot); err != nil {
		t.Fatal(err)
	}
	ak, av, err := acct.Record([]*adversary.Device{dev}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := records.NewPresence(dev.Key, acct.Cert.ID, []ma.Multiaddr{myCircuit}, uint64(time.Now().UnixMilli()), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []struct {
		k string
		v []byte
	}{{ak, av}, {records.PresenceKey(dev.Key.ID()), pv}} {
		if err := adversary.PutValue(ctx, dh, boot.ID, kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	// the request, through the bootstrap's relay (as the rules want)
	test.WaitFor(t, 20*time.Second, func() error {
		return dh.Connect(ctx, peer.AddrInfo{ID: tid, Addrs: []ma.Multiaddr{bootCircuit}})
	})
	msg, err := dev.ContactMessage("request", target.account, "mallory", "hi", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := adversary.SendContact(ctx, dh, tid, msg); err != nil {
		t.Fatalf("request: %v", err)
	}
	t.Logf("request taken; the victim declines")
	// the victim's close their relayed connection first, as a later decline would find
	dh.Network().ClosePeer(tid)
	select {
	case a := <-seen:
		t.Fatalf("the victim connected to the relay before the decline, from %s", a)
	case <-time.After(3 * time.Second):
	}
	t0 := time.Now()
	if err := target.DeclineContact(acct.Cert.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-seen:
		t.Fatalf("%v after the decline, the victim's device connected to the stranger's relay from %s", time.Since(t0).Round(time.Millisecond), a)
	case <-time.After(5 * time.Second): // waiting for something not to happen
	}
	// A lookup of the stranger does not either.
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
	defer lcancel()
	_, _ = target.Lookup(lctx, acct.Cert.ID)
	select {
	case a := <-seen:
		t.Fatalf("a lookup of the stranger connected to his relay from %s", a)
	default:
	}
}
