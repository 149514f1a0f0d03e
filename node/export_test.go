package node

import (
	"bufio"
	"bytes"

	dht "github.com/libp2p/go-libp2p-kad-dht"
)

// DHTForTest exposes the node's DHT to tests.
func (n *Node) DHTForTest() *dht.IpfsDHT { return n.dht }

// bufioReader wraps bytes for readFrame.
func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
