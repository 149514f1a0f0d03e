package adversary

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/test/testnet"
)

// TestStrangerFindNodeWithholdsPrivateAddrs (attacker review; fails without the DHT address filter): a stranger who reached a
// device in DHT server mode through the bootstrap's relay (where identify
// is refused) asks the device FIND_NODE for the device's own ID; kad
// answers with the target's addresses from its own peerstore.
func TestStrangerFindNodeWithholdsPrivateAddrs(t *testing.T) {
	ctx := t.Context()
	n := testnet.ForTest(t, testnet.Options{})
	b, err := n.StartBootstrap(testnet.NoTURN)
	if err != nil {
		t.Fatal(err)
	}
	allIfaces := os.Getenv("RV_ALL_IFACES") != ""
	withContact := !allIfaces
	// The victim starts as a DHT client so that it can befriend bob (see
	// TestBefriendDHTServer), then restarts as a DHT server.
	x, err := n.AddNode("victim", func(o *node.Options) {
		o.PrivateAddrs = presence.PrivateAddrsWithhold
		if allIfaces {
			o.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0"}
			o.DHTMode = "server"
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	var bob *testnet.Node
	if withContact {
		if bob, err = n.AddNode("bob", nil); err != nil {
			t.Fatal(err)
		}
		if err := testnet.WaitPublished(ctx, bob); err != nil {
			t.Fatal(err)
		}
		if err := testnet.Befriend(ctx, x, bob); err != nil {
			t.Fatal(err)
		}
		if err := x.Stop(); err != nil {
			t.Fatal(err)
		}
		if x, err = n.StartNode(x.Dir, func(o *node.Options) {
			o.DHTMode = "server"
			o.PrivateAddrs = presence.PrivateAddrsWithhold
		}); err != nil {
			t.Fatal(err)
		}
		if err := x.WaitPublished(ctx); err != nil {
			t.Fatal(err)
		}
		// bob reaches his contact (any call or message does this)
		if _, err := bob.Lookup(ctx, x.Account); err != nil {
			t.Fatal(err)
		}
	}
	boot, err := peer.AddrInfoFromString(b.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.EnableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	circuit := boot.Addrs[0].Encapsulate(ma.StringCast("/p2p/" + boot.ID.String() + "/p2p-circuit"))
	tid := x.Host().ID()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var cerr error
	for range 40 { // the victim's own reservation comes a moment after start
		if cerr = stranger.Connect(cctx, peer.AddrInfo{ID: tid, Addrs: []ma.Multiaddr{circuit}}); cerr == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if cerr != nil {
		t.Fatalf("stranger → victim through the relay: %v", cerr)
	}
	for _, c := range stranger.Network().ConnsToPeer(tid) {
		if !c.Stat().Limited {
			t.Fatalf("direct connection %s", c.RemoteMultiaddr())
		}
	}
	s, err := stranger.NewStream(network.WithAllowLimitedConn(cctx, "x"), tid, DHTProtocol)
	if err != nil {
		t.Fatalf("kad over relay: %v", err)
	}
	defer s.Close()
	if withContact {
		findNode(t, cctx, stranger, tid, bob.Host().ID(), "bob (the victim's contact)")
	}
	req, _ := proto.Marshal(&pb.Message{Type: pb.Message_FIND_NODE, Key: []byte(tid)})
	if err := msgio.NewVarintWriter(s).WriteMsg(req); err != nil {
		t.Fatal(err)
	}
	data, err := msgio.NewVarintReaderSize(s, maxDHTMessage).ReadMsg()
	if err != nil {
		t.Fatalf("kad answer: %v", err)
	}
	var resp pb.Message
	if err := proto.Unmarshal(data, &resp); err != nil {
		t.Fatal(err)
	}
	leaked := 0
	for _, p := range resp.GetCloserPeers() {
		for _, a := range p.Addresses() {
			t.Logf("FIND_NODE answer: peer %s addr %s", peer.ID(p.Id), a)
			if peer.ID(p.Id) == tid && presence.IsPrivateAddr(a) {
				leaked++
			}
		}
	}
	t.Logf("victim listens on %v", x.Host().Addrs())
	if leaked > 0 {
		t.Errorf("a stranger over the relay learnt %d of the victim's private addresses via kad FIND_NODE", leaked)
	}
}

func findNode(t *testing.T, ctx context.Context, h interface {
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
}, server, target peer.ID, what string) {
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "x"), server, DHTProtocol)
	if err != nil {
		t.Fatalf("kad over relay: %v", err)
	}
	defer s.Close()
	req, _ := proto.Marshal(&pb.Message{Type: pb.Message_FIND_NODE, Key: []byte(target)})
	if err := msgio.NewVarintWriter(s).WriteMsg(req); err != nil {
		t.Fatal(err)
	}
	data, err := msgio.NewVarintReaderSize(s, maxDHTMessage).ReadMsg()
	if err != nil {
		t.Fatalf("kad answer: %v", err)
	}
	var resp pb.Message
	if err := proto.Unmarshal(data, &resp); err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.GetCloserPeers() {
		if peer.ID(p.Id) == target {
			t.Errorf("FIND_NODE(%s) at the victim, asked by a stranger over the relay, answered its addresses %v", what, p.Addresses())
		}
	}
}
