package redial

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/test"
)

// TestRunBacksOffFromClosingPeer: a peer that accepts each connection and
// closes it at once (a bootstrap over its per-IP connection limit does) is
// redialled with backoff, not in a loop driven by the disconnection's
// Kick. The crash test's restarted daemon dialled its bootstrap every 4 ms
// for 20 s that way.
func TestRunBacksOffFromClosingPeer(t *testing.T) {
	a, b := newHost(t), newHost(t)
	var accepted atomic.Int32
	b.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		accepted.Add(1)
		go c.Close()
	}})
	kick := make(chan struct{}, 1)
	a.Network().Notify(&network.NotifyBundle{DisconnectedF: func(network.Network, network.Conn) {
		select { // as presence.BootstrapLost does
		case kick <- struct{}{}:
		default:
		}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Config{
			Host:        a,
			Peers:       []peer.AddrInfo{{ID: b.ID(), Addrs: b.Addrs()}},
			DialTimeout: 2 * time.Second,
			MinBackoff:  200 * time.Millisecond,
			MaxBackoff:  time.Hour,
			Recheck:     time.Hour,
			Kick:        kick,
			Log:         slog.New(slog.DiscardHandler),
			Name:        "closing peer",
		})
	}()
	defer func() { cancel(); <-done }()
	test.WaitFor(t, 10*time.Second, func() error {
		if accepted.Load() < 2 {
			return errNotYet
		}
		return nil
	})
	// From the second connection on, the waits are 200, 400, 800 ms...:
	// in the next 1.5 s at most 3 more dials.
	n0 := accepted.Load()
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := accepted.Load() - n0; n > 3 {
			t.Fatalf("%d dials within %v of a peer that closes every connection; want backoff", n, 1500*time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond) // sampling a counter, not waiting for a state
	}
}
