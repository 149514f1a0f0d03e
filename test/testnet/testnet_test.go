package testnet

import (
	"errors"
	"testing"
	"time"

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

// TestCallEventsInOrder: on both ends of every call, call.connected comes
// before call.media (issue 16 item 6: media came first in about half the
// calls).
func TestCallEventsInOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	n := ForTest(t, Options{})
	if _, err := n.StartBootstrap(NoTURN); err != nil {
		t.Fatal(err)
	}
	alice, err := n.AddNode("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := n.AddNode("bob", nil)
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
	aliceEvents, stopA := alice.Subscribe()
	defer stopA()
	bobEvents, stopB := bob.Subscribe()
	defer stopB()
	const calls = 8
	var ids []string
	for range calls {
		c, err := alice.StartCall(ctx, apitype.CallRequest{AccountID: bob.Account.String(), Audio: "tone"})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*Node{alice, bob} {
			if _, err := x.WaitCall(ctx, c.ID, func(c apitype.Call) bool { return c.State == "connected" && c.SetupMS > 0 }); err != nil {
				t.Fatal(err)
			}
		}
		if err := alice.HangUp(apitype.CallAction{CallID: c.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.WaitCall(ctx, c.ID, wait.CallIs("ended")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	for side, events := range map[string]<-chan apitype.Event{"alice": aliceEvents, "bob": bobEvents} {
		seen := map[string][]apitype.EventType{}
		ended := 0
		timeout := time.After(10 * time.Second)
		for ended < calls {
			select {
			case e := <-events:
				switch e.Type {
				case apitype.EventCallConnected, apitype.EventCallMedia:
					seen[e.Call] = append(seen[e.Call], e.Type)
				case apitype.EventCallEnded:
					ended++
				}
			case <-timeout:
				t.Fatalf("%s: %d of %d calls ended in the event stream", side, ended, calls)
			}
		}
		for _, id := range ids {
			if got := seen[id]; len(got) != 2 || got[0] != apitype.EventCallConnected || got[1] != apitype.EventCallMedia {
				t.Errorf("%s, call %s: events %v, want call.connected then call.media", side, id, got)
			}
		}
	}
}
