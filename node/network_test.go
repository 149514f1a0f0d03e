package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/test"
)

// checkResolves makes from look up to and requires every device of to to be
// online and connected.
func checkResolves(ctx context.Context, from, to *testNode) error {
	l, err := from.Lookup(ctx, to.account)
	if err != nil {
		return fmt.Errorf("%s → %s: %w", from.dir, to.dir, err)
	}
	if len(l.Devices) == 0 {
		return fmt.Errorf("%s → %s: no devices", from.dir, to.dir)
	}
	for _, d := range l.Devices {
		if !d.Online || !d.Connected {
			return fmt.Errorf("%s → %s: device %s online=%v connected=%v (%s)", from.dir, to.dir, d.DeviceID, d.Online, d.Connected, d.Error)
		}
	}
	return nil
}

// TestResolveAcrossBootstraps runs 3 bootstraps and 4 nodes on loopback:
// every node resolves and connects to every other; with one bootstrap
// stopped, a node that starts afterwards still resolves everyone and is
// resolved by everyone.
func TestResolveAcrossBootstraps(t *testing.T) {
	bs := startBootstraps(t, 3)
	var nodes []*testNode
	for i := range 4 {
		nodes = append(nodes, startNode(t, initAccount(t, fmt.Sprintf("n%d", i)), bs))
	}
	waitPublished(t, nodes...)
	ctx := context.Background()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				test.WaitFor(t, 15*time.Second, func() error { return checkResolves(ctx, a, b) })
			}
		}
	}

	bs[0].stop(t)
	late := startNode(t, initAccount(t, "late"), bs)
	waitPublished(t, late)
	for _, other := range nodes {
		test.WaitFor(t, 15*time.Second, func() error { return checkResolves(ctx, late, other) })
		test.WaitFor(t, 15*time.Second, func() error { return checkResolves(ctx, other, late) })
	}
}

// acceptAll is a validator that accepts anything: what a malicious DHT
// server would run.
type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error { return nil }

func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil } // newest put wins

// TestForgedRecordsNeverReturned puts a malicious DHT server into the
// network that stores and serves a forged and a stale account record for a
// real account. Honest bootstraps refuse them, and a resolver only ever
// gets the genuine, newest record.
func TestForgedRecordsNeverReturned(t *testing.T) {
	bs := startBootstraps(t, 2)
	alice := startNode(t, initAccount(t, "alice"), bs)
	bob := startNode(t, initAccount(t, "bob"), bs)
	waitPublished(t, alice, bob)

	// The evil server speaks Parley's DHT protocol but validates nothing.
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var bootInfos []peer.AddrInfo
	for _, b := range bs {
		bootInfos = append(bootInfos, peer.AddrInfo{ID: b.srv.Host().ID(), Addrs: b.srv.Host().Addrs()})
	}
	evil, err := dht.New(h, dht.ProtocolPrefix("/parley"), dht.Mode(dht.ModeServer),
		dht.Validator(record.NamespacedValidator{records.AccountNamespace: acceptAll{}, records.PresenceNamespace: acceptAll{}}),
		dht.BootstrapPeers(bootInfos...))
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	for _, bi := range bootInfos {
		if err := h.Connect(context.Background(), bi); err != nil {
			t.Fatal(err)
		}
	}
	test.WaitFor(t, 10*time.Second, func() error {
		if evil.RoutingTable().Size() < len(bootInfos) {
			return fmt.Errorf("evil routing table has %d peers", evil.RoutingTable().Size())
		}
		return nil
	})

	// A forged record for alice's account: signed by another account key,
	// with the highest sequence number validators take now, so it would
	// win any honest selection.
	key := records.AccountKey(alice.account)
	mallory, err := pcrypto.NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	mcert, err := pcrypto.CreateAccountCert(mallory, "mallory", pcrypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := records.NewAccount(mallory, mcert, nil, nil, records.MaxSeq(time.Now()), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A stale but genuinely signed record: alice's key, sequence 1.
	stale, err := records.NewAccount(alice.Keys().AccountKey(), alice.Keys().AccountCert, nil, nil, 1, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, bad := range [][]byte{stale, forged} {
		// PutValue stores it in the evil server and pushes it to the
		// closest peers, which must refuse it.
		if err := evil.PutValue(ctx, key, bad); err != nil {
			t.Fatalf("evil put: %v", err)
		}
	}
	for _, b := range bs {
		v, err := b.srv.DHT().GetValue(ctx, key, dht.Quorum(1))
		if err != nil {
			t.Fatalf("bootstrap lost alice's record: %v", err)
		}
		rec, err := records.ParseAccount(key, v, time.Now())
		if err != nil || rec.Seq <= 1 {
			t.Fatalf("bootstrap serves a bad record: seq %v err %v", rec, err)
		}
	}
	// Bob's node must know the evil server for this test to mean anything.
	bob.DHTForTest().RefreshRoutingTable()
	test.WaitFor(t, 10*time.Second, func() error {
		if bob.DHTForTest().RoutingTable().Find(h.ID()) == "" {
			return fmt.Errorf("bob's routing table does not have the evil server yet")
		}
		return nil
	})
	// Bob resolves alice many times over; the answer is always genuine.
	for range 5 {
		l, err := bob.Lookup(ctx, alice.account)
		if err != nil {
			t.Fatalf("lookup: %v", err)
		}
		if l.Seq <= 1 || l.AccountID != alice.account.String() || len(l.Devices) != 1 {
			t.Fatalf("lookup returned a forged or stale record: %+v", l)
		}
	}
	// The raw DHT answer bob's node gets is also the genuine one.
	v, err := bob.DHTForTest().GetValue(ctx, key, dht.Quorum(3))
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := records.ParseAccount(key, v, time.Now()); err != nil || rec.Seq <= 1 {
		t.Fatalf("resolver got a bad record: %v %v", rec, err)
	}
}
