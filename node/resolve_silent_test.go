package node_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/test"
)

// kadProtocol is the stream protocol of the Parley DHT.
const kadProtocol = protocol.ID(records.ProtocolPrefix + "/kad/1.0.0")

// silentPeer is a DHT server that can be made to stop answering, the way a
// paused process does: its connections stay up, requests reach it, and no
// answer and no error ever comes back.
type silentPeer struct {
	h     host.Host
	asked atomic.Int64  // DHT streams opened to it since it went silent
	stop  chan struct{} // closed at the end of the test: release held streams
}

// startSilentPeer starts a live DHT server joined to the bootstraps.
func startSilentPeer(t *testing.T, bs []*testBootstrap) *silentPeer {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	var boots []peer.AddrInfo
	for _, b := range bs {
		boots = append(boots, peer.AddrInfo{ID: b.srv.Host().ID(), Addrs: b.srv.Host().Addrs()})
	}
	d, err := dht.New(h, append(records.DHTOptions(nil), dht.Mode(dht.ModeServer), dht.BootstrapPeers(boots...))...)
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	p := &silentPeer{h: h, stop: make(chan struct{})}
	t.Cleanup(func() {
		close(p.stop)
		d.Close()
		h.Close()
	})
	for _, bi := range boots {
		if err := h.Connect(context.Background(), bi); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// silence makes the peer hold every DHT request unanswered: new streams go
// to a handler that never replies, and streams already open are reset (the
// requester retries on a new stream, which is then held).
func (p *silentPeer) silence() {
	p.h.SetStreamHandler(kadProtocol, func(s network.Stream) {
		p.asked.Add(1)
		<-p.stop
		s.Reset()
	})
	for _, c := range p.h.Network().Conns() {
		for _, s := range c.GetStreams() {
			if s.Protocol() == kadProtocol {
				s.Reset()
			}
		}
	}
}

// TestResolveWithSilentDHTPeers: a record that only one live DHT server
// (the bootstrap) serves, in a network where every other DHT server holds
// requests unanswered, resolves in far less than the lookup timeout. A
// lookup that waits for its search to end (or for a second answer) waits
// for the silent peers until LookupTimeout.
func TestResolveWithSilentDHTPeers(t *testing.T) {
	bs := startBootstraps(t, 1)
	var silent []*silentPeer
	for range 4 {
		silent = append(silent, startSilentPeer(t, bs))
	}
	rt := bs[0].srv.DHT().RoutingTable()
	test.WaitFor(t, 15*time.Second, func() error {
		for i, p := range silent {
			if rt.Find(p.h.ID()) == "" {
				return fmt.Errorf("DHT peer %d not yet in the bootstrap's routing table", i)
			}
		}
		return nil
	})
	target := startNode(t, initAccount(t, "target"), bs)
	waitPublished(t, target)

	for _, p := range silent {
		p.silence()
	}
	const lookupTimeout = 10 * time.Second
	resolver := startNodeWith(t, initAccount(t, "resolver"), bs, func(o *node.Options) {
		o.LookupTimeout = lookupTimeout
		o.AccountCacheTTL = -1 // every lookup asks the DHT
	})
	test.WaitFor(t, 15*time.Second, func() error {
		if resolver.DHTForTest().RoutingTable().Size() == 0 {
			return fmt.Errorf("resolver's routing table is empty")
		}
		return nil
	})

	ctx := context.Background()
	for i := range 3 {
		start := time.Now()
		if err := checkResolves(ctx, resolver, target); err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
		// Two records (account, presence) per lookup; each may wait the
		// grace, and -race on a busy machine is slow, but nothing near
		// the timeout.
		took := time.Since(start)
		if took > lookupTimeout/5 {
			t.Fatalf("lookup %d took %v: it waited for silent peers (LookupTimeout %v)", i, took, lookupTimeout)
		}
		t.Logf("lookup %d took %v", i, took)
	}
	// Every search was cancelled when its lookup returned: none is left
	// waiting for a silent peer.
	test.WaitFor(t, 10*time.Second, func() error {
		if g := test.GoroutinesMatching("go-libp2p-kad-dht.(*IpfsDHT).getValues", "go-libp2p-kad-dht.(*IpfsDHT).SearchValue"); len(g) > 0 {
			return fmt.Errorf("%d DHT search goroutines still running:\n%s", len(g), g[0])
		}
		return nil
	})
	var asked int64
	for _, p := range silent {
		asked += p.asked.Load()
	}
	if asked == 0 {
		t.Fatal("no lookup asked a silent peer: the test proves nothing")
	}
	t.Logf("silent peers were asked %d times", asked)
}
