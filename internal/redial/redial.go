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
	ma "github.com/multiformats/go-multiaddr"
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
// passed, and repeats until ctx is done. The dials of a round run at once,
// and each is handled as it ends: a bootstrap that does not answer (its
// dial hangs until DialTimeout) delays neither the others nor Joined.
func Run(ctx context.Context, c Config) {
	type result struct {
		p   peer.ID
		err error
	}
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
	// dialing holds the peers with a dial in flight; results receives
	// their ends (buffered for every peer, so a dial never blocks on a
	// Run that has returned).
	dialing := make(map[peer.ID]bool)
	results := make(chan result, len(c.Peers))
	t := time.NewTimer(0)
	defer t.Stop()
	// backOff schedules p's next dial after a failure and returns the wait.
	backOff := func(p peer.ID) time.Duration {
		b := min(max(2*backoff[p], c.MinBackoff), c.MaxBackoff)
		backoff[p] = b
		next[p] = time.Now().Add(b)
		return b
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.Kick: // a nil Kick never receives
		case r := <-results:
			delete(dialing, r.p)
			if ctx.Err() != nil {
				return
			}
			if r.err != nil {
				b := backOff(r.p)
				if !down[r.p] {
					down[r.p] = true
					c.Log.Warn(c.Name+" unreachable; retrying in the background", "peer", r.p, "addrs", addrsOf(c.Peers, r.p), "err", r.err, "retry_in", b)
				} else {
					c.Log.Debug(c.Name+" still unreachable", "peer", r.p, "err", r.err, "retry_in", b)
				}
			} else {
				if down[r.p] {
					delete(down, r.p)
					c.Log.Info("reached "+c.Name+" again", "peer", r.p)
				} else {
					c.Log.Info("connected to "+c.Name, "peer", r.p)
				}
				if unproven[r.p]++; unproven[r.p] > 1 {
					backOff(r.p) // a round then that finds it up proves it
				}
				if c.Joined != nil {
					c.Joined()
				}
			}
		}
		wait := c.Recheck
		for _, p := range c.Peers {
			now := time.Now()
			if dialing[p.ID] {
				continue
			}
			if c.Host.Network().Connectedness(p.ID) == network.Connected {
				backoff[p.ID], unproven[p.ID] = 0, 0
				continue
			}
			if now.Before(next[p.ID]) {
				wait = min(wait, next[p.ID].Sub(now))
				continue
			}
			dialing[p.ID] = true
			go func() {
				dctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
				defer cancel()
				results <- result{p.ID, c.Host.Connect(dctx, p)}
			}()
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// addrsOf returns the configured addresses of p.
func addrsOf(peers []peer.AddrInfo, p peer.ID) []ma.Multiaddr {
	for _, pi := range peers {
		if pi.ID == p {
			return pi.Addrs
		}
	}
	return nil
}
