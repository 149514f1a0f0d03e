package presence

import (
	"context"
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/internal/redial"
)

// Bootstrap reconnection backoff bounds.
const (
	minBootstrapBackoff  = 500 * time.Millisecond
	maxBootstrapBackoff  = 30 * time.Second
	bootstrapDialTimeout = 10 * time.Second
)

// bootstrapLoop keeps a connection to every configured bootstrap, redialling
// a lost one with exponential backoff so that a bootstrap that comes back is
// rejoined.
func (svc *Service) bootstrapLoop(ctx context.Context) {
	if len(svc.bootstraps) == 0 {
		svc.Log.Warn("no bootstrap servers configured: this node can only be reached by peers that already know its address")
		return
	}
	redial.Run(ctx, redial.Config{
		Host:        svc.Host,
		Peers:       svc.bootstraps,
		DialTimeout: bootstrapDialTimeout,
		MinBackoff:  minBootstrapBackoff,
		MaxBackoff:  maxBootstrapBackoff,
		Recheck:     maxBootstrapBackoff,
		Kick:        svc.bootstrapKick,
		Log:         svc.Log,
		Name:        "bootstrap",
	})
}

// IsBootstrap reports whether p is a configured bootstrap.
func (svc *Service) IsBootstrap(p peer.ID) bool {
	for _, bs := range svc.bootstraps {
		if bs.ID == p {
			return true
		}
	}
	return false
}

// ParseBootstraps turns multiaddr strings into peer infos, merging addresses
// of the same peer.
func ParseBootstraps(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap %q: %w (want e.g. /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…)", s, err)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w (each address must end in /p2p/PEER-ID)", err)
	}
	return infos, nil
}
