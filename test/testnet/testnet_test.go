package testnet

import (
	"errors"
	"testing"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/wait"
)

// TestNetwork: two peered bootstraps (one with TURN) and two nodes publish,
// befriend each other and hold a call; Close stops everything and refuses
// more.
func TestNetwork(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	n := ForTest(t, Options{})
	if _, err := n.StartBootstrap(TURNLoopback); err != nil {
		t.Fatal(err)
	}
	if _, err := n.StartBootstrap(NoTURN); err != nil {
		t.Fatal(err)
	}
	if got := len(n.BootstrapAddrs()); got < 4 {
		t.Fatalf("%d bootstrap addresses, want TCP and QUIC of both", got)
	}
	alice, err := n.AddNode("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := n.AddNode("bob", func(o *node.Options) { o.DHTMode = "client" })
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitPublished(ctx, alice, bob); err != nil {
		t.Fatal(err)
	}
	if err := Befriend(ctx, alice, bob); err != nil {
		t.Fatal(err)
	}
	if err := bob.SetSetting(node.SettingAutoAnswer, "contacts"); err != nil {
		t.Fatal(err)
	}
	c, err := alice.StartCall(ctx, apitype.CallRequest{AccountID: bob.Account.String(), Audio: "tone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitCall(ctx, c.ID, wait.CallIs("connected")); err != nil {
		t.Fatal(err)
	}
	if err := alice.HangUp(apitype.CallAction{CallID: c.ID}); err != nil {
		t.Fatal(err)
	}
	// The hang-up reaches bob's side a moment later; once it has, a wait
	// for another state gives up at once instead of running out its time.
	if _, err := bob.WaitCall(ctx, c.ID, wait.CallIs("ended")); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitCall(ctx, c.ID, wait.CallIs("connected")); !errors.Is(err, wait.ErrCallEnded) {
		t.Fatalf("waiting for a hung-up call to connect: %v, want ErrCallEnded", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddNode("carol", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddNode after Close: %v, want ErrClosed", err)
	}
}
