package node

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// watchHost reacts to the host's events: a bootstrap (re)connecting or our
// addresses changing republish presence; a bootstrap dropping wakes the
// bootstrap loop's redial; any new peer may be a contact we owe a message.
func (n *Node) watchHost(ctx context.Context) error {
	sub, err := n.h.EventBus().Subscribe([]any{
		new(event.EvtPeerConnectednessChanged),
		new(event.EvtLocalAddressesUpdated),
		new(event.EvtLocalReachabilityChanged),
	})
	if err != nil {
		return fmt.Errorf("node: subscribing to host events: %w", err)
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-sub.Out():
			if !ok {
				return nil
			}
			switch e := e.(type) {
			case event.EvtPeerConnectednessChanged:
				if !n.presenceSvc.IsBootstrap(e.Peer) {
					continue
				}
				typ := apitype.EventBootstrapDown
				if e.Connectedness == network.Connected {
					typ = apitype.EventBootstrapUp
					n.presenceSvc.PublishNow()
					n.contactsSvc.Retry()
				} else {
					n.presenceSvc.BootstrapLost()
				}
				n.ev.Publish(apitype.Event{Type: typ, Time: n.o.Now(), Device: e.Peer.String()})
			case event.EvtLocalAddressesUpdated:
				if e.Diffs {
					n.presenceSvc.PublishNow()
				}
			case event.EvtLocalReachabilityChanged:
				n.mu.Lock()
				n.reach = e.Reachability
				n.mu.Unlock()
				n.presenceSvc.PublishNow()
			}
		}
	}
}
