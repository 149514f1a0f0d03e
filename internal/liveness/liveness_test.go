package liveness

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestProbePeer: a connection whose far end answers pings is kept; one
// whose far end swallows them (as a killed daemon's lingering QUIC
// connection does) is reported dead within Timeout and closed.
func TestProbePeer(t *testing.T) {
	ctx := t.Context()
	a, b := newHost(t), newHost(t)
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if n := ProbePeer(ctx, a.Network(), b.ID()); n != 1 {
		t.Fatalf("ProbePeer on a live connection = %d, want 1", n)
	}

	// b stops answering pings: it reads them and never echoes.
	held := make(chan network.Stream, 4)
	b.SetStreamHandler(ping.ID, func(s network.Stream) {
		held <- s
		_, _ = io.Copy(io.Discard, s)
	})
	start := time.Now()
	if n := ProbePeer(ctx, a.Network(), b.ID()); n != 0 {
		t.Fatalf("ProbePeer on a silent peer = %d, want 0", n)
	}
	took := time.Since(start)
	if took < Timeout || took > Timeout+time.Second {
		t.Errorf("ProbePeer gave up after %v, want about %v", took, Timeout)
	}
	if a.Network().Connectedness(b.ID()) == network.Connected {
		t.Error("the dead connection was not closed")
	}
	conns := a.Network().ConnsToPeer(b.ID())
	if len(conns) != 0 {
		t.Fatalf("%d connections left", len(conns))
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := PingConn(ctx2, a.Network().ConnsToPeer(b.ID())[0]); !errors.Is(err, ErrDead) {
		t.Errorf("PingConn with a cancelled context = %v, want ErrDead", err)
	}
}
