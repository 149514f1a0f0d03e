package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/internal/redial"
	"github.com/parleyhq/parley/node/localapi/apitype"
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
func (n *Node) bootstrapLoop(ctx context.Context) {
	if len(n.bootstraps) == 0 {
		n.log.Warn("no bootstrap servers configured: this node can only be reached by peers that already know its address")
		return
	}
	redial.Run(ctx, redial.Config{
		Host:        n.h,
		Peers:       n.bootstraps,
		DialTimeout: bootstrapDialTimeout,
		MinBackoff:  minBootstrapBackoff,
		MaxBackoff:  maxBootstrapBackoff,
		Recheck:     maxBootstrapBackoff,
		Kick:        n.bootstrapKick,
		Log:         n.log,
		Name:        "bootstrap",
	})
}

// isBootstrap reports whether p is a configured bootstrap.
func (n *Node) isBootstrap(p peer.ID) bool {
	for _, bs := range n.bootstraps {
		if bs.ID == p {
			return true
		}
	}
	return false
}

// watchEvents reacts to the host's events: a bootstrap (re)connecting or our
// addresses changing republish presence; a bootstrap dropping wakes the
// bootstrap loop's redial; any new peer may be a contact we owe a message.
func (n *Node) watchEvents(ctx context.Context) {
	sub, err := n.h.EventBus().Subscribe([]any{
		new(event.EvtPeerConnectednessChanged),
		new(event.EvtLocalAddressesUpdated),
		new(event.EvtLocalReachabilityChanged),
	})
	if err != nil {
		n.log.Error("event subscription failed", "err", err)
		return
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			switch e := e.(type) {
			case event.EvtPeerConnectednessChanged:
				if !n.isBootstrap(e.Peer) {
					continue
				}
				typ := apitype.EventBootstrapDown
				if e.Connectedness == network.Connected {
					typ = apitype.EventBootstrapUp
					kick(n.publishNow)
					kick(n.outboxKick)
				} else {
					kick(n.bootstrapKick)
				}
				n.ev.publish(apitype.Event{Type: typ, Time: n.o.Now(), Device: e.Peer.String()})
			case event.EvtLocalAddressesUpdated:
				if e.Diffs {
					kick(n.publishNow)
				}
			case event.EvtLocalReachabilityChanged:
				n.mu.Lock()
				n.reach = e.Reachability
				n.mu.Unlock()
				kick(n.publishNow)
			}
		}
	}
}
