package bootstrap

import (
	"fmt"
	"io"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/parleyhq/parley/internal/liveness"
	"github.com/parleyhq/parley/test/wait"
)

// TestRestartedPeerOldConnClosed: a peer whose daemon died without closing
// its connection (here: a host that swallows pings, as a killed daemon's
// lingering QUIC connection does) and came back with the same key gets its
// old connection closed once it connects again, so that the relay does not
// open circuits on the dead one.
func TestRestartedPeerOldConnClosed(t *testing.T) {
	srv := start(t, testConfig(t.TempDir()))
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	info := peer.AddrInfo{ID: srv.Host().ID(), Addrs: srv.Host().Addrs()}
	old := newHost(t, k)
	old.SetStreamHandler(ping.ID, func(s network.Stream) { _, _ = io.Copy(io.Discard, s) })
	if err := old.Connect(t.Context(), info); err != nil {
		t.Fatal(err)
	}
	restarted := newHost(t, k)
	if err := restarted.Connect(t.Context(), info); err != nil {
		t.Fatal(err)
	}
	err = wait.For(t.Context(), 3*liveness.Timeout, func() error {
		if n := len(srv.Host().Network().ConnsToPeer(old.ID())); n != 1 {
			return fmt.Errorf("the bootstrap holds %d connections to the peer", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The bootstrap's close reaches the old host a moment later.
	if err := wait.For(t.Context(), 3*liveness.Timeout, func() error {
		if n := len(old.Network().ConnsToPeer(srv.Host().ID())); n != 0 {
			return fmt.Errorf("the old connection is still open at the old host (%d)", n)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if len(restarted.Network().ConnsToPeer(srv.Host().ID())) != 1 {
		t.Error("the new connection was closed")
	}
}
