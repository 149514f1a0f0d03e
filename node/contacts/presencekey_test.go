package contacts

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/store"
)

// knowRecord gives bob a current account record of n's account, so that
// n's messages need no lookup for their revocation check.
func knowRecord(t *testing.T, bob, n *Service) {
	t.Helper()
	now := time.Now()
	raw, err := records.NewAccount(n.ID.AccountKey(), n.ID.AccountCert, []*pcrypto.DeviceCert{n.ID.DeviceCert}, nil, uint64(now.UnixMilli()), time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := records.ParseAccount(records.AccountKey(n.ID.AccountCert.ID), raw, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.pres.UpdateAccount(n.ID.AccountCert.ID, rec, now); err != nil {
		t.Fatal(err)
	}
}

func withKey(k store.PresenceKey) func(*contactMsg) {
	return func(m *contactMsg) { m.PresenceKey, m.PresenceGen = bytes.Clone(k.Key[:]), k.Gen }
}

func newKey(t *testing.T, gen uint32) store.PresenceKey {
	t.Helper()
	k, err := store.NewPresenceKey(gen)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestPresenceKeyOnlyFromContacts: a presence key is taken from an accept
// of an account this device asked and from an update of an accepted
// contact, never from a request, a stranger's update or an accept nobody
// asked for; an older key never replaces a newer one; taking an accept
// queues an update (carrying this account's key) back.
func TestPresenceKeyOnlyFromContacts(t *testing.T) {
	bob := newTestNode(t, "bob")
	alice := newTestNode(t, "alice")
	mallory := newTestNode(t, "mallory")
	to := bob.ID.AccountCert.ID
	knowRecord(t, bob, alice)
	knowRecord(t, bob, mallory)
	mk := newKey(t, 1)
	malloryPeer := peer.ID(mallory.ID.DeviceCert.Device)
	for _, tc := range []struct {
		name string
		kind string
		key  func(*contactMsg)
		want string
	}{
		{"request with a key", kindRequest, withKey(mk), "carries no presence key"},
		{"stranger's update", kindUpdate, withKey(mk), "not a contact"},
		{"accept nobody asked for", kindAccept, withKey(mk), "no contact request pending"},
		{"short key", kindUpdate, func(m *contactMsg) { m.PresenceKey, m.PresenceGen = []byte{1, 2, 3}, 1 }, "presence key of 3 bytes"},
		{"generation 0", kindUpdate, func(m *contactMsg) { m.PresenceKey, m.PresenceGen = bytes.Clone(mk.Key[:]), 0 }, "generation 0"},
	} {
		msg := signAs(t, mallory, nil, func(m *contactMsg) { m.To, m.Kind = to, tc.kind; tc.key(m) })
		err := bob.receiveContact(malloryPeer, msg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to mention %q", tc.name, err, tc.want)
		}
		if c, err := bob.Store.Contact(mallory.ID.AccountCert.ID); err == nil {
			t.Errorf("%s: stored %+v", tc.name, c)
		}
	}

	// Bob asked alice; her accept carries her key.
	acct := alice.ID.AccountCert.ID
	alicePeer := peer.ID(alice.ID.DeviceCert.Device)
	if err := bob.Store.PutContact(store.Contact{AccountID: acct, State: store.RequestSent}); err != nil {
		t.Fatal(err)
	}
	k1, k2 := newKey(t, 1), newKey(t, 2)
	if err := bob.receiveContact(alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To, m.Kind = to, kindAccept; withKey(k1)(m) })); err != nil {
		t.Fatal(err)
	}
	c, err := bob.Store.Contact(acct)
	if err != nil || c.State != store.Accepted || c.PresenceKey != k1 {
		t.Fatalf("after the accept: %v, state %s, key gen %d", err, c.State, c.PresenceKey.Gen)
	}
	items, err := bob.Store.Outbox()
	if err != nil || len(items) != 1 || items[0].To != acct || items[0].Kind != kindUpdate {
		t.Fatalf("outbox after the accept: %+v, %v; want an update to alice", items, err)
	}
	// The queued update carries bob's key when it is signed.
	m := decodeSigned(t, bob, kindUpdate, acct)
	if bk := bob.pres.PresenceKey(); m.presenceKey() != bk {
		t.Fatalf("bob's update carries key gen %d, want his gen %d", m.PresenceGen, bk.Gen)
	}
	for _, step := range []struct {
		k    store.PresenceKey
		want store.PresenceKey
	}{{k2, k2}, {k1, k2}} {
		if err := bob.receiveContact(alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To, m.Kind = to, kindUpdate; withKey(step.k)(m) })); err != nil {
			t.Fatal(err)
		}
		if c, _ := bob.Store.Contact(acct); c.PresenceKey != step.want {
			t.Fatalf("after an update with gen %d: holds gen %d, want %d", step.k.Gen, c.PresenceKey.Gen, step.want.Gen)
		}
	}
}

// TestRemoveRotatesPresenceKey: removing an accepted contact draws a new
// key one generation up and queues an update to every remaining accepted
// contact; the removed one gets a remove, which carries no key.
func TestRemoveRotatesPresenceKey(t *testing.T) {
	bob := newTestNode(t, "bob")
	alice, carol, dave := newTestNode(t, "alice"), newTestNode(t, "carol"), newTestNode(t, "dave")
	for _, n := range []*Service{alice, carol} {
		if err := bob.Store.PutContact(store.Contact{AccountID: n.ID.AccountCert.ID, State: store.Accepted}); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.Store.PutContact(store.Contact{AccountID: dave.ID.AccountCert.ID, State: store.RequestReceived}); err != nil {
		t.Fatal(err)
	}
	before := bob.pres.PresenceKey()
	if err := bob.RemoveContact(dave.ID.AccountCert.ID); err != nil {
		t.Fatal(err)
	}
	if bob.pres.PresenceKey() != before {
		t.Fatal("removing a pending request (an account that never held the key) rotated it")
	}
	if err := bob.RemoveContact(carol.ID.AccountCert.ID); err != nil {
		t.Fatal(err)
	}
	after := bob.pres.PresenceKey()
	if after.Gen != before.Gen+1 || after.Key == before.Key {
		t.Fatalf("after the removal: gen %d, want %d and a new key", after.Gen, before.Gen+1)
	}
	if stored, err := bob.Store.PresenceKey(); err != nil || stored != after {
		t.Fatalf("stored key: gen %d, %v", stored.Gen, err)
	}
	kinds := map[pcrypto.AccountID]string{}
	items, err := bob.Store.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		kinds[it.To] = it.Kind
	}
	if kinds[alice.ID.AccountCert.ID] != kindUpdate || kinds[carol.ID.AccountCert.ID] != kindRemove || len(kinds) != 2 {
		t.Fatalf("outbox: %v; want an update to alice and a remove to carol", kinds)
	}
	if m := decodeSigned(t, bob, kindRemove, carol.ID.AccountCert.ID); m.PresenceKey != nil || m.PresenceGen != 0 {
		t.Fatal("the remove to the removed contact carries a presence key")
	}
	if m := decodeSigned(t, bob, kindUpdate, alice.ID.AccountCert.ID); m.presenceKey() != after {
		t.Fatalf("the update to alice carries gen %d, want %d", m.PresenceGen, after.Gen)
	}
	// Blocking the remaining contact rotates again.
	if _, err := bob.BlockContact(alice.ID.AccountCert.ID); err != nil {
		t.Fatal(err)
	}
	if g := bob.pres.PresenceKey().Gen; g != after.Gen+1 {
		t.Fatalf("after the block: gen %d, want %d", g, after.Gen+1)
	}
}

// decodeSigned signs a message of kind to `to` as delivery does and
// returns its payload.
func decodeSigned(t *testing.T, n *Service, kind string, to pcrypto.AccountID) contactMsg {
	t.Helper()
	raw, err := n.signContact(kind, to, "", "")
	if err != nil {
		t.Fatal(err)
	}
	env, err := pcrypto.OpenEnvelope(raw, contactContext, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var m contactMsg
	if err := json.Unmarshal(env.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
