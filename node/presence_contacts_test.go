package node_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/test"
)

// befriendKeys has a ask b and b accept, and waits until each holds the
// other's presence key.
func befriendKeys(t *testing.T, a, b *testNode) {
	t.Helper()
	if _, err := a.AddContact(b.account, "", "hi"); err != nil {
		t.Fatal(err)
	}
	waitState(t, b, a.account, "request-received")
	if _, err := b.AcceptContact(a.account); err != nil {
		t.Fatal(err)
	}
	waitState(t, a, b.account, "accepted")
	waitState(t, b, a.account, "accepted")
	waitContactKey(t, a, b, ownKey(t, b))
	waitContactKey(t, b, a, ownKey(t, a))
}

func ownKey(t testing.TB, n *testNode) store.PresenceKey {
	t.Helper()
	k, err := n.Store().PresenceKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitContactKey waits until n holds want as the presence key of c's
// account.
func waitContactKey(t testing.TB, n, c *testNode, want store.PresenceKey) {
	t.Helper()
	test.WaitFor(t, 30*time.Second, func() error {
		got, err := n.Store().Contact(c.account)
		if err != nil {
			return err
		}
		if got.PresenceKey != want {
			return fmt.Errorf("%s holds generation %d of %s's presence key, want %d", n.dir, got.PresenceKey.Gen, c.dir, want.Gen)
		}
		return nil
	})
}

// lookupAddrs returns the addresses n's lookup of the account of target
// shows for target's device.
func lookupAddrs(t testing.TB, n, target *testNode) ([]string, error) {
	t.Helper()
	l, err := n.Lookup(context.Background(), target.account)
	if err != nil {
		return nil, err
	}
	for _, d := range l.Devices {
		if d.DeviceID == target.Keys().DeviceCert.Device.String() {
			if !d.Online {
				return nil, errors.New("device not online")
			}
			return d.Addrs, nil
		}
	}
	return nil, errors.New("device not in the lookup")
}

func relayOnly(addrs []string) bool {
	for _, a := range addrs {
		if !strings.Contains(a, "/p2p-circuit") {
			return false
		}
	}
	return true
}

// devicePresence reads target's device's presence record from the DHT
// through n, unopened.
func devicePresence(t testing.TB, n, target *testNode) (*records.Presence, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := records.PresenceKey(target.Keys().DeviceCert.Device)
	raw, err := n.DHTForTest().GetValue(ctx, key)
	if err != nil {
		return nil, err
	}
	return records.ParsePresence(key, raw, time.Now())
}

func sealKey(k store.PresenceKey) *records.PresenceSealKey {
	sk := records.PresenceSealKey(k.Key)
	return &sk
}

// TestPresenceOnlyForContacts (issue 18 item 2): alice's device publishes
// a version-2 presence record. A stranger who knows her account ID finds
// only its relay addresses; her contacts find the others too. Removing
// carol rotates alice's presence key: the next record does not open with
// the key carol holds, and bob (still a contact) opens it and finds every
// address. The key survives a restart and reaches a linked device, and a
// later rotation (blocking bob) reaches it by sync.
func TestPresenceOnlyForContacts(t *testing.T) {
	bs := startBootstraps(t, 1)
	aliceDir := initAccount(t, "alice")
	alice := startNode(t, aliceDir, bs)
	bob := startNode(t, initAccount(t, "bob"), bs)
	carol := startNode(t, initAccount(t, "carol"), bs)
	stranger := startNode(t, initAccount(t, "stranger"), bs)
	waitPublished(t, alice, bob, carol, stranger)
	befriendKeys(t, alice, bob)
	befriendKeys(t, carol, alice)
	k1 := ownKey(t, alice)
	if k1.Gen != 1 {
		t.Fatalf("a new account's presence key has generation %d, want 1", k1.Gen)
	}

	// The stranger: relay addresses only, and at least one (it can still
	// send a contact request).
	test.WaitFor(t, 30*time.Second, func() error {
		addrs, err := lookupAddrs(t, stranger, alice)
		if err != nil {
			return err
		}
		if len(addrs) == 0 || !relayOnly(addrs) {
			return fmt.Errorf("the stranger sees %v, want relay addresses only", addrs)
		}
		return nil
	})
	p, err := devicePresence(t, stranger, alice)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 2 || p.KeyID != sealKey(k1).ID() {
		t.Fatalf("alice's record: version %d, key ID %x; want 2 and her key's", p.Version, p.KeyID)
	}
	// The contacts: more than the relay addresses.
	for _, c := range []*testNode{bob, carol} {
		addrs, err := lookupAddrs(t, c, alice)
		if err != nil {
			t.Fatal(err)
		}
		if relayOnly(addrs) {
			t.Fatalf("contact %s sees relay addresses only: %v", c.dir, addrs)
		}
	}

	// Removing carol rotates the key; bob gets the new one.
	if err := alice.RemoveContact(carol.account); err != nil {
		t.Fatal(err)
	}
	k2 := ownKey(t, alice)
	if k2.Gen != 2 || k2.Key == k1.Key {
		t.Fatalf("after removing carol: generation %d, want 2 and a new key", k2.Gen)
	}
	waitContactKey(t, bob, alice, k2)
	test.WaitFor(t, 30*time.Second, func() error {
		p, err := devicePresence(t, bob, alice)
		if err != nil {
			return err
		}
		if p.KeyID != sealKey(k2).ID() {
			return errors.New("alice's record is not sealed under her new key yet")
		}
		return nil
	})
	p, err = devicePresence(t, bob, alice)
	if err != nil {
		t.Fatal(err)
	}
	carolHolds, err := carol.Store().Contact(alice.account)
	if err != nil {
		t.Fatal(err)
	}
	if carolHolds.PresenceKey != k1 {
		t.Fatalf("carol holds generation %d of alice's key, want the old one", carolHolds.PresenceKey.Gen)
	}
	if _, err := p.Open(sealKey(carolHolds.PresenceKey)); !errors.Is(err, records.ErrSealedOpen) {
		t.Fatalf("the new record opened with the removed contact's key: %v", err)
	}
	if addrs, err := p.Open(sealKey(k2)); err != nil || len(addrs) == 0 {
		t.Fatalf("the new record with the new key: %v, %v", addrs, err)
	}
	addrs, err := lookupAddrs(t, carol, alice)
	if err != nil {
		t.Fatal(err)
	}
	if !relayOnly(addrs) {
		t.Fatalf("removed carol still sees %v", addrs)
	}
	if addrs, err := lookupAddrs(t, bob, alice); err != nil || relayOnly(addrs) {
		t.Fatalf("bob, still a contact, sees %v, %v", addrs, err)
	}

	// Restart: the key is the same.
	alice.stop(t)
	alice = startNode(t, aliceDir, bs)
	if k := ownKey(t, alice); k != k2 {
		t.Fatalf("after a restart: generation %d, want the same key as before", k.Gen)
	}
	// A linked device gets it.
	alice2 := startNode(t, linkNewDeviceAs(t, alice, "alice2", bs, false), bs)
	if k := ownKey(t, alice2); k != k2 {
		t.Fatalf("the linked device holds generation %d, want alice's key", k.Gen)
	}
	// And opens its own account's devices' records: it sees alice's
	// addresses, not just the relay's.
	test.WaitFor(t, 30*time.Second, func() error {
		addrs, err := lookupAddrs(t, alice2, alice)
		if err != nil {
			return err
		}
		if relayOnly(addrs) {
			return fmt.Errorf("the linked device sees %v", addrs)
		}
		return nil
	})
	// A rotation on one device reaches the other by sync.
	if _, err := alice.BlockContact(bob.account); err != nil {
		t.Fatal(err)
	}
	k3 := ownKey(t, alice)
	if k3.Gen != 3 {
		t.Fatalf("after blocking bob: generation %d, want 3", k3.Gen)
	}
	test.WaitFor(t, 30*time.Second, func() error {
		if k := ownKey(t, alice2); k != k3 {
			return fmt.Errorf("the linked device holds generation %d, want 3", k.Gen)
		}
		return nil
	})
}

// TestPresenceKeyReachesOldContacts: an account made before presence keys
// (its store holds none) makes one at its first start and sends it to the
// contacts it accepted back then, which never got one in an accept.
func TestPresenceKeyReachesOldContacts(t *testing.T) {
	bs := startBootstraps(t, 1)
	aliceDir, bobDir := initAccount(t, "alice"), initAccount(t, "bob")
	ids := map[string]pcrypto.AccountID{}
	for _, dir := range []string{aliceDir, bobDir} {
		st, err := node.OpenStore(dir, node.AccountOptions{KDF: pcrypto.TestKDFParams})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := st.PublicIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ac, err := pcrypto.ParseAccountCert(pub.AccountCert)
		if err != nil {
			t.Fatal(err)
		}
		ids[dir] = ac.ID
		st.Close()
	}
	for dir, other := range map[string]string{aliceDir: bobDir, bobDir: aliceDir} {
		st, err := node.OpenStore(dir, node.AccountOptions{KDF: pcrypto.TestKDFParams})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutContact(store.Contact{AccountID: ids[other], State: store.Accepted}); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	// Alice's store as an older version left it: no presence key.
	db, err := bolt.Open(filepath.Join(aliceDir, store.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("identity")).Delete([]byte("presence-key")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	alice := startNode(t, aliceDir, bs)
	bob := startNode(t, bobDir, bs)
	k := ownKey(t, alice)
	if k.Gen != 1 {
		t.Fatalf("alice's first key: generation %d", k.Gen)
	}
	waitContactKey(t, bob, alice, k)
}
