package adversary

import (
	"testing"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/test/testnet"
)

// TestBefriendDHTServer (attacker review): a device in DHT server mode and
// a NATed device (DHT client) become contacts although the client holds a
// direct connection it opened to the server for DHT traffic. The accept
// travels on that connection; it used to be refused as "relay-only" (a
// stranger's message on a direct connection) again and again, and the two
// never became contacts.
func TestBefriendDHTServer(t *testing.T) {
	ctx := t.Context()
	n := testnet.ForTest(t, testnet.Options{})
	if _, err := n.StartBootstrap(testnet.NoTURN); err != nil {
		t.Fatal(err)
	}
	server, err := n.AddNode("server", func(o *node.Options) { o.DHTMode = node.DHTServer })
	if err != nil {
		t.Fatal(err)
	}
	bob, err := n.AddNode("bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := testnet.WaitPublished(ctx, server, bob); err != nil {
		t.Fatal(err)
	}
	if err := testnet.Befriend(ctx, server, bob); err != nil {
		t.Fatal(err)
	}
}
