package bootstrap

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// Peering backoff bounds.
const (
	minPeerBackoff  = 500 * time.Millisecond
	maxPeerBackoff  = 30 * time.Second
	peerDialTimeout = 10 * time.Second
	// peerCheckInterval is how often connected peers are re-checked.
	peerCheckInterval = 5 * time.Second
)

// peerLoop keeps a connection to every other configured bootstrap. One that
// is not connected is dialled with exponential backoff (at most
// maxPeerBackoff between attempts), so a bootstrap that restarts is rejoined
// and re-enters the DHT routing table once identify has run.
func (s *Server) peerLoop(ctx context.Context) {
	peers := s.otherPeers()
	if len(peers) == 0 {
		return
	}
	for _, p := range peers {
		s.host.Peerstore().AddAddrs(p.ID, p.Addrs, peerstore.PermanentAddrTTL)
	}
	backoff := make(map[peer.ID]time.Duration)
	next := make(map[peer.ID]time.Time)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wait := peerCheckInterval
		joined := false
		for _, p := range peers {
			now := time.Now()
			if s.host.Network().Connectedness(p.ID) == network.Connected {
				backoff[p.ID] = 0
				continue
			}
			if now.Before(next[p.ID]) {
				wait = min(wait, next[p.ID].Sub(now))
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, peerDialTimeout)
			err := s.host.Connect(dctx, p)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				b := min(max(2*backoff[p.ID], minPeerBackoff), maxPeerBackoff)
				backoff[p.ID] = b
				next[p.ID] = time.Now().Add(b)
				wait = min(wait, b)
				s.log.Debug("bootstrap peer unreachable", "peer", p.ID, "err", err, "retry_in", b)
				continue
			}
			s.log.Info("connected to bootstrap peer", "peer", p.ID)
			backoff[p.ID] = 0
			joined = true
		}
		if joined {
			s.dht.RefreshRoutingTable() // buffered; the result is not needed
		}
		t.Reset(wait)
	}
}
