package adversary

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/test/testnet"
	"github.com/parleyhq/parley/test/wait"
)

// TestNodeCallOffersFromStrangers: call offers from strangers are refused
// with not-a-contact before they cost a DHT lookup or a cached record; an
// accepted contact's offer, the control, is looked up and rings (issue 14
// finding 9: the lookup came before the contact check). In-process, where
// the node's lookup counter can be read.
func TestNodeCallOffersFromStrangers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	n := testnet.ForTest(t, testnet.Options{})
	if _, err := n.StartBootstrap(testnet.NoTURN); err != nil {
		t.Fatal(err)
	}
	// Public (no circuit address published): the strangers' messages come
	// directly and meet the checks under test, not the relay-only rule.
	x, err := n.AddNode("victim", func(o *node.Options) { o.Reachability = node.ReachPublic })
	if err != nil {
		t.Fatal(err)
	}
	if err := x.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	info := peer.AddrInfo{ID: x.Host().ID(), Addrs: x.Host().Addrs()}
	info = TCPOnly(info)

	lookups := x.Lookups()
	for i := range 5 {
		m := newAttacker(t, info, nil)
		offer, err := m.Offer(x.Account)
		if err != nil {
			t.Fatal(err)
		}
		c, err := SendOffer(ctx, m.h, info.ID, offer)
		if err != nil {
			t.Fatalf("offer %d: %v", i, err)
		}
		if c.Type != callproto.ControlError || c.Code != callproto.CodeNotContact {
			t.Errorf("a stranger's offer: answered %v code %v (%q), want an error not-a-contact", c.Type, c.Code, c.Reason)
		}
	}
	if d := x.Lookups() - lookups; d != 0 {
		t.Errorf("5 strangers' offers cost %d DHT lookups, want 0", d)
	}
	if cached, _ := x.CacheStats(); cached != 0 {
		t.Errorf("%d account records cached after the strangers' offers, want 0", cached)
	}
	if cs := x.Calls(); len(cs) != 0 {
		t.Errorf("the strangers' offers made calls: %+v", cs)
	}

	// The control: an accepted contact's offer is looked up and rings.
	friend := newAttacker(t, info, nil)
	if err := friend.send(ctx, info, x.Account, "request", "friend", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := x.WaitContact(ctx, friend.Account.Cert.ID.String(), wait.ContactIs("request-received")); err != nil {
		t.Fatal(err)
	}
	if _, err := x.AcceptContact(friend.Account.Cert.ID); err != nil {
		t.Fatal(err)
	}
	lookups = x.Lookups()
	offer, err := friend.Offer(x.Account)
	if err != nil {
		t.Fatal(err)
	}
	c, err := SendOffer(ctx, friend.h, info.ID, offer)
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != callproto.ControlRinging {
		t.Errorf("the contact's offer: answered %v (%q), want ringing", c.Type, c.Reason)
	}
	if x.Lookups() == lookups {
		t.Errorf("the contact's offer cost no lookup: the counter cannot see one")
	}
}
