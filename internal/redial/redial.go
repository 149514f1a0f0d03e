// Package redial keeps a libp2p host connected to a fixed set of peers:
// the bootstraps a node uses, the other bootstraps a bootstrap peers with.
// A peer that is not connected is dialled with exponential backoff of its
// own, so one that restarts is rejoined soon after it is back, and one
// that stays down, or closes every connection at once, costs a dial every
// MaxBackoff at most.
package redial

import (
	"context"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Config is what Run keeps connected, and how.
type Config struct {
	Host  host.Host
	Peers []peer.AddrInfo

	// DialTimeout bounds each dial.
	DialTimeout time.Duration
	// MinBackoff is the wait after a peer's first failed dial; it doubles
	// with every further failure up to MaxBackoff, and resets once a
	// round finds the peer connected. A second successful dial with no
	// such round in between counts as a failure (the peer closes what it
	// accepts).
	MinBackoff, MaxBackoff time.Duration
	// Recheck is the longest wait between two rounds of checks.
	Recheck time.Duration
	// Kick, if not nil, starts a round at once when it receives.
	Kick <-chan struct{}

	// Joined, if not nil, is called after a round in which a dial
	// succeeded.
	Joined func()

	// Log receives, naming the peer as Name ("bootstrap", "bootstrap
	// peer"): a Warn when a peer first cannot be reached (with its
	// addresses and the cause; later failed dials only at Debug), an Info
	// per connection made, saying so when it ends such an outage.
	Log  *slog.Logger
	Name string
}

// Run checks every peer, dials those not connected whose backoff has
// passed, and repeats until ctx is done.
func Run(ctx context.Context, c Config) {
	backoff := make(map[peer.ID]time.Duration)
	next := make(map[peer.ID]time.Time)
	// unproven counts a peer's successful dials since a round last found
	// it connected. A peer over its limits accepts a connection and
	// closes it at once (libp2p's resource manager does, per peer and per
	// IP); the Kick of each disconnection would redial it in a hot loop.
	// So the first dial after a drop is at once, and from the second
	// unproven one on, the next waits as after a failure.
	unproven := make(map[peer.ID]int)
	// down holds the peers whose outage was reported (Warn), until they
	// are reached again.
	down := make(map[peer.ID]bool)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.Kick: // a nil Kick never receives
		}
		wait := c.Recheck
		joined := false
		for _, p := range c.Peers {
			now := time.Now()
			if c.Host.Network().Connectedness(p.ID) == network.Connected {
				backoff[p.ID], unproven[p.ID] = 0, 0
				continue
			}
			if now.Before(next[p.ID]) {
				wait = min(wait, next[p.ID].Sub(now))
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
			err := c.Host.Connect(dctx, p)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				b := min(max(2*backoff[p.ID], c.MinBackoff), c.MaxBackoff)
				backoff[p.ID] = b
				next[p.ID] = time.Now().Add(b)
				wait = min(wait, b)
				if !down[p.ID] {
					down[p.ID] = true
					c.Log.Warn(c.Name+" unreachable; retrying in the background", "peer", p.ID, "addrs", p.Addrs, "err", err, "retry_in", b)
				} else {
					c.Log.Debug(c.Name+" still unreachable", "peer", p.ID, "err", err, "retry_in", b)
				}
				continue
			}
			if down[p.ID] {
				delete(down, p.ID)
				c.Log.Info("reached "+c.Name+" again", "peer", p.ID)
			} else {
				c.Log.Info("connected to "+c.Name, "peer", p.ID)
			}
			if unproven[p.ID]++; unproven[p.ID] > 1 {
				b := min(max(2*backoff[p.ID], c.MinBackoff), c.MaxBackoff)
				backoff[p.ID] = b
				next[p.ID] = time.Now().Add(b)
				wait = min(wait, b) // a round then that finds it up proves it
			}
			joined = true
		}
		if joined && c.Joined != nil {
			c.Joined()
		}
		t.Reset(wait)
	}
}
