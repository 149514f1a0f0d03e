package bootstrap

import (
	"context"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/parleyhq/parley/internal/liveness"
)

// maxStaleProbes bounds the probes of older connections running at once;
// a connection that arrives while all are busy is not followed by one.
const maxStaleProbes = 16

// staleConns closes a peer's connections that a restart of the peer left
// behind. A daemon killed with SIGKILL leaves its QUIC connection to the
// bootstrap open here until the idle timeout (~30 s), and the relay opens
// a circuit's STOP stream on the peer's connection with the most streams,
// which is the dead one when it carried circuits: the restarted daemon
// could not be reached through the relay for half a minute. So when a peer
// connects while older connections to it are open, each older one is
// pinged (internal/liveness) and closed if it does not answer.
type staleConns struct {
	sem     chan struct{}
	closing <-chan struct{}
	closed  func(network.Conn) // called for each connection closed; may be nil
}

func newStaleConns(closing <-chan struct{}) *staleConns {
	return &staleConns{sem: make(chan struct{}, maxStaleProbes), closing: closing}
}

// notifiee returns the network notifiee that watches new connections.
func (sc *staleConns) notifiee() network.Notifiee {
	return &network.NotifyBundle{ConnectedF: sc.connected}
}

func (sc *staleConns) connected(n network.Network, c network.Conn) {
	var older []network.Conn
	for _, o := range n.ConnsToPeer(c.RemotePeer()) {
		if o != c {
			older = append(older, o)
		}
	}
	if len(older) == 0 {
		return
	}
	select {
	case sc.sem <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-sc.sem }()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-sc.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		var wg sync.WaitGroup
		for _, o := range older {
			wg.Go(func() {
				if liveness.PingConn(ctx, o) != nil && ctx.Err() == nil {
					_ = o.Close()
					if sc.closed != nil {
						sc.closed(o)
					}
				}
			})
		}
		wg.Wait()
	}()
}
