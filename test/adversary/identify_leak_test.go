package adversary

import (
	"bufio"
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	pb "github.com/libp2p/go-libp2p/p2p/protocol/identify/pb"
	"github.com/libp2p/go-msgio/pbio"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/test/testnet"
)

// TestIdentifyWithholdsPrivateAddrs (attacker review): a stranger (or any DHT server
// the device dials) that holds a *direct* connection to a device reads its
// identify reply: the signed peer record carries every listen address,
// loopback included, and ListenAddrs every non-loopback one (RFC 1918 on a
// LAN) -- exactly what presence withholds. The host now applies the
// presence filter to what identify and the DHT give out (here with
// PrivateAddrs=withhold, as on an internet of public bootstraps; on
// loopback the default would publish private addresses).
func TestIdentifyWithholdsPrivateAddrs(t *testing.T) {
	ctx := t.Context()
	n := testnet.ForTest(t, testnet.Options{})
	if _, err := n.StartBootstrap(testnet.NoTURN); err != nil {
		t.Fatal(err)
	}
	x, err := n.AddNode("victim", func(o *node.Options) {
		o.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0"}
		o.PrivateAddrs = presence.PrivateAddrsWithhold
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	// dial the victim on its non-loopback address only
	var target peer.AddrInfo
	target.ID = x.Host().ID()
	for _, a := range x.Host().Addrs() {
		if ip, err := a.ValueForProtocol(ma.P_IP4); err == nil && ip != "127.0.0.1" {
			target.Addrs = append(target.Addrs, a)
		}
	}
	if len(target.Addrs) == 0 {
		t.Skip("no non-loopback address")
	}
	h, err := NewHost(nil, "0.0.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.Connect(cctx, target); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(cctx, target.ID, identify.ID)
	if err != nil {
		t.Fatalf("identify refused on a direct connection: %v", err)
	}
	defer s.Close()
	var m pb.Identify
	if err := pbio.NewDelimitedReader(bufio.NewReader(s), 8192).ReadMsg(&m); err != nil {
		t.Fatal(err)
	}
	t.Logf("connection %s -> %s", s.Conn().LocalMultiaddr(), s.Conn().RemoteMultiaddr())
	leak := false
	for _, b := range m.ListenAddrs {
		a, _ := ma.NewMultiaddrBytes(b)
		if presence.IsPrivateAddr(a) {
			t.Errorf("identify's listen addresses give a stranger the private address %s", a)
		}
	}
	if len(m.SignedPeerRecord) > 0 {
		_, rec, err := record.ConsumeEnvelope(m.SignedPeerRecord, peer.PeerRecordEnvelopeDomain)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range rec.(*peer.PeerRecord).Addrs {
			if presence.IsPrivateAddr(a) {
				leak = true
			}
		}
	}
	if leak {
		t.Errorf("a stranger's direct connection got a private address (withheld from presence) in identify's signed record")
	}
}
