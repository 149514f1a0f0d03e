package contacts

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service/servicetest"

	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
)

// newTestNode builds (but does not serve) the contacts service of a fresh
// account.
func newTestNode(t testing.TB, name string) *Service {
	t.Helper()
	env := servicetest.NewEnv(t, name)
	pres, err := presence.New(env, presence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(env, pres, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// signAs builds a contact message from n with fields changed by edit, signed
// by key (n's device key when nil).
func signAs(t testing.TB, n *Service, key *pcrypto.DeviceKey, edit func(*contactMsg)) []byte {
	t.Helper()
	m := contactMsg{
		V: 1, Kind: kindRequest, From: n.ID.AccountCert.ID,
		AccountCert: n.ID.AccountCert.Raw(), DeviceCert: n.ID.DeviceCert.Raw(),
		Message: "hello", Time: time.Now().UTC(), Nonce: "00",
	}
	edit(&m)
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if key == nil {
		key = n.ID.DeviceKey
	}
	k := key.Ed25519()
	env, err := pcrypto.SignEnvelope(k, contactContext, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestContactMessageRefused checks every reason a contact message is refused
// and that a refused message never reaches the store.
func TestContactMessageRefused(t *testing.T) {
	bob := newTestNode(t, "bob")
	alice := newTestNode(t, "alice")
	mallory := newTestNode(t, "mallory")
	to := bob.ID.AccountCert.ID
	alicePeer := peer.ID(alice.ID.DeviceCert.Device)
	otherKey, _ := pcrypto.NewDeviceKey(nil)

	good := signAs(t, alice, nil, func(m *contactMsg) { m.To = to })
	wrongContext, _ := pcrypto.SignEnvelope(alice.ID.DeviceKey.Ed25519(), "parley/test/v1", []byte("{}"))
	tests := []struct {
		name string
		from peer.ID
		data []byte
		want string
	}{
		{"garbage", alicePeer, []byte("not an envelope"), "malformed"},
		{"truncated", alicePeer, good[:len(good)-10], "malformed"},
		{"wrong context", alicePeer, wrongContext, "context"},
		{"forged signature", alicePeer, signAs(t, alice, otherKey, func(m *contactMsg) { m.To = to }), "signed by a key other"},
		{"sent by another peer", peer.ID(mallory.ID.DeviceCert.Device), good, "sent by a peer other"},
		{"claims another account", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = to; m.From = mallory.ID.AccountCert.ID }), "account"},
		{"device of another account", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = to; m.AccountCert = mallory.ID.AccountCert.Raw() }), "account"},
		{"to someone else", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = mallory.ID.AccountCert.ID }), "another account"},
		{"stale", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = to; m.Time = time.Now().Add(-time.Hour) }), "clocks"},
		{"future", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = to; m.Time = time.Now().Add(time.Hour) }), "clocks"},
		{"unknown kind", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = to; m.Kind = "spam" }), "kind"},
		{"bad version", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = to; m.V = 2 }), "version"},
		{"long message", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = to; m.Message = strings.Repeat("x", 2000) }), "at most 1024"},
		{"escape in name", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = to; m.Name = "B\x1b[2Job" }), "control character"},
		{"newline in name", alicePeer, signAs(t, alice, nil, func(m *contactMsg) { m.To = to; m.Name = "Bob\nfake row" }), "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := bob.receiveContact(tt.from, tt.data)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if cs, _ := bob.Store.Contacts(); len(cs) != 0 {
				t.Fatalf("refused message was stored: %+v", cs)
			}
		})
	}
	// The good one is accepted and stored as a request.
	if err := bob.receiveContact(alicePeer, good); err != nil {
		t.Fatal(err)
	}
	c, err := bob.Store.Contact(alice.ID.AccountCert.ID)
	if err != nil || c.State != store.RequestReceived || c.Message != "hello" {
		t.Fatalf("contact = %+v, %v", c, err)
	}
}

// FuzzReceiveContact feeds arbitrary bytes to the contact message decoder
// and verifier: it must never panic, and nothing unverified is stored.
func FuzzReceiveContact(f *testing.F) {
	bob := newTestNode(f, "bob")
	alice := newTestNode(f, "alice")
	f.Add(signAs(f, alice, nil, func(m *contactMsg) { m.To = bob.ID.AccountCert.ID }))
	f.Add(signAs(f, alice, nil, func(m *contactMsg) {
		m.To, m.Kind, m.PresenceKey, m.PresenceGen = bob.ID.AccountCert.ID, kindAccept, bytes.Repeat([]byte{7}, 32), 1
	}))
	f.Add([]byte("PE\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = bob.verifyContact(peer.ID(alice.ID.DeviceCert.Device), data)
	})
}
