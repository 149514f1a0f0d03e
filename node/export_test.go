package node

import dht "github.com/libp2p/go-libp2p-kad-dht"

// DHTForTest exposes the node's DHT to tests.
func (n *Node) DHTForTest() *dht.IpfsDHT { return n.dht }
