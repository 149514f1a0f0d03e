package bootstrap

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/parleyhq/parley/internal/redial"
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
	redial.Run(ctx, redial.Config{
		Host:        s.host,
		Peers:       peers,
		DialTimeout: peerDialTimeout,
		MinBackoff:  minPeerBackoff,
		MaxBackoff:  maxPeerBackoff,
		Recheck:     peerCheckInterval,
		Joined:      func() { s.dht.RefreshRoutingTable() }, // buffered; the result is not needed
		Log:         s.log,
		Name:        "bootstrap peer",
	})
}
