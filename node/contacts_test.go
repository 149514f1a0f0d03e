package node_test

import (
	"errors"
	pcrypto "github.com/parleyhq/parley/crypto"
	"testing"
	"time"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// contactState returns the state of account in n's contact list ("" if
// absent).
func contactState(t testing.TB, n *testNode, account pcrypto.AccountID) (apitype.Contact, bool) {
	t.Helper()
	cs, err := n.Contacts()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.AccountID == account.String() {
			return c, true
		}
	}
	return apitype.Contact{}, false
}

func waitState(t testing.TB, n *testNode, account pcrypto.AccountID, want string) {
	t.Helper()
	waitContact(t, n, account, func(c apitype.Contact) bool { return c.State == want && !c.Pending })
}

// TestContactRequestAccept: alice asks bob, bob sees the request with its
// message and an event, accepts, and both end up accepted.
func TestContactRequestAccept(t *testing.T) {
	bs := startBootstraps(t, 1)
	alice := startNode(t, initAccount(t, "alice"), bs)
	bob := startNode(t, initAccount(t, "bob"), bs)
	waitPublished(t, alice, bob)
	events, stop := bob.Subscribe()
	defer stop()

	a, b := alice.account, bob.account
	if _, err := alice.AddContact(b, "Bob", "hi, it is Alice"); err != nil {
		t.Fatal(err)
	}
	waitState(t, bob, a, "request-received")
	c, _ := contactState(t, bob, a)
	if c.Message != "hi, it is Alice" || c.Name != "alice" {
		t.Fatalf("bob sees %+v", c)
	}
	waitEvent(t, events, apitype.EventContactRequest, a)

	// Accepting twice, or accepting what was not asked, is a clear error.
	if _, err := alice.AcceptContact(b); !errors.Is(err, node.ErrConflict) {
		t.Fatalf("alice accepting her own request: %v", err)
	}
	if _, err := bob.AcceptContact(a); err != nil {
		t.Fatal(err)
	}
	waitState(t, alice, b, "accepted")
	waitState(t, bob, a, "accepted")
	if _, err := alice.AddContact(b, "", ""); !errors.Is(err, node.ErrConflict) {
		t.Fatalf("adding an accepted contact: %v", err)
	}
	if _, err := alice.AddContact(alice.account, "", ""); !errors.Is(err, node.ErrInvalidInput) {
		t.Fatalf("adding her own account: %v", err)
	}
	if _, err := alice.AddContact(pcrypto.AccountID{}, "", ""); !errors.Is(err, node.ErrInvalidInput) {
		t.Fatalf("adding the zero account: %v", err)
	}
}

func waitEvent(t testing.TB, ch <-chan apitype.Event, typ apitype.EventType, account pcrypto.AccountID) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Type == typ && ev.Account == account.String() {
				return
			}
		case <-deadline:
			t.Fatalf("no %s event for %s", typ, account)
		}
	}
}

// TestContactRequestToOfflineAccount: a request sent while the target is
// down is kept (across a restart of the sender too) and arrives once the
// target is up; a request from a blocked account is dropped.
func TestContactRequestToOfflineAccount(t *testing.T) {
	bs := startBootstraps(t, 1)
	alice := startNode(t, initAccount(t, "alice"), bs)
	carolDir := initAccount(t, "carol")
	carol := startNode(t, carolDir, bs)
	waitPublished(t, alice, carol)
	carolID := carol.account
	carol.stop(t)

	if _, err := alice.AddContact(carolID, "Carol", "are you there?"); err != nil {
		t.Fatal(err)
	}
	c, _ := contactState(t, alice, carolID)
	if !c.Pending || c.State != "request-sent" {
		t.Fatalf("alice's contact = %+v, want a pending request", c)
	}
	// Restart alice: the queued request survives in her store.
	aliceDir := alice.dir
	alice.stop(t)
	alice = startNode(t, aliceDir, bs)
	if c, _ := contactState(t, alice, carolID); !c.Pending {
		t.Fatalf("after restart the pending request is gone: %+v", c)
	}

	carol = startNode(t, carolDir, bs)
	waitState(t, carol, alice.account, "request-received")
	waitState(t, alice, carolID, "request-sent") // delivered, no longer pending

	// Carol blocks alice; alice's next request is dropped silently.
	if _, err := carol.BlockContact(alice.account); err != nil {
		t.Fatal(err)
	}
	if err := alice.RemoveContact(carolID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.AddContact(carolID, "", "again"); err != nil {
		t.Fatal(err)
	}
	waitState(t, alice, carolID, "request-sent")
	if c, _ := contactState(t, carol, alice.account); c.State != "blocked" || c.Message == "again" {
		t.Fatalf("blocked contact changed: %+v", c)
	}
}
