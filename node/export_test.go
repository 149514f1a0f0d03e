package node

import (
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// DHTForTest exposes the node's DHT to tests.
func (n *Node) DHTForTest() *dht.IpfsDHT { return n.dht }

// ArmsLengthRefusesForTest reports whether the host's resource manager
// refuses a stream of proto with p now (armslength.go).
func (n *Node) ArmsLengthRefusesForTest(p peer.ID, proto protocol.ID) bool {
	return n.guard.deny(p, proto)
}
